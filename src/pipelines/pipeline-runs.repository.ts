import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../common/request-context';
import { returnedRows } from '../database/returned-rows';

export type RunStatus = 'queued' | 'running' | 'completed' | 'completed_with_errors' | 'failed' | 'cancelled';
export type ItemStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const FINISHED_RUN_STATUSES: readonly RunStatus[] = [
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
];

export interface RunRow {
  id: string;
  task: string;
  status: RunStatus;
  stopReason: string | null;
  selection: unknown;
  model: string | null;
  concurrency: number;
  maxTokens: number | null;
  total: number;
  generation: number;
  eventSeq: string;
  actorType: string;
  actorId: string | null;
  actorLabel: string | null;
  requestId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface ItemRow {
  id: string;
  runId: string;
  productId: string;
  position: number;
  status: ItemStatus;
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  tokensIn: number;
  tokensOut: number;
  model: string | null;
  error: string | null;
  output: unknown;
  changeIds: string[];
  eventSeq: string;
}

export type Counts = Record<ItemStatus, number>;

export interface Progress {
  counts: Counts;
  tokens: { in: number; out: number };
}

const RUN_COLUMNS = `id, task, status, stop_reason AS "stopReason", selection, model, concurrency, max_tokens AS "maxTokens",
  total, generation, event_seq AS "eventSeq",
  actor_type AS "actorType", actor_id AS "actorId", actor_label AS "actorLabel", request_id AS "requestId",
  created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt"`;
const ITEM_COLUMNS = `id, run_id AS "runId", product_id AS "productId", position, status, attempts,
  started_at AS "startedAt", finished_at AS "finishedAt", duration_ms AS "durationMs", tokens_in AS "tokensIn",
  tokens_out AS "tokensOut", model, error, output, change_ids AS "changeIds", event_seq AS "eventSeq"`;

@Injectable()
export class PipelineRunsRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  private async mutate<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return returnedRows<T>(await this.query(sql, parameters));
  }

  async insertRun(run: {
    id: string;
    task: string;
    selection: unknown;
    model: string | null;
    concurrency: number;
    maxTokens: number | null;
    principal: Principal | undefined;
    requestId: string | undefined;
  }): Promise<RunRow> {
    const [row] = await this.query<RunRow>(
      `INSERT INTO pipeline_runs (id, task, status, selection, model, concurrency, max_tokens, total, actor_type, actor_id,
          actor_label, request_id, started_at)
        VALUES ($10, $1, 'queued', $2::jsonb, $3, $4, $5, 1, $6, $7, $8, $9, NULL) RETURNING ${RUN_COLUMNS}`,
      [
        run.task,
        JSON.stringify(run.selection),
        run.model,
        run.concurrency,
        run.maxTokens,
        run.principal?.kind ?? 'system',
        run.principal?.id ?? null,
        run.principal?.label ?? null,
        run.requestId ?? null,
        run.id,
      ],
    );
    return row;
  }

  /** Inserts the run's items from a product-id query (set-based: "all" of 100k products is one statement). */
  async insertItems(runId: string, ids: { sql: string; params: unknown[] }): Promise<Array<{ id: string }>> {
    const runParam = `$${ids.params.length + 1}`;
    const items = await this.query<{ id: string }>(
      `INSERT INTO pipeline_items (run_id, product_id, position)
        SELECT ${runParam}::uuid, s.id, row_number() OVER (ORDER BY s.id) FROM (${ids.sql}) s
        RETURNING id`,
      [...ids.params, runId],
    );
    await this.query('UPDATE pipeline_runs SET total = $2 WHERE id = $1', [runId, Math.max(items.length, 1)]);
    return items;
  }

  async countSelection(ids: { sql: string; params: unknown[] }): Promise<number> {
    const [{ count }] = await this.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM (${ids.sql}) s`,
      ids.params,
    );
    return count;
  }

  async findRun(id: string, lock = false): Promise<RunRow | undefined> {
    const [row] = await this.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return row;
  }

  async activeRuns(): Promise<Array<{ id: string; concurrency: number }>> {
    return this.query(`SELECT id, concurrency FROM pipeline_runs WHERE status IN ('queued', 'running')`);
  }

  async listRuns(
    filters: { task?: string; status?: RunStatus; from?: Date; to?: Date },
    page: number,
    limit: number,
  ): Promise<{ items: RunRow[]; total: number }> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      conditions.push(sql.replace('?', `$${params.length}`));
    };
    if (filters.task !== undefined) add('task = ?', filters.task);
    if (filters.status !== undefined) add('status = ?', filters.status);
    if (filters.from !== undefined) add('created_at >= ?', filters.from);
    if (filters.to !== undefined) add('created_at < ?', filters.to);
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    const [{ total }] = await this.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM pipeline_runs ${where}`,
      params,
    );
    const items = await this.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM pipeline_runs ${where} ORDER BY created_at DESC, id
        LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, (page - 1) * limit],
    );
    return { items, total };
  }

  /**
   * Counts by status and token totals: summed from the items, or, once retention has deleted them,
   * the finals stored on the run when it did.
   */
  async progress(runId: string): Promise<Progress> {
    const finals = await this.finals(runId);
    if (finals !== undefined) return finals;
    const rows = await this.query<{ status: ItemStatus; count: number; tokensIn: string; tokensOut: string }>(
      `SELECT status, count(*)::int AS count, COALESCE(sum(tokens_in), 0)::text AS "tokensIn",
          COALESCE(sum(tokens_out), 0)::text AS "tokensOut"
        FROM pipeline_items WHERE run_id = $1 GROUP BY status`,
      [runId],
    );
    const progress: Progress = { counts: emptyCounts(), tokens: { in: 0, out: 0 } };
    for (const row of rows) {
      progress.counts[row.status] = row.count;
      progress.tokens.in += Number(row.tokensIn);
      progress.tokens.out += Number(row.tokensOut);
    }
    return progress;
  }

  /** The counts and tokens stored on a run whose items retention deleted (or is deleting). */
  private async finals(runId: string): Promise<Progress | undefined> {
    const [row] = await this.query<{ counts: Partial<Counts>; tokensIn: string; tokensOut: string }>(
      `SELECT final_counts AS counts, final_tokens_in::text AS "tokensIn", final_tokens_out::text AS "tokensOut"
        FROM pipeline_runs WHERE id = $1 AND items_pruned_at IS NOT NULL`,
      [runId],
    );
    if (row === undefined) return undefined;
    return {
      counts: { ...emptyCounts(), ...row.counts },
      tokens: { in: Number(row.tokensIn), out: Number(row.tokensOut) },
    };
  }

  async hasOpenItems(runId: string): Promise<boolean> {
    const rows = await this.query(
      `SELECT 1 FROM pipeline_items WHERE run_id = $1 AND status IN ('pending', 'running') LIMIT 1`,
      [runId],
    );
    return rows.length > 0;
  }

  async counts(runId: string): Promise<Counts> {
    const finals = await this.finals(runId);
    if (finals !== undefined) return finals.counts;
    const rows = await this.query<{ status: ItemStatus; count: number }>(
      'SELECT status, count(*)::int AS count FROM pipeline_items WHERE run_id = $1 GROUP BY status',
      [runId],
    );
    const counts = emptyCounts();
    for (const row of rows) counts[row.status] = row.count;
    return counts;
  }

  async listItems(
    runId: string,
    status: ItemStatus | undefined,
    page: number,
    limit: number,
  ): Promise<{ items: ItemRow[]; total: number }> {
    const filter = status === undefined ? '' : 'AND status = $2';
    const params = status === undefined ? [runId] : [runId, status];
    const [{ total }] = await this.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM pipeline_items WHERE run_id = $1 ${filter}`,
      params,
    );
    const items = await this.query<ItemRow>(
      `SELECT ${ITEM_COLUMNS} FROM pipeline_items WHERE run_id = $1 ${filter} ORDER BY position
        LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, (page - 1) * limit],
    );
    return { items, total };
  }

  async maxEventSeq(runId: string): Promise<string> {
    const [{ seq }] = await this.query<{ seq: string }>(
      'SELECT COALESCE(max(event_seq), 0)::text AS seq FROM pipeline_items WHERE run_id = $1',
      [runId],
    );
    return seq;
  }

  /** Items whose status changed after `afterSeq`, in change order (the progress stream). */
  async itemsChangedAfter(runId: string, afterSeq: string, limit: number): Promise<ItemRow[]> {
    return this.query(
      `SELECT ${ITEM_COLUMNS} FROM pipeline_items WHERE run_id = $1 AND event_seq > $2 ORDER BY event_seq LIMIT $3`,
      [runId, afterSeq, limit],
    );
  }

  /**
   * Takes an item for a worker: a fresh lease (a duplicate or late job of the same item can then no
   * longer record it). Undefined when the item is already finished or its run is not running.
   */
  async claim(
    itemId: string,
    leaseSeconds: number,
  ): Promise<{ lease: string; productId: number; runId: string } | undefined> {
    // The run turns running with its first claimed item, in the same statement.
    const [row] = await this.query<{ lease: string; productId: string; runId: string }>(
      `WITH claimed AS (
          UPDATE pipeline_items i SET status = 'running', lease = gen_random_uuid(),
              lease_until = now() + make_interval(secs => $2), attempts = i.attempts + 1,
              started_at = COALESCE(i.started_at, now()), event_seq = nextval('pipeline_event_seq')
            FROM pipeline_runs r
            WHERE i.id = $1 AND r.id = i.run_id AND r.status IN ('queued', 'running')
              AND i.status IN ('pending', 'running')
            RETURNING i.lease, i.product_id, i.run_id, r.status AS run_status
        ),
        started AS (
          UPDATE pipeline_runs SET status = 'running', started_at = now(), event_seq = nextval('pipeline_event_seq')
            WHERE id = (SELECT run_id FROM claimed WHERE run_status = 'queued') AND status = 'queued'
        )
        SELECT lease, product_id AS "productId", run_id AS "runId" FROM claimed`,
      [itemId, leaseSeconds],
    );
    return row === undefined ? undefined : { ...row, productId: Number(row.productId) };
  }

  /** Records an item's outcome if `lease` is still its lease; false when another worker took it over. */
  async finishItem(
    itemId: string,
    lease: string,
    outcome: {
      status: 'succeeded' | 'failed' | 'cancelled';
      durationMs: number;
      tokensIn: number;
      tokensOut: number;
      model: string | null;
      error: string | null;
      output: unknown;
      changeIds: string[];
    },
  ): Promise<boolean> {
    const rows = await this.mutate(
      `UPDATE pipeline_items SET status = $3, lease = NULL, lease_until = NULL, finished_at = now(),
          duration_ms = $4, tokens_in = tokens_in + $5, tokens_out = tokens_out + $6, model = $7, error = $8,
          output = $9::jsonb, change_ids = $10::uuid[], event_seq = nextval('pipeline_event_seq')
        WHERE id = $1 AND lease = $2 AND status = 'running' RETURNING id`,
      [
        itemId,
        lease,
        outcome.status,
        outcome.durationMs,
        outcome.tokensIn,
        outcome.tokensOut,
        outcome.model,
        outcome.error,
        outcome.output === undefined ? null : JSON.stringify(outcome.output),
        outcome.changeIds,
      ],
    );
    return rows.length > 0;
  }

  async tokensUsed(runId: string): Promise<number> {
    const finals = await this.finals(runId);
    if (finals !== undefined) return finals.tokens.in + finals.tokens.out;
    const [{ used }] = await this.query<{ used: string }>(
      'SELECT COALESCE(sum(tokens_in + tokens_out), 0)::text AS used FROM pipeline_items WHERE run_id = $1',
      [runId],
    );
    return Number(used);
  }

  /** Pending items of the run become cancelled; answers how many. */
  async cancelPending(runId: string): Promise<number> {
    const rows = await this.mutate(
      `UPDATE pipeline_items SET status = 'cancelled', finished_at = now(), event_seq = nextval('pipeline_event_seq')
        WHERE run_id = $1 AND status = 'pending' RETURNING id`,
      [runId],
    );
    return rows.length;
  }

  async stopRun(runId: string, status: RunStatus, stopReason: string | null): Promise<boolean> {
    const rows = await this.mutate(
      `UPDATE pipeline_runs SET status = $2, stop_reason = $3, finished_at = now(), event_seq = nextval('pipeline_event_seq')
        WHERE id = $1 AND status IN ('queued', 'running') RETURNING id`,
      [runId, status, stopReason],
    );
    return rows.length > 0;
  }

  /**
   * Failed items back to pending, the run back to running; answers the item ids (none once
   * retention has marked the run's items for deletion).
   */
  async reopenFailed(runId: string): Promise<string[]> {
    const items = await this.mutate<{ id: string }>(
      // A run whose items retention has started deleting reports stored finals: it cannot run again.
      `UPDATE pipeline_items SET status = 'pending', error = NULL, finished_at = NULL, event_seq = nextval('pipeline_event_seq')
        WHERE run_id = $1 AND status = 'failed'
          AND (SELECT items_pruned_at FROM pipeline_runs WHERE id = $1) IS NULL
        RETURNING id`,
      [runId],
    );
    if (items.length > 0) {
      await this.query(
        `UPDATE pipeline_runs SET status = 'running', stop_reason = NULL, finished_at = NULL, generation = generation + 1,
            event_seq = nextval('pipeline_event_seq') WHERE id = $1`,
        [runId],
      );
    }
    return items.map((item) => item.id);
  }

  /** Items whose worker vanished (lease long expired, job retries exhausted) are failed. */
  async failAbandoned(graceSeconds: number): Promise<string[]> {
    const rows = await this.mutate<{ runId: string }>(
      `UPDATE pipeline_items SET status = 'failed', error = 'worker_lost: the item was not finished by any worker',
          lease = NULL, finished_at = now(), event_seq = nextval('pipeline_event_seq')
        WHERE status = 'running' AND lease_until < now() - make_interval(secs => $1)
        RETURNING run_id AS "runId"`,
      [graceSeconds],
    );
    return [...new Set(rows.map((row) => row.runId))];
  }

  /**
   * Marks up to `limit` runs that finished before `cutoff` (and are not marked yet) for item
   * deletion, storing what their items add up to on the run in the same statement; answers their
   * ids. Row locks serialise this with a retry: a run being retried is skipped, and once marked a
   * run can no longer be retried (see reopenFailed).
   */
  async markFinishedForItemPruning(cutoff: Date, limit: number): Promise<string[]> {
    const rows = await this.mutate<{ id: string }>(
      `WITH due AS (
          SELECT id FROM pipeline_runs
          WHERE items_pruned_at IS NULL AND finished_at < $1
            AND status IN ('completed', 'completed_with_errors', 'failed', 'cancelled')
          ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ),
        totals AS (
          SELECT d.id,
              jsonb_build_object(
                'pending', count(i.id) FILTER (WHERE i.status = 'pending'),
                'running', count(i.id) FILTER (WHERE i.status = 'running'),
                'succeeded', count(i.id) FILTER (WHERE i.status = 'succeeded'),
                'failed', count(i.id) FILTER (WHERE i.status = 'failed'),
                'cancelled', count(i.id) FILTER (WHERE i.status = 'cancelled')
              ) AS counts,
              COALESCE(sum(i.tokens_in), 0) AS tokens_in, COALESCE(sum(i.tokens_out), 0) AS tokens_out
          FROM due d LEFT JOIN pipeline_items i ON i.run_id = d.id
          GROUP BY d.id
        )
        UPDATE pipeline_runs r SET final_counts = t.counts, final_tokens_in = t.tokens_in,
            final_tokens_out = t.tokens_out, items_pruned_at = now()
          FROM totals t WHERE r.id = t.id
          RETURNING r.id`,
      [cutoff, limit],
    );
    return rows.map((row) => row.id);
  }

  /**
   * Deletes up to `limit` items of runs marked for item pruning; answers how many went. Also
   * finishes a deletion an earlier, interrupted prune left half done.
   */
  async deleteItemsOfPrunedRuns(limit: number): Promise<number> {
    const rows = await this.mutate(
      `DELETE FROM pipeline_items WHERE id IN (
          SELECT i.id FROM pipeline_runs r JOIN pipeline_items i ON i.run_id = r.id
          WHERE r.items_pruned_at IS NOT NULL LIMIT $1
        ) RETURNING 1`,
      [limit],
    );
    return rows.length;
  }
}

function emptyCounts(): Counts {
  return { pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
}
