import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import type { ProductFilters } from '../catalog/products.repository';
import { ProductsRepository } from '../catalog/products.repository';
import { BadRequestError, ConflictError, NotFoundError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { IdempotencyService, type StoredResponse } from '../idempotency/idempotency.service';
import { JobEngine } from '../jobs/job-engine';
import { LlmService } from '../llm/llm.service';
import { PipelineEngine, runQueue } from './pipeline-engine';
import {
  type Counts,
  type Progress,
  FINISHED_RUN_STATUSES,
  type ItemRow,
  type ItemStatus,
  PipelineRunsRepository,
  type RunRow,
  type RunStatus,
} from './pipeline-runs.repository';
import type { PipelineTask } from './pipeline-tasks';

export type Selection =
  { productIds: number[] } | { filter: ProductFilters } | { all: true } | { unprocessed: true };

export interface StartRunInput {
  task: PipelineTask;
  selection: Selection;
  model?: string;
  concurrency?: number;
  maxTokens?: number;
  dryRun?: boolean;
}

export interface RunView {
  id: string;
  task: string;
  status: RunStatus;
  stopReason: string | null;
  selection: unknown;
  model: string | null;
  concurrency: number;
  maxTokens: number | null;
  total: number;
  counts: Counts;
  tokens: { in: number; out: number };
  createdBy: { type: string; id: string | null; label: string | null };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface ItemView {
  id: string;
  productId: number;
  position: number;
  status: ItemStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  tokens: { in: number; out: number };
  model: string | null;
  error: string | null;
  output: unknown;
  changeIds: string[];
}

/** Product ids one explicit selection may name. */
export const MAX_SELECTED_IDS = 10_000;

@Injectable()
export class PipelineRunsService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly runs: PipelineRunsRepository,
    private readonly products: ProductsRepository,
    private readonly engine: PipelineEngine,
    private readonly jobs: JobEngine,
    private readonly llm: LlmService,
    private readonly idempotency: IdempotencyService,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async dryRun(
    input: StartRunInput,
  ): Promise<{ total: number; model: string | null; estimatedCalls: number }> {
    const ids = await this.selectionQuery(input);
    const total = await this.runs.countSelection(ids);
    if (total === 0) throw emptySelection();
    const model = this.modelFor(input);
    return { total, model, estimatedCalls: input.task === 'category_normalization' ? 0 : total };
  }

  async start(
    input: StartRunInput,
    idempotencyKey: string | undefined,
  ): Promise<StoredResponse<{ id: string; status: RunStatus; total: number }>> {
    const ids = await this.selectionQuery(input);
    const model = this.modelFor(input);
    const id = randomUUID();
    // The run's queue is created before the transaction: pg-boss creates it on its own connection,
    // which on the embedded database is the one the transaction would be holding.
    await this.jobs.ensureQueue(runQueue(id), Math.ceil(this.config.pipelines.itemTimeoutMs / 1000) + 30);
    const response = await this.idempotency.run<{ id: string; status: RunStatus; total: number }>(
      idempotencyKey,
      'pipeline-run',
      input,
      async () => {
        const run = await this.runs.insertRun({
          id,
          task: input.task,
          selection: input.selection,
          model,
          concurrency: input.concurrency ?? this.config.pipelines.defaultConcurrency,
          maxTokens: input.maxTokens ?? null,
          principal: this.context.principal,
          requestId: this.context.requestId,
        });
        const items = await this.runs.insertItems(run.id, ids);
        if (items.length === 0) throw emptySelection();
        await this.jobs.sendBatch(
          runQueue(run.id),
          items.map((item) => ({ runId: run.id, itemId: item.id })),
        );
        await this.audit.record({
          action: 'pipeline.start',
          outcome: 'success',
          resourceType: 'pipeline_run',
          resourceId: run.id,
          httpStatus: 202,
          details: { task: input.task, total: items.length, model, concurrency: run.concurrency },
        });
        return {
          status: 202,
          body: { id: run.id, status: 'queued', total: items.length },
          location: `/api/v1/pipeline-runs/${run.id}`,
        };
      },
    );
    if (!response.replayed) void this.engine.dispatch();
    else if (response.body.id !== id) await this.jobs.deleteQueue(runQueue(id)).catch(() => undefined);
    return response;
  }

  async list(
    filters: { task?: string; status?: RunStatus; from?: Date; to?: Date },
    page: number,
    limit: number,
  ) {
    const result = await this.runs.listRuns(filters, page, limit);
    const items: RunView[] = [];
    for (const row of result.items) items.push(toRunView(row, await this.runs.progress(row.id)));
    return { items, total: result.total, page, limit };
  }

  async get(id: string): Promise<RunView> {
    const run = await this.require(id);
    return toRunView(run, await this.runs.progress(id));
  }

  async items(id: string, status: ItemStatus | undefined, page: number, limit: number) {
    await this.require(id);
    const result = await this.runs.listItems(id, status, page, limit);
    return { items: result.items.map(toItemView), total: result.total, page, limit };
  }

  /** No further item starts; items already running finish and are recorded. */
  async cancel(id: string): Promise<RunView> {
    return this.txHost.withTransaction(async () => {
      const run = await this.require(id, true);
      if (FINISHED_RUN_STATUSES.includes(run.status)) {
        throw new ConflictError('RUN_FINISHED', `The run is already ${run.status}.`);
      }
      await this.runs.stopRun(id, 'cancelled', 'cancelled_by_user');
      const cancelled = await this.runs.cancelPending(id);
      this.context.addAuditDetails({ cancelledItems: cancelled });
      return this.get(id);
    });
  }

  /** Failed items run again on the same run, which goes back to running. */
  async retry(id: string): Promise<{ id: string; status: RunStatus; retried: number }> {
    const result = await this.txHost.withTransaction(async () => {
      const run = await this.require(id, true);
      if (!FINISHED_RUN_STATUSES.includes(run.status)) {
        throw new ConflictError('RUN_ACTIVE', 'The run is still running; retry it once it has finished.');
      }
      const itemIds = await this.runs.reopenFailed(id);
      if (itemIds.length === 0)
        throw new ConflictError('NO_FAILED_ITEMS', 'The run has no failed items to retry.');
      await this.jobs.sendBatch(
        runQueue(id),
        itemIds.map((itemId) => ({ runId: id, itemId })),
      );
      this.context.addAuditDetails({ retriedItems: itemIds.length });
      return { id, status: 'running' as RunStatus, retried: itemIds.length };
    });
    void this.engine.dispatch();
    return result;
  }

  async require(id: string, lock = false): Promise<RunRow> {
    const run = await this.runs.findRun(id, lock);
    if (run === undefined) throw new NotFoundError('RUN_NOT_FOUND', `No pipeline run with id ${id}.`);
    return run;
  }

  private modelFor(input: StartRunInput): string | null {
    if (input.task === 'category_normalization') return null;
    return this.llm.modelsFor(input.task, input.model)[0] ?? null;
  }

  private async selectionQuery(input: StartRunInput): Promise<{ sql: string; params: unknown[] }> {
    const { selection } = input;
    const fts = this.config.catalog.ftsConfig;
    if ('productIds' in selection) {
      const ids = [...new Set(selection.productIds)];
      const known = new Set(await this.products.exists(ids));
      const unknown = ids.filter((productId) => !known.has(productId));
      if (unknown.length > 0) {
        throw new BadRequestError(
          'UNKNOWN_PRODUCTS',
          `${unknown.length} of the selected products do not exist.`,
          unknown
            .slice(0, 20)
            .map((productId) => ({ field: 'selection.productIds', issue: `no product ${productId}` })),
        );
      }
      return { sql: 'SELECT unnest($1::bigint[]) AS id', params: [ids] };
    }
    if ('filter' in selection) return this.products.idsQuery(selection.filter, fts);
    if ('all' in selection) return this.products.idsQuery({}, fts);
    return {
      sql: `SELECT p.id FROM products p WHERE NOT EXISTS (
          SELECT 1 FROM pipeline_items i JOIN pipeline_runs r ON r.id = i.run_id
          WHERE i.product_id = p.id AND i.status = 'succeeded' AND r.task = $1)`,
      params: [input.task],
    };
  }
}

function emptySelection(): BadRequestError {
  return new BadRequestError('EMPTY_SELECTION', 'The selection matches no product.', [
    { field: 'selection', issue: 'matches no product' },
  ]);
}

export function toRunView(row: RunRow, { counts, tokens }: Progress): RunView {
  const finished = row.finishedAt ?? null;
  return {
    id: row.id,
    task: row.task,
    status: row.status,
    stopReason: row.stopReason,
    selection: row.selection,
    model: row.model,
    concurrency: row.concurrency,
    maxTokens: row.maxTokens,
    total: row.total,
    counts,
    tokens,
    createdBy: { type: row.actorType, id: row.actorId, label: row.actorLabel },
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: finished?.toISOString() ?? null,
    durationMs: row.startedAt === null ? null : (finished ?? new Date()).getTime() - row.startedAt.getTime(),
  };
}

export function toItemView(row: ItemRow): ItemView {
  return {
    id: row.id,
    productId: Number(row.productId),
    position: row.position,
    status: row.status,
    attempts: row.attempts,
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
    durationMs: row.durationMs,
    tokens: { in: row.tokensIn, out: row.tokensOut },
    model: row.model,
    error: row.error,
    output: row.output,
    changeIds: row.changeIds,
  };
}
