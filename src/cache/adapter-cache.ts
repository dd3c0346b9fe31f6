import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';
import { RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../observability/metrics.service';
import { REDIS, type RedisClient } from '../redis/redis.module';
import { cacheKey, type CacheKey, assertAdapterId } from './cache-key';
import { CACHEABLE_METHODS, decideStore } from './cache-policy';
import { type L2Status, RedisCacheStore, type StoredEntry } from './redis-cache-store';

export type CacheScope = 'shared' | 'principal';

/** The adapter's `cache` setting. */
export interface CachePolicy {
  /** Upper bound of an entry's life in seconds; 0 turns caching off. */
  readonly ttlSeconds: number;
  /** Request headers whose values are part of the key (names are case-insensitive). */
  readonly keyHeaders?: readonly string[];
  /** `principal`: every caller gets entries of their own. Default `shared`. */
  readonly scope?: CacheScope;
}

/** The parts of an upstream request that decide which cached response answers it. */
export interface CacheableRequest {
  readonly adapterId: string;
  readonly method: string;
  /** The absolute upstream URL. A query string in it is merged with `query`. */
  readonly url: string;
  readonly query?: Readonly<Record<string, string | readonly string[]>>;
  /** The request headers; only those named in the policy's `keyHeaders` are read. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A response as the cache keeps it. Stored responses are frozen: do not mutate what a hit returns. */
export interface CachedResponse {
  readonly status: number;
  /** Read case-insensitively (`cache-control`, `vary`, `set-cookie`, `expires`, `date`, `age`). */
  readonly headers: Readonly<Record<string, string>>;
  /** Opaque to the cache: the caller's encoding of the body (text, or base64 for bytes). */
  readonly body: string;
}

export type CacheResult = 'hit' | 'miss' | 'bypass';

export interface CacheLookup {
  readonly response: CachedResponse;
  readonly cache: CacheResult;
  /** On a hit: whole seconds since the upstream answered (for an `Age` header). */
  readonly ageSeconds?: number;
}

export interface AdapterCacheStats {
  readonly adapterId: string;
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
  readonly evictions: number;
}

export interface CacheStats {
  /** Every adapter this replica has looked up or stored since it started, by id. */
  readonly items: AdapterCacheStats[];
  readonly l2: L2Status;
}

export interface PurgeResult {
  /** Entries removed from this replica's memory. */
  readonly l1: number;
  /** Entries removed from Redis (0 without REDIS_URL). */
  readonly l2: number;
}

/** Largest response kept, counting body and headers: bigger ones are passed through uncached. */
export const MAX_ENTRY_BYTES = 1_048_576;
/** Bookkeeping per entry, so that many empty responses still count against the byte bound. */
const ENTRY_OVERHEAD_BYTES = 200;

/** Replaces the wall clock (epoch ms) in tests. */
export const CACHE_CLOCK = Symbol('CACHE_CLOCK');

interface L1Entry extends StoredEntry {
  readonly adapterId: string;
  readonly size: number;
}

interface Counters {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
  evictions: number;
}

interface Flight {
  readonly response: CachedResponse;
  /** Whether the response is in the cache (so callers who waited for it may share it). */
  readonly stored: boolean;
  readonly fromL2: boolean;
  readonly storedAt?: number;
}

/**
 * The adapter response cache: an in-process LRU (L1, bounded by CACHE_L1_MAX_ENTRIES and
 * CACHE_L1_MAX_BYTES) in front of Redis (L2, when REDIS_URL is set, shared by replicas). Redis
 * trouble never reaches callers: they are served from L1 or the upstream. See docs/CACHE.md.
 */
@Injectable()
export class AdapterCache implements OnModuleInit, OnApplicationShutdown {
  private readonly l1: LRUCache<string, L1Entry>;
  private readonly l2: RedisCacheStore | undefined;
  private readonly counters = new Map<string, Counters>();
  private readonly flights = new Map<string, Promise<Flight>>();
  private readonly clock: () => number;
  private readonly maxEntryBytes: number;
  /** Bumped by every purge: a load that started before one must not store what it fetched. */
  private purgeEpoch = 0;

  constructor(
    @InjectConfig() config: AppConfig,
    @Inject(REDIS) redis: RedisClient,
    private readonly metrics: MetricsService,
    private readonly context: RequestContext,
    @Optional() @Inject(CACHE_CLOCK) clock?: () => number,
  ) {
    this.clock = clock ?? Date.now;
    this.maxEntryBytes = Math.min(MAX_ENTRY_BYTES, config.cache.l1MaxBytes);
    this.l1 = new LRUCache<string, L1Entry>({
      max: config.cache.l1MaxEntries,
      maxSize: config.cache.l1MaxBytes,
      sizeCalculation: (entry) => entry.size,
      // Entries expire by their own TTL; freshness is also checked on every read (see readL1).
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
      ...(clock === undefined ? {} : { perf: { now: clock }, ttlResolution: 0 }),
      dispose: (entry, _key, reason) => this.forget(entry, reason === 'evict'),
    });
    this.l2 =
      redis === null
        ? undefined
        : new RedisCacheStore(redis, config.redis.keyPrefix, metrics, this.clock, randomUUID(), (adapterId) =>
            this.purgeL1(adapterId),
          );
  }

  onModuleInit(): void {
    this.l2?.start();
  }

  onApplicationShutdown(): void {
    this.l2?.close();
  }

  /**
   * Answers from the cache, or calls `load` (the upstream request) and keeps its response when it
   * may be kept: GET or HEAD, status 200, Cache-Control allowing it, at most MAX_ENTRY_BYTES, for
   * the smaller of `policy.ttlSeconds` and the upstream's lifetime. Concurrent identical misses in
   * this process share one `load` when its response is kept. Bypasses the cache when `policy` is
   * missing, its TTL is 0, the method is neither GET nor HEAD, or the scope is `principal` and
   * there is no principal. `principalId` defaults to the request context's principal.
   * Errors from `load` reach the caller (and the callers waiting on the same load) unchanged.
   */
  async getOrLoad(
    request: CacheableRequest,
    policy: CachePolicy | undefined,
    principalId: string | undefined,
    load: () => Promise<CachedResponse>,
  ): Promise<CacheLookup> {
    const method = request.method.toUpperCase();
    const principal = principalId ?? this.contextPrincipal();
    if (
      policy === undefined ||
      !(policy.ttlSeconds > 0) ||
      !CACHEABLE_METHODS.has(method) ||
      ((policy.scope ?? 'shared') === 'principal' && principal === undefined)
    ) {
      assertAdapterId(request.adapterId);
      this.metrics.observeCacheRequest(request.adapterId, 'bypass');
      return { response: await load(), cache: 'bypass' };
    }

    const key = cacheKey(request, policy, principal);
    const id = `${key.adapterId}:${key.hash}`;
    const cached = this.readL1(id);
    if (cached !== undefined) return this.hit(key.adapterId, cached.response, cached.storedAt);

    const pending = this.flights.get(id);
    if (pending !== undefined) {
      const shared = await this.countingFailures(key.adapterId, pending);
      if (shared.stored) return this.hit(key.adapterId, shared.response, shared.storedAt);
      // The response could not be kept (private to its caller, an error status...): it was the
      // answer to that caller's request alone, so this caller asks the upstream itself.
      const own = await this.countingFailures(
        key.adapterId,
        this.loadAndStore(key, id, method, policy, load),
      );
      return this.miss(key.adapterId, own.response);
    }

    const flight = (async () => {
      try {
        const epoch = this.purgeEpoch;
        const fromL2 = await this.l2?.get(key);
        if (fromL2 !== undefined && epoch === this.purgeEpoch) {
          this.writeL1(id, key.adapterId, fromL2);
          return { response: fromL2.response, stored: true, fromL2: true, storedAt: fromL2.storedAt };
        }
        return await this.loadAndStore(key, id, method, policy, load);
      } finally {
        this.flights.delete(id);
      }
    })();
    this.flights.set(id, flight);
    const result = await this.countingFailures(key.adapterId, flight);
    return result.fromL2
      ? this.hit(key.adapterId, result.response, result.storedAt)
      : this.miss(key.adapterId, result.response);
  }

  /**
   * Drops the adapter's entries (every entry without an id) here, in Redis, and (through Redis) in
   * the other replicas' memory. Fails with 503 CACHE_UNAVAILABLE when Redis is configured but the
   * shared entries could not be removed; this replica's entries are gone either way.
   */
  async purge(adapterId?: string): Promise<PurgeResult> {
    if (adapterId !== undefined) assertAdapterId(adapterId);
    const l1 = this.purgeL1(adapterId);
    const l2 = this.l2 === undefined ? 0 : await this.l2.purge(adapterId);
    return { l1, l2 };
  }

  /** This replica's counters and memory use, per adapter; L2 is reported by status only. */
  stats(): CacheStats {
    this.l1.purgeStale();
    const items = [...this.counters.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([adapterId, c]) => ({
        adapterId,
        hits: c.hits,
        misses: c.misses,
        entries: c.entries,
        bytes: c.bytes,
        evictions: c.evictions,
      }));
    return { items, l2: this.l2?.status() ?? 'disabled' };
  }

  private async loadAndStore(
    key: CacheKey,
    id: string,
    method: string,
    policy: CachePolicy,
    load: () => Promise<CachedResponse>,
  ): Promise<Flight> {
    const epoch = this.purgeEpoch;
    const response = await load();
    const storedAt = this.clock();
    const decision = decideStore(method, response, policy, storedAt);
    if (!decision.store || epoch !== this.purgeEpoch) return { response, stored: false, fromL2: false };
    const kept: CachedResponse = Object.freeze({
      status: response.status,
      headers: Object.freeze({ ...response.headers }),
      body: response.body,
    });
    const entry: StoredEntry = { response: kept, storedAt, ttlMs: decision.ttlMs };
    if (!this.writeL1(id, key.adapterId, entry)) return { response, stored: false, fromL2: false };
    await this.l2?.set(key, entry);
    return { response: kept, stored: true, fromL2: false, storedAt };
  }

  private readL1(id: string): L1Entry | undefined {
    const entry = this.l1.get(id);
    if (entry === undefined) return undefined;
    if (entry.storedAt + entry.ttlMs > this.clock()) return entry;
    this.l1.delete(id);
    return undefined;
  }

  /** False when the response is too big to keep. */
  private writeL1(id: string, adapterId: string, entry: StoredEntry): boolean {
    const size = sizeOf(entry.response);
    const remainingMs = entry.storedAt + entry.ttlMs - this.clock();
    if (size > this.maxEntryBytes || remainingMs <= 0) return false;
    this.l1.set(id, { ...entry, adapterId, size }, { ttl: remainingMs });
    const counters = this.countersOf(adapterId);
    counters.entries++;
    counters.bytes += size;
    this.metrics.setCacheSize(adapterId, counters.entries, counters.bytes);
    return true;
  }

  /** Called by the LRU whenever an entry leaves it (replaced, deleted, expired or evicted). */
  private forget(entry: L1Entry, evicted: boolean): void {
    const counters = this.countersOf(entry.adapterId);
    counters.entries--;
    counters.bytes -= entry.size;
    if (evicted) {
      counters.evictions++;
      this.metrics.observeCacheEviction(entry.adapterId);
    }
    this.metrics.setCacheSize(entry.adapterId, counters.entries, counters.bytes);
  }

  private purgeL1(adapterId: string | undefined): number {
    this.purgeEpoch++;
    if (adapterId === undefined) {
      const removed = this.l1.size;
      this.l1.clear();
      return removed;
    }
    const prefix = `${adapterId}:`;
    const ids = [...this.l1.keys()].filter((id) => id.startsWith(prefix));
    for (const id of ids) this.l1.delete(id);
    return ids.length;
  }

  private hit(adapterId: string, response: CachedResponse, storedAt: number | undefined): CacheLookup {
    this.countersOf(adapterId).hits++;
    this.metrics.observeCacheRequest(adapterId, 'hit');
    const ageSeconds = storedAt === undefined ? 0 : Math.max(0, Math.floor((this.clock() - storedAt) / 1000));
    return { response, cache: 'hit', ageSeconds };
  }

  private miss(adapterId: string, response: CachedResponse): CacheLookup {
    this.countersOf(adapterId).misses++;
    this.metrics.observeCacheRequest(adapterId, 'miss');
    return { response, cache: 'miss' };
  }

  /** A lookup that ended in an upstream failure still went to the upstream: it counts as a miss. */
  private async countingFailures(adapterId: string, work: Promise<Flight>): Promise<Flight> {
    try {
      return await work;
    } catch (error) {
      this.countersOf(adapterId).misses++;
      this.metrics.observeCacheRequest(adapterId, 'miss');
      throw error;
    }
  }

  private countersOf(adapterId: string): Counters {
    let counters = this.counters.get(adapterId);
    if (counters === undefined) {
      counters = { hits: 0, misses: 0, entries: 0, bytes: 0, evictions: 0 };
      this.counters.set(adapterId, counters);
    }
    return counters;
  }

  /** Kind and id, so that a user id and an API key id can never name the same principal. */
  private contextPrincipal(): string | undefined {
    const principal = this.context.principal;
    return principal === undefined ? undefined : `${principal.kind}:${principal.id}`;
  }
}

function sizeOf(response: CachedResponse): number {
  let size = ENTRY_OVERHEAD_BYTES + Buffer.byteLength(response.body);
  for (const [name, value] of Object.entries(response.headers))
    size += name.length + Buffer.byteLength(value);
  return size;
}
