import { Global, Module } from '@nestjs/common';
import { ObservabilityModule } from '../observability/observability.module';
import { AdapterCache } from './adapter-cache';
import { CacheController } from './cache.controller';

/** The adapter response cache (L1 memory, L2 Redis) and its admin routes; global for the adapter connectors. */
@Global()
@Module({
  imports: [ObservabilityModule],
  controllers: [CacheController],
  providers: [AdapterCache],
  exports: [AdapterCache],
})
export class CacheModule {}
