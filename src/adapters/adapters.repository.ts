import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { returnedRows } from '../database/returned-rows';
import type { AdapterType } from './adapter.types';
import type { SealedSecrets } from './secrets-cipher';

export interface AdapterRow {
  id: string;
  name: string;
  type: AdapterType;
  description: string;
  exposeAsTool: boolean;
  config: Record<string, unknown>;
  secrets: SealedSecrets | null;
  secretFields: string[];
  status: 'active' | 'disabled';
  revision: number;
  createdBy: string | null;
  updatedBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, name, type, description, expose_as_tool AS "exposeAsTool", config, secrets,
  secret_fields AS "secretFields", status, revision, created_by AS "createdBy", updated_by AS "updatedBy",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

@Injectable()
export class AdaptersRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  /** Undefined when the name is taken. */
  async insert(row: {
    name: string;
    type: AdapterType;
    description: string;
    exposeAsTool: boolean;
    config: object;
    secrets: SealedSecrets | null;
    secretFields: string[];
    actor: string | null;
  }): Promise<AdapterRow | undefined> {
    const [inserted] = await this.query<AdapterRow>(
      `INSERT INTO adapters (name, type, description, expose_as_tool, config, secrets, secret_fields, created_by, updated_by)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::text[], $8, $8)
        ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`,
      [
        row.name,
        row.type,
        row.description,
        row.exposeAsTool,
        JSON.stringify(row.config),
        row.secrets === null ? null : JSON.stringify(row.secrets),
        row.secretFields,
        row.actor,
      ],
    );
    return inserted;
  }

  async find(id: string, lock = false): Promise<AdapterRow | undefined> {
    const [row] = await this.query<AdapterRow>(
      `SELECT ${COLUMNS} FROM adapters WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return row;
  }

  /** Active adapters exposed as MCP tools, by name. */
  async exposedAsTools(): Promise<AdapterRow[]> {
    return this.query<AdapterRow>(
      `SELECT ${COLUMNS} FROM adapters WHERE expose_as_tool AND status = 'active' ORDER BY name`,
    );
  }

  async page(
    page: number,
    limit: number,
    type?: AdapterType,
  ): Promise<{ items: AdapterRow[]; total: number }> {
    const where = type === undefined ? '' : 'WHERE type = $3';
    const params: unknown[] = [limit, (page - 1) * limit, ...(type === undefined ? [] : [type])];
    const [{ total }] = await this.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM adapters ${type === undefined ? '' : 'WHERE type = $1'}`,
      type === undefined ? [] : [type],
    );
    const items = await this.query<AdapterRow>(
      `SELECT ${COLUMNS} FROM adapters ${where} ORDER BY created_at, id LIMIT $1 OFFSET $2`,
      params,
    );
    return { items, total };
  }

  async update(
    id: string,
    changes: {
      description: string;
      exposeAsTool: boolean;
      status: 'active' | 'disabled';
      config: object;
      secrets: SealedSecrets | null;
      secretFields: string[];
      actor: string | null;
    },
  ): Promise<AdapterRow> {
    const [row] = returnedRows<AdapterRow>(
      await this.query(
        `UPDATE adapters SET description = $2, expose_as_tool = $3, status = $4, config = $5::jsonb,
          secrets = $6::jsonb, secret_fields = $7::text[], updated_by = $8, updated_at = now(),
          revision = revision + 1
        WHERE id = $1 RETURNING ${COLUMNS}`,
        [
          id,
          changes.description,
          changes.exposeAsTool,
          changes.status,
          JSON.stringify(changes.config),
          changes.secrets === null ? null : JSON.stringify(changes.secrets),
          changes.secretFields,
          changes.actor,
        ],
      ),
    );
    return row;
  }

  async delete(id: string): Promise<boolean> {
    const rows = returnedRows(await this.query('DELETE FROM adapters WHERE id = $1 RETURNING id', [id]));
    return rows.length > 0;
  }
}
