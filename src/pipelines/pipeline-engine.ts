import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { CategoryAssigner } from '../catalog/category-assigner';
import { ProductsRepository } from '../catalog/products.repository';
import { ChangesService } from '../changes/changes.service';
import { AppError } from '../common/app-error';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JobEngine } from '../jobs/job-engine';
import { LlmService } from '../llm/llm.service';
import { MetricsService } from '../observability/metrics.service';
import { PromptsService } from '../prompts/prompts.service';
import { type Counts, PipelineRunsRepository, type RunRow, type RunStatus } from './pipeline-runs.repository';
import { isPipelineTask, LLM_TASKS, type TaskProposal, validateOutput } from './pipeline-tasks';

/** The run's job queue: one per run, so that each replica works on `concurrency` of its items. */
export function runQueue(runId: string): string {
  return `pipeline-run-${runId}`;
}

const DISPATCH_INTERVAL_MS = 1_000;
const SWEEP_INTERVAL_MS = 30_000;
/** Transient LLM failures are retried this many times within the item's time budget. */
const MAX_ATTEMPTS = 3;
const BACKOFF_BASE_MS = 500;

interface ItemOutcome {
  status: 'succeeded' | 'failed';
  error: string | null;
  output: unknown;
  proposal?: TaskProposal;
  tokensIn: number;
  tokensOut: number;
  model: string | null;
}

class LeaseLost extends Error {}

/**
 * Runs pipeline items on the job engine. Each replica joins every running run with `concurrency`
 * workers on the run's queue; a worker claims an item (a fresh lease), runs its task, and records the
 * outcome and its proposals in one transaction only while it still holds the lease, so an item is
 * recorded once even when its job runs twice after a crash. The last item to finish closes the run.
 */
@Injectable()
export class PipelineEngine implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(PipelineEngine.name);
  private readonly joined = new Set<string>();
  private dispatcher: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private dispatching = false;
  private stopped = false;
  /** Aborts LLM calls in flight when this replica shuts down; their items run again elsewhere. */
  private readonly shutdown = new AbortController();

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly runs: PipelineRunsRepository,
    private readonly jobs: JobEngine,
    private readonly products: ProductsRepository,
    private readonly categories: CategoryAssigner,
    private readonly changes: ChangesService,
    private readonly prompts: PromptsService,
    private readonly llm: LlmService,
    private readonly audit: AuditService,
    @InjectConfig() private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.dispatcher = setInterval(() => void this.dispatch(), DISPATCH_INTERVAL_MS);
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.dispatcher.unref();
    this.sweeper.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.shutdown.abort();
    clearInterval(this.dispatcher);
    clearInterval(this.sweeper);
    for (const runId of this.joined) await this.jobs.stopWork(runQueue(runId)).catch(() => undefined);
    this.joined.clear();
  }

  /** Joins new running runs and leaves finished ones; also called right after a run starts here. */
  async dispatch(): Promise<void> {
    if (this.dispatching || this.stopped) return;
    this.dispatching = true;
    try {
      const active = await this.runs.activeRuns();
      const activeIds = new Set(active.map((run) => run.id));
      for (const run of active) {
        if (this.joined.has(run.id)) continue;
        await this.jobs.ensureQueue(runQueue(run.id), this.leaseSeconds());
        await this.jobs.startWork(runQueue(run.id), run.concurrency, (data) =>
          this.processItem(data as { runId: string; itemId: string }),
        );
        this.joined.add(run.id);
      }
      for (const runId of [...this.joined]) {
        if (activeIds.has(runId)) continue;
        this.joined.delete(runId);
        await this.jobs.stopWork(runQueue(runId));
      }
    } catch (error) {
      this.logger.warn(`Pipeline dispatch failed: ${(error as Error).message}`);
    } finally {
      this.dispatching = false;
    }
  }

  /** Items whose worker vanished for good are failed, and their runs closed when nothing is left. */
  async sweep(): Promise<void> {
    try {
      const runIds = await this.txHost.withTransaction(() =>
        this.runs.failAbandoned(this.leaseSeconds() * 4),
      );
      for (const runId of runIds) await this.closeIfDone(runId);
      for (const run of await this.runs.activeRuns()) await this.closeIfDone(run.id);
    } catch (error) {
      this.logger.warn(`Pipeline sweep failed: ${(error as Error).message}`);
    }
  }

  async processItem({ runId, itemId }: { runId: string; itemId: string }): Promise<void> {
    const claim = await this.txHost.withTransaction(() => this.runs.claim(itemId, this.leaseSeconds()));
    if (claim === undefined) {
      await this.closeIfDone(runId);
      return;
    }
    const run = await this.runs.findRun(runId);
    if (run === undefined) return;
    const started = Date.now();
    const outcome = await this.runTask(run, claim.productId);
    // Shutting down: the outcome may only be the abort. The job fails so that the job engine runs
    // it again (on another replica, or this one after a restart), under a new lease.
    if (this.stopped) throw new Error('The service is shutting down; the item will run again.');
    try {
      await this.record(run, itemId, claim, outcome, started);
    } catch (error) {
      if (error instanceof LeaseLost) return;
      if (!(error instanceof AppError) || outcome.status !== 'succeeded') throw error;
      // The output passed the task's schema but its proposal was refused (a value out of bounds):
      // the item fails with that reason, nothing is proposed.
      await this.record(
        run,
        itemId,
        claim,
        { ...outcome, status: 'failed', proposal: undefined, error: `invalid_output: ${error.message}` },
        started,
      ).catch((recordError: unknown) => {
        if (!(recordError instanceof LeaseLost)) throw recordError;
      });
    }
    await this.closeIfDone(runId);
  }

  private async record(
    run: RunRow,
    itemId: string,
    claim: { lease: string; productId: number },
    outcome: ItemOutcome,
    started: number,
  ): Promise<void> {
    const stoppedByBudget = await this.txHost.withTransaction(async () => {
      let changeIds: string[] = [];
      if (
        outcome.status === 'succeeded' &&
        outcome.proposal !== undefined &&
        Object.keys(outcome.proposal.changes).length > 0
      ) {
        const proposals = await this.changes.propose(
          claim.productId,
          { ...outcome.proposal.changes },
          {
            source: 'pipeline',
            runId: run.id,
            itemId,
            confidence: outcome.proposal.confidence,
          },
        );
        changeIds = proposals.map((change) => change.id);
        await this.autoApprove(changeIds, outcome.proposal.confidence);
      }
      const recorded = await this.runs.finishItem(itemId, claim.lease, {
        status: outcome.status,
        durationMs: Date.now() - started,
        tokensIn: outcome.tokensIn,
        tokensOut: outcome.tokensOut,
        model: outcome.model,
        error: outcome.error,
        output: outcome.output,
        changeIds,
      });
      // Another worker holds the item now (this job outlived its lease): its result is the one kept.
      if (!recorded) throw new LeaseLost();
      // Token totals are summed from the items, not kept on the run row: a counter there would make
      // every item's transaction wait for the one before it.
      if (run.maxTokens !== null && (await this.runs.tokensUsed(run.id)) >= run.maxTokens) {
        if (await this.runs.stopRun(run.id, 'cancelled', 'token_budget_exhausted')) {
          await this.runs.cancelPending(run.id);
          return true;
        }
      }
      return false;
    });
    // Counted once committed: a lost lease or a rolled-back proposal leaves nothing to count.
    this.metrics.observePipelineItem(taskLabel(run.task), outcome.status);
    if (stoppedByBudget) this.observeRunEnd(run, 'cancelled');
  }

  private async autoApprove(changeIds: string[], confidence: number | null): Promise<void> {
    const threshold = this.config.pipelines.autoApproveThreshold;
    if (threshold === undefined || confidence === null || confidence < threshold) return;
    for (const id of changeIds) {
      try {
        await this.changes.approve(id, `auto-approved: confidence ${confidence} >= ${threshold}`);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
      }
    }
  }

  private async runTask(run: RunRow, productId: number): Promise<ItemOutcome> {
    const none = { tokensIn: 0, tokensOut: 0, model: null };
    if (!isPipelineTask(run.task))
      return { status: 'failed', error: `unknown task ${run.task}`, output: null, ...none };
    const product = await this.products.content(productId);
    if (product === undefined) {
      return {
        status: 'failed',
        error: 'product_unavailable: the product no longer exists',
        output: null,
        ...none,
      };
    }
    if (run.task === 'category_normalization') {
      const match = this.categories.match(product);
      return {
        status: 'succeeded',
        error: null,
        output: match,
        ...(match === null
          ? {}
          : { proposal: { changes: { category: match.path }, confidence: match.confidence } }),
        ...none,
      };
    }
    const definition = LLM_TASKS[run.task];
    const rendered = await this.prompts.renderForTask(definition.task, product);
    const deadline = Date.now() + this.config.pipelines.itemTimeoutMs;
    let tokensIn = 0;
    let tokensOut = 0;
    let model: string | null = run.model;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.llm.chat({
          task: run.task,
          ...(run.model === null ? {} : { model: run.model }),
          system: rendered.system,
          user: rendered.user,
          jsonSchema: definition.jsonSchema,
          timeoutMs: Math.max(1, deadline - Date.now()),
          signal: this.shutdown.signal,
        });
        tokensIn += result.tokensIn;
        tokensOut += result.tokensOut;
        model = result.model;
        const validated = validateOutput(definition, result.content);
        if (!validated.ok)
          return { status: 'failed', error: validated.reason, output: null, tokensIn, tokensOut, model };
        return {
          status: 'succeeded',
          error: null,
          output: validated.output,
          proposal: definition.propose(validated.output),
          tokensIn,
          tokensOut,
          model,
        };
      } catch (error) {
        const transient = (error as { transient?: boolean }).transient === true;
        const reason =
          error instanceof AppError ? `${error.code}: ${error.message}` : (error as Error).message;
        // Exponential backoff with full jitter, or the provider's Retry-After when it gave one.
        const retryAfterMs = ((error as { retryAfterSeconds?: number }).retryAfterSeconds ?? 0) * 1000;
        const delay = Math.max(retryAfterMs, Math.random() * BACKOFF_BASE_MS * 2 ** (attempt - 1));
        if (!transient || this.stopped || attempt >= MAX_ATTEMPTS || Date.now() + delay >= deadline) {
          return { status: 'failed', error: reason, output: null, tokensIn, tokensOut, model };
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Closes a running run once none of its items is pending or running; answers whether it did. */
  async closeIfDone(runId: string): Promise<boolean> {
    // Most items finish while others are still open: an indexed look, without a lock, first.
    if (await this.runs.hasOpenItems(runId)) return false;
    const ended = await this.txHost.withTransaction(async () => {
      const run = await this.runs.findRun(runId, true);
      if (run === undefined || (run.status !== 'running' && run.status !== 'queued')) return undefined;
      const counts = await this.runs.counts(runId);
      if (counts.pending > 0 || counts.running > 0) return undefined;
      const status = finalStatus(counts);
      await this.runs.stopRun(runId, status, null);
      await this.audit.record({
        action: 'pipeline.complete',
        outcome: 'success',
        resourceType: 'pipeline_run',
        resourceId: runId,
        details: { task: run.task, status, ...counts },
      });
      return { run, status };
    });
    if (ended === undefined) return false;
    this.observeRunEnd(ended.run, ended.status);
    return true;
  }

  private observeRunEnd(run: RunRow, status: RunStatus): void {
    const from = run.startedAt ?? run.createdAt;
    this.metrics.observePipelineRun(taskLabel(run.task), status, (Date.now() - from.getTime()) / 1000);
  }

  private leaseSeconds(): number {
    // An item gets its time budget plus a margin before another worker may take it over.
    return Math.ceil(this.config.pipelines.itemTimeoutMs / 1000) + 30;
  }
}

/** Task names are a closed set; a row written by a newer version with a task unknown here is `unknown`. */
function taskLabel(task: string): string {
  return isPipelineTask(task) ? task : 'unknown';
}

export function finalStatus(counts: Counts): RunStatus {
  if (counts.failed === 0 && counts.cancelled === 0) return 'completed';
  if (counts.succeeded === 0 && counts.failed > 0) return 'failed';
  return 'completed_with_errors';
}
