import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { type ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';

const WARN_INTERVAL_MS = 30_000;

/**
 * Counts in the shared store (Redis) when there is one, so that limits hold across replicas. When the
 * shared store fails, counting falls back to this replica's memory rather than failing the request:
 * limits then apply per replica until the store is back.
 */
export class FailOpenThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly local = new ThrottlerStorageService();
  private lastWarning = 0;

  constructor(private readonly shared: ThrottlerStorage | undefined) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    if (this.shared === undefined) return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
    try {
      return await this.shared.increment(key, ttl, limit, blockDuration, throttlerName);
    } catch (error) {
      const now = Date.now();
      if (now - this.lastWarning > WARN_INTERVAL_MS) {
        this.lastWarning = now;
        this.logger.warn(`Shared rate-limit store failed, counting per replica: ${(error as Error).message}`);
      }
      return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
    }
  }

  onApplicationShutdown(): void {
    this.local.onApplicationShutdown();
  }
}
