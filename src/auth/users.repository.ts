import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';

export interface UserRow {
  id: string;
  email: string;
  displayName: string;
  passwordHash: string;
  status: 'active' | 'disabled';
  mustChangePassword: boolean;
  failedLoginCount: number;
  lockedUntil: Date | null;
  lastLoginAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const USER_COLUMNS = `u.id, u.email, u.display_name AS "displayName", u.password_hash AS "passwordHash", u.status,
  u.must_change_password AS "mustChangePassword", u.failed_login_count AS "failedLoginCount",
  u.locked_until AS "lockedUntil", u.last_login_at AS "lastLoginAt", u.created_at AS "createdAt", u.updated_at AS "updatedAt"`;

/** Data access for users and their roles. Every query runs in the request's transaction when there is one. */
@Injectable()
export class UsersRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async count(): Promise<number> {
    const [row] = await this.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    return row.n;
  }

  async findById(id: string): Promise<UserRow | undefined> {
    const [row] = await this.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`, [id]);
    return row;
  }

  async findByEmail(email: string): Promise<UserRow | undefined> {
    const [row] = await this.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users u WHERE lower(u.email) = lower($1)`,
      [email],
    );
    return row;
  }

  /** Locks the row for the rest of the transaction (login counters, status changes). */
  async findByIdForUpdate(id: string): Promise<UserRow | undefined> {
    const [row] = await this.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1 FOR UPDATE`,
      [id],
    );
    return row;
  }

  async list(offset: number, limit: number): Promise<{ rows: UserRow[]; total: number }> {
    const rows = await this.query<UserRow & { total: number }>(
      `SELECT ${USER_COLUMNS}, count(*) OVER ()::int AS total FROM users u ORDER BY u.created_at, u.id OFFSET $1 LIMIT $2`,
      [offset, limit],
    );
    const total = rows[0]?.total ?? (await this.count());
    return { rows: rows.map(({ total: _total, ...row }) => row), total };
  }

  /** Returns undefined when the email is taken (case-insensitively). */
  async insert(user: {
    email: string;
    displayName: string;
    passwordHash: string;
    mustChangePassword: boolean;
  }): Promise<UserRow | undefined> {
    const [row] = await this.query<UserRow>(
      `INSERT INTO users AS u (email, display_name, password_hash, must_change_password) VALUES ($1, $2, $3, $4)
       ON CONFLICT ((lower(email))) DO NOTHING RETURNING ${USER_COLUMNS}`,
      [user.email, user.displayName, user.passwordHash, user.mustChangePassword],
    );
    return row;
  }

  async update(
    id: string,
    changes: Partial<
      Pick<
        UserRow,
        | 'displayName'
        | 'passwordHash'
        | 'status'
        | 'mustChangePassword'
        | 'failedLoginCount'
        | 'lockedUntil'
        | 'lastLoginAt'
      >
    >,
  ): Promise<void> {
    const columns: Record<keyof typeof changes, string> = {
      displayName: 'display_name',
      passwordHash: 'password_hash',
      status: 'status',
      mustChangePassword: 'must_change_password',
      failedLoginCount: 'failed_login_count',
      lockedUntil: 'locked_until',
      lastLoginAt: 'last_login_at',
    };
    const entries = Object.entries(changes) as Array<[keyof typeof changes, unknown]>;
    if (entries.length === 0) return;
    // Column names come from the fixed map above, never from input.
    const sets = entries.map(([key], index) => `${columns[key]} = $${index + 2}`);
    await this.query(`UPDATE users SET ${sets.join(', ')}, updated_at = now() WHERE id = $1`, [
      id,
      ...entries.map(([, value]) => value),
    ]);
  }

  async rolesOf(userId: string): Promise<string[]> {
    const rows = await this.query<{ name: string }>(
      'SELECT role_name AS name FROM user_roles WHERE user_id = $1 ORDER BY role_name',
      [userId],
    );
    return rows.map((row) => row.name);
  }

  async rolesOfMany(userIds: string[]): Promise<Map<string, string[]>> {
    const rows = await this.query<{ userId: string; name: string }>(
      'SELECT user_id AS "userId", role_name AS name FROM user_roles WHERE user_id = ANY($1::uuid[]) ORDER BY role_name',
      [userIds],
    );
    const byUser = new Map<string, string[]>();
    for (const row of rows) byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), row.name]);
    return byUser;
  }

  async permissionsOf(userId: string): Promise<string[]> {
    const rows = await this.query<{ permission: string }>(
      `SELECT DISTINCT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_name = ur.role_name
       WHERE ur.user_id = $1 ORDER BY rp.permission`,
      [userId],
    );
    return rows.map((row) => row.permission);
  }

  async setRoles(userId: string, roles: string[]): Promise<void> {
    await this.query('DELETE FROM user_roles WHERE user_id = $1', [userId]);
    if (roles.length > 0) {
      await this.query('INSERT INTO user_roles (user_id, role_name) SELECT $1, unnest($2::text[])', [
        userId,
        roles,
      ]);
    }
  }

  /** Active users holding `admin`, locked so that two concurrent demotions cannot both pass the check. */
  async activeAdminIds(): Promise<string[]> {
    await this.query("SELECT 1 FROM roles WHERE name = 'admin' FOR UPDATE");
    const rows = await this.query<{ id: string }>(
      `SELECT u.id FROM users u JOIN user_roles ur ON ur.user_id = u.id WHERE ur.role_name = 'admin' AND u.status = 'active'`,
    );
    return rows.map((row) => row.id);
  }
}
