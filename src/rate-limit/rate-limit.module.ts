import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { REDIS, type RedisClient } from '../redis/redis.module';
import { FailOpenThrottlerStorage } from './fail-open-throttler-storage';

@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG, REDIS],
      useFactory: (config: AppConfig, redis: RedisClient) => ({
        throttlers: [
          { name: 'default', ttl: config.rateLimit.ttlSeconds * 1000, limit: config.rateLimit.max },
        ],
        storage: new FailOpenThrottlerStorage(
          redis === null ? undefined : new ThrottlerStorageRedisService(redis),
        ),
        skipIf: () => !config.rateLimit.enabled,
      }),
    }),
  ],
})
export class RateLimitModule {}
