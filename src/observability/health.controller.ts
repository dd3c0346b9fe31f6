import { Controller, Get, Inject, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { HealthCheckService, type HealthCheckResult, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../authz/route-access.decorators';
import { pendingMigrationNames } from '../database/migration-runner';
import { REDIS, type RedisClient } from '../redis/redis.module';
import { ShutdownService } from './shutdown.service';

const DATABASE_CHECK_TIMEOUT_MS = 3_000;

@ApiTags('ops')
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly dataSource: DataSource,
    private readonly shutdown: ShutdownService,
    @Inject(REDIS) private readonly redis: RedisClient,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({
    summary:
      'Readiness: the database answers and its migrations are applied (503 names the failing check); with Redis, whether state is shared',
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    try {
      return await this.health.check([
        () => this.lifecycle(),
        () => this.database(),
        () => this.migrations(),
        ...(this.redis === null ? [] : [() => this.sharedState()]),
      ]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      void reply.status(503);
      return error.getResponse() as HealthCheckResult;
    }
  }

  private lifecycle() {
    const check = this.indicators.check('lifecycle');
    return this.shutdown.isShuttingDown ? check.down({ message: 'shutting down' }) : check.up();
  }

  private async database() {
    const check = this.indicators.check('database');
    try {
      await withTimeout(this.dataSource.query('SELECT 1'), DATABASE_CHECK_TIMEOUT_MS);
      return check.up();
    } catch {
      return check.down({ message: 'database unreachable' });
    }
  }

  /**
   * Redis is optional: while it is away the replica keeps serving (rate limits, cache and MCP
   * sessions fall back to this replica), so the check stays up and says so in its detail.
   */
  private sharedState() {
    const check = this.indicators.check('redis');
    return this.redis?.status === 'ready'
      ? check.up({ shared: true })
      : check.up({
          shared: false,
          message: 'Redis unavailable: rate limits, cache and MCP sessions are per replica',
        });
  }

  private async migrations() {
    const check = this.indicators.check('migrations');
    try {
      const pending = await withTimeout(pendingMigrationNames(this.dataSource), DATABASE_CHECK_TIMEOUT_MS);
      return pending.length === 0 ? check.up() : check.down({ message: 'migrations pending', pending });
    } catch {
      return check.down({ message: 'cannot read the applied migrations' });
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
