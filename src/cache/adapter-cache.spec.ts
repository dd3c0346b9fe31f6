import type Redis from 'ioredis';
import type { RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import type { MetricsService } from '../observability/metrics.service';
import {
  AdapterCache,
  type CacheableRequest,
  type CachedResponse,
  type CachePolicy,
  MAX_ENTRY_BYTES,
} from './adapter-cache';
import { L2_BACKOFF_MS, L2_TIMEOUT_MS } from './redis-cache-store';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const POLICY: CachePolicy = { ttlSeconds: 60 };

/** Records what the cache reports, in place of prom-client. */
function fakeMetrics() {
  const calls = {
    requests: [] as Array<[string, string]>,
    sizes: new Map<string, [number, number]>(),
    evictions: 0,
    l2Errors: [] as string[],
  };
  const metrics = {
    observeCacheRequest: (adapter: string, result: string) => calls.requests.push([adapter, result]),
    setCacheSize: (adapter: string, entries: number, bytes: number) =>
      calls.sizes.set(adapter, [entries, bytes]),
    observeCacheEviction: () => calls.evictions++,
    observeCacheL2Error: (operation: string) => calls.l2Errors.push(operation),
  };
  return { calls, metrics: metrics as unknown as MetricsService };
}

/** Just enough of ioredis for the L2 store, with a switch that makes every command hang. */
class FakeRedis {
  status = 'ready';
  hang = false;
  readonly data = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly prefix: string,
    private readonly clock: () => number,
  ) {}

  private run<T>(work: () => T): Promise<T> {
    return this.hang ? new Promise<T>(() => undefined) : Promise.resolve(work());
  }

  get(key: string): Promise<string | null> {
    return this.run(() => {
      const item = this.data.get(this.prefix + key);
      return item !== undefined && item.expiresAt > this.clock() ? item.value : null;
    });
  }

  set(key: string, value: string, _px: 'PX', ttlMs: number): Promise<'OK'> {
    return this.run(() => {
      this.data.set(this.prefix + key, { value, expiresAt: this.clock() + ttlMs });
      return 'OK' as const;
    });
  }

  scan(_cursor: string, _match: 'MATCH', pattern: string): Promise<[string, string[]]> {
    const start = pattern.slice(0, -1).replace(/\\/g, '');
    return this.run(() => ['0', [...this.data.keys()].filter((key) => key.startsWith(start))]);
  }

  unlink(...keys: string[]): Promise<number> {
    return this.run(() => keys.filter((key) => this.data.delete(this.prefix + key)).length);
  }

  publish(): Promise<number> {
    return this.run(() => 0);
  }

  duplicate() {
    return { on: () => undefined, subscribe: () => Promise.resolve(1), disconnect: () => undefined };
  }
}

function config(l1MaxEntries = 1000, l1MaxBytes = 64 * 1024 * 1024): AppConfig {
  return { cache: { l1MaxEntries, l1MaxBytes }, redis: { keyPrefix: 'test:' } } as unknown as AppConfig;
}

function contextWith(principal?: { kind: string; id: string }): RequestContext {
  return { principal } as unknown as RequestContext;
}

function request(overrides: Partial<CacheableRequest> = {}): CacheableRequest {
  return { adapterId: A, method: 'GET', url: 'https://api.example.com/items', ...overrides };
}

/** A loader that counts its calls and answers `response` (200, no Cache-Control, by default). */
function loader(response: Partial<CachedResponse> = {}) {
  let calls = 0;
  return jest.fn((): Promise<CachedResponse> =>
    Promise.resolve({ status: 200, headers: {}, body: `body-${++calls}`, ...response }),
  );
}

describe('AdapterCache', () => {
  let now: number;
  const clock = () => now;

  beforeEach(() => {
    now = Date.parse('2030-01-01T00:00:00Z');
  });

  function make(
    options: { l1MaxEntries?: number; l1MaxBytes?: number; redis?: FakeRedis; context?: RequestContext } = {},
  ) {
    const { calls, metrics } = fakeMetrics();
    const cache = new AdapterCache(
      config(options.l1MaxEntries, options.l1MaxBytes),
      (options.redis ?? null) as unknown as Redis | null,
      metrics,
      options.context ?? contextWith(),
      clock,
    );
    cache.onModuleInit();
    return { cache, calls };
  }

  it('answers a miss from the upstream and the same request again from the cache', async () => {
    const { cache, calls } = make();
    const load = loader();
    const first = await cache.getOrLoad(request({ query: { q: 'x' } }), POLICY, undefined, load);
    now += 5_500;
    const second = await cache.getOrLoad(request({ query: { q: 'x' } }), POLICY, undefined, load);
    expect(first).toMatchObject({ cache: 'miss', response: { body: 'body-1' } });
    expect(second).toMatchObject({ cache: 'hit', response: { body: 'body-1' }, ageSeconds: 5 });
    expect(load).toHaveBeenCalledTimes(1);
    expect(calls.requests).toEqual([
      [A, 'miss'],
      [A, 'hit'],
    ]);
    expect(cache.stats().items).toEqual([
      { adapterId: A, hits: 1, misses: 1, entries: 1, bytes: expect.any(Number), evictions: 0 },
    ]);
    expect(cache.stats()).toMatchObject({ l2: 'disabled' });
  });

  it('expires entries after the adapter TTL, or the shorter upstream max-age', async () => {
    const { cache } = make();
    const load = loader();
    await cache.getOrLoad(request(), POLICY, undefined, load);
    now += 59_999;
    expect((await cache.getOrLoad(request(), POLICY, undefined, load)).cache).toBe('hit');
    now += 1;
    expect(await cache.getOrLoad(request(), POLICY, undefined, load)).toMatchObject({
      cache: 'miss',
      response: { body: 'body-2' },
    });

    const short = loader({ headers: { 'cache-control': 'max-age=2' } });
    await cache.getOrLoad(request({ url: 'https://api.example.com/short' }), POLICY, undefined, short);
    now += 2_000;
    expect(
      (await cache.getOrLoad(request({ url: 'https://api.example.com/short' }), POLICY, undefined, short))
        .cache,
    ).toBe('miss');
    expect(short).toHaveBeenCalledTimes(2);
  });

  it('never stores what may not be stored', async () => {
    const { cache } = make();
    const cases: Array<[Partial<CachedResponse>, string]> = [
      [{ headers: { 'cache-control': 'no-store' } }, 'https://h/no-store'],
      [{ headers: { 'cache-control': 'private' } }, 'https://h/private'],
      [{ status: 404 }, 'https://h/not-found'],
      [{ body: 'x'.repeat(MAX_ENTRY_BYTES) }, 'https://h/huge'],
    ];
    for (const [response, url] of cases) {
      const load = loader(response);
      expect((await cache.getOrLoad(request({ url }), POLICY, undefined, load)).cache).toBe('miss');
      expect((await cache.getOrLoad(request({ url }), POLICY, undefined, load)).cache).toBe('miss');
      expect(load).toHaveBeenCalledTimes(2);
    }
    expect(cache.stats().items[0]).toMatchObject({ entries: 0, bytes: 0, misses: 8 });
  });

  it('bypasses without a policy, with TTL 0, for other methods, and per principal without one', async () => {
    const { cache, calls } = make();
    const load = loader();
    const principal: CachePolicy = { ttlSeconds: 60, scope: 'principal' };
    for (const [req, policy] of [
      [request(), undefined],
      [request(), { ttlSeconds: 0 }],
      [request({ method: 'POST' }), POLICY],
      [request(), principal],
    ] as Array<[CacheableRequest, CachePolicy | undefined]>) {
      expect((await cache.getOrLoad(req, policy, undefined, load)).cache).toBe('bypass');
    }
    expect(load).toHaveBeenCalledTimes(4);
    expect(calls.requests.every(([, result]) => result === 'bypass')).toBe(true);
    expect(cache.stats().items).toEqual([]);
  });

  it('never shares an entry between principals under scope principal', async () => {
    const policy: CachePolicy = { ttlSeconds: 60, scope: 'principal' };
    const { cache } = make({ context: contextWith({ kind: 'user', id: 'u3' }) });
    const load = loader({ headers: { 'cache-control': 'private, max-age=30' } });
    expect(await cache.getOrLoad(request(), policy, 'user:u1', load)).toMatchObject({
      cache: 'miss',
      response: { body: 'body-1' },
    });
    expect(await cache.getOrLoad(request(), policy, 'user:u2', load)).toMatchObject({
      cache: 'miss',
      response: { body: 'body-2' },
    });
    expect(await cache.getOrLoad(request(), policy, 'user:u1', load)).toMatchObject({
      cache: 'hit',
      response: { body: 'body-1' },
    });
    // Without an explicit id, the request context's principal is used.
    expect(await cache.getOrLoad(request(), policy, undefined, load)).toMatchObject({
      cache: 'miss',
      response: { body: 'body-3' },
    });
    expect(await cache.getOrLoad(request(), policy, undefined, load)).toMatchObject({
      cache: 'hit',
      response: { body: 'body-3' },
    });
    expect(load).toHaveBeenCalledTimes(3);
  });

  it('makes one upstream call for concurrent identical misses', async () => {
    const { cache } = make();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const load = jest.fn(async (): Promise<CachedResponse> => {
      await gate;
      return { status: 200, headers: {}, body: 'shared' };
    });
    const pending = Array.from({ length: 20 }, () => cache.getOrLoad(request(), POLICY, undefined, load));
    release();
    const results = await Promise.all(pending);
    expect(load).toHaveBeenCalledTimes(1);
    expect(results.map((r) => r.response.body)).toEqual(Array(20).fill('shared'));
    expect(results.filter((r) => r.cache === 'miss')).toHaveLength(1);
    expect(cache.stats().items[0]).toMatchObject({ hits: 19, misses: 1 });
  });

  it('does not hand a response it may not keep to the callers that waited for it', async () => {
    const { cache } = make();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const load = jest.fn(async (): Promise<CachedResponse> => {
      const call = ++calls;
      await gate;
      return { status: 200, headers: { 'cache-control': 'private' }, body: `own-${call}` };
    });
    const pending = [1, 2, 3].map(() => cache.getOrLoad(request(), POLICY, undefined, load));
    release();
    const results = await Promise.all(pending);
    expect(load).toHaveBeenCalledTimes(3);
    expect(new Set(results.map((r) => r.response.body)).size).toBe(3);
  });

  it('passes an upstream failure to every caller waiting on it', async () => {
    const { cache } = make();
    const load = jest.fn(() => Promise.reject(new Error('upstream down')));
    const results = await Promise.allSettled(
      [1, 2].map(() => cache.getOrLoad(request(), POLICY, undefined, load)),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(load).toHaveBeenCalledTimes(1);
    expect(cache.stats().items[0]).toMatchObject({ hits: 0, misses: 2 });
    // Nothing was kept: the next request asks again.
    await expect(cache.getOrLoad(request(), POLICY, undefined, loader())).resolves.toMatchObject({
      cache: 'miss',
    });
  });

  it('purges one adapter or everything', async () => {
    const { cache } = make();
    for (const adapterId of [A, B]) {
      await cache.getOrLoad(request({ adapterId }), POLICY, undefined, loader());
      await cache.getOrLoad(request({ adapterId, url: 'https://h/2' }), POLICY, undefined, loader());
    }
    expect(await cache.purge(A)).toEqual({ l1: 2, l2: 0 });
    expect(cache.stats().items.map((i) => [i.adapterId, i.entries])).toEqual([
      [A, 0],
      [B, 2],
    ]);
    expect((await cache.getOrLoad(request({ adapterId: B }), POLICY, undefined, loader())).cache).toBe('hit');
    expect((await cache.getOrLoad(request({ adapterId: A }), POLICY, undefined, loader())).cache).toBe(
      'miss',
    );
    expect(await cache.purge()).toEqual({ l1: 3, l2: 0 });
    expect(cache.stats().items.every((i) => i.entries === 0 && i.bytes === 0)).toBe(true);
  });

  it('does not keep a response loaded before a purge', async () => {
    const { cache } = make();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const loading = new Promise<void>((resolve) => (started = resolve));
    const pending = cache.getOrLoad(request(), POLICY, undefined, async () => {
      started();
      await gate;
      return { status: 200, headers: {}, body: 'old' };
    });
    await loading;
    await cache.purge(A);
    release();
    expect(await pending).toMatchObject({ cache: 'miss', response: { body: 'old' } });
    expect((await cache.getOrLoad(request(), POLICY, undefined, loader())).response.body).toBe('body-1');
  });

  it('stays within its entry and byte bounds, counting evictions', async () => {
    const byEntries = make({ l1MaxEntries: 2 });
    for (const path of ['a', 'b', 'c']) {
      await byEntries.cache.getOrLoad(request({ url: `https://h/${path}` }), POLICY, undefined, loader());
    }
    expect(byEntries.cache.stats().items[0]).toMatchObject({ entries: 2, evictions: 1 });
    expect(byEntries.calls.evictions).toBe(1);
    // The least recently used entry went.
    expect(
      (await byEntries.cache.getOrLoad(request({ url: 'https://h/c' }), POLICY, undefined, loader())).cache,
    ).toBe('hit');
    expect(
      (await byEntries.cache.getOrLoad(request({ url: 'https://h/a' }), POLICY, undefined, loader())).cache,
    ).toBe('miss');

    const byBytes = make({ l1MaxBytes: 3_000 });
    for (const path of ['a', 'b', 'c']) {
      await byBytes.cache.getOrLoad(
        request({ url: `https://h/${path}` }),
        POLICY,
        undefined,
        loader({ body: 'x'.repeat(1_000) }),
      );
    }
    const stats = byBytes.cache.stats().items[0];
    expect(stats.bytes).toBeLessThanOrEqual(3_000);
    expect(stats).toMatchObject({ entries: 2, evictions: 1 });
    expect(byBytes.calls.sizes.get(A)).toEqual([2, stats.bytes]);
  });

  it('returns frozen entries, so a caller cannot change what others are served', async () => {
    const { cache } = make();
    await cache.getOrLoad(request(), POLICY, undefined, loader({ headers: { 'x-a': '1' } }));
    const hit = await cache.getOrLoad(request(), POLICY, undefined, loader());
    expect(Object.isFrozen(hit.response)).toBe(true);
    expect(Object.isFrozen(hit.response.headers)).toBe(true);
  });

  describe('with a shared level (L2)', () => {
    it('answers from L2 what another instance stored, and keeps it in L1', async () => {
      const redis = new FakeRedis('test:', clock);
      const first = make({ redis });
      const second = make({ redis });
      await first.cache.getOrLoad(
        request(),
        POLICY,
        undefined,
        loader({ headers: { 'cache-control': 'max-age=10' } }),
      );
      now += 4_000;
      const load = loader();
      expect(await second.cache.getOrLoad(request(), POLICY, undefined, load)).toMatchObject({
        cache: 'hit',
        response: { body: 'body-1' },
        ageSeconds: 4,
      });
      expect(load).not.toHaveBeenCalled();
      expect(second.cache.stats().items[0]).toMatchObject({ hits: 1, entries: 1 });
      // The L1 copy expires with the entry, not 10 s after it was copied.
      now += 6_000;
      expect((await second.cache.getOrLoad(request(), POLICY, undefined, load)).cache).toBe('miss');
    });

    it('purges L2 entries of one adapter', async () => {
      const redis = new FakeRedis('test:', clock);
      const { cache } = make({ redis });
      await cache.getOrLoad(request(), POLICY, undefined, loader());
      await cache.getOrLoad(request({ adapterId: B }), POLICY, undefined, loader());
      expect(await cache.purge(A)).toEqual({ l1: 1, l2: 1 });
      expect([...redis.data.keys()]).toEqual([
        expect.stringMatching(new RegExp(`^test:cache:${B}:[0-9a-f]{64}$`)),
      ]);
    });

    it('falls back to L1 and the upstream when Redis hangs, then leaves it alone for a while', async () => {
      const redis = new FakeRedis('test:', clock);
      const { cache, calls } = make({ redis });
      redis.hang = true;
      const started = Date.now();
      const miss = await cache.getOrLoad(request(), POLICY, undefined, loader());
      expect(miss.cache).toBe('miss');
      expect(Date.now() - started).toBeLessThan(L2_TIMEOUT_MS * 4);
      expect(calls.l2Errors).toEqual(['get', 'set']);
      expect(cache.stats().l2).toBe('unavailable');
      expect((await cache.getOrLoad(request(), POLICY, undefined, loader())).cache).toBe('hit');
      const again = Date.now();
      await cache.getOrLoad(request({ url: 'https://h/other' }), POLICY, undefined, loader());
      expect(Date.now() - again).toBeLessThan(L2_TIMEOUT_MS);
      now += L2_BACKOFF_MS;
      redis.hang = false;
      expect(cache.stats().l2).toBe('connected');
    });

    it('serves from L1 and the upstream while Redis is down, and refuses to pretend a purge worked', async () => {
      const redis = new FakeRedis('test:', clock);
      const { cache, calls } = make({ redis });
      await cache.getOrLoad(request(), POLICY, undefined, loader());
      redis.status = 'reconnecting';
      expect((await cache.getOrLoad(request(), POLICY, undefined, loader())).cache).toBe('hit');
      expect(
        (await cache.getOrLoad(request({ url: 'https://h/new' }), POLICY, undefined, loader())).cache,
      ).toBe('miss');
      expect(calls.l2Errors).toEqual(['get', 'set']);
      await expect(cache.purge(A)).rejects.toMatchObject({ status: 503, code: 'CACHE_UNAVAILABLE' });
      expect(cache.stats().items[0].entries).toBe(0);
    });

    it('ignores an unreadable L2 entry', async () => {
      const redis = new FakeRedis('test:', clock);
      const { cache } = make({ redis });
      await cache.getOrLoad(request(), POLICY, undefined, loader());
      for (const item of redis.data.values()) item.value = '{"v":1,"storedAt":"soon"}';
      const other = make({ redis });
      expect((await other.cache.getOrLoad(request(), POLICY, undefined, loader())).cache).toBe('miss');
      expect(other.calls.l2Errors).toEqual(['get']);
    });
  });
});
