import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../common/request-context';
import { returnedRows } from '../database/returned-rows';
import type { ChangeFilters, ChangeStatus, ChangeView, NewChange } from './change.types';

interface ChangeRow {
  id: string;
  productId: string;
  field: ChangeView['field'];
  oldValue: ChangeView['oldValue'];
  newValue: ChangeView['newValue'];
  source: ChangeView['source'];
  status: ChangeStatus;
  confidence: number | null;
  runId: string | null;
  itemId: string | null;
  actorType: string;
  actorId: string | null;
  actorLabel: string | null;
  reviewerId: string | null;
  reviewerLabel: string | null;
  reviewedAt: Date | null;
  comment: string | null;
  revertsChangeId: string | null;
  requestId: string | null;
  createdAt: Date;
}

const SELECT = `SELECT c.id, c.product_id AS "productId", c.field, c.old_value AS "oldValue",
    c.new_value AS "newValue", c.source, c.status, c.confidence, c.run_id AS "runId", c.item_id AS "itemId",
    c.actor_type AS "actorType", c.actor_id AS "actorId", c.actor_label AS "actorLabel",
    c.reviewer_id AS "reviewerId", c.reviewer_label AS "reviewerLabel", c.reviewed_at AS "reviewedAt",
    c.comment, c.reverts_change_id AS "revertsChangeId", c.request_id AS "requestId", c.created_at AS "createdAt"
  FROM changes c`;

export interface ChangeActor {
  principal: Principal | undefined;
  requestId: string | undefined;
}

@Injectable()
export class ChangesRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  /** Inserts change records in one statement and returns their ids in input order. */
  async insertMany(changes: NewChange[], actor: ChangeActor): Promise<string[]> {
    if (changes.length === 0) return [];
    const rows = changes.map((change, ordinal) => ({
      ordinal,
      product_id: change.productId,
      field: change.field,
      // jsonb_to_recordset reads a JSON null as SQL NULL: wrap values so a null value stays JSON null.
      old_value: { v: change.oldValue },
      new_value: { v: change.newValue },
      source: change.source,
      status: change.status,
      confidence: change.confidence ?? null,
      run_id: change.runId ?? null,
      item_id: change.itemId ?? null,
      comment: change.comment ?? null,
      reverts_change_id: change.revertsChangeId ?? null,
    }));
    const inserted = await this.query<{ id: string; ordinal: number }>(
      `WITH input AS (
          SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ordinal integer, product_id bigint, field text,
            old_value jsonb, new_value jsonb, source text, status text, confidence real, run_id uuid,
            item_id uuid, comment text, reverts_change_id uuid)
        ),
        rows AS (
          INSERT INTO changes (product_id, field, old_value, new_value, source, status, confidence, run_id,
              item_id, comment, reverts_change_id, actor_type, actor_id, actor_label, request_id,
              reviewer_id, reviewer_label, reviewed_at)
          SELECT product_id, field, old_value -> 'v', new_value -> 'v', source, status, confidence, run_id,
              item_id, comment, reverts_change_id, $2, $3, $4, $5,
              CASE WHEN status = 'applied' THEN $3 END, CASE WHEN status = 'applied' THEN $4 END,
              CASE WHEN status = 'applied' THEN now() END
          FROM input ORDER BY ordinal
          RETURNING id
        )
        SELECT id, row_number() OVER () - 1 AS ordinal FROM rows`,
      [
        JSON.stringify(rows),
        actor.principal?.kind ?? 'system',
        actor.principal?.id ?? null,
        actor.principal?.label ?? null,
        actor.requestId ?? null,
      ],
    );
    return inserted.map((row) => row.id);
  }

  async find(id: string): Promise<ChangeView | undefined> {
    const [row] = await this.query<ChangeRow>(`${SELECT} WHERE c.id = $1`, [id]);
    return row === undefined ? undefined : toView(row);
  }

  /** The changes with these ids, in the order given. */
  async findMany(ids: string[]): Promise<ChangeView[]> {
    if (ids.length === 0) return [];
    const rows = await this.query<ChangeRow>(`${SELECT} WHERE c.id = ANY($1::uuid[])`, [ids]);
    const byId = new Map(rows.map((row) => [row.id, toView(row)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async lock(id: string): Promise<ChangeView | undefined> {
    const [row] = await this.query<ChangeRow>(`${SELECT} WHERE c.id = $1 FOR UPDATE`, [id]);
    return row === undefined ? undefined : toView(row);
  }

  async setStatus(
    id: string,
    status: ChangeStatus,
    reviewer: Principal | undefined,
    comment: string | null | undefined,
  ): Promise<void> {
    await this.query(
      `UPDATE changes SET status = $2, reviewer_id = $3, reviewer_label = $4, reviewed_at = now(),
          comment = COALESCE($5, comment) WHERE id = $1`,
      [id, status, reviewer?.id ?? null, reviewer?.label ?? null, comment ?? null],
    );
  }

  async list(
    filters: ChangeFilters,
    page: number,
    limit: number,
  ): Promise<{ items: ChangeView[]; total: number }> {
    const { where, params } = whereClause(filters);
    const [{ total }] = await this.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM changes c ${where}`,
      params,
    );
    const rows = await this.query<ChangeRow>(
      `${SELECT} ${where} ORDER BY c.created_at DESC, c.id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, (page - 1) * limit],
    );
    return { items: rows.map(toView), total };
  }

  /**
   * Deletes up to `limit` decided changes (applied, rejected, reverted) whose decision predates
   * `cutoff`; answers how many went. Proposals are never touched. A change that a kept revert still
   * points at stays until that revert goes too (the reference has no ON DELETE), so callers loop
   * until a batch deletes nothing. Rows a reviewer holds locked are skipped, not waited for.
   */
  async deleteDecidedBefore(cutoff: Date, limit: number): Promise<number> {
    // A decision never precedes creation, so created_at < cutoff narrows the scan through
    // changes_status_idx before reviewed_at is looked at.
    const rows = returnedRows(
      await this.query(
        `DELETE FROM changes WHERE id IN (
            SELECT c.id FROM changes c
            WHERE c.status IN ('applied', 'rejected', 'reverted') AND c.created_at < $1
              AND COALESCE(c.reviewed_at, c.created_at) < $1
              AND NOT EXISTS (SELECT 1 FROM changes r WHERE r.reverts_change_id = c.id)
            LIMIT $2 FOR UPDATE SKIP LOCKED
          ) RETURNING 1`,
        [cutoff, limit],
      ),
    );
    return rows.length;
  }

  /** Ids of a run's proposals, oldest first (bounded). */
  async proposedIdsOfRun(runId: string, max: number): Promise<string[]> {
    const rows = await this.query<{ id: string }>(
      `SELECT id FROM changes WHERE run_id = $1 AND status = 'proposed' ORDER BY created_at, id LIMIT $2`,
      [runId, max],
    );
    return rows.map((row) => row.id);
  }

  async proposedForProduct(productId: number): Promise<ChangeView[]> {
    const rows = await this.query<ChangeRow>(
      `${SELECT} WHERE c.product_id = $1 AND c.status = 'proposed' ORDER BY c.created_at, c.id`,
      [productId],
    );
    return rows.map(toView);
  }

  /** Products with proposals, lowest proposal confidence first (no confidence counts as lowest). */
  async reviewQueue(
    page: number,
    limit: number,
  ): Promise<{
    items: Array<{
      productId: number;
      title: string;
      proposals: number;
      minConfidence: number | null;
      oldestAt: Date;
    }>;
    total: number;
  }> {
    const [{ total }] = await this.query<{ total: number }>(
      `SELECT count(DISTINCT product_id)::int AS total FROM changes WHERE status = 'proposed'`,
    );
    const rows = await this.query<{
      productId: string;
      title: string;
      proposals: number;
      minConfidence: number | null;
      oldestAt: Date;
    }>(
      `SELECT q.product_id AS "productId", p.title, q.proposals, q.min_confidence AS "minConfidence",
          q.oldest_at AS "oldestAt"
        FROM (
          SELECT product_id, count(*)::int AS proposals, min(confidence) AS min_confidence,
              bool_or(confidence IS NULL) AS has_unscored, min(created_at) AS oldest_at
          FROM changes WHERE status = 'proposed' GROUP BY product_id
        ) q JOIN products p ON p.id = q.product_id
        ORDER BY q.has_unscored DESC, q.min_confidence ASC NULLS FIRST, q.oldest_at, q.product_id
        LIMIT $1 OFFSET $2`,
      [limit, (page - 1) * limit],
    );
    return { items: rows.map((row) => ({ ...row, productId: Number(row.productId) })), total };
  }
}

function whereClause(filters: ChangeFilters): { where: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  if (filters.status !== undefined) add((p) => `c.status = ${p}`, filters.status);
  if (filters.productId !== undefined) add((p) => `c.product_id = ${p}`, filters.productId);
  if (filters.runId !== undefined) add((p) => `c.run_id = ${p}::uuid`, filters.runId);
  if (filters.source !== undefined) add((p) => `c.source = ${p}`, filters.source);
  if (filters.field !== undefined) add((p) => `c.field = ${p}`, filters.field);
  if (filters.from !== undefined) add((p) => `c.created_at >= ${p}`, filters.from);
  if (filters.to !== undefined) add((p) => `c.created_at < ${p}`, filters.to);
  return { where: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, params };
}

function toView(row: ChangeRow): ChangeView {
  return {
    id: row.id,
    productId: Number(row.productId),
    field: row.field,
    oldValue: row.oldValue,
    newValue: row.newValue,
    source: row.source,
    status: row.status,
    confidence: row.confidence,
    runId: row.runId,
    itemId: row.itemId,
    actor: { type: row.actorType, id: row.actorId, label: row.actorLabel },
    reviewer: row.reviewerId === null ? null : { id: row.reviewerId, label: row.reviewerLabel },
    reviewedAt: row.reviewedAt?.toISOString() ?? null,
    comment: row.comment,
    revertsChangeId: row.revertsChangeId,
    requestId: row.requestId,
    createdAt: row.createdAt.toISOString(),
  };
}
