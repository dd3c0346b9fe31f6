import { ApiProperty } from '@nestjs/swagger';
import type { AdapterCacheStats, CacheStats } from '../adapter-cache';
import type { L2Status } from '../redis-cache-store';

/** OpenAPI shapes of the cache statistics (AdapterCache.stats returns plain objects of the same shape). */
export class AdapterCacheStatsDto implements AdapterCacheStats {
  @ApiProperty({ format: 'uuid' })
  adapterId!: string;

  @ApiProperty({ description: 'Lookups answered from the cache by this replica since it started' })
  hits!: number;

  @ApiProperty({ description: 'Lookups that called the upstream, by this replica since it started' })
  misses!: number;

  @ApiProperty({ description: "Entries in this replica's memory (L1)" })
  entries!: number;

  @ApiProperty({ description: "Bytes of responses in this replica's memory (L1)" })
  bytes!: number;

  @ApiProperty({ description: 'L1 entries dropped to stay within CACHE_L1_MAX_ENTRIES / CACHE_L1_MAX_BYTES' })
  evictions!: number;
}

export class CacheStatsDto implements CacheStats {
  @ApiProperty({ type: [AdapterCacheStatsDto], description: 'Adapters this replica has cached for, by id' })
  items!: AdapterCacheStatsDto[];

  @ApiProperty({
    enum: ['disabled', 'connected', 'unavailable'],
    description: 'The shared cache (Redis): disabled without REDIS_URL; unavailable while Redis fails',
  })
  l2!: L2Status;
}
