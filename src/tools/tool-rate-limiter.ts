import { Injectable } from '@nestjs/common';
import { InjectThrottlerStorage, type ThrottlerStorage } from '@nestjs/throttler';
import { TooManyRequestsError } from '../common/app-error';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';

/**
 * Tool calls count per principal and per tool, on top of the per-principal limit every HTTP request
 * already counts against: one busy tool cannot use up a principal's whole allowance. Counters live
 * in the same store as the global limit (Redis when configured, shared by replicas).
 */
@Injectable()
export class ToolRateLimiter {
  private readonly ttlMs: number;
  private readonly limit: number;

  constructor(
    @InjectThrottlerStorage() private readonly storage: ThrottlerStorage,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.ttlMs = config.rateLimit.ttlSeconds * 1000;
    this.limit = config.rateLimit.toolsMax ?? config.rateLimit.max;
  }

  /** Counts one call; 429 RATE_LIMITED with Retry-After once the principal's allowance for the tool is spent. */
  async take(principalId: string, tool: string): Promise<void> {
    if (!this.config.rateLimit.enabled) return;
    // Blocked for the rest of a window once over the limit, like the global limit (whose block
    // duration defaults to its TTL). A zero block duration is not an option: the Redis store would
    // try to set a block key that expires after 0 ms, which Redis refuses.
    const record = await this.storage.increment(
      `tool:${principalId}:${tool}`,
      this.ttlMs,
      this.limit,
      this.ttlMs,
      'tools',
    );
    if (record.totalHits > this.limit) {
      const retryAfter = Math.max(1, record.isBlocked ? record.timeToBlockExpire : record.timeToExpire);
      throw new TooManyRequestsError(
        'RATE_LIMITED',
        `Too many calls of ${tool}; try again in ${retryAfter} s.`,
        undefined,
        { 'retry-after': String(retryAfter) },
      );
    }
  }
}
