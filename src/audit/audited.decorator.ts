import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuditInterceptor } from './audit.interceptor';

export const AUDIT_ROUTE = 'auditRoute';

/** `<resource>.<verb>`, the same rule as the audit_events.action CHECK constraint. */
export const AUDIT_ACTION_PATTERN = /^[a-z_]+\.[a-z_]+$/;

export interface AuditedOptions {
  readonly action: string;
  readonly resourceType?: string;
  /**
   * The affected resource's id. Called with the handler's result on success; on failure with
   * `undefined` (so read the id from `request.params` when it is there). A throw counts as no id.
   */
  readonly resourceId?: (result: unknown, request: FastifyRequest) => string | undefined;
}

export type AuditRouteMetadata =
  { readonly kind: 'audited'; readonly options: AuditedOptions } | { readonly kind: 'manual' };

/**
 * The route's work runs in one transaction with its success event (AuditInterceptor); a failure is
 * recorded after the rollback. An invalid action fails at startup, not on the first request.
 */
export function Audited(options: AuditedOptions): MethodDecorator {
  if (!AUDIT_ACTION_PATTERN.test(options.action)) {
    throw new Error(`@Audited: action '${options.action}' is not <resource>.<verb> in [a-z_]`);
  }
  // The interceptor is attached here, to audited routes only, rather than globally: a global
  // interceptor costs every request an RxJS chain. The route-walking test keeps every
  // state-changing route declaring @Audited or @AuditedManually.
  return applyDecorators(
    SetMetadata(AUDIT_ROUTE, { kind: 'audited', options } satisfies AuditRouteMetadata),
    UseInterceptors(AuditInterceptor),
  );
}

/** The route (or every route of the controller) records its own events, e.g. login with its failures. */
export const AuditedManually = (): ClassDecorator & MethodDecorator =>
  SetMetadata(AUDIT_ROUTE, { kind: 'manual' } satisfies AuditRouteMetadata);

/**
 * How a route is audited: its own decorator, else its controller's, else undefined. A route-walking
 * test fails every POST/PUT/PATCH/DELETE route for which this is undefined.
 */
export function auditMetadataOf(handler: object, controller?: object): AuditRouteMetadata | undefined {
  const own = Reflect.getMetadata(AUDIT_ROUTE, handler) as AuditRouteMetadata | undefined;
  if (own !== undefined || controller === undefined) return own;
  return Reflect.getMetadata(AUDIT_ROUTE, controller) as AuditRouteMetadata | undefined;
}
