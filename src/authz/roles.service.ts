import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { PrincipalsService } from '../auth/principals.service';
import { ConflictError, ForbiddenError, NotFoundError } from '../common/app-error';
import { assertKnownPermissions, BUILT_IN_ROLES, PERMISSIONS } from './permissions';
import { type RoleRow, RolesRepository } from './roles.repository';

export interface RoleResponse {
  name: string;
  description: string;
  builtIn: boolean;
  permissions: string[];
  userCount: number;
}

@Injectable()
export class RolesService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly roles: RolesRepository,
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
  ) {}

  /** Makes the stored built-in roles match the registry in code (run at boot, by every replica). */
  async syncBuiltIns(): Promise<void> {
    await this.txHost.withTransaction(async () => {
      await this.roles.lockForSync();
      for (const [name, role] of Object.entries(BUILT_IN_ROLES)) {
        await this.roles.insert(name, role.description, true);
        await this.roles.updateDescription(name, role.description);
        await this.roles.setPermissions(name, role.permissions);
      }
    });
  }

  permissions(): Array<{ name: string; description: string }> {
    return Object.entries(PERMISSIONS).map(([name, description]) => ({ name, description }));
  }

  async list(): Promise<RoleResponse[]> {
    return (await this.roles.list()).map(toRoleResponse);
  }

  async get(name: string): Promise<RoleResponse> {
    return toRoleResponse(await this.require(name));
  }

  async create(name: string, description: string, permissions: string[]): Promise<RoleResponse> {
    assertKnownPermissions(permissions);
    return this.txHost.withTransaction(async () => {
      if (!(await this.roles.insert(name, description, false))) {
        throw new ConflictError('ROLE_EXISTS', 'A role with this name already exists.', [
          { field: 'name', issue: 'taken' },
        ]);
      }
      await this.roles.setPermissions(name, permissions);
      await this.audit.record({
        action: 'role.create',
        outcome: 'success',
        resourceType: 'role',
        resourceId: name,
        httpStatus: 201,
        details: { permissions },
      });
      return toRoleResponse(await this.require(name));
    });
  }

  async update(
    name: string,
    changes: { description?: string; permissions?: string[] },
  ): Promise<RoleResponse> {
    if (changes.permissions !== undefined) assertKnownPermissions(changes.permissions);
    const role = await this.txHost.withTransaction(async () => {
      const existing = await this.require(name);
      if (existing.builtIn) throw new ForbiddenError('ROLE_BUILT_IN', 'Built-in roles cannot be changed.');
      if (changes.description !== undefined) await this.roles.updateDescription(name, changes.description);
      if (changes.permissions !== undefined) await this.roles.setPermissions(name, changes.permissions);
      await this.audit.record({
        action: 'role.update',
        outcome: 'success',
        resourceType: 'role',
        resourceId: name,
        details: changes,
      });
      return toRoleResponse(await this.require(name));
    });
    this.principals.invalidate();
    return role;
  }

  async delete(name: string): Promise<void> {
    await this.txHost.withTransaction(async () => {
      const existing = await this.require(name);
      if (existing.builtIn) throw new ForbiddenError('ROLE_BUILT_IN', 'Built-in roles cannot be deleted.');
      if (existing.userCount > 0)
        throw new ConflictError('ROLE_IN_USE', 'The role is still assigned to users.');
      await this.roles.delete(name);
      await this.audit.record({
        action: 'role.delete',
        outcome: 'success',
        resourceType: 'role',
        resourceId: name,
        httpStatus: 204,
      });
    });
  }

  private async require(name: string): Promise<RoleRow> {
    const role = await this.roles.find(name);
    if (role === undefined) throw new NotFoundError('ROLE_NOT_FOUND', 'No such role.');
    return role;
  }
}

function toRoleResponse(row: RoleRow): RoleResponse {
  return {
    name: row.name,
    description: row.description,
    builtIn: row.builtIn,
    permissions: row.permissions,
    userCount: row.userCount,
  };
}
