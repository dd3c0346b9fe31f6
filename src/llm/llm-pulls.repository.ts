import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../common/request-context';
import { returnedRows } from '../database/returned-rows';
import type { LlmProviderName, PullProgress } from './llm.types';

export type PullStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface PullRow {
  id: string;
  provider: LlmProviderName;
  model: string;
  status: PullStatus;
  phase: string | null;
  completed: number;
  total: number;
  error: string | null;
  seq: number;
  actorType: string;
  actorId: string | null;
  actorLabel: string | null;
  requestId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The running replica has not written for longer than the stale limit: it is gone. */
  stale: boolean;
}

/**
 * A pull whose replica has not written (progress or heartbeat, every 10 s) for this long is taken
 * for interrupted: the replica stopped or lost the database.
 */
export const PULL_STALE_SECONDS = 60;

const COLUMNS = `id, provider, model, status, phase, completed::float8 AS completed, total::float8 AS total, error, seq,
  actor_type AS "actorType", actor_id AS "actorId", actor_label AS "actorLabel", request_id AS "requestId",
  created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt",
  (status IN ('queued', 'running') AND heartbeat_at < now() - make_interval(secs => ${PULL_STALE_SECONDS})) AS stale`;

/** Longest phase text kept; Ollama's are short (`pulling 8eeb52dfb3bb`). */
const MAX_PHASE_LENGTH = 200;
const MAX_ERROR_LENGTH = 1000;

@Injectable()
export class LlmPullsRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  /** Undefined when a pull of this model is already active (the partial unique index). */
  async insert(
    provider: LlmProviderName,
    model: string,
    principal: Principal | undefined,
    requestId: string | undefined,
  ): Promise<PullRow | undefined> {
    const [row] = await this.query<PullRow>(
      `INSERT INTO llm_pulls (provider, model, status, actor_type, actor_id, actor_label, request_id)
        VALUES ($1, $2, 'queued', $3, $4, $5, $6)
        ON CONFLICT (provider, model) WHERE status IN ('queued', 'running') DO NOTHING
        RETURNING ${COLUMNS}`,
      [
        provider,
        model,
        principal?.kind ?? 'system',
        principal?.id ?? null,
        principal?.label ?? null,
        requestId ?? null,
      ],
    );
    return row;
  }

  async find(id: string): Promise<PullRow | undefined> {
    const [row] = await this.query<PullRow>(`SELECT ${COLUMNS} FROM llm_pulls WHERE id = $1`, [id]);
    return row;
  }

  async findActive(provider: LlmProviderName, model: string): Promise<PullRow | undefined> {
    const [row] = await this.query<PullRow>(
      `SELECT ${COLUMNS} FROM llm_pulls
        WHERE provider = $1 AND model = $2 AND status IN ('queued', 'running')`,
      [provider, model],
    );
    return row;
  }

  async markRunning(id: string): Promise<void> {
    await this.query(
      `UPDATE llm_pulls SET status = 'running', started_at = now(), heartbeat_at = now(), seq = seq + 1
        WHERE id = $1 AND status = 'queued'`,
      [id],
    );
  }

  /** Only an active pull moves: one declared stale (or finished) elsewhere stays as it is. */
  async progress(id: string, progress: PullProgress): Promise<void> {
    await this.query(
      `UPDATE llm_pulls SET phase = $2, completed = $3, total = $4, heartbeat_at = now(), seq = seq + 1
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [id, progress.status.slice(0, MAX_PHASE_LENGTH), progress.completed, progress.total],
    );
  }

  async heartbeat(id: string): Promise<void> {
    await this.query(
      `UPDATE llm_pulls SET heartbeat_at = now() WHERE id = $1 AND status IN ('queued', 'running')`,
      [id],
    );
  }

  async finish(
    id: string,
    status: 'succeeded' | 'failed',
    error: string | null,
    progress: PullProgress | undefined,
  ): Promise<void> {
    await this.query(
      `UPDATE llm_pulls SET status = $2, error = $3, finished_at = now(), heartbeat_at = now(), seq = seq + 1,
          phase = COALESCE($4, phase), completed = COALESCE($5, completed), total = COALESCE($6, total)
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [
        id,
        status,
        error?.slice(0, MAX_ERROR_LENGTH) ?? null,
        progress?.status.slice(0, MAX_PHASE_LENGTH) ?? null,
        progress?.completed ?? null,
        progress?.total ?? null,
      ],
    );
  }

  /** Fails a pull whose replica stopped writing; true when this call did it. */
  async failIfStale(id: string, error: string): Promise<boolean> {
    const rows = returnedRows(
      await this.query(
        `UPDATE llm_pulls SET status = 'failed', error = $2, finished_at = now(), seq = seq + 1
          WHERE id = $1 AND status IN ('queued', 'running')
            AND heartbeat_at < now() - make_interval(secs => ${PULL_STALE_SECONDS})
          RETURNING id`,
        [id, error],
      ),
    );
    return rows.length > 0;
  }

  async deleteFinishedBefore(days: number): Promise<number> {
    const rows = returnedRows(
      await this.query(
        `DELETE FROM llm_pulls WHERE status IN ('succeeded', 'failed')
          AND created_at < now() - make_interval(days => $1) RETURNING 1`,
        [days],
      ),
    );
    return rows.length;
  }
}
