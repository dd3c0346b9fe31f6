import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { assertKnownPermissions } from '../authz/permissions';
import { BadRequestError, ForbiddenError, NotFoundError } from '../common/app-error';
import type { Principal } from '../common/request-context';
import { type ApiKeyRow, ApiKeysRepository } from './api-keys.repository';
import { PrincipalsService } from './principals.service';
import { API_KEY_PREFIX, randomToken, sha256 } from './secrets';

export interface ApiKeyResponse {
  id: string;
  userId: string;
  name: string;
  prefix: string;
  permissions: string[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
}

/** What creation answers, once: the only time the key itself is shown. */
export interface CreatedApiKey extends ApiKeyResponse {
  key: string;
}

const ADMIN = 'api-keys:admin';

@Injectable()
export class ApiKeysService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly keys: ApiKeysRepository,
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
  ) {}

  /** A key never holds more than its creator: asking for more is a 403. Keys cannot mint keys for others. */
  async create(
    creator: Principal,
    name: string,
    permissions: string[],
    expiresAt: Date | undefined,
  ): Promise<CreatedApiKey> {
    assertKnownPermissions(permissions);
    const beyond = permissions.filter((permission) => !creator.permissions.has(permission));
    if (beyond.length > 0) {
      throw new ForbiddenError(
        'PERMISSION_NOT_HELD',
        `You cannot grant permissions you do not hold: ${beyond.join(', ')}.`,
      );
    }
    if (expiresAt !== undefined && expiresAt <= new Date()) {
      throw new BadRequestError('VALIDATION_FAILED', 'The expiry must be in the future.', [
        { field: 'expiresAt', issue: 'in the past' },
      ]);
    }
    const key = randomToken(API_KEY_PREFIX);
    const row = await this.txHost.withTransaction(async () => {
      const inserted = await this.keys.insert({
        userId: creator.userId ?? '',
        name,
        prefix: key.slice(0, API_KEY_PREFIX.length + 6),
        keyHash: sha256(key),
        permissions: [...new Set(permissions)].sort(),
        expiresAt: expiresAt ?? null,
      });
      await this.audit.record({
        action: 'api_key.create',
        outcome: 'success',
        resourceType: 'api_key',
        resourceId: inserted.id,
        httpStatus: 201,
        details: {
          name,
          permissions: inserted.permissions,
          expiresAt: inserted.expiresAt?.toISOString() ?? null,
        },
      });
      return inserted;
    });
    return { ...toApiKeyResponse(row), key };
  }

  /** Own keys; with api-keys:admin, one user's (`userId`) or everyone's (`all`). */
  async list(principal: Principal, filter: { userId?: string; all?: boolean }): Promise<ApiKeyResponse[]> {
    const wantsOthers =
      filter.all === true || (filter.userId !== undefined && filter.userId !== principal.userId);
    if (wantsOthers && !principal.permissions.has(ADMIN)) {
      await this.audit.recordIndependently({
        action: 'authz.denied',
        outcome: 'denied',
        httpStatus: 403,
        details: { missing: [ADMIN], route: 'GET /api/v1/api-keys' },
      });
      throw new ForbiddenError(
        'PERMISSION_DENIED',
        `Listing other users' keys needs the permission ${ADMIN}.`,
      );
    }
    const userId = filter.all === true ? undefined : (filter.userId ?? principal.userId);
    return (await this.keys.list(userId)).map(toApiKeyResponse);
  }

  /** Another user's key without api-keys:admin answers 404, as if it did not exist. */
  async revoke(principal: Principal, id: string): Promise<void> {
    await this.txHost.withTransaction(async () => {
      const key = await this.keys.find(id);
      const visible =
        key !== undefined &&
        key.revokedAt === null &&
        (key.userId === principal.userId || principal.permissions.has(ADMIN));
      if (!visible) throw new NotFoundError('API_KEY_NOT_FOUND', 'No such API key.');
      await this.keys.revoke(id);
      await this.audit.record({
        action: 'api_key.revoke',
        outcome: 'success',
        resourceType: 'api_key',
        resourceId: id,
        httpStatus: 204,
      });
    });
    this.principals.invalidate();
  }
}

function toApiKeyResponse(row: ApiKeyRow): ApiKeyResponse {
  return {
    id: row.id,
    userId: row.userId,
    name: row.name,
    prefix: row.prefix,
    permissions: row.permissions,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    lastUsedIp: row.lastUsedIp,
  };
}
