import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';

export interface OAuthCodeRow {
  clientId: string;
  userId: string;
  redirectUri: string;
  codeChallenge: string;
  scopes: string[];
  resource: string;
  expiresAt: Date;
  usedAt: Date | null;
  sessionId: string | null;
}

/** Authorization codes, stored as SHA-256 hashes only. */
@Injectable()
export class OAuthCodesRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async insert(codeHash: string, row: Omit<OAuthCodeRow, 'usedAt' | 'sessionId'>): Promise<void> {
    await this.query(
      `INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, code_challenge, scopes, resource, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        codeHash,
        row.clientId,
        row.userId,
        row.redirectUri,
        row.codeChallenge,
        row.scopes,
        row.resource,
        row.expiresAt,
      ],
    );
  }

  /** The code, locked: two exchanges of one code cannot both see it unused. */
  async findForUpdate(codeHash: string): Promise<OAuthCodeRow | undefined> {
    const [row] = await this.query<OAuthCodeRow>(
      `SELECT client_id AS "clientId", user_id AS "userId", redirect_uri AS "redirectUri",
         code_challenge AS "codeChallenge", scopes, resource, expires_at AS "expiresAt", used_at AS "usedAt",
         session_id AS "sessionId"
       FROM oauth_codes WHERE code_hash = $1 FOR UPDATE`,
      [codeHash],
    );
    return row;
  }

  async markUsed(codeHash: string, sessionId: string | null): Promise<void> {
    await this.query('UPDATE oauth_codes SET used_at = now(), session_id = $2 WHERE code_hash = $1', [
      codeHash,
      sessionId,
    ]);
  }

  /** Codes expired for a day are of no further use, even as evidence of reuse. */
  async prune(): Promise<void> {
    await this.query(`DELETE FROM oauth_codes WHERE expires_at < now() - interval '1 day'`);
  }
}
