import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { returnedRows } from '../database/returned-rows';

export interface OAuthClientRow {
  clientId: string;
  kind: 'registered' | 'metadata_document';
  clientName: string;
  redirectUris: string[];
  clientUri: string | null;
  createdIp: string | null;
  createdAt: Date;
  updatedAt: Date;
  revokedAt: Date | null;
}

const COLUMNS = `client_id AS "clientId", kind, client_name AS "clientName", redirect_uris AS "redirectUris",
  client_uri AS "clientUri", created_ip AS "createdIp", created_at AS "createdAt", updated_at AS "updatedAt",
  revoked_at AS "revokedAt"`;

@Injectable()
export class OAuthClientsRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async insert(row: Omit<OAuthClientRow, 'createdAt' | 'updatedAt' | 'revokedAt'>): Promise<OAuthClientRow> {
    const [inserted] = await this.query<OAuthClientRow>(
      `INSERT INTO oauth_clients (client_id, kind, client_name, redirect_uris, client_uri, created_ip)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [row.clientId, row.kind, row.clientName, row.redirectUris, row.clientUri, row.createdIp],
    );
    return inserted;
  }

  /** A metadata-document client as last fetched; a revoked one stays revoked. */
  async upsertDocument(row: {
    clientId: string;
    clientName: string;
    redirectUris: string[];
    clientUri: string | null;
  }): Promise<OAuthClientRow> {
    const [upserted] = await this.query<OAuthClientRow>(
      `INSERT INTO oauth_clients (client_id, kind, client_name, redirect_uris, client_uri)
       VALUES ($1, 'metadata_document', $2, $3, $4)
       ON CONFLICT (client_id) DO UPDATE SET client_name = EXCLUDED.client_name,
         redirect_uris = EXCLUDED.redirect_uris, client_uri = EXCLUDED.client_uri, updated_at = now()
       RETURNING ${COLUMNS}`,
      [row.clientId, row.clientName, row.redirectUris, row.clientUri],
    );
    return upserted;
  }

  async find(clientId: string): Promise<OAuthClientRow | undefined> {
    const [row] = await this.query<OAuthClientRow>(
      `SELECT ${COLUMNS} FROM oauth_clients WHERE client_id = $1`,
      [clientId],
    );
    return row;
  }

  async page(
    page: number,
    limit: number,
  ): Promise<{ items: Array<OAuthClientRow & { activeGrants: number }>; total: number }> {
    const [{ total }] = await this.query<{ total: number }>(
      'SELECT count(*)::int AS total FROM oauth_clients',
    );
    const items = await this.query<OAuthClientRow & { activeGrants: number }>(
      `SELECT ${COLUMNS}, (SELECT count(*)::int FROM auth_sessions s WHERE s.oauth_client_id = c.client_id
         AND s.revoked_at IS NULL AND s.expires_at > now()) AS "activeGrants"
       FROM oauth_clients c ORDER BY created_at DESC, client_id LIMIT $1 OFFSET $2`,
      [limit, (page - 1) * limit],
    );
    return { items, total };
  }

  /** Revokes the client; true when it existed and was active. */
  async revoke(clientId: string): Promise<boolean> {
    const rows = returnedRows<{ clientId: string }>(
      await this.query(
        `UPDATE oauth_clients SET revoked_at = now(), updated_at = now()
         WHERE client_id = $1 AND revoked_at IS NULL RETURNING client_id AS "clientId"`,
        [clientId],
      ),
    );
    return rows.length > 0;
  }
}
