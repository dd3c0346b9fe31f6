import { abortError, type HttpAnswer, retryAfterOf, scrub, statusError, transportError } from './llm-http';
import { LlmError } from './llm-errors';

const target = { label: 'Ollama', baseUrl: 'http://127.0.0.1:1', secrets: ['sk-SECRET-123'] };
const answer = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers: new Headers(headers),
  text: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('LLM error classification', () => {
  it.each([
    [500, 'LLM_PROVIDER_ERROR', 502, true],
    [503, 'LLM_PROVIDER_ERROR', 502, true],
    [429, 'LLM_RATE_LIMITED', 503, true],
    [408, 'LLM_TIMEOUT', 504, true],
    [400, 'LLM_REQUEST_REJECTED', 502, false],
    [401, 'LLM_PROVIDER_AUTH_FAILED', 502, false],
    [403, 'LLM_PROVIDER_AUTH_FAILED', 502, false],
    [404, 'LLM_REQUEST_REJECTED', 502, false],
    [302, 'LLM_INVALID_RESPONSE', 502, false],
  ])('status %i is %s (%i, transient %s)', (status, code, httpStatus, transient) => {
    const error = statusError(target, 'the chat request', answer(status, { error: 'boom' }));
    expect(error).toMatchObject({ code, status: httpStatus, transient });
  });

  it('a 404 is what the operation says it is', () => {
    const notFound = new LlmError('LLM_MODEL_NOT_FOUND', 'missing');
    expect(statusError(target, 'x', answer(404, { error: 'model "a" not found' }), () => notFound)).toBe(
      notFound,
    );
  });

  it('carries Retry-After from a 429, and tells an exhausted quota from a rate limit', () => {
    const limited = statusError(target, 'x', answer(429, { error: 'slow down' }, { 'retry-after': '7' }));
    expect(limited).toMatchObject({
      code: 'LLM_RATE_LIMITED',
      retryAfterSeconds: 7,
      headers: { 'Retry-After': '7' },
    });
    const quota = statusError(
      target,
      'x',
      answer(429, { error: { message: 'no money', code: 'insufficient_quota' } }),
    );
    expect(quota).toMatchObject({ code: 'LLM_QUOTA_EXCEEDED', transient: false });
  });

  it('reads Retry-After as seconds, an HTTP date or retry-after-ms, clamped to [1, 3600]', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterOf(new Headers({ 'retry-after': '0' }), now)).toBe(1);
    expect(retryAfterOf(new Headers({ 'retry-after': '2.5' }), now)).toBe(3);
    expect(retryAfterOf(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }), now)).toBe(30);
    expect(retryAfterOf(new Headers({ 'retry-after-ms': '1500' }), now)).toBe(2);
    expect(retryAfterOf(new Headers({ 'retry-after': '999999' }), now)).toBe(3600);
    expect(retryAfterOf(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(retryAfterOf(new Headers(), now)).toBeUndefined();
  });

  it('never repeats a secret the provider echoed, and cuts long messages', () => {
    const error = statusError(
      target,
      'x',
      answer(401, { error: { message: 'Incorrect API key sk-SECRET-123' } }),
    );
    expect(error.message).not.toContain('sk-SECRET-123');
    expect(error.message).toContain('[REDACTED]');
    expect(scrub(target, 'y'.repeat(1000)).length).toBeLessThanOrEqual(301);
  });

  it('tells a deadline from a caller abort, and a connection failure from both', () => {
    expect(abortError(target, new DOMException('t', 'TimeoutError'))).toMatchObject({
      code: 'LLM_TIMEOUT',
      transient: true,
      status: 504,
    });
    expect(abortError(target, new DOMException('a', 'AbortError'))).toMatchObject({
      code: 'LLM_CALL_ABORTED',
      transient: false,
    });
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    expect(transportError(target, refused, new AbortController().signal)).toMatchObject({
      code: 'LLM_PROVIDER_UNAVAILABLE',
      status: 503,
      transient: true,
    });
  });
});
