import { type CanActivate, type ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuditService } from '../audit/audit.service';
import type { AuthenticatedRequest } from '../auth/authentication.guard';
import { ForbiddenError, UnauthenticatedError } from '../common/app-error';
import { MetricsService } from '../observability/metrics.service';
import { ALLOWED_DURING_PASSWORD_CHANGE, ROUTE_ACCESS, type RouteAccess } from './route-access.decorators';

/**
 * Decides every route by its class (deny by default): public routes pass; others need a principal
 * (401); a user who must change their password may only reach the routes that let them (403
 * PASSWORD_CHANGE_REQUIRED); permission routes need every listed permission (403, audited as
 * `authz.denied` naming what was missing).
 */
@Injectable()
export class AuthorizationGuard implements CanActivate {
  private readonly logger = new Logger(AuthorizationGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  async canActivate(execution: ExecutionContext): Promise<boolean> {
    if (execution.getType() !== 'http') return true;
    const targets = [execution.getHandler(), execution.getClass()];
    const access = this.reflector.getAllAndOverride<RouteAccess | undefined>(ROUTE_ACCESS, targets);
    const request = execution.switchToHttp().getRequest<AuthenticatedRequest>();
    if (access === undefined) {
      this.logger.error(`Route ${request.method} ${request.routeOptions.url} has no access class; refusing`);
      throw new ForbiddenError('FORBIDDEN', 'You are not allowed to do this.');
    }
    if (access.kind === 'public') return true;

    const principal = request.user;
    if (principal === undefined) {
      throw withChallenge(
        request.authError ?? new UnauthenticatedError('UNAUTHENTICATED', 'Authentication is required.'),
      );
    }
    if (
      principal.mustChangePassword &&
      !this.reflector.get<boolean>(ALLOWED_DURING_PASSWORD_CHANGE, execution.getHandler())
    ) {
      throw new ForbiddenError(
        'PASSWORD_CHANGE_REQUIRED',
        'Change your password before doing anything else.',
      );
    }
    if (access.kind === 'authenticated') return true;

    const missing = access.permissions.filter((permission) => !principal.permissions.has(permission));
    if (missing.length === 0) return true;
    this.metrics.observeAuthzDenial(request.method, request.routeOptions.url);
    await this.audit.recordIndependently({
      action: 'authz.denied',
      outcome: 'denied',
      httpStatus: 403,
      details: { missing, route: `${request.method} ${request.routeOptions.url}` },
    });
    throw new ForbiddenError('PERMISSION_DENIED', `This needs the permission ${missing.join(', ')}.`, [
      { issue: 'missing_permission', permissions: missing },
    ]);
  }
}

function withChallenge(error: UnauthenticatedError): UnauthenticatedError {
  return new UnauthenticatedError(error.code, error.message, error.details, { 'www-authenticate': 'Bearer' });
}
