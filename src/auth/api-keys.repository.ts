import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';

export interface ApiKeyRow {
  id: string;
  userId: string;
  name: string;
  prefix: string;
  permissions: string[];
  expiresAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  revokedAt: Date | null;
}

const KEY_COLUMNS = `k.id, k.user_id AS "userId", k.name, k.prefix, k.permissions, k.expires_at AS "expiresAt",
  k.created_at AS "createdAt", k.last_used_at AS "lastUsedAt", k.last_used_ip AS "lastUsedIp", k.revoked_at AS "revokedAt"`;

@Injectable()
export class ApiKeysRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async insert(key: {
    userId: string;
    name: string;
    prefix: string;
    keyHash: string;
    permissions: string[];
    expiresAt: Date | null;
  }): Promise<ApiKeyRow> {
    const [row] = await this.query<ApiKeyRow>(
      `INSERT INTO api_keys AS k (user_id, name, prefix, key_hash, permissions, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${KEY_COLUMNS}`,
      [key.userId, key.name, key.prefix, key.keyHash, key.permissions, key.expiresAt],
    );
    return row;
  }

  async findByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.query<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.key_hash = $1`, [
      keyHash,
    ]);
    return row;
  }

  async find(id: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.query<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.id = $1`, [id]);
    return row;
  }

  /** Live (not revoked) keys, newest first; `userId` undefined lists every user's. */
  list(userId: string | undefined): Promise<ApiKeyRow[]> {
    return this.query<ApiKeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.revoked_at IS NULL AND ($1::uuid IS NULL OR k.user_id = $1::uuid)
       ORDER BY k.created_at DESC LIMIT 1000`,
      [userId ?? null],
    );
  }

  async revoke(id: string): Promise<void> {
    await this.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
  }

  async recordUse(id: string, ip: string | undefined): Promise<void> {
    await this.query('UPDATE api_keys SET last_used_at = now(), last_used_ip = $2 WHERE id = $1', [
      id,
      ip ?? null,
    ]);
  }
}
