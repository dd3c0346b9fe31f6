import { type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { UnauthenticatedError } from '../common/app-error';
import { type Principal, RequestContext } from '../common/request-context';
import { ROUTE_ACCESS, type RouteAccess } from '../authz/route-access.decorators';
import { MetricsService } from '../observability/metrics.service';
import { PrincipalsService } from './principals.service';
import { API_KEY_PREFIX } from './secrets';

export interface AuthenticatedRequest extends FastifyRequest {
  user?: Principal;
  /** Why the presented credentials were refused; AuthorizationGuard answers 401 with it. */
  authError?: UnauthenticatedError;
}

/**
 * Identifies the caller from `Authorization: Bearer <JWT | API key>` or `X-API-Key`, and records
 * who they are in the request context. It never refuses by itself: the rate limiter runs next, so
 * that guessing credentials is rate-limited too, and AuthorizationGuard then decides.
 */
@Injectable()
export class AuthenticationGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly principals: PrincipalsService,
    private readonly context: RequestContext,
    private readonly metrics: MetricsService,
  ) {
    super();
  }

  override async canActivate(execution: ExecutionContext): Promise<boolean> {
    if (execution.getType() !== 'http') return true;
    const request = execution.switchToHttp().getRequest<AuthenticatedRequest>();
    this.context.setClient({
      ip: request.ip,
      userAgent: headerValue(request.headers['user-agent'])?.slice(0, 300),
    });
    const access = this.reflector.getAllAndOverride<RouteAccess | undefined>(ROUTE_ACCESS, [
      execution.getHandler(),
      execution.getClass(),
    ]);
    // Public routes ignore credentials: a stale token must not stop anyone from signing in.
    if (access?.kind === 'public') return true;

    const apiKey = extractApiKey(request);
    if (apiKey !== undefined) {
      const principal = await this.principals.forApiKey(apiKey, request.ip);
      if (principal === undefined)
        request.authError = new UnauthenticatedError(
          'API_KEY_INVALID',
          'The API key is invalid, expired or revoked.',
        );
      else request.user = principal;
    } else if (request.headers.authorization !== undefined) {
      try {
        await super.canActivate(execution);
      } catch (error) {
        request.authError =
          error instanceof UnauthenticatedError
            ? error
            : new UnauthenticatedError('TOKEN_INVALID', 'The access token is invalid or expired.');
      }
    }
    if (request.authError !== undefined) this.metrics.observeRefusedCredentials(request.authError.code);
    if (request.user !== undefined) this.context.setPrincipal(request.user);
    return true;
  }

  override handleRequest<TUser>(error: unknown, user: TUser | false): TUser {
    if (error instanceof UnauthenticatedError) throw error;
    if (error || !user)
      throw new UnauthenticatedError('TOKEN_INVALID', 'The access token is invalid or expired.');
    return user;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function extractApiKey(request: FastifyRequest): string | undefined {
  const header = headerValue(request.headers['x-api-key']);
  if (header !== undefined) return header;
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  return bearer?.startsWith(API_KEY_PREFIX) ? bearer : undefined;
}
