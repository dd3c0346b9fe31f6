import { LlmError } from './llm-errors';

/** Bodies larger than this are refused: a chat answer or a model list is far smaller. */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** Longest line of a streamed (NDJSON) answer. */
const MAX_LINE_BYTES = 64 * 1024;
/** Provider messages quoted in our errors are cut to this many characters. */
const MAX_MESSAGE_LENGTH = 300;
/** A Retry-After larger than this is clamped: the caller's backoff should stay bounded. */
const MAX_RETRY_AFTER_SECONDS = 3_600;

/** Who is being called, for messages, and which values must never appear in them. */
export interface HttpTarget {
  /** Human name for messages: `Ollama`, `the OpenAI-compatible provider`. */
  readonly label: string;
  readonly baseUrl: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Values (API keys) scrubbed from any provider text we repeat. */
  readonly secrets?: readonly string[];
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** Joins a base URL that may end in a path (`http://host/v1`) with an API path (`chat/completions`). */
export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/**
 * One HTTP exchange with the provider through Node's fetch (undici keeps connections alive and
 * reuses them per origin). Any answer, whatever its status, is returned; failures to get one
 * become LlmError: timeout or abort (from `signal`), connection errors, oversized bodies.
 */
export async function httpCall(
  target: HttpTarget,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  options: { body?: unknown; signal: AbortSignal; maxBytes?: number },
): Promise<HttpAnswer> {
  const response = await open(target, method, path, options.body, options.signal);
  const text = await readBody(target, response, options.signal, options.maxBytes ?? MAX_RESPONSE_BYTES);
  return { status: response.status, headers: response.headers, text };
}

/**
 * Streams an NDJSON answer line by line (Ollama `/api/pull`). Non-2xx answers are returned whole,
 * for the caller to classify; `onLine` sees each non-empty line of a 2xx answer.
 */
export async function httpStreamLines(
  target: HttpTarget,
  method: 'POST',
  path: string,
  options: { body?: unknown; signal: AbortSignal; onLine: (line: string) => void },
): Promise<HttpAnswer> {
  const response = await open(target, method, path, options.body, options.signal);
  if (response.status < 200 || response.status > 299) {
    const text = await readBody(target, response, options.signal, MAX_RESPONSE_BYTES);
    return { status: response.status, headers: response.headers, text };
  }
  if (response.body === null) return { status: response.status, headers: response.headers, text: '' };
  const decoder = new TextDecoder();
  let pending = '';
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line !== '') options.onLine(line);
      }
      if (pending.length > MAX_LINE_BYTES) {
        throw new LlmError(
          'LLM_RESPONSE_TOO_LARGE',
          `${target.label} sent a progress line longer than ${MAX_LINE_BYTES} bytes.`,
        );
      }
    }
  } catch (error) {
    throw transportError(target, error, options.signal);
  }
  const last = (pending + decoder.decode()).trim();
  if (last !== '') options.onLine(last);
  return { status: response.status, headers: response.headers, text: '' };
}

async function open(
  target: HttpTarget,
  method: string,
  path: string,
  body: unknown,
  signal: AbortSignal,
): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...target.headers };
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(joinUrl(target.baseUrl, path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      redirect: 'error',
    });
  } catch (error) {
    throw transportError(target, error, signal);
  }
}

async function readBody(
  target: HttpTarget,
  response: Response,
  signal: AbortSignal,
  maxBytes: number,
): Promise<string> {
  const tooLarge = () =>
    new LlmError('LLM_RESPONSE_TOO_LARGE', `${target.label} sent a response larger than ${maxBytes} bytes.`);
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof LlmError) throw error;
    throw transportError(target, error, signal);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A failure to exchange with the provider: deadline, the caller's abort, or the connection. */
export function transportError(target: HttpTarget, error: unknown, signal: AbortSignal): LlmError {
  if (error instanceof LlmError) return error;
  if (signal.aborted) return abortError(target, signal.reason);
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  )
    return new LlmError('LLM_TIMEOUT', `${target.label} did not answer in time.`);
  return new LlmError(
    'LLM_PROVIDER_UNAVAILABLE',
    `${target.label} cannot be reached${code === undefined ? '' : ` (${code})`}; check that it is running and its URL.`,
  );
}

/** A deadline (AbortSignal.timeout, ours or the caller's) is a timeout; any other abort is the caller's. */
export function abortError(target: HttpTarget, reason: unknown): LlmError {
  if (isTimeoutReason(reason)) {
    return new LlmError('LLM_TIMEOUT', `${target.label} did not answer before the deadline.`);
  }
  return new LlmError('LLM_CALL_ABORTED', `The call to ${target.label} was aborted by its caller.`);
}

/** By name: AbortSignal.timeout's DOMException may come from another realm than our Error. */
export function isTimeoutReason(reason: unknown): boolean {
  return (
    typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError'
  );
}

/** The error a non-2xx answer means; `notFound` decides what a 404 is for this operation. */
export function statusError(
  target: HttpTarget,
  operation: string,
  answer: HttpAnswer,
  notFound?: (message: string) => LlmError | undefined,
): LlmError {
  const { message, code } = providerMessage(target, answer.text);
  const said = message === '' ? '' : `: ${message}`;
  const status = answer.status;
  if (status === 404) {
    const specific = notFound?.(message);
    if (specific !== undefined) return specific;
  }
  if (status === 429) {
    if (code === 'insufficient_quota') {
      return new LlmError(
        'LLM_QUOTA_EXCEEDED',
        `${target.label} refused ${operation}: quota exceeded${said}`,
      );
    }
    const retryAfterSeconds = retryAfterOf(answer.headers);
    return new LlmError(
      'LLM_RATE_LIMITED',
      `${target.label} is rate limiting ${operation}${said}`,
      retryAfterSeconds === undefined ? {} : { retryAfterSeconds },
    );
  }
  if (status === 401 || status === 403) {
    return new LlmError(
      'LLM_PROVIDER_AUTH_FAILED',
      `${target.label} refused our credentials (${status}) for ${operation}${said}`,
    );
  }
  if (status === 408) return new LlmError('LLM_TIMEOUT', `${target.label} timed out ${operation}${said}`);
  if (status >= 500) {
    const retryAfterSeconds = retryAfterOf(answer.headers);
    return new LlmError(
      'LLM_PROVIDER_ERROR',
      `${target.label} failed ${operation} (${status})${said}`,
      retryAfterSeconds === undefined ? {} : { retryAfterSeconds },
    );
  }
  if (status >= 400) {
    return new LlmError('LLM_REQUEST_REJECTED', `${target.label} rejected ${operation} (${status})${said}`);
  }
  return new LlmError('LLM_INVALID_RESPONSE', `${target.label} answered ${operation} with status ${status}.`);
}

/**
 * The provider's own error message (Ollama `{ error }`, OpenAI `{ error: { message, code } }`),
 * cut short and with any secret scrubbed.
 */
export function providerMessage(target: HttpTarget, text: string): { message: string; code?: string } {
  let message = '';
  let code: string | undefined;
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') message = body.error;
    else if (body.error !== null && typeof body.error === 'object') {
      const inner = body.error as { message?: unknown; code?: unknown; type?: unknown };
      if (typeof inner.message === 'string') message = inner.message;
      if (typeof inner.code === 'string') code = inner.code;
      else if (typeof inner.type === 'string') code = inner.type;
    } else if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON (a proxy's HTML page, say): quoting it would be noise.
  }
  return { message: scrub(target, message), ...(code === undefined ? {} : { code: scrub(target, code) }) };
}

export function scrub(target: HttpTarget, text: string): string {
  let clean = text;
  for (const secret of target.secrets ?? []) {
    if (secret.length > 0) clean = clean.split(secret).join('[REDACTED]');
  }
  // eslint-disable-next-line no-control-regex
  clean = clean.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > MAX_MESSAGE_LENGTH ? `${clean.slice(0, MAX_MESSAGE_LENGTH)}…` : clean;
}

/** Seconds from `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, at least 1. */
export function retryAfterOf(headers: Headers, now = Date.now()): number | undefined {
  const clamp = (seconds: number) => Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(seconds)));
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return clamp(Number(ms) / 1000);
  const value = headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return clamp(Number(value));
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : clamp((date - now) / 1000);
}

/** Parses a 2xx JSON body; anything else is LLM_INVALID_RESPONSE. */
export function parseJsonBody(target: HttpTarget, operation: string, answer: HttpAnswer): unknown {
  try {
    return JSON.parse(answer.text);
  } catch {
    throw new LlmError(
      'LLM_INVALID_RESPONSE',
      `${target.label} answered ${operation} with something that is not JSON.`,
    );
  }
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

export function nonNegativeInt(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}
