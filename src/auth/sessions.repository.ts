import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { returnedRows } from '../database/returned-rows';

export interface SessionRow {
  id: string;
  userId: string;
  /** Set for OAuth grants: the client the grant was given to, and the scopes granted. */
  oauthClientId: string | null;
  scopes: string[] | null;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  ip: string | null;
  userAgent: string | null;
}

const SESSION_COLUMNS = `s.id, s.user_id AS "userId", s.oauth_client_id AS "oauthClientId", s.scopes, s.created_at AS "createdAt", s.last_used_at AS "lastUsedAt",
  s.expires_at AS "expiresAt", s.revoked_at AS "revokedAt", s.ip, s.user_agent AS "userAgent"`;

/** Login sessions and their rotating refresh tokens (stored as SHA-256 hashes only). */
@Injectable()
export class SessionsRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async create(
    userId: string,
    expiresAt: Date,
    ip: string | undefined,
    userAgent: string | undefined,
    grant?: { clientId: string; scopes: string[] },
  ): Promise<SessionRow> {
    const [row] = await this.query<SessionRow>(
      `INSERT INTO auth_sessions AS s (user_id, expires_at, ip, user_agent, oauth_client_id, scopes)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${SESSION_COLUMNS}`,
      [
        userId,
        expiresAt,
        ip ?? null,
        userAgent?.slice(0, 300) ?? null,
        grant?.clientId ?? null,
        grant?.scopes ?? null,
      ],
    );
    return row;
  }

  /** Revokes every grant of an OAuth client; returns the ids revoked now. */
  async revokeClientGrants(clientId: string, reason: string): Promise<string[]> {
    const rows = returnedRows<{ id: string }>(
      await this.query(
        `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
         WHERE oauth_client_id = $1 AND revoked_at IS NULL RETURNING id`,
        [clientId, reason],
      ),
    );
    return rows.map((row) => row.id);
  }

  async find(id: string): Promise<SessionRow | undefined> {
    const [row] = await this.query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM auth_sessions s WHERE s.id = $1`,
      [id],
    );
    return row;
  }

  listActive(userId: string): Promise<SessionRow[]> {
    return this.query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM auth_sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
       ORDER BY s.created_at DESC LIMIT 200`,
      [userId],
    );
  }

  async addRefreshToken(sessionId: string, tokenHash: string): Promise<void> {
    await this.query('INSERT INTO auth_refresh_tokens (token_hash, session_id) VALUES ($1, $2)', [
      tokenHash,
      sessionId,
    ]);
  }

  /** The token and its session, locked: concurrent refreshes with one token cannot both rotate it. */
  async findRefreshTokenForUpdate(
    tokenHash: string,
  ): Promise<{ sessionId: string; rotatedAt: Date | null; session: SessionRow } | undefined> {
    const [row] = await this.query<{ sessionId: string; rotatedAt: Date | null }>(
      'SELECT session_id AS "sessionId", rotated_at AS "rotatedAt" FROM auth_refresh_tokens WHERE token_hash = $1 FOR UPDATE',
      [tokenHash],
    );
    if (row === undefined) return undefined;
    const [session] = await this.query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM auth_sessions s WHERE s.id = $1 FOR UPDATE`,
      [row.sessionId],
    );
    return { ...row, session };
  }

  async markRotated(tokenHash: string): Promise<void> {
    await this.query('UPDATE auth_refresh_tokens SET rotated_at = now() WHERE token_hash = $1', [tokenHash]);
  }

  async touch(sessionId: string): Promise<void> {
    await this.query('UPDATE auth_sessions SET last_used_at = now() WHERE id = $1', [sessionId]);
  }

  /** Returns the ids revoked now (already revoked sessions are left as they were). */
  async revoke(sessionIds: string[], reason: string): Promise<string[]> {
    const rows = returnedRows<{ id: string }>(
      await this.query(
        `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
       WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL RETURNING id`,
        [sessionIds, reason],
      ),
    );
    return rows.map((row) => row.id);
  }

  async revokeAllOf(userId: string, reason: string, exceptSessionId?: string): Promise<string[]> {
    const rows = returnedRows<{ id: string }>(
      await this.query(
        `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
       WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3::uuid) RETURNING id`,
        [userId, reason, exceptSessionId ?? null],
      ),
    );
    return rows.map((row) => row.id);
  }
}
