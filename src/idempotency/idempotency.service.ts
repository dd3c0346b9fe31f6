import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { BadRequestError, ConflictError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { returnedRows } from '../database/returned-rows';

export interface StoredResponse<T> {
  status: number;
  body: T;
  location?: string;
}

/** How long a key is remembered. */
const KEY_TTL_HOURS = 24;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * `Idempotency-Key` for routes that start work: the same key and body from the same principal
 * within 24 hours returns the first response instead of starting new work; the same key with
 * another body is a 409. The key row is written in the transaction that starts the work, so a
 * concurrent duplicate waits for it and then replays its response; a rolled-back start leaves no key.
 */
@Injectable()
export class IdempotencyService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly context: RequestContext,
  ) {}

  async run<T>(
    key: string | undefined,
    scope: string,
    body: unknown,
    work: () => Promise<StoredResponse<T>>,
  ): Promise<StoredResponse<T> & { replayed: boolean }> {
    if (key === undefined) return { ...(await work()), replayed: false };
    if (!KEY_PATTERN.test(key)) {
      throw new BadRequestError(
        'INVALID_IDEMPOTENCY_KEY',
        'Idempotency-Key must be 1-255 visible ASCII characters.',
      );
    }
    const principal = this.context.principal?.id ?? 'anonymous';
    const hash = createHash('sha256')
      .update(JSON.stringify(body ?? null))
      .digest('hex');
    return this.txHost.withTransaction(async () => {
      await this.query(
        `DELETE FROM idempotency_keys WHERE principal = $1 AND scope = $2 AND key = $3
          AND created_at < now() - make_interval(hours => $4)`,
        [principal, scope, key, KEY_TTL_HOURS],
      );
      const claimed = await this.query(
        `INSERT INTO idempotency_keys (principal, scope, key, request_hash, status_code, response)
          VALUES ($1, $2, $3, $4, 0, 'null') ON CONFLICT DO NOTHING RETURNING key`,
        [principal, scope, key, hash],
      );
      if (claimed.length === 0) {
        const [stored] = await this.query<{
          requestHash: string;
          status: number;
          response: T;
          location: string | null;
        }>(
          `SELECT request_hash AS "requestHash", status_code AS status, response, location FROM idempotency_keys
            WHERE principal = $1 AND scope = $2 AND key = $3`,
          [principal, scope, key],
        );
        if (stored.requestHash !== hash) {
          throw new ConflictError(
            'IDEMPOTENCY_KEY_REUSED',
            'This Idempotency-Key was used with a different request body; use a new key for new work.',
          );
        }
        return {
          status: stored.status,
          body: stored.response,
          ...(stored.location === null ? {} : { location: stored.location }),
          replayed: true,
        };
      }
      const response = await work();
      await this.query(
        `UPDATE idempotency_keys SET status_code = $4, response = $5, location = $6
          WHERE principal = $1 AND scope = $2 AND key = $3`,
        [principal, scope, key, response.status, JSON.stringify(response.body), response.location ?? null],
      );
      return { ...response, replayed: false };
    });
  }

  /** Forgets keys older than the replay window. */
  async prune(): Promise<number> {
    const rows = returnedRows(
      await this.query(
        `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) RETURNING 1`,
        [KEY_TTL_HOURS],
      ),
    );
    return rows.length;
  }

  private query<R = unknown>(sql: string, params: unknown[]): Promise<R[]> {
    return this.txHost.tx.query(sql, params);
  }
}
