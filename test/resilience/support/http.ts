import { randomUUID } from 'node:crypto';

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly requestId: string;
  /** Set when no HTTP answer arrived (connection refused or reset, timeout). */
  readonly error?: string;
}

/**
 * One JSON request with its own X-Request-Id (so the suite can find its audit events), bounded by a
 * timeout. A request that gets no answer resolves with status 0 instead of throwing.
 */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer> {
  const requestId = `res-${randomUUID()}`;
  const headers: Record<string, string> = { 'x-request-id': requestId, ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body, requestId };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return {
      status: 0,
      headers: new Headers(),
      body: undefined,
      requestId,
      error: cause ?? (error as Error).name,
    };
  }
}

/** `call` that insists on the expected status and returns the body. */
export async function expectStatus<T>(
  expected: number,
  ...args: Parameters<typeof call>
): Promise<{ body: T; headers: Headers }> {
  const answer = await call(...args);
  if (answer.status !== expected) {
    throw new Error(
      `${args[1]} ${args[2]}: expected ${expected}, got ${answer.status} ${answer.error ?? JSON.stringify(answer.body)}`,
    );
  }
  return { body: answer.body as T, headers: answer.headers };
}
