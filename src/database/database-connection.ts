import { Logger } from '@nestjs/common';
import { resolve } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import type { DbPoolStats } from '../observability/metrics.service';
import { ENTITY_GLOBS, MIGRATION_GLOBS } from './database-paths';
import { EmbeddedPostgres } from './embedded-postgres';
import { runMigrationsLocked } from './migration-runner';

/** How long a request waits for a pooled connection before failing (and the service answering 503). */
const POOL_ACQUIRE_TIMEOUT_MS = 10_000;

const CONNECT_RETRY_WINDOW_MS = 15_000;

function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ETIMEDOUT', '57P03'].includes(code)
  ) {
    return true;
  }
  return (
    error instanceof Error &&
    /Connection terminated|timeout exceeded when trying to connect/i.test(error.message)
  );
}

export interface OpenOptions {
  readonly runMigrations: boolean;
}

/**
 * The application's one database: a PostgreSQL server when `DATABASE_URL` is set, otherwise the
 * embedded PGlite, reached through a pool of exactly one connection (see EmbeddedPostgres).
 */
export class DatabaseConnection {
  private static readonly logger = new Logger('Database');

  private constructor(
    readonly dataSource: DataSource,
    readonly embedded: EmbeddedPostgres | undefined,
  ) {}

  static async open(config: AppConfig, options: OpenOptions): Promise<DatabaseConnection> {
    const { url, pgliteDataDir, poolSize } = config.database;
    let embedded: EmbeddedPostgres | undefined;
    let target: Pick<
      DataSourceOptions & { type: 'postgres' },
      'url' | 'host' | 'port' | 'username' | 'database'
    >;
    if (url === undefined) {
      const dataDir = resolve(pgliteDataDir);
      this.logger.log(
        `DATABASE_URL is not set: using the embedded PostgreSQL (PGlite) persisted in ${dataDir}. ` +
          'Set DATABASE_URL to use a PostgreSQL server.',
      );
      embedded = await EmbeddedPostgres.start({
        dataDir,
        onLockCompromised: (error) => this.logger.error(`Lost the lock on ${dataDir}: ${error.message}`),
      });
      target = { host: embedded.host, port: embedded.port, username: 'postgres', database: 'postgres' };
    } else {
      target = { url };
    }
    const dataSource = new DataSource({
      type: 'postgres',
      ...target,
      entities: ENTITY_GLOBS,
      migrations: MIGRATION_GLOBS,
      migrationsTableName: 'typeorm_migrations',
      migrationsRun: false,
      synchronize: false,
      poolSize: embedded === undefined ? poolSize : 1,
      applicationName: 'mcp-admin',
      extra: { connectionTimeoutMillis: POOL_ACQUIRE_TIMEOUT_MS },
      // Failed queries surface as exceptions (logged by the filter without parameters, which may hold secrets).
      logging: false,
    });
    try {
      await this.initializeWithRetry(dataSource);
      if (options.runMigrations) {
        const applied = await runMigrationsLocked(dataSource);
        if (applied.length > 0)
          this.logger.log(`Applied migrations: ${applied.map((m) => m.name).join(', ')}`);
      }
    } catch (error) {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
      throw error;
    }
    return new DatabaseConnection(dataSource, embedded);
  }

  /**
   * A database that is still starting (containers started together) or a connection slot not yet
   * released refuses the first attempts: retry connection failures for a bounded time.
   */
  private static async initializeWithRetry(dataSource: DataSource): Promise<void> {
    const deadline = Date.now() + CONNECT_RETRY_WINDOW_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await dataSource.initialize();
        return;
      } catch (error) {
        if (!isConnectionFailure(error) || Date.now() > deadline) throw error;
        this.logger.warn(`Database not reachable yet (attempt ${attempt}): ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * attempt, 2_000)));
      }
    }
  }

  /**
   * The counts of the pg pool under TypeORM (`driver.master`). On the embedded database that pool
   * holds its one connection, so the same numbers tell whether it is busy and how many wait for it.
   */
  poolStats(): DbPoolStats | undefined {
    if (!this.dataSource.isInitialized) return undefined;
    const pool: unknown = (this.dataSource.driver as { master?: unknown }).master;
    if (!isPoolCounts(pool)) return undefined;
    return {
      inUse: Math.max(0, pool.totalCount - pool.idleCount),
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    };
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.embedded?.stop();
  }
}

interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** TypeORM types the driver's pool as `any`; pg's Pool exposes these three counts. */
function isPoolCounts(pool: unknown): pool is PoolCounts {
  if (typeof pool !== 'object' || pool === null) return false;
  const counts = pool as Partial<Record<keyof PoolCounts, unknown>>;
  return (
    typeof counts.totalCount === 'number' &&
    typeof counts.idleCount === 'number' &&
    typeof counts.waitingCount === 'number'
  );
}
