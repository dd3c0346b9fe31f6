import { Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';

/** What an authentication guard leaves on the request; absent for anonymous callers. */
interface RequestWithPrincipal extends FastifyRequest {
  user?: { id?: string };
}

/**
 * The global rate limit: counted per principal when the caller is authenticated, per client IP
 * otherwise (the IP honours TRUST_PROXY). Answers carry `RateLimit-Limit`, `RateLimit-Remaining`
 * and `RateLimit-Reset`; a refusal is a 429 with `Retry-After`. Runs after authentication so that
 * the principal is known.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override headerPrefix = 'RateLimit';

  protected override getTracker(request: Record<string, unknown>): Promise<string> {
    const req = request as unknown as RequestWithPrincipal;
    const principal = req.user?.id;
    return Promise.resolve(principal === undefined ? `ip:${req.ip}` : `principal:${principal}`);
  }
}
