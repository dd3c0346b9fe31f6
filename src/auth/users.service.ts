import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { RolesRepository } from '../authz/roles.repository';
import { BadRequestError, ConflictError, NotFoundError } from '../common/app-error';
import { checkPasswordPolicy } from './password-policy';
import { PrincipalsService } from './principals.service';
import { hashPassword } from './secrets';
import { SessionsRepository } from './sessions.repository';
import { type UserRow, UsersRepository } from './users.repository';

export interface UserResponse {
  id: string;
  email: string;
  displayName: string;
  status: 'active' | 'disabled';
  mustChangePassword: boolean;
  locked: boolean;
  roles: string[];
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  limit: number;
}

/** User administration (`users:write`). Every change and its audit event commit together. */
@Injectable()
export class UsersService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly users: UsersRepository,
    private readonly roles: RolesRepository,
    private readonly sessions: SessionsRepository,
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
  ) {}

  async list(page: number, limit: number): Promise<Page<UserResponse>> {
    const { rows, total } = await this.users.list((page - 1) * limit, limit);
    const roles = await this.users.rolesOfMany(rows.map((row) => row.id));
    return { items: rows.map((row) => toUserResponse(row, roles.get(row.id) ?? [])), total, page, limit };
  }

  async get(id: string): Promise<UserResponse> {
    const user = await this.require(id);
    return toUserResponse(user, await this.users.rolesOf(id));
  }

  async create(input: {
    email: string;
    password: string;
    displayName: string;
    roles: string[];
    mustChangePassword?: boolean;
  }): Promise<UserResponse> {
    checkPasswordPolicy(input.password, input.email, 'password');
    const passwordHash = await hashPassword(input.password);
    return this.txHost.withTransaction(async () => {
      await this.requireRoles(input.roles);
      const user = await this.users.insert({
        email: input.email,
        displayName: input.displayName,
        passwordHash,
        mustChangePassword: input.mustChangePassword ?? false,
      });
      if (user === undefined) {
        throw new ConflictError('EMAIL_TAKEN', 'A user with this email already exists.', [
          { field: 'email', issue: 'taken' },
        ]);
      }
      await this.users.setRoles(user.id, input.roles);
      await this.audit.record({
        action: 'user.create',
        outcome: 'success',
        resourceType: 'user',
        resourceId: user.id,
        httpStatus: 201,
        details: { email: user.email, roles: input.roles },
      });
      return toUserResponse(user, [...input.roles].sort());
    });
  }

  async update(id: string, changes: { displayName?: string }): Promise<UserResponse> {
    return this.change(id, 'user.update', { fields: Object.keys(changes) }, async (user) => {
      if (changes.displayName !== undefined)
        await this.users.update(user.id, { displayName: changes.displayName });
    });
  }

  disable(id: string): Promise<UserResponse> {
    return this.change(id, 'user.disable', {}, async (user) => {
      await this.users.update(user.id, { status: 'disabled' });
      await this.sessions.revokeAllOf(user.id, 'user_disabled');
      await this.requireAnActiveAdmin();
    });
  }

  enable(id: string): Promise<UserResponse> {
    return this.change(id, 'user.enable', {}, (user) => this.users.update(user.id, { status: 'active' }));
  }

  async resetPassword(id: string, newPassword: string): Promise<UserResponse> {
    const user = await this.require(id);
    checkPasswordPolicy(newPassword, user.email, 'newPassword');
    const passwordHash = await hashPassword(newPassword);
    return this.change(id, 'user.reset_password', {}, async () => {
      await this.users.update(id, {
        passwordHash,
        mustChangePassword: true,
        failedLoginCount: 0,
        lockedUntil: null,
      });
      await this.sessions.revokeAllOf(id, 'password_reset');
    });
  }

  unlock(id: string): Promise<UserResponse> {
    return this.change(id, 'user.unlock', {}, (user) =>
      this.users.update(user.id, { failedLoginCount: 0, lockedUntil: null }),
    );
  }

  async revokeSessions(id: string): Promise<void> {
    await this.change(id, 'user.revoke_sessions', {}, async (user) => {
      await this.sessions.revokeAllOf(user.id, 'revoked_by_admin');
    });
  }

  setRoles(id: string, roles: string[]): Promise<UserResponse> {
    return this.change(id, 'user.set_roles', { roles }, async (user) => {
      await this.requireRoles(roles);
      await this.users.setRoles(user.id, roles);
      await this.requireAnActiveAdmin();
    });
  }

  /** Locks the user, applies `apply`, records the event, and refreshes cached principals everywhere. */
  private async change(
    id: string,
    action: string,
    details: Record<string, unknown>,
    apply: (user: UserRow) => Promise<void>,
  ): Promise<UserResponse> {
    const result = await this.txHost.withTransaction(async () => {
      const user = await this.users.findByIdForUpdate(id);
      if (user === undefined) throw new NotFoundError('USER_NOT_FOUND', 'No such user.');
      await apply(user);
      await this.audit.record({ action, outcome: 'success', resourceType: 'user', resourceId: id, details });
      const updated = (await this.users.findById(id)) ?? user;
      return toUserResponse(updated, await this.users.rolesOf(id));
    });
    this.principals.invalidate();
    return result;
  }

  private async require(id: string): Promise<UserRow> {
    const user = await this.users.findById(id);
    if (user === undefined) throw new NotFoundError('USER_NOT_FOUND', 'No such user.');
    return user;
  }

  private async requireRoles(roles: string[]): Promise<void> {
    const existing = new Set(await this.roles.existing(roles));
    const unknown = roles.filter((role) => !existing.has(role));
    if (unknown.length > 0) {
      throw new BadRequestError(
        'UNKNOWN_ROLE',
        `No such role: ${unknown.join(', ')}.`,
        unknown.map((role) => ({ field: 'roles', issue: `unknown role ${role}` })),
      );
    }
  }

  /** At least one active user always keeps the admin role. */
  private async requireAnActiveAdmin(): Promise<void> {
    if ((await this.users.activeAdminIds()).length === 0) {
      throw new ConflictError('LAST_ADMIN', 'At least one active user must keep the admin role.');
    }
  }
}

export function toUserResponse(user: UserRow, roles: string[]): UserResponse {
  return {
    id: user.id,
    email: user.email,
    displayName: user.displayName,
    status: user.status,
    mustChangePassword: user.mustChangePassword,
    locked: user.lockedUntil !== null && user.lockedUntil > new Date(),
    roles,
    lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}
