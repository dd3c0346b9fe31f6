import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { UnauthenticatedError } from '../common/app-error';
import type { Principal } from '../common/request-context';
import type { AuthenticatedRequest } from './authentication.guard';

/** The authenticated principal of a non-public route (the guards guarantee there is one). */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, execution: ExecutionContext): Principal => {
    const principal = execution.switchToHttp().getRequest<AuthenticatedRequest>().user;
    if (principal === undefined)
      throw new UnauthenticatedError('UNAUTHENTICATED', 'Authentication is required.');
    return principal;
  },
);
