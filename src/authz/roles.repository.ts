import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';

export interface RoleRow {
  name: string;
  description: string;
  builtIn: boolean;
  permissions: string[];
  userCount: number;
}

const ROLE_SELECT = `SELECT r.name, r.description, r.built_in AS "builtIn",
    COALESCE((SELECT array_agg(rp.permission ORDER BY rp.permission) FROM role_permissions rp WHERE rp.role_name = r.name), '{}') AS permissions,
    (SELECT count(*)::int FROM user_roles ur WHERE ur.role_name = r.name) AS "userCount"
  FROM roles r`;

@Injectable()
export class RolesRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  list(): Promise<RoleRow[]> {
    return this.query<RoleRow>(`${ROLE_SELECT} ORDER BY r.built_in DESC, r.name`);
  }

  async find(name: string): Promise<RoleRow | undefined> {
    const [row] = await this.query<RoleRow>(`${ROLE_SELECT} WHERE r.name = $1`, [name]);
    return row;
  }

  async existing(names: string[]): Promise<string[]> {
    const rows = await this.query<{ name: string }>('SELECT name FROM roles WHERE name = ANY($1::text[])', [
      names,
    ]);
    return rows.map((row) => row.name);
  }

  /** Returns false when the name is taken. */
  async insert(name: string, description: string, builtIn: boolean): Promise<boolean> {
    const rows = await this.query(
      'INSERT INTO roles (name, description, built_in) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING name',
      [name, description, builtIn],
    );
    return rows.length > 0;
  }

  async updateDescription(name: string, description: string): Promise<void> {
    await this.query('UPDATE roles SET description = $2, updated_at = now() WHERE name = $1', [
      name,
      description,
    ]);
  }

  async setPermissions(name: string, permissions: readonly string[]): Promise<void> {
    await this.query('DELETE FROM role_permissions WHERE role_name = $1', [name]);
    if (permissions.length > 0) {
      await this.query('INSERT INTO role_permissions (role_name, permission) SELECT $1, unnest($2::text[])', [
        name,
        permissions,
      ]);
    }
    await this.query('UPDATE roles SET updated_at = now() WHERE name = $1', [name]);
  }

  async delete(name: string): Promise<void> {
    await this.query('DELETE FROM roles WHERE name = $1', [name]);
  }

  /** Serialises boot-time syncs of the built-in roles between replicas. */
  async lockForSync(): Promise<void> {
    await this.query("SELECT pg_advisory_xact_lock(hashtext('mcp-admin:roles-sync'))");
  }
}
