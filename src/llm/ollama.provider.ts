import { LlmError } from './llm-errors';
import {
  asRecord,
  httpCall,
  type HttpAnswer,
  httpStreamLines,
  type HttpTarget,
  nonNegativeInt,
  parseJsonBody,
  providerMessage,
  statusError,
} from './llm-http';
import type {
  FinishReason,
  LlmModelDetail,
  LlmModelInfo,
  LlmProvider,
  LoadedModel,
  ProviderChatRequest,
  ProviderChatResult,
  PullProgress,
} from './llm.types';

/** Ollama's HTTP API (https://github.com/ollama/ollama/blob/main/docs/api.md). */
export class OllamaProvider implements LlmProvider {
  readonly name = 'ollama';
  private readonly target: HttpTarget;

  constructor(baseUrl: string) {
    this.target = { label: 'Ollama', baseUrl };
  }

  async chat(request: ProviderChatRequest, signal: AbortSignal): Promise<ProviderChatResult> {
    const answer = await httpCall(this.target, 'POST', '/api/chat', {
      signal,
      body: {
        model: request.model,
        messages: [
          { role: 'system', content: request.system },
          { role: 'user', content: request.user },
        ],
        format: request.jsonSchema,
        stream: false,
        ...(request.maxTokens === undefined ? {} : { options: { num_predict: request.maxTokens } }),
      },
    });
    const body = this.ok(answer, 'the chat request', (message) => modelNotFound(request.model, message));
    const message = asRecord(body.message);
    if (typeof message?.content !== 'string') {
      throw new LlmError('LLM_INVALID_RESPONSE', 'Ollama answered the chat request without message content.');
    }
    return {
      content: message.content,
      tokensIn: nonNegativeInt(body.prompt_eval_count),
      tokensOut: nonNegativeInt(body.eval_count),
      finishReason: finishReason(body.done_reason),
    };
  }

  async listModels(signal: AbortSignal): Promise<LlmModelInfo[]> {
    const answer = await httpCall(this.target, 'GET', '/api/tags', { signal });
    const body = this.ok(answer, 'the model list');
    return arrayOf(body.models).map((entry) => ({
      name: stringOr(entry.name ?? entry.model, ''),
      size: numberOrNull(entry.size),
      modifiedAt: isoOrNull(entry.modified_at),
      ...(typeof entry.digest === 'string' ? { digest: entry.digest } : {}),
      ...(asRecord(entry.details) === undefined ? {} : { details: camelCaseKeys(asRecord(entry.details)!) }),
    }));
  }

  async showModel(name: string, signal: AbortSignal): Promise<LlmModelDetail> {
    const answer = await httpCall(this.target, 'POST', '/api/show', { signal, body: { model: name } });
    const body = this.ok(answer, 'the model details', (message) => modelNotFound(name, message));
    const info = asRecord(body.model_info) ?? {};
    const contextKey = Object.keys(info).find((key) => key.endsWith('.context_length'));
    const contextLength = contextKey === undefined ? undefined : numberOrNull(info[contextKey]);
    return {
      name,
      ...(asRecord(body.details) === undefined ? {} : { details: camelCaseKeys(asRecord(body.details)!) }),
      ...(Array.isArray(body.capabilities)
        ? { capabilities: body.capabilities.filter((c): c is string => typeof c === 'string') }
        : {}),
      ...(typeof body.parameters === 'string' ? { parameters: body.parameters } : {}),
      ...(typeof body.template === 'string' ? { template: body.template } : {}),
      ...(contextLength === undefined || contextLength === null ? {} : { contextLength }),
    };
  }

  async version(signal: AbortSignal): Promise<string | null> {
    const answer = await httpCall(this.target, 'GET', '/api/version', { signal });
    const body = this.ok(answer, 'the version request');
    return typeof body.version === 'string' ? body.version : null;
  }

  async loadedModels(signal: AbortSignal): Promise<LoadedModel[]> {
    const answer = await httpCall(this.target, 'GET', '/api/ps', { signal });
    const body = this.ok(answer, 'the loaded-model list');
    return arrayOf(body.models).map((entry) => ({
      name: stringOr(entry.name ?? entry.model, ''),
      size: numberOrNull(entry.size),
      sizeVram: numberOrNull(entry.size_vram),
      expiresAt: isoOrNull(entry.expires_at),
    }));
  }

  async pull(name: string, onProgress: (progress: PullProgress) => void, signal: AbortSignal): Promise<void> {
    // Layers report their own totals; the pull's progress is their sum.
    const layers = new Map<string, { completed: number; total: number }>();
    let succeeded = false;
    let failure: string | undefined;
    const answer = await httpStreamLines(this.target, 'POST', '/api/pull', {
      signal,
      body: { model: name, stream: true },
      onLine: (line) => {
        let event: Record<string, unknown> | undefined;
        try {
          event = asRecord(JSON.parse(line));
        } catch {
          event = undefined;
        }
        if (event === undefined) return;
        if (typeof event.error === 'string') {
          failure = providerMessage(this.target, JSON.stringify({ error: event.error })).message;
          return;
        }
        const status = typeof event.status === 'string' ? event.status : 'pulling';
        if (typeof event.digest === 'string' && typeof event.total === 'number') {
          layers.set(event.digest, {
            total: nonNegativeInt(event.total),
            completed: nonNegativeInt(event.completed),
          });
        }
        if (status === 'success') succeeded = true;
        let completed = 0;
        let total = 0;
        for (const layer of layers.values()) {
          completed += layer.completed;
          total += layer.total;
        }
        onProgress({ status, completed, total });
      },
    });
    if (answer.status < 200 || answer.status > 299) {
      throw statusError(this.target, 'the pull', answer, (message) => modelNotFound(name, message));
    }
    if (failure !== undefined)
      throw new LlmError('LLM_REQUEST_REJECTED', `Ollama could not pull ${name}: ${failure}`);
    if (!succeeded) {
      throw new LlmError('LLM_PROVIDER_ERROR', `Ollama ended the pull of ${name} before it finished.`);
    }
  }

  async deleteModel(name: string, signal: AbortSignal): Promise<void> {
    const answer = await httpCall(this.target, 'DELETE', '/api/delete', { signal, body: { model: name } });
    if (answer.status >= 200 && answer.status <= 299) return;
    throw statusError(this.target, 'the delete', answer, (message) => modelNotFound(name, message));
  }

  /** A 2xx JSON object, or the error its status means. */
  private ok(
    answer: HttpAnswer,
    operation: string,
    notFound?: (message: string) => LlmError | undefined,
  ): Record<string, unknown> {
    if (answer.status < 200 || answer.status > 299) {
      throw statusError(this.target, operation, answer, notFound);
    }
    const body = asRecord(parseJsonBody(this.target, operation, answer));
    if (body === undefined) {
      throw new LlmError(
        'LLM_INVALID_RESPONSE',
        `Ollama answered ${operation} with something other than an object.`,
      );
    }
    if (typeof body.error === 'string') {
      throw new LlmError(
        'LLM_PROVIDER_ERROR',
        `Ollama failed ${operation}: ${providerMessage(this.target, answer.text).message}`,
      );
    }
    return body;
  }
}

/**
 * Ollama answers 404 with `model "x" not found, try pulling it first`; a 404 without such a body
 * (a proxy, a wrong OLLAMA_URL) is not about the model.
 */
function modelNotFound(model: string, message: string): LlmError | undefined {
  if (!/model|not found/i.test(message)) return undefined;
  return new LlmError('LLM_MODEL_NOT_FOUND', `The model ${model} is not available on Ollama.`, {
    details: [{ field: 'model', issue: message === '' ? 'not found' : message }],
  });
}

function finishReason(value: unknown): FinishReason {
  if (value === 'stop' || value === undefined) return 'stop';
  return value === 'length' ? 'length' : 'other';
}

function arrayOf(value: unknown): Record<string, unknown>[] {
  if (!Array.isArray(value)) return [];
  return value.map(asRecord).filter((entry): entry is Record<string, unknown> => entry !== undefined);
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function isoOrNull(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

/** Ollama's snake_case detail fields in the API's camelCase. */
function camelCaseKeys(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).map(([key, value]) => [
      key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
      value,
    ]),
  );
}
