import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { type ErrorResponse, toErrorResponse } from './error-response';
import { isMcpPath, jsonRpcErrorBody, mcpChallenge } from './json-rpc-error';

/**
 * The one place that turns an exception into an HTTP response: the error envelope of CONTRACT.md,
 * or on MCP routes the same status with a JSON-RPC error body.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(
    @InjectPinoLogger(AllExceptionsFilter.name) private readonly logger: PinoLogger,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const error = toErrorResponse(exception);
    if (error.unexpected) {
      this.logger.error({ err: exception, requestId: request.id }, 'Request failed with an unexpected error');
    } else if (error.status >= 500) {
      this.logger.warn(
        { requestId: request.id, code: error.code, reason: describe(exception) },
        'Request failed',
      );
    }
    if (reply.sent || reply.raw.headersSent) return;
    for (const [name, value] of Object.entries(error.headers ?? {})) void reply.header(name, value);
    void reply.status(error.status).header('content-type', 'application/json; charset=utf-8');
    if (isMcpPath(request.url)) {
      this.sendJsonRpc(reply, error, request.id);
      return;
    }
    if (isOAuthEndpoint(request.url)) {
      void reply.header('cache-control', 'no-store').send(oauthErrorBody(exception, error));
      return;
    }
    void reply.send({
      error: {
        code: error.code,
        message: error.message,
        ...(error.details === undefined ? {} : { details: error.details }),
        requestId: request.id,
      },
    });
  }

  private sendJsonRpc(reply: FastifyReply, error: ErrorResponse, requestId: string): void {
    if (error.status === 401)
      void reply.header('www-authenticate', mcpChallenge(this.config.http.publicBaseUrl, error.code));
    void reply.send(jsonRpcErrorBody(error, requestId));
  }
}

/** OAuth endpoints answer errors as RFC 6749 section 5.2 says, not with the REST envelope. */
function isOAuthEndpoint(url: string): boolean {
  return /^\/oauth\/(token|revoke|register)(\?|$)/.test(url);
}

function oauthErrorBody(exception: unknown, error: ErrorResponse): Record<string, string> {
  const given = (exception as { oauthError?: unknown } | null)?.oauthError;
  const code =
    typeof given === 'string'
      ? given
      : error.status >= 500 || error.status === 429
        ? error.status === 500
          ? 'server_error'
          : 'temporarily_unavailable'
        : error.status === 401
          ? 'invalid_client'
          : 'invalid_request';
  return { error: code, error_description: error.message };
}

function describe(exception: unknown): string {
  return exception instanceof Error ? `${exception.name}: ${exception.message}` : 'non-error value thrown';
}
