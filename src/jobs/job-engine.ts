import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { type Principal, RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import type { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** The database schema pg-boss keeps its tables in. */
export const JOB_SCHEMA = 'pgboss';

/** What a handler learns about its job besides the data. */
export interface JobInfo {
  readonly id: string;
  readonly retryCount: number;
  /** Aborted when this replica starts shutting down: long handlers stop at a safe point and hand over. */
  readonly stopping: AbortSignal;
}

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
  readonly handler: (data: T, job: JobInfo) => Promise<void>;
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
  private readonly stopping = new AbortController();

  constructor(
    dataSource: DataSource,
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly context: RequestContext,
    @InjectConfig() config: AppConfig,
  ) {
    const pool = (dataSource.driver as PostgresDriver).master as Pool;
    this.boss = new PgBoss({
      db: { executeSql: (text, values) => executeOn(pool, text, values) },
      schema: JOB_SCHEMA,
      // Finished jobs are only bookkeeping (imports and runs keep their own records): archived after
      // an hour, then deleted from the archive after JOBS_ARCHIVE_RETENTION_DAYS.
      archiveCompletedAfterSeconds: 3_600,
      deleteAfterDays: config.retention.jobsArchiveDays,
      pollingIntervalSeconds: 2,
      // Expired jobs (their worker died) are found by this sweep: every 15 s rather than every 2 min.
      maintenanceIntervalSeconds: 15,
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
        // Each job is its own unit of work, as a system principal unless the handler says otherwise.
        ids.push(
          await this.startWorker(queue.name, 2, queue.handler, {
            kind: 'system',
            id: `job:${queue.name}`,
            label: queue.name,
            permissions: new Set(),
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

  /**
   * Queues created at run time (one per pipeline run, for per-run concurrency). Idempotent; the
   * queue's jobs are retried only when a worker disappears (the handler handles its own retries).
   */
  async ensureQueue(name: string, expireInSeconds: number): Promise<void> {
    if ((await this.boss.getQueue(name)) !== null) return;
    await this.boss.createQueue(name, {
      name,
      retryLimit: 3,
      retryDelay: 1,
      retryBackoff: true,
      expireInSeconds,
    });
  }

  /** Many jobs in one statement per chunk, inside the current transaction when there is one. */
  async sendBatch(queue: string, items: object[]): Promise<void> {
    const client = this.transactionClient();
    const db =
      client === undefined
        ? undefined
        : { executeSql: (text: string, values: unknown[]) => client.query(text, values) };
    for (let offset = 0; offset < items.length; offset += 1_000) {
      const jobs = items.slice(offset, offset + 1_000).map((data) => ({ name: queue, data }));
      if (db === undefined) await this.boss.insert(jobs);
      else await this.boss.insert(jobs, { db });
    }
  }

  /** Starts `concurrency` workers of a run-time queue on this replica; `stopWork` ends them. */
  async startWork(
    queue: string,
    concurrency: number,
    handler: (data: object, job: JobInfo) => Promise<void>,
  ): Promise<void> {
    const ids: string[] = [];
    for (let slot = 0; slot < concurrency; slot++) {
      ids.push(
        await this.startWorker(queue, 0.5, handler, {
          kind: 'system',
          id: 'job:pipeline',
          label: 'pipeline worker',
          permissions: new Set(),
        }),
      );
    }
    this.workerIds.set(queue, ids);
  }

  /**
   * One worker taking one job at a time, in its own request context. pg-boss waits out the rest of
   * its polling interval even after a job; the worker wakes itself after each job instead, so a busy
   * queue is drained back to back and only an empty one is polled.
   */
  private async startWorker(
    queue: string,
    pollingIntervalSeconds: number,
    handler: (data: object, job: JobInfo) => Promise<void>,
    principal: Principal,
  ): Promise<string> {
    let workerId = '';
    workerId = await this.boss.work<object>(
      queue,
      { batchSize: 1, pollingIntervalSeconds },
      async ([job]) => {
        if (job === undefined) return;
        const { retryCount } = job as unknown as { retryCount?: number };
        try {
          await this.context.run(
            () =>
              handler(job.data, { id: job.id, retryCount: retryCount ?? 0, stopping: this.stopping.signal }),
            { principal },
          );
        } finally {
          if (workerId !== '') this.boss.notifyWorker(workerId);
        }
      },
    );
    return workerId;
  }

  async stopWork(queue: string): Promise<void> {
    if (!this.workerIds.has(queue)) return;
    this.workerIds.delete(queue);
    await this.boss.offWork(queue);
  }

  async deleteQueue(queue: string): Promise<void> {
    await this.boss.deleteQueue(queue);
  }

  /** Lets this replica's idle workers of a queue look for work now rather than at their next poll. */
  wake(queue: string): void {
    for (const id of this.workerIds.get(queue) ?? []) this.boss.notifyWorker(id);
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // Handlers that watch `stopping` hand their work over at their next safe point; the others get
    // a bounded time to finish, and unfinished jobs are retried elsewhere once they expire.
    this.stopping.abort();
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
