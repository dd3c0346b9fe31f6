import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { returnedRows } from '../../database/returned-rows';
import type { Principal } from '../../common/request-context';
import type { BatchResult, Rejection } from './catalog-importer';

export type ImportStatus = 'queued' | 'running' | 'completed' | 'completed_with_errors' | 'failed';

export interface ImportRow {
  id: string;
  status: ImportStatus;
  total: number;
  processed: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  rejections: Rejection[];
  error: string | null;
  actorType: string;
  actorId: string | null;
  actorLabel: string | null;
  requestId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** Rejection details kept per import; the count is always exact. */
export const MAX_STORED_REJECTIONS = 1000;

const SELECT = `SELECT id, status, total, processed, created, updated, unchanged, rejected, rejections, error,
    actor_type AS "actorType", actor_id AS "actorId", actor_label AS "actorLabel", request_id AS "requestId",
    created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt"
  FROM catalog_imports`;

@Injectable()
export class CatalogImportsRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async create(
    payload: unknown[],
    principal: Principal | undefined,
    requestId: string | undefined,
  ): Promise<ImportRow> {
    const [row] = await this.query<ImportRow>(
      `INSERT INTO catalog_imports (status, total, payload, actor_type, actor_id, actor_label, request_id)
        VALUES ('queued', $1, $2::jsonb, $3, $4, $5, $6)
        RETURNING id, status, total, processed, created, updated, unchanged, rejected, rejections, error,
          actor_type AS "actorType", actor_id AS "actorId", actor_label AS "actorLabel", request_id AS "requestId",
          created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt"`,
      [
        payload.length,
        JSON.stringify(payload),
        principal?.kind ?? 'system',
        principal?.id ?? null,
        principal?.label ?? null,
        requestId ?? null,
      ],
    );
    return row;
  }

  async find(id: string): Promise<ImportRow | undefined> {
    const [row] = await this.query<ImportRow>(`${SELECT} WHERE id = $1`, [id]);
    return row;
  }

  async payload(id: string): Promise<unknown[]> {
    const [row] = await this.query<{ payload: unknown[] | null }>(
      'SELECT payload FROM catalog_imports WHERE id = $1',
      [id],
    );
    return row?.payload ?? [];
  }

  async markRunning(id: string): Promise<void> {
    await this.query(
      `UPDATE catalog_imports SET status = 'running', started_at = COALESCE(started_at, now())
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [id],
    );
  }

  /**
   * Adds a batch's counts in the batch's transaction, so progress and products commit together, and
   * only if the import's progress is still `from` (where the batch starts): false when another
   * worker has moved it on, and the caller rolls its batch back.
   */
  async addProgress(id: string, from: number, records: number, result: BatchResult): Promise<boolean> {
    const rows = await this.query(
      `UPDATE catalog_imports SET processed = processed + $2, created = created + $3, updated = updated + $4,
          unchanged = unchanged + $5, rejected = rejected + $6,
          rejections = CASE WHEN jsonb_array_length(rejections) >= $8 THEN rejections
            ELSE (SELECT COALESCE(jsonb_agg(r), '[]'::jsonb) FROM (
              SELECT r FROM jsonb_array_elements(rejections || $7::jsonb) r LIMIT $8) s) END
        WHERE id = $1 AND processed = $9
        RETURNING id`,
      [
        id,
        records,
        result.created,
        result.updated,
        result.unchanged,
        result.rejected.length,
        JSON.stringify(result.rejected),
        MAX_STORED_REJECTIONS,
        from,
      ],
    );
    return returnedRows(rows).length === 1;
  }

  /**
   * The payload is dropped once imported: the products and the summary are what remains. Only an
   * unfinished import is finished: undefined when another worker finished it first.
   */
  async finish(id: string, status: ImportStatus, error: string | null): Promise<ImportRow | undefined> {
    const [row] = returnedRows<ImportRow>(
      await this.query(
        `UPDATE catalog_imports SET status = $2, error = $3, payload = NULL, finished_at = now()
          WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING id, status, total, processed, created, updated, unchanged, rejected, rejections, error,
          actor_type AS "actorType", actor_id AS "actorId", actor_label AS "actorLabel", request_id AS "requestId",
          created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt"`,
        [id, status, error],
      ),
    );
    return row;
  }
}
