import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { MetricsService } from '../observability/metrics.service';

/** The shared Redis client, or `null` when REDIS_URL is unset (single replica: everything stays local). */
export const REDIS = Symbol('REDIS');
export type RedisClient = Redis | null;

const logger = new Logger('Redis');

function connect(config: AppConfig, metrics: MetricsService | undefined): RedisClient {
  if (config.redis.url === undefined) return null;
  const client = new Redis(config.redis.url, {
    keyPrefix: config.redis.keyPrefix,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    // Fail fast while Redis is away; callers fall back to local state instead of queueing requests.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  let reported = false;
  metrics?.setRedisConnected(false);
  client.on('error', (error: Error) => {
    if (!reported) logger.warn(`Redis unavailable: ${error.message}`);
    reported = true;
    metrics?.setRedisConnected(false);
  });
  client.on('close', () => metrics?.setRedisConnected(false));
  client.on('ready', () => {
    if (reported) logger.log('Redis connection restored');
    reported = false;
    metrics?.setRedisConnected(true);
  });
  return client;
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      // Optional: tools and tests that build part of the application run without metrics.
      inject: [APP_CONFIG, { token: MetricsService, optional: true }],
      useFactory: connect,
    },
  ],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.redis === null) return;
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
