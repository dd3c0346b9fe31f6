import { Logger } from '@nestjs/common';
import { resolve } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { ENTITY_GLOBS, MIGRATION_GLOBS } from './database-paths';
import { EmbeddedPostgres } from './embedded-postgres';
import { runMigrationsLocked } from './migration-runner';

/** How long a request waits for a pooled connection before failing (and the service answering 503). */
const POOL_ACQUIRE_TIMEOUT_MS = 10_000;

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
      logging: ['error'],
    });
    try {
      await dataSource.initialize();
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

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.embedded?.stop();
  }
}
