import { Propagation, TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { MetricsService } from '../observability/metrics.service';
import { chainHash } from './audit-chain';
import { AUDIT_OPTIONS, type AuditOptions } from './audit.options';
import { AuditRepository, type ChainSeal } from './audit.repository';

/** Batches per sealPending call, so that one call under a flood still returns and lets the timer breathe. */
const MAX_BATCHES_PER_RUN = 50;
/** While sealing keeps failing (database down), one log line per this period. */
const FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * Links committed audit rows into the hash chain, in the background.
 *
 * Rows are inserted unsealed by many concurrent transactions, which commit in any order; the
 * sealer alone decides the chain order. Each batch is one transaction holding a transaction-scoped
 * advisory lock (pg_try_advisory_xact_lock), so across replicas exactly one sealer extends the
 * chain at a time; the others skip that tick. The UNIQUE chain_seq column would refuse a fork even
 * without the lock.
 *
 * Late commits: a transaction may take id 10 and commit after ids 11-20 were sealed. Batches select
 * rows by "still unsealed" (in id order), never by "id above the last sealed id", so row 10 is
 * simply sealed in the next batch, after 20 in chain order. Nothing is skipped, and chain order is
 * seal order rather than id order.
 */
@Injectable()
export class AuditSealer implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(AuditSealer.name);
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The run in progress: runs in one process never overlap, and shutdown waits for it. */
  private running: Promise<number> = Promise.resolve(0);
  private lastFailureLoggedAt = 0;
  private failing = false;

  constructor(
    private readonly repository: AuditRepository,
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    @Inject(AUDIT_OPTIONS) private readonly options: AuditOptions,
    // Absent where the audit trail runs without the HTTP service (the CLIs): no backlog is counted there.
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Stops before the database closes; rows left unsealed are sealed by another replica or the next start. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /**
   * Seals every committed unsealed row (up to MAX_BATCHES_PER_RUN batches); answers how many it
   * sealed. 0 also when another sealer holds the lock. It uses a transaction of its own: on the
   * embedded database (one connection) never call it inside another transaction.
   */
  sealPending(): Promise<number> {
    const run = this.running.then(() => this.sealAll());
    this.running = run.catch(() => 0);
    return run;
  }

  private async sealAll(): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const sealed = await this.sealBatch();
      if (sealed === undefined) break;
      total += sealed;
      if (sealed < this.options.sealBatchSize) break;
    }
    await this.reportBacklog();
    return total;
  }

  /**
   * The rows still unsealed after this pass (left by a flood, or by another replica holding the
   * lock), counted over the partial index of unsealed rows. A growing number means sealing falls
   * behind or fails. Outside any transaction: the count is of committed rows.
   */
  private async reportBacklog(): Promise<void> {
    if (this.metrics === undefined) return;
    const unsealed = await this.txHost.withoutTransaction(() =>
      this.repository.countUnsealed(undefined, undefined),
    );
    this.metrics.setAuditUnsealed(unsealed);
  }

  /** One transaction: lock, read the head, seal the next rows. Undefined when another sealer holds the lock. */
  private sealBatch(): Promise<number | undefined> {
    // A transaction of its own even if a caller's context carries one: the lock and the seal must
    // commit independently of anything else.
    return this.txHost.withTransaction(Propagation.RequiresNew, async () => {
      if (!(await this.repository.tryLockChain())) return undefined;
      const rows = await this.repository.unsealed(this.options.sealBatchSize);
      if (rows.length === 0) return 0;
      let { chainSeq, hash: prevHash } = await this.repository.chainHead();
      const seals: ChainSeal[] = [];
      for (const row of rows) {
        chainSeq += 1;
        const hash = chainHash(prevHash, row, chainSeq);
        seals.push({ id: row.id, chainSeq, prevHash, hash });
        prevHash = hash;
      }
      const sealed = await this.repository.seal(seals);
      // Under the lock nobody else seals, so a mismatch means the table changed under us: roll back.
      if (sealed !== seals.length) throw new Error(`sealed ${sealed} of ${seals.length} audit rows`);
      return sealed;
    });
  }

  private schedule(): void {
    if (this.stopped || this.options.sealIntervalMs <= 0) return;
    // A timeout re-armed after each run (not an interval): slow runs never pile up.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, this.options.sealIntervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.sealPending();
      if (this.failing) this.logger.log('Audit sealing works again');
      this.failing = false;
    } catch (error) {
      this.reportFailure(error);
    } finally {
      this.schedule();
    }
  }

  private reportFailure(error: unknown): void {
    const now = Date.now();
    if (this.failing && now - this.lastFailureLoggedAt < FAILURE_LOG_INTERVAL_MS) return;
    this.failing = true;
    this.lastFailureLoggedAt = now;
    this.logger.error(
      `Sealing audit events failed; retrying every ${this.options.sealIntervalMs} ms: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
