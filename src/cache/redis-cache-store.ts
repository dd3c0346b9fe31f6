import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { ServiceUnavailableError } from '../common/app-error';
import type { CacheL2Operation, MetricsService } from '../observability/metrics.service';
import type { CachedResponse } from './adapter-cache';
import type { CacheKey } from './cache-key';

export interface StoredEntry {
  readonly response: CachedResponse;
  /** Epoch ms when the upstream answered. */
  readonly storedAt: number;
  readonly ttlMs: number;
}

export type L2Status = 'disabled' | 'connected' | 'unavailable';

/**
 * Lookups and writes wait at most this long: the shared cache only saves work, so a Redis that
 * hangs must cost a caller no more than a short delay before the upstream is asked instead.
 */
export const L2_TIMEOUT_MS = 150;
/** After a timeout Redis is left alone this long, so that a hung Redis does not slow every request. */
export const L2_BACKOFF_MS = 2_000;
const WARN_INTERVAL_MS = 30_000;
const SCAN_COUNT = 500;

const FAILED = Symbol('failed');

/**
 * The shared (L2) level in Redis: one key per entry, `<REDIS_KEY_PREFIX>cache:<adapterId>:<hash>`,
 * holding JSON with the time it was stored and a PX expiry. Lookups and writes never throw: on any
 * failure they count `cache_l2_errors_total`, warn (at most every 30 s) and report nothing found.
 * Purges are announced on a channel so that every replica drops its own L1 entries too.
 */
export class RedisCacheStore {
  private readonly logger = new Logger('Cache');
  private readonly channel: string;
  private subscriber: Redis | undefined;
  private backoffUntil = 0;
  private lastWarning = 0;

  constructor(
    private readonly redis: Redis,
    /** The client's own key prefix: ioredis adds it to keys but not to SCAN patterns or channels. */
    private readonly keyPrefix: string,
    private readonly metrics: MetricsService,
    private readonly clock: () => number,
    private readonly instanceId: string,
    private readonly onRemotePurge: (adapterId: string | undefined) => void,
  ) {
    this.channel = `${keyPrefix}cache:purge`;
  }

  status(): L2Status {
    return this.redis.status === 'ready' && this.clock() >= this.backoffUntil ? 'connected' : 'unavailable';
  }

  /** Subscribes to purges announced by other replicas; does not wait for Redis. */
  start(): void {
    // A subscribed connection cannot run other commands; its offline queue lets the subscription
    // wait for Redis instead of failing at boot, and ioredis resubscribes after reconnecting.
    const subscriber = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receivePurge(message);
    });
    subscriber.subscribe(this.channel).catch((error: unknown) => {
      if (this.subscriber === subscriber) this.fail('subscribe', error);
    });
  }

  close(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  async get(key: CacheKey): Promise<StoredEntry | undefined> {
    const raw = await this.bounded('get', () => this.redis.get(this.keyOf(key)));
    if (raw === FAILED || raw === null) return undefined;
    const entry = parseEntry(raw);
    if (entry === undefined) {
      this.fail('get', new Error('unreadable cache entry'));
      return undefined;
    }
    return entry.storedAt + entry.ttlMs > this.clock() ? entry : undefined;
  }

  async set(key: CacheKey, entry: StoredEntry): Promise<void> {
    const value = JSON.stringify({ v: 1, ...entry });
    await this.bounded('set', () => this.redis.set(this.keyOf(key), value, 'PX', entry.ttlMs));
  }

  /**
   * Deletes the adapter's entries (every entry without an id) and tells the other replicas. Unlike
   * lookups this fails loudly: a purge that silently left shared entries behind would be believed.
   */
  async purge(adapterId: string | undefined): Promise<number> {
    let removed = 0;
    try {
      if (this.redis.status !== 'ready') throw new Error(`Redis is ${this.redis.status}`);
      const pattern = `${escapeGlob(this.keyPrefix)}cache:${adapterId === undefined ? '' : `${adapterId}:`}*`;
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        // SCAN answers full names; UNLINK adds the prefix again.
        if (keys.length > 0)
          removed += await this.redis.unlink(...keys.map((k) => k.slice(this.keyPrefix.length)));
      } while (cursor !== '0');
      await this.redis.publish(
        this.channel,
        JSON.stringify({ from: this.instanceId, adapterId: adapterId ?? null }),
      );
    } catch (error) {
      this.fail('purge', error);
      throw new ServiceUnavailableError(
        'CACHE_UNAVAILABLE',
        'The shared cache (Redis) could not be purged; entries in this replica were removed. Try again.',
      );
    }
    return removed;
  }

  private receivePurge(message: string): void {
    try {
      const parsed = JSON.parse(message) as { from?: unknown; adapterId?: unknown };
      if (parsed.from === this.instanceId) return;
      if (parsed.adapterId === null) this.onRemotePurge(undefined);
      else if (typeof parsed.adapterId === 'string') this.onRemotePurge(parsed.adapterId);
    } catch {
      // Not JSON, so not from a replica of ours: ignored.
    }
  }

  private keyOf(key: CacheKey): string {
    return `cache:${key.adapterId}:${key.hash}`;
  }

  private async bounded<T>(operation: CacheL2Operation, work: () => Promise<T>): Promise<T | typeof FAILED> {
    if (this.redis.status !== 'ready') {
      this.fail(operation, new Error(`Redis is ${this.redis.status}`));
      return FAILED;
    }
    if (this.clock() < this.backoffUntil) {
      this.fail(operation, new Error('Redis did not answer in time recently'));
      return FAILED;
    }
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<typeof FAILED>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        this.backoffUntil = this.clock() + L2_BACKOFF_MS;
        this.fail(operation, new Error(`no answer within ${L2_TIMEOUT_MS} ms`));
        resolve(FAILED);
      }, L2_TIMEOUT_MS);
    });
    const attempt = work().catch((error: unknown): typeof FAILED => {
      // Already counted when it timed out; the command's own late failure is the same incident.
      if (!timedOut) this.fail(operation, error);
      return FAILED;
    });
    try {
      return await Promise.race([attempt, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private fail(operation: CacheL2Operation, error: unknown): void {
    this.metrics.observeCacheL2Error(operation);
    const now = Date.now();
    if (now - this.lastWarning < WARN_INTERVAL_MS) return;
    this.lastWarning = now;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(`Shared cache (Redis) ${operation} failed, using this replica's cache only: ${reason}`);
  }
}

function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

function parseEntry(raw: string): StoredEntry | undefined {
  try {
    const value = JSON.parse(raw) as Record<string, unknown>;
    const response = value.response as Record<string, unknown> | undefined;
    if (
      value.v !== 1 ||
      typeof value.storedAt !== 'number' ||
      typeof value.ttlMs !== 'number' ||
      typeof response !== 'object' ||
      response === null ||
      typeof response.status !== 'number' ||
      typeof response.body !== 'string' ||
      typeof response.headers !== 'object' ||
      response.headers === null ||
      !Object.values(response.headers).every((header) => typeof header === 'string')
    ) {
      return undefined;
    }
    return {
      storedAt: value.storedAt,
      ttlMs: value.ttlMs,
      response: {
        status: response.status,
        headers: response.headers as Record<string, string>,
        body: response.body,
      },
    };
  } catch {
    return undefined;
  }
}
