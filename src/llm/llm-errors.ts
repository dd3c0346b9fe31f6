import { AppError, type ErrorDetail } from '../common/app-error';

/**
 * Every way an LLM call or model operation fails, with its HTTP status and whether trying again
 * later can help (`transient`). The pipeline engine retries transient failures with backoff and
 * fails the item at once on the others.
 */
export const LLM_ERRORS = {
  /** The deadline passed (the wait for a slot included). */
  LLM_TIMEOUT: { status: 504, transient: true },
  /** No connection: refused, reset, DNS, TLS. */
  LLM_PROVIDER_UNAVAILABLE: { status: 503, transient: true },
  /** The provider answered 5xx. */
  LLM_PROVIDER_ERROR: { status: 502, transient: true },
  /** The provider answered 429; `retryAfterSeconds` when it said. */
  LLM_RATE_LIMITED: { status: 503, transient: true },
  /** Calls are paused after repeated provider failures; `retryAfterSeconds` says for how long. */
  LLM_CIRCUIT_OPEN: { status: 503, transient: true },
  /** The account is out of quota (OpenAI `insufficient_quota`): waiting does not help. */
  LLM_QUOTA_EXCEEDED: { status: 503, transient: false },
  /** No routed model exists on the provider. */
  LLM_MODEL_NOT_FOUND: { status: 404, transient: false },
  /** Neither the request, LLM_MODEL_ROUTES nor LLM_DEFAULT_MODEL names a model. */
  LLM_MODEL_NOT_CONFIGURED: { status: 400, transient: false },
  LLM_MODEL_NAME_INVALID: { status: 400, transient: false },
  /** The provider refused the request with a 4xx (bad schema, context too long...). */
  LLM_REQUEST_REJECTED: { status: 502, transient: false },
  /** The provider refused our credentials (OPENAI_API_KEY). */
  LLM_PROVIDER_AUTH_FAILED: { status: 502, transient: false },
  /** The provider's answer is not the API's envelope (not JSON, fields missing). */
  LLM_INVALID_RESPONSE: { status: 502, transient: false },
  LLM_RESPONSE_TOO_LARGE: { status: 502, transient: false },
  /** The model declined to answer (OpenAI `refusal`). */
  LLM_REFUSED: { status: 502, transient: false },
  /** The caller's signal aborted the call. */
  LLM_CALL_ABORTED: { status: 503, transient: false },
  /** Pull and delete on a provider without model management (OpenAI-compatible). */
  LLM_OPERATION_UNSUPPORTED: { status: 400, transient: false },
} as const satisfies Record<string, { status: number; transient: boolean }>;

export type LlmErrorCode = keyof typeof LLM_ERRORS;

export class LlmError extends AppError {
  declare readonly code: LlmErrorCode;
  readonly status: number;
  /** Trying again later may succeed (timeouts, 5xx, 429, connection errors, open circuit). */
  readonly transient: boolean;
  /** Seconds to wait before trying again, when the provider (or the circuit) says. */
  readonly retryAfterSeconds?: number;

  constructor(
    code: LlmErrorCode,
    message: string,
    options: { retryAfterSeconds?: number; details?: readonly ErrorDetail[] } = {},
  ) {
    super(
      code,
      message,
      options.details,
      options.retryAfterSeconds === undefined
        ? undefined
        : { 'Retry-After': String(options.retryAfterSeconds) },
    );
    this.status = LLM_ERRORS[code].status;
    this.transient = LLM_ERRORS[code].transient;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isTransientLlmError(error: unknown): boolean {
  return error instanceof LlmError && error.transient;
}

/** Bounded metric label for a call's outcome: `success` or the error code without its prefix. */
export type LlmOutcome = 'success' | Lowercase<LlmErrorCode extends `LLM_${infer R}` ? R : never>;

export function outcomeOf(error: unknown): LlmOutcome {
  if (!(error instanceof LlmError)) return 'provider_error';
  return error.code.slice(4).toLowerCase() as LlmOutcome;
}
