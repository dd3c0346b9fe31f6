import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { RequestContext } from '../common/request-context';
import type { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** The database schema pg-boss keeps its tables in. */
export const JOB_SCHEMA = 'pgboss';

export interface QueueDefinition<T extends object> {
  readonly name: string;
  /** Retries after a handler throws (with exponential backoff from `retryDelaySeconds`). */
  readonly retryLimit: number;
  readonly retryDelaySeconds: number;
  /** A job running longer than this is failed (and retried): the worker died or hung. */
  readonly expireInSeconds: number;
  /** Jobs of this queue one replica works on at once. */
  readonly concurrency: number;
  /** Run on this cron schedule (once per schedule across replicas), e.g. '17 * * * *'. */
  readonly cron?: string;
  readonly handler: (data: T, job: { id: string; retryCount: number }) => Promise<void>;
}

/**
 * The job engine: pg-boss on the application's own database (embedded PGlite included), so that
 * replicas share work without another moving part. pg-boss reaches the database through the same
 * pool as everything else; in embedded mode that is the one connection, which is why it is given a
 * `db` adapter instead of a connection string.
 */
@Injectable()
export class JobEngine implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(JobEngine.name);
  private readonly boss: PgBoss;
  private readonly queues = new Map<string, QueueDefinition<object>>();
  private readonly workerIds = new Map<string, string[]>();
  private started = false;

  constructor(
    dataSource: DataSource,
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly context: RequestContext,
  ) {
    const pool = (dataSource.driver as PostgresDriver).master as Pool;
    this.boss = new PgBoss({
      db: { executeSql: (text, values) => executeOn(pool, text, values) },
      schema: JOB_SCHEMA,
      // The service has its own retention settings; finished jobs are only bookkeeping.
      archiveCompletedAfterSeconds: 3_600,
      deleteAfterDays: 7,
      pollingIntervalSeconds: 2,
    });
    this.boss.on('error', (error) => this.logger.error(`Job engine: ${error.message}`));
  }

  /** Feature modules declare their queues in onModuleInit; workers start once the app is up. */
  define<T extends object>(queue: QueueDefinition<T>): void {
    if (this.started) throw new Error(`Queue ${queue.name} defined after the job engine started`);
    this.queues.set(queue.name, queue as unknown as QueueDefinition<object>);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.boss.start();
    for (const queue of this.queues.values()) {
      await this.boss.createQueue(queue.name, {
        name: queue.name,
        retryLimit: queue.retryLimit,
        retryDelay: queue.retryDelaySeconds,
        retryBackoff: true,
        expireInSeconds: queue.expireInSeconds,
      });
      const ids: string[] = [];
      // One worker per concurrent slot, each taking one job at a time: a slow job does not hold
      // back jobs fetched with it.
      for (let slot = 0; slot < queue.concurrency; slot++) {
        ids.push(
          await this.boss.work<object>(queue.name, { batchSize: 1 }, async ([job]) => {
            if (job === undefined) return;
            const { retryCount } = job as unknown as { retryCount?: number };
            // Each job is its own unit of work, as a system principal unless the handler says otherwise.
            await this.context.run(
              () => queue.handler(job.data, { id: job.id, retryCount: retryCount ?? 0 }),
              {
                principal: {
                  kind: 'system',
                  id: `job:${queue.name}`,
                  label: queue.name,
                  permissions: new Set(),
                },
              },
            );
          }),
        );
      }
      this.workerIds.set(queue.name, ids);
      if (queue.cron !== undefined) await this.boss.schedule(queue.name, queue.cron);
    }
    this.started = true;
  }

  /**
   * Queues a job. Inside a transaction the job is written by that transaction, so it exists exactly
   * when the work that asked for it commits. Call `wake` after the commit to skip the polling delay.
   */
  async send(queue: string, data: object, options: { singletonKey?: string } = {}): Promise<void> {
    const client = this.transactionClient();
    await this.boss.send(queue, data, {
      ...options,
      ...(client === undefined ? {} : { db: { executeSql: (text, values) => client.query(text, values) } }),
    });
  }

  /** Lets this replica's idle workers of a queue look for work now rather than at their next poll. */
  wake(queue: string): void {
    for (const id of this.workerIds.get(queue) ?? []) this.boss.notifyWorker(id);
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // Running handlers get a bounded time to finish; unfinished jobs are retried by another worker
    // (or this one after a restart) once they expire.
    await this.boss.stop({ graceful: true, wait: true, close: false, timeout: 10_000 });
  }

  private transactionClient(): PoolClient | undefined {
    if (!this.txHost.isTransactionActive()) return undefined;
    // TypeORM's PostgreSQL query runner holds its pg client as `databaseConnection`.
    const runner = this.txHost.tx.queryRunner as { databaseConnection?: PoolClient } | undefined;
    return runner?.databaseConnection;
  }
}

/** Statements without parameters go as simple queries: pg-boss sends multi-statement migrations. */
function executeOn(pool: Pool, text: string, values: unknown[] | undefined): Promise<{ rows: unknown[] }> {
  return values === undefined || values.length === 0 ? pool.query(text) : pool.query(text, values);
}
