import { Global, Inject, Module, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { MetricsService } from '../observability/metrics.service';
import { DatabaseConnection } from './database-connection';
import { SystemInfoRepository } from './system-info.repository';

/** Opens the database (and runs migrations, unless DB_MIGRATIONS_RUN=false) before the app starts. */
@Global()
@Module({
  providers: [
    {
      provide: DatabaseConnection,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        DatabaseConnection.open(config, { runMigrations: config.database.migrationsRun }),
    },
    {
      provide: DataSource,
      inject: [DatabaseConnection],
      useFactory: (c: DatabaseConnection) => c.dataSource,
    },
    SystemInfoRepository,
  ],
  exports: [DataSource, DatabaseConnection, SystemInfoRepository],
})
export class DatabaseModule implements OnApplicationShutdown {
  private readonly unregisterPool: (() => void) | undefined;

  constructor(
    @Inject(DatabaseConnection) private readonly connection: DatabaseConnection,
    // Absent in the CLIs, which have no /metrics.
    @Optional() metrics?: MetricsService,
  ) {
    this.unregisterPool = metrics?.registerDbPool(() => connection.poolStats());
  }

  /** Runs after the HTTP server has drained (see ShutdownService), so in-flight requests keep the database. */
  async onApplicationShutdown(): Promise<void> {
    this.unregisterPool?.();
    await this.connection.close();
  }
}
