import { Controller, Delete, Get, HttpCode, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Audited } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import { RequestContext } from '../common/request-context';
import { AdapterCache, type CacheStats } from './adapter-cache';
import { CacheStatsDto } from './dto/cache-stats.dto';
import { PurgeCacheQueryDto } from './dto/purge-cache-query.dto';

@Controller(API_PREFIX)
@ApiTags('cache')
@ApiBearerAuth()
export class CacheController {
  constructor(
    private readonly cache: AdapterCache,
    private readonly context: RequestContext,
  ) {}

  @Get('cache/stats')
  @RequirePermissions('cache:read')
  @ApiOperation({
    summary: 'Adapter cache statistics of the replica that answers',
    description:
      'Per adapter: hits, misses and evictions since this replica started, and the entries and bytes it holds ' +
      'in memory (L1). The shared Redis level (L2) is reported by its status only.',
  })
  @ApiOkResponse({ type: CacheStatsDto })
  stats(): CacheStats {
    return this.cache.stats();
  }

  @Delete('cache')
  @RequirePermissions('cache:admin')
  @HttpCode(204)
  @Audited({
    action: 'cache.purge',
    resourceType: 'cache',
    resourceId: (_result, request: FastifyRequest) => {
      const { adapterId } = request.query as Record<string, unknown>;
      return typeof adapterId === 'string' ? adapterId : undefined;
    },
  })
  @ApiOperation({
    summary: 'Purge cached adapter responses',
    description:
      "With `adapterId`, that adapter's entries; without, every entry. Removes them from every replica's memory " +
      'and from Redis. 503 CACHE_UNAVAILABLE when Redis is configured but could not be purged.',
  })
  @ApiNoContentResponse()
  async purge(@Query() query: PurgeCacheQueryDto): Promise<void> {
    const purged = await this.cache.purge(query.adapterId);
    this.context.addAuditDetails({ adapterId: query.adapterId ?? null, purged });
  }
}
