import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AuditEventFilters, NewAuditEvent, StoredAuditEvent } from './audit-event';
import type { AuditActorType, AuditOutcome } from './audit.types';

/**
 * Key of the transaction-scoped advisory lock that lets one sealer at a time extend the chain.
 * The same number is hard-coded in audit_prune() (migrations/*-CreateAuditEvents.ts).
 */
export const AUDIT_CHAIN_LOCK_KEY = '5160781926480393373';

/** A position in the chain: the last sealed row, or the anchor left by pruning (genesis: 0). */
export interface ChainPoint {
  readonly chainSeq: number;
  readonly hash: string;
}

export interface ChainSeal {
  readonly id: number;
  readonly chainSeq: number;
  readonly prevHash: string;
  readonly hash: string;
}

interface AuditEventRow {
  id: string;
  occurred_at: Date;
  request_id: string | null;
  actor_type: AuditActorType;
  actor_id: string | null;
  actor_label: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  outcome: AuditOutcome;
  http_status: number | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
  chain_seq: string | null;
  sealed_at: Date | null;
  prev_hash: string | null;
  hash: string | null;
}

const COLUMNS = `id, occurred_at, request_id, actor_type, actor_id, actor_label, action, resource_type,
  resource_id, outcome, http_status, ip, user_agent, details, chain_seq, sealed_at, prev_hash, hash`;

/** bigint columns arrive as decimal strings; ids and chain positions stay far below 2^53. */
function toNumber(value: string | number): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new Error(`audit id out of range: ${String(value)}`);
  return number;
}

function toEvent(row: AuditEventRow): StoredAuditEvent {
  return {
    id: toNumber(row.id),
    occurredAt: row.occurred_at,
    requestId: row.request_id,
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorLabel: row.actor_label,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    outcome: row.outcome,
    httpStatus: row.http_status,
    ip: row.ip,
    userAgent: row.user_agent,
    details: row.details,
    chainSeq: row.chain_seq === null ? null : toNumber(row.chain_seq),
    sealedAt: row.sealed_at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** `_` and `%` are LIKE wildcards and `\` its escape: a prefix filter must match them literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** WHERE conditions for the query filters; values are always parameters, column names fixed here. */
function filterConditions(filters: AuditEventFilters, params: unknown[]): string[] {
  const conditions: string[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown): void => {
    params.push(value);
    conditions.push(condition(`$${params.length}`));
  };
  if (filters.actorId !== undefined) add((p) => `actor_id = ${p}`, filters.actorId);
  if (filters.action !== undefined) add((p) => `action LIKE ${p}`, likePrefix(filters.action));
  if (filters.resourceType !== undefined) add((p) => `resource_type = ${p}`, filters.resourceType);
  if (filters.resourceId !== undefined) add((p) => `resource_id = ${p}`, filters.resourceId);
  if (filters.outcome !== undefined) add((p) => `outcome = ${p}`, filters.outcome);
  if (filters.requestId !== undefined) add((p) => `request_id = ${p}`, filters.requestId);
  if (filters.from !== undefined) add((p) => `occurred_at >= ${p}::timestamptz`, filters.from.toISOString());
  if (filters.to !== undefined) add((p) => `occurred_at < ${p}::timestamptz`, filters.to.toISOString());
  return conditions;
}

function where(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}

/**
 * The audit trail's only door to the database. Every statement goes through the transaction of the
 * current unit of work when there is one (TransactionHost), so an event commits with the change it
 * describes.
 */
@Injectable()
export class AuditRepository {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly dataSource: DataSource,
  ) {}

  private get db(): EntityManager {
    return this.txHost.tx;
  }

  /** True when the pool has one connection (the embedded database): a second transaction would wait forever. */
  usesSingleConnection(): boolean {
    return (this.dataSource.options as { poolSize?: number }).poolSize === 1;
  }

  /**
   * Several events in one statement (one commit when outside a transaction). Rows keep the order
   * given; ids follow it.
   */
  async insertMany(events: readonly NewAuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const columns = 12;
    const values = events.map((_, row) => {
      const p = (column: number) => `$${row * columns + column}`;
      return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}, ${p(10)}, ${p(11)}, ${p(12)}::jsonb)`;
    });
    await this.db.query(
      `INSERT INTO audit_events (request_id, actor_type, actor_id, actor_label, action, resource_type,
         resource_id, outcome, http_status, ip, user_agent, details)
       VALUES ${values.join(', ')}`,
      events.flatMap((event) => [
        event.requestId,
        event.actorType,
        event.actorId,
        event.actorLabel,
        event.action,
        event.resourceType,
        event.resourceId,
        event.outcome,
        event.httpStatus,
        event.ip,
        event.userAgent,
        JSON.stringify(event.details),
      ]),
    );
  }

  insert(event: NewAuditEvent): Promise<void> {
    return this.insertMany([event]);
  }

  async findById(id: number): Promise<StoredAuditEvent | undefined> {
    const rows: AuditEventRow[] = await this.db.query(`SELECT ${COLUMNS} FROM audit_events WHERE id = $1`, [
      id,
    ]);
    return rows.length === 0 ? undefined : toEvent(rows[0]);
  }

  /** Newest first, strictly below `beforeId` when given. */
  async page(
    filters: AuditEventFilters,
    beforeId: number | undefined,
    limit: number,
  ): Promise<StoredAuditEvent[]> {
    const params: unknown[] = [];
    const conditions = filterConditions(filters, params);
    if (beforeId !== undefined) {
      params.push(beforeId);
      conditions.push(`id < $${params.length}`);
    }
    params.push(limit);
    const rows: AuditEventRow[] = await this.db.query(
      `SELECT ${COLUMNS} FROM audit_events ${where(conditions)} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(toEvent);
  }

  /** Oldest first, ids in (afterId, upToId]. */
  async exportBatch(
    filters: AuditEventFilters,
    afterId: number,
    upToId: number,
    limit: number,
  ): Promise<StoredAuditEvent[]> {
    const params: unknown[] = [];
    const conditions = filterConditions(filters, params);
    params.push(afterId, upToId, limit);
    const n = params.length;
    conditions.push(`id > $${n - 2}`, `id <= $${n - 1}`);
    const rows: AuditEventRow[] = await this.db.query(
      `SELECT ${COLUMNS} FROM audit_events ${where(conditions)} ORDER BY id LIMIT $${n}`,
      params,
    );
    return rows.map(toEvent);
  }

  async maxId(): Promise<number> {
    const rows: Array<{ id: string | null }> = await this.db.query('SELECT max(id) AS id FROM audit_events');
    return rows[0].id === null ? 0 : toNumber(rows[0].id);
  }

  // ---- chain ----

  /** Within the current transaction: true when this transaction now holds the sealer's lock. */
  async tryLockChain(): Promise<boolean> {
    const rows: Array<{ locked: boolean }> = await this.db.query(
      'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked',
      [AUDIT_CHAIN_LOCK_KEY],
    );
    return rows[0].locked;
  }

  /**
   * Where the chain ends: the last sealed row, or the anchor when pruning removed every sealed row.
   * One statement, so a concurrent prune is seen entirely or not at all.
   */
  async chainHead(): Promise<ChainPoint> {
    const rows: Array<{ chain_seq: string; hash: string }> = await this.db.query(
      `SELECT chain_seq, hash FROM (
         (SELECT chain_seq, hash FROM audit_events WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1)
         UNION ALL
         (SELECT chain_seq, hash FROM audit_chain_anchor)
       ) head ORDER BY chain_seq DESC LIMIT 1`,
    );
    return { chainSeq: toNumber(rows[0].chain_seq), hash: rows[0].hash };
  }

  async anchor(): Promise<ChainPoint> {
    const rows: Array<{ chain_seq: string; hash: string }> = await this.db.query(
      'SELECT chain_seq, hash FROM audit_chain_anchor',
    );
    return { chainSeq: toNumber(rows[0].chain_seq), hash: rows[0].hash };
  }

  /** Committed rows not sealed yet, in id order. */
  async unsealed(limit: number): Promise<StoredAuditEvent[]> {
    const rows: AuditEventRow[] = await this.db.query(
      `SELECT ${COLUMNS} FROM audit_events WHERE chain_seq IS NULL ORDER BY id LIMIT $1`,
      [limit],
    );
    return rows.map(toEvent);
  }

  /** Fills the chain columns of unsealed rows; answers how many were sealed. */
  async seal(seals: readonly ChainSeal[]): Promise<number> {
    if (seals.length === 0) return 0;
    // A CTE makes the driver answer rows (a SELECT) rather than TypeORM's [rows, count] for UPDATE.
    const rows: Array<{ sealed: number }> = await this.db.query(
      `WITH sealed AS (
         UPDATE audit_events AS e
            SET chain_seq = v.chain_seq, prev_hash = v.prev_hash, hash = v.hash, sealed_at = now()
           FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS v(id, chain_seq, prev_hash, hash)
          WHERE e.id = v.id AND e.chain_seq IS NULL
         RETURNING e.id)
       SELECT count(*)::int AS sealed FROM sealed`,
      [
        seals.map((s) => s.id),
        seals.map((s) => s.chainSeq),
        seals.map((s) => s.prevHash),
        seals.map((s) => s.hash),
      ],
    );
    return rows[0].sealed;
  }

  /** Sealed rows in chain order with chain_seq in (afterSeq, maxSeq]. */
  async sealedSegment(afterSeq: number, maxSeq: number | null, limit: number): Promise<StoredAuditEvent[]> {
    const rows: AuditEventRow[] = await this.db.query(
      `SELECT ${COLUMNS} FROM audit_events
        WHERE chain_seq > $1 AND ($2::bigint IS NULL OR chain_seq <= $2::bigint)
        ORDER BY chain_seq LIMIT $3`,
      [afterSeq, maxSeq, limit],
    );
    return rows.map(toEvent);
  }

  /** The first and last chain position among the sealed rows with ids in [fromId, toId]. */
  async chainBounds(fromId: number, toId: number): Promise<{ minSeq: number; maxSeq: number } | undefined> {
    const rows: Array<{ min: string | null; max: string | null }> = await this.db.query(
      `SELECT min(chain_seq) AS min, max(chain_seq) AS max FROM audit_events
        WHERE id BETWEEN $1 AND $2 AND chain_seq IS NOT NULL`,
      [fromId, toId],
    );
    const { min, max } = rows[0];
    return min === null || max === null ? undefined : { minSeq: toNumber(min), maxSeq: toNumber(max) };
  }

  async hashAt(chainSeq: number): Promise<string | undefined> {
    const rows: Array<{ hash: string }> = await this.db.query(
      'SELECT hash FROM audit_events WHERE chain_seq = $1',
      [chainSeq],
    );
    return rows[0]?.hash;
  }

  async countUnsealed(fromId: number | undefined, toId: number | undefined): Promise<number> {
    const rows: Array<{ n: number }> = await this.db.query(
      `SELECT count(*)::int AS n FROM audit_events
        WHERE chain_seq IS NULL AND ($1::bigint IS NULL OR id >= $1) AND ($2::bigint IS NULL OR id <= $2)`,
      [fromId ?? null, toId ?? null],
    );
    return rows[0].n;
  }

  /** Calls the retention function; answers how many rows it removed. */
  async prune(cutoff: Date): Promise<number> {
    const rows: Array<{ pruned: string }> = await this.db.query(
      'SELECT audit_prune($1::timestamptz) AS pruned',
      [cutoff.toISOString()],
    );
    return toNumber(rows[0].pruned);
  }

  /** audit_prune(now() - days), by the database's clock: the one occurred_at was taken from. */
  async pruneOlderThanDays(days: number): Promise<number> {
    const rows: Array<{ pruned: string }> = await this.db.query(
      `SELECT audit_prune(now() - $1::int * interval '1 day') AS pruned`,
      [days],
    );
    return toNumber(rows[0].pruned);
  }
}
