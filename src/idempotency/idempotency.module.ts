import { Global, Module, type OnModuleInit } from '@nestjs/common';
import { JobEngine } from '../jobs/job-engine';
import { IdempotencyService } from './idempotency.service';

@Global()
@Module({ providers: [IdempotencyService], exports: [IdempotencyService] })
export class IdempotencyModule implements OnModuleInit {
  constructor(
    private readonly jobs: JobEngine,
    private readonly idempotency: IdempotencyService,
  ) {}

  onModuleInit(): void {
    this.jobs.define({
      name: 'idempotency-prune',
      retryLimit: 0,
      retryDelaySeconds: 60,
      expireInSeconds: 300,
      concurrency: 1,
      cron: '23 * * * *',
      handler: async () => {
        await this.idempotency.prune();
      },
    });
  }
}
