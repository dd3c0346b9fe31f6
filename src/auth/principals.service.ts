import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../common/request-context';
import { permissionsForScopes } from '../oauth/oauth-scopes';
import { ApiKeysRepository } from './api-keys.repository';
import { sha256 } from './secrets';
import { SessionsRepository } from './sessions.repository';
import { UsersRepository } from './users.repository';

/**
 * Every replica re-reads sessions, keys, users and roles from PostgreSQL at most this long after a
 * change, so revocations, disabled users and role changes take effect everywhere within the bound
 * of 5 s while a busy principal costs one database round trip per interval, not per request.
 */
const CACHE_TTL_MS = 2_000;
/** Last-use bookkeeping of API keys is written at most this often per key. */
const KEY_USE_WRITE_INTERVAL_MS = 60_000;

type Cached = Principal | 'invalid';

/** What `/auth/me` shows of a user, cached with the same bound as principals. */
export interface UserProfile {
  user: { id: string; email: string; displayName: string; status: string; mustChangePassword: boolean };
  roles: string[];
}

@Injectable()
export class PrincipalsService {
  private readonly cache = new LRUCache<string, Cached>({ max: 10_000, ttl: CACHE_TTL_MS });
  private readonly loading = new Map<string, Promise<Cached>>();
  private generation = 0;
  private readonly profiles = new LRUCache<string, UserProfile>({ max: 10_000, ttl: CACHE_TTL_MS });
  private readonly keyUseWritten = new LRUCache<string, true>({
    max: 10_000,
    ttl: KEY_USE_WRITE_INTERVAL_MS,
  });

  constructor(
    private readonly users: UsersRepository,
    private readonly sessions: SessionsRepository,
    private readonly apiKeys: ApiKeysRepository,
  ) {}

  /** The principal of an access token's login session, or undefined when the session no longer stands. */
  async forSession(userId: string, sessionId: string): Promise<Principal | undefined> {
    const cached = await this.cached(`s:${sessionId}`, () => this.loadSession(userId, sessionId));
    return cached === 'invalid' || cached.userId !== userId ? undefined : cached;
  }

  async forApiKey(key: string, ip: string | undefined): Promise<Principal | undefined> {
    const hash = sha256(key);
    const cached = await this.cached(`k:${hash}`, () => this.loadApiKey(hash));
    if (cached === 'invalid') return undefined;
    if (!this.keyUseWritten.has(cached.id)) {
      this.keyUseWritten.set(cached.id, true);
      await this.apiKeys.recordUse(cached.id, ip);
    }
    return cached;
  }

  /** The user's summary and role names; undefined when the user no longer exists. */
  async profileOf(userId: string): Promise<UserProfile | undefined> {
    let profile = this.profiles.get(userId);
    if (profile === undefined) {
      const user = await this.users.findById(userId);
      if (user === undefined) return undefined;
      const { id, email, displayName, status, mustChangePassword } = user;
      profile = {
        user: { id, email, displayName, status, mustChangePassword },
        roles: await this.users.rolesOf(userId),
      };
      this.profiles.set(userId, profile);
    }
    return profile;
  }

  /**
   * The cached entry, or one load shared by every request that misses it at the same time: when an
   * entry expires under load, one query refreshes it instead of one per request in flight.
   */
  private async cached(key: string, load: () => Promise<Principal | undefined>): Promise<Cached> {
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let pending = this.loading.get(key);
    if (pending === undefined) {
      const generation = this.generation;
      pending = load()
        .then((principal) => {
          const value: Cached = principal ?? 'invalid';
          // Read before an invalidation: answer this request with it, but do not keep it.
          if (generation === this.generation) this.cache.set(key, value);
          return value;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /** Drops this replica's cached principals at once (other replicas follow within CACHE_TTL_MS). */
  invalidate(): void {
    this.generation += 1;
    this.cache.clear();
    this.loading.clear();
    this.profiles.clear();
  }

  private async loadSession(userId: string, sessionId: string): Promise<Principal | undefined> {
    const session = await this.sessions.find(sessionId);
    if (
      !session ||
      session.userId !== userId ||
      session.revokedAt !== null ||
      session.expiresAt <= new Date()
    )
      return undefined;
    const user = await this.users.findById(userId);
    if (!user || user.status !== 'active') return undefined;
    const permissions = await this.users.permissionsOf(user.id);
    return {
      kind: 'user',
      id: user.id,
      userId: user.id,
      label: user.email,
      // An OAuth grant holds what its scopes allow of the user's current permissions.
      permissions: new Set(
        session.scopes === null ? permissions : permissionsForScopes(session.scopes, permissions),
      ),
      sessionId,
      mustChangePassword: user.mustChangePassword,
    };
  }

  private async loadApiKey(hash: string): Promise<Principal | undefined> {
    const key = await this.apiKeys.findByHash(hash);
    if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= new Date()))
      return undefined;
    const owner = await this.users.findById(key.userId);
    if (!owner || owner.status !== 'active') return undefined;
    const ownerPermissions = new Set(await this.users.permissionsOf(owner.id));
    return {
      kind: 'api_key',
      id: key.id,
      userId: owner.id,
      label: key.name,
      permissions: new Set(key.permissions.filter((permission) => ownerPermissions.has(permission))),
    };
  }
}
