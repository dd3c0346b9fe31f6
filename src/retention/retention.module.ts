import { Module, type OnModuleInit } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { JobEngine } from '../jobs/job-engine';
import { PipelineRunsRepository } from '../pipelines/pipeline-runs.repository';
import { RetentionService } from './retention.service';

/** The daily prune of old change records and pipeline items (docs/OPERATIONS-RETENTION.md). */
@Module({
  // ChangesRepository comes from CatalogModule; PipelinesModule keeps its repository to itself, and
  // the repository holds no state, so this module has its own instance.
  imports: [CatalogModule],
  providers: [PipelineRunsRepository, RetentionService],
  exports: [RetentionService],
})
export class RetentionModule implements OnModuleInit {
  constructor(
    private readonly jobs: JobEngine,
    private readonly retention: RetentionService,
  ) {}

  onModuleInit(): void {
    // Defined even with no retention setting: a schedule stored by an earlier configuration would
    // otherwise queue jobs that no worker takes. The handler then does nothing.
    this.jobs.define({
      name: 'retention-prune',
      // A failed prune is not retried: its committed batches stay done and tomorrow's run goes on.
      retryLimit: 0,
      retryDelaySeconds: 60,
      // A first prune of a large backlog runs long; the job is bookkeeping, not a lease on the work.
      expireInSeconds: 3_600,
      concurrency: 1,
      // 03:30 UTC (pg-boss schedules in UTC), once across all replicas.
      cron: '30 3 * * *',
      handler: async () => {
        await this.retention.prune();
      },
    });
  }
}
