import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { ChangesRepository } from '../changes/changes.repository';
import { type Principal, RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { PipelineRunsRepository } from '../pipelines/pipeline-runs.repository';
import { isEmptyPlan, type RetentionPlan, type RetentionWindow, retentionPlan } from './retention-plan';

/**
 * Rows one statement deletes: a large backlog goes in many short statements, each its own
 * transaction, instead of one that locks millions of rows for minutes.
 */
export const RETENTION_BATCH_SIZE = 5_000;

/** Runs whose finals one statement stores (their items are summed in that statement). */
const RUNS_PER_BATCH = 100;

const RETENTION_PRINCIPAL: Principal = {
  kind: 'system',
  id: 'retention',
  label: 'retention',
  permissions: new Set<string>(),
};

/** What one prune removed, per kind; the details of its `retention.prune` audit event. */
export interface RetentionReport {
  changes?: { retentionDays: number; cutoff: string; deleted: number };
  pipelineItems?: { retentionDays: number; cutoff: string; runs: number; deleted: number };
}

/**
 * Deletes decided change records older than CHANGES_RETENTION_DAYS and the items of runs that
 * finished more than PIPELINE_ITEMS_RETENTION_DAYS ago (the runs stay, with their final counts and
 * tokens). Scheduled daily by RetentionModule; safe to run on several replicas at once, and a run
 * cut short is finished by the next one.
 */
@Injectable()
export class RetentionService {
  private readonly logger = new Logger(RetentionService.name);

  constructor(
    private readonly changes: ChangesRepository,
    private readonly runs: PipelineRunsRepository,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Prunes every kind that has a retention setting and records one `retention.prune` event (also
   * when nothing was old enough). With no setting it does nothing at all and answers `{}`.
   */
  async prune(options: { batchSize?: number } = {}): Promise<RetentionReport> {
    const plan = retentionPlan(this.config.retention, new Date());
    if (isEmptyPlan(plan)) return {};
    const batchSize = options.batchSize ?? RETENTION_BATCH_SIZE;
    return this.context.run(() => this.pruneAndRecord(plan, batchSize), { principal: RETENTION_PRINCIPAL });
  }

  private async pruneAndRecord(plan: RetentionPlan, batchSize: number): Promise<RetentionReport> {
    // Filled in as batches commit, so that a failure reports what did go.
    const report: RetentionReport = {};
    try {
      if (plan.changes !== undefined) await this.pruneChanges(plan.changes, batchSize, report);
      if (plan.pipelineItems !== undefined)
        await this.prunePipelineItems(plan.pipelineItems, batchSize, report);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.error(`Retention prune failed after ${JSON.stringify(report)}: ${reason}`);
      // The batches before the failure are committed; the event says so, and tomorrow's run goes on.
      await this.audit.record({
        action: 'retention.prune',
        outcome: 'failure',
        details: { ...report, reason: reason.slice(0, 500) },
      });
      throw error;
    }
    await this.audit.record({ action: 'retention.prune', outcome: 'success', details: { ...report } });
    return report;
  }

  private async pruneChanges(window: RetentionWindow, batchSize: number, report: RetentionReport) {
    const progress = { retentionDays: window.days, cutoff: window.cutoff.toISOString(), deleted: 0 };
    report.changes = progress;
    // A batch can free changes that a deleted revert pointed at: stop only when one deletes nothing.
    for (;;) {
      const deleted = await this.changes.deleteDecidedBefore(window.cutoff, batchSize);
      if (deleted === 0) break;
      progress.deleted += deleted;
    }
    this.logger.log(
      `Retention: deleted ${progress.deleted} change records decided before ${progress.cutoff}`,
    );
  }

  private async prunePipelineItems(window: RetentionWindow, batchSize: number, report: RetentionReport) {
    const progress = {
      retentionDays: window.days,
      cutoff: window.cutoff.toISOString(),
      runs: 0,
      deleted: 0,
    };
    report.pipelineItems = progress;
    for (;;) {
      const marked = await this.runs.markFinishedForItemPruning(
        window.cutoff,
        Math.min(batchSize, RUNS_PER_BATCH),
      );
      if (marked.length === 0) break;
      progress.runs += marked.length;
    }
    for (;;) {
      const deleted = await this.runs.deleteItemsOfPrunedRuns(batchSize);
      if (deleted === 0) break;
      progress.deleted += deleted;
    }
    this.logger.log(
      `Retention: deleted ${progress.deleted} pipeline items of ${progress.runs} runs finished before ${progress.cutoff}`,
    );
  }
}
