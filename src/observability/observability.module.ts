import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { METRIC_PROVIDERS, MetricsService } from './metrics.service';
import { ShutdownService } from './shutdown.service';

/**
 * Health, /metrics and the one metrics provider. Global, so that every feature (auth, audit, the
 * database pool) can report through MetricsService without importing this module; the features
 * that run without it too (the audit trail and the database in the CLIs) take it as optional.
 */
@Global()
@Module({
  imports: [
    TerminusModule.forRoot({ errorLogStyle: 'json' }),
    PrometheusModule.register({
      controller: MetricsController,
      path: '/metrics',
      defaultMetrics: { enabled: true },
    }),
  ],
  controllers: [HealthController],
  providers: [...METRIC_PROVIDERS, MetricsService, ShutdownService],
  exports: [MetricsService, ShutdownService],
})
export class ObservabilityModule {}
