/** One entry of an error's `details`: which input was wrong and why. */
export interface ErrorDetail {
  readonly field?: string;
  readonly issue: string;
  readonly [key: string]: unknown;
}

/**
 * A domain error: a stable UPPER_SNAKE `code` for clients, a human message, and the HTTP status the
 * global filter answers with. Feature code throws the subclasses below, never Nest's HTTP exceptions.
 */
export abstract class AppError extends Error {
  abstract readonly status: number;

  constructor(
    readonly code: string,
    message: string,
    readonly details?: readonly ErrorDetail[],
    /** Response headers that belong to the error (Retry-After, WWW-Authenticate). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends AppError {
  readonly status = 400;
}
export class UnauthenticatedError extends AppError {
  readonly status = 401;
}
export class ForbiddenError extends AppError {
  readonly status = 403;
}
export class NotFoundError extends AppError {
  readonly status = 404;
}
export class MethodNotAllowedError extends AppError {
  readonly status = 405;
}
export class ConflictError extends AppError {
  readonly status = 409;
}
export class PreconditionFailedError extends AppError {
  readonly status = 412;
}
export class UnsupportedMediaTypeError extends AppError {
  readonly status = 415;
}
export class PreconditionRequiredError extends AppError {
  readonly status = 428;
}
export class TooManyRequestsError extends AppError {
  readonly status = 429;
}
export class UpstreamError extends AppError {
  readonly status = 502;
}
export class ServiceUnavailableError extends AppError {
  readonly status = 503;
}
export class UpstreamTimeoutError extends AppError {
  readonly status = 504;
}
