import { LlmError } from './llm-errors';
import {
  asRecord,
  httpCall,
  type HttpAnswer,
  type HttpTarget,
  nonNegativeInt,
  parseJsonBody,
  statusError,
} from './llm-http';
import type {
  FinishReason,
  LlmModelDetail,
  LlmModelInfo,
  LlmProvider,
  ProviderChatRequest,
  ProviderChatResult,
} from './llm.types';

/**
 * Any OpenAI-compatible chat completions API (OpenAI, vLLM, LiteLLM, llama.cpp server...).
 * `baseUrl` includes the version segment (`https://api.openai.com/v1`). Such APIs have no model
 * management: pull and delete are refused with LLM_OPERATION_UNSUPPORTED.
 */
export class OpenAiProvider implements LlmProvider {
  readonly name = 'openai';
  private readonly target: HttpTarget;

  constructor(baseUrl: string, apiKey: string | undefined) {
    this.target = {
      label: 'The OpenAI-compatible provider',
      baseUrl,
      ...(apiKey === undefined ? {} : { headers: { authorization: `Bearer ${apiKey}` }, secrets: [apiKey] }),
    };
  }

  async chat(request: ProviderChatRequest, signal: AbortSignal): Promise<ProviderChatResult> {
    const answer = await httpCall(this.target, 'POST', 'chat/completions', {
      signal,
      body: {
        model: request.model,
        messages: [
          { role: 'system', content: request.system },
          { role: 'user', content: request.user },
        ],
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'output', schema: request.jsonSchema, strict: true },
        },
        ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
      },
    });
    const body = this.ok(answer, 'the chat request', (message, code) =>
      modelNotFound(request.model, message, code),
    );
    const choice = Array.isArray(body.choices) ? asRecord(body.choices[0]) : undefined;
    const message = asRecord(choice?.message);
    if (
      typeof message?.refusal === 'string' &&
      message.refusal !== '' &&
      typeof message.content !== 'string'
    ) {
      throw new LlmError('LLM_REFUSED', 'The model declined to answer.', {
        details: [{ field: 'refusal', issue: message.refusal.slice(0, 300) }],
      });
    }
    if (typeof message?.content !== 'string') {
      throw new LlmError(
        'LLM_INVALID_RESPONSE',
        'The OpenAI-compatible provider answered the chat request without message content.',
      );
    }
    const usage = asRecord(body.usage);
    return {
      content: message.content,
      tokensIn: nonNegativeInt(usage?.prompt_tokens),
      tokensOut: nonNegativeInt(usage?.completion_tokens),
      finishReason: finishReason(choice?.finish_reason),
    };
  }

  async listModels(signal: AbortSignal): Promise<LlmModelInfo[]> {
    const answer = await httpCall(this.target, 'GET', 'models', { signal });
    const body = this.ok(answer, 'the model list');
    const data = Array.isArray(body.data) ? body.data : [];
    return data
      .map(asRecord)
      .filter((entry): entry is Record<string, unknown> => typeof entry?.id === 'string')
      .map((entry) => toModelInfo(entry));
  }

  async showModel(name: string, signal: AbortSignal): Promise<LlmModelDetail> {
    const answer = await httpCall(this.target, 'GET', `models/${encodeURIComponent(name)}`, { signal });
    const body = this.ok(answer, 'the model details', (message, code) =>
      modelNotFound(name, message, code, true),
    );
    const info = toModelInfo({ ...body, id: typeof body.id === 'string' ? body.id : name });
    return { name: info.name, ...(info.details === undefined ? {} : { details: info.details }) };
  }

  /** Compatible APIs have no version endpoint; the model list is the cheapest proof of life. */
  async version(signal: AbortSignal): Promise<string | null> {
    await this.listModels(signal);
    return null;
  }

  loadedModels(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  pull(): Promise<void> {
    return Promise.reject(unsupported('pull models'));
  }

  deleteModel(): Promise<void> {
    return Promise.reject(unsupported('delete models'));
  }

  private ok(
    answer: HttpAnswer,
    operation: string,
    notFound?: (message: string, code: string | undefined) => LlmError | undefined,
  ): Record<string, unknown> {
    if (answer.status < 200 || answer.status > 299) {
      throw statusError(this.target, operation, answer, (message) =>
        notFound?.(message, errorCode(answer.text)),
      );
    }
    const body = asRecord(parseJsonBody(this.target, operation, answer));
    if (body === undefined) {
      throw new LlmError(
        'LLM_INVALID_RESPONSE',
        `The OpenAI-compatible provider answered ${operation} with something other than an object.`,
      );
    }
    return body;
  }
}

export function unsupported(what: string): LlmError {
  return new LlmError(
    'LLM_OPERATION_UNSUPPORTED',
    `The OpenAI-compatible provider cannot ${what}; manage its models where it is hosted.`,
  );
}

/**
 * OpenAI answers 404 with code `model_not_found`; other compatible servers only say so in the
 * message. A bare 404 most likely means OPENAI_BASE_URL lacks `/v1`, which is not the model's fault.
 */
function modelNotFound(
  model: string,
  message: string,
  code: string | undefined,
  anyNotFound = false,
): LlmError | undefined {
  if (code !== 'model_not_found' && !/model/i.test(message) && !anyNotFound) {
    return new LlmError(
      'LLM_REQUEST_REJECTED',
      'The OpenAI-compatible provider answered 404 to chat/completions; check that OPENAI_BASE_URL ends with the API version (/v1).',
    );
  }
  return new LlmError(
    'LLM_MODEL_NOT_FOUND',
    `The model ${model} is not available on the OpenAI-compatible provider.`,
    {
      details: [{ field: 'model', issue: message === '' ? 'not found' : message }],
    },
  );
}

function errorCode(text: string): string | undefined {
  try {
    const code = asRecord(asRecord(JSON.parse(text))?.error)?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function finishReason(value: unknown): FinishReason {
  if (value === 'stop' || value === undefined || value === null) return 'stop';
  return value === 'length' ? 'length' : 'other';
}

function toModelInfo(entry: Record<string, unknown>): LlmModelInfo {
  const created = typeof entry.created === 'number' ? new Date(entry.created * 1000) : undefined;
  return {
    name: entry.id as string,
    size: null,
    modifiedAt: created === undefined || Number.isNaN(created.getTime()) ? null : created.toISOString(),
    ...(typeof entry.owned_by === 'string' ? { details: { ownedBy: entry.owned_by } } : {}),
  };
}
