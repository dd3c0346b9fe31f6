import { SetMetadata } from '@nestjs/common';
import type { Permission } from './permissions';

/**
 * Every route is exactly one of three classes (deny by default: a route with none is refused, and
 * a test fails on it):
 * - `@Public()`: no credentials needed;
 * - `@Authenticated()`: any valid principal;
 * - `@RequirePermissions(...)`: a principal holding every listed permission.
 */
export const ROUTE_ACCESS = 'routeAccess';

export type RouteAccess =
  | { readonly kind: 'public' }
  | { readonly kind: 'authenticated' }
  | { readonly kind: 'permissions'; readonly permissions: readonly Permission[] };

export const Public = (): ClassDecorator & MethodDecorator =>
  SetMetadata(ROUTE_ACCESS, { kind: 'public' } satisfies RouteAccess);

export const Authenticated = (): ClassDecorator & MethodDecorator =>
  SetMetadata(ROUTE_ACCESS, { kind: 'authenticated' } satisfies RouteAccess);

export const RequirePermissions = (
  ...permissions: [Permission, ...Permission[]]
): ClassDecorator & MethodDecorator =>
  SetMetadata(ROUTE_ACCESS, { kind: 'permissions', permissions } satisfies RouteAccess);

/**
 * Routes a user who must change their password may still use (`/auth/me`, own password, logout);
 * every other route answers 403 PASSWORD_CHANGE_REQUIRED for them.
 */
export const ALLOWED_DURING_PASSWORD_CHANGE = 'allowedDuringPasswordChange';
export const AllowDuringPasswordChange = (): MethodDecorator =>
  SetMetadata(ALLOWED_DURING_PASSWORD_CHANGE, true);
