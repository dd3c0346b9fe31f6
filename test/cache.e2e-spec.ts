import Redis from 'ioredis';
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import {
  AdapterCache,
  type CacheableRequest,
  type CachedResponse,
  type CachePolicy,
} from '../src/cache/adapter-cache';
import { type Principal, RequestContext } from '../src/common/request-context';
import { bearer, createUser, signIn } from './support/auth';
import { TcpProxy } from './support/tcp-proxy';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, TEST_REDIS_URL, type TestDatabase } from './support/test-database';

const POLICY: CachePolicy = { ttlSeconds: 60 };

function upstream(adapterId: string, path = '/items'): CacheableRequest {
  return { adapterId, method: 'GET', url: `https://api.example.com${path}`, query: { page: '1' } };
}

/** Stands in for the upstream call: counts calls and answers a distinct body each time. */
function loader(headers: Record<string, string> = {}) {
  let calls = 0;
  const load = (): Promise<CachedResponse> =>
    Promise.resolve({ status: 200, headers, body: `answer-${++calls}` });
  return { load, calls: () => calls };
}

function principal(id: string): Principal {
  return { kind: 'user', id, label: id, permissions: new Set() };
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('adapter cache', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let cache: AdapterCache;
  let adminToken: string;
  let viewerToken: string;
  let agentToken: string;

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database);
    cache = testApp.app.get(AdapterCache);
    adminToken = (await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken;
    const viewer = await createUser(testApp.app, ['viewer']);
    viewerToken = (await signIn(testApp.app, viewer.email, viewer.password)).accessToken;
    const agent = await createUser(testApp.app, ['agent']);
    agentToken = (await signIn(testApp.app, agent.email, agent.password)).accessToken;
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  const server = () => testApp.app.getHttpServer();

  async function statsOf(adapterId: string, token = viewerToken) {
    const res = await request(server()).get('/api/v1/cache/stats').set(bearer(token)).expect(200);
    return (res.body.items as Array<{ adapterId: string }>).find((item) => item.adapterId === adapterId);
  }

  it('answers a repeated request from the cache and reports it in the stats', async () => {
    const adapterId = randomUUID();
    const { load, calls } = loader();
    expect(await cache.getOrLoad(upstream(adapterId), POLICY, undefined, load)).toMatchObject({
      cache: 'miss',
      response: { body: 'answer-1' },
    });
    expect(await cache.getOrLoad(upstream(adapterId), POLICY, undefined, load)).toMatchObject({
      cache: 'hit',
      response: { body: 'answer-1' },
    });
    expect(calls()).toBe(1);

    const res = await request(server()).get('/api/v1/cache/stats').set(bearer(viewerToken)).expect(200);
    expect(res.body.l2).toBe('disabled');
    expect(res.body.items).toContainEqual({
      adapterId,
      hits: 1,
      misses: 1,
      entries: 1,
      bytes: expect.any(Number),
      evictions: 0,
    });
  });

  it('keeps entries per principal under scope principal', async () => {
    const adapterId = randomUUID();
    const policy: CachePolicy = { ttlSeconds: 60, scope: 'principal' };
    const { load, calls } = loader({ 'cache-control': 'private, max-age=60' });
    const context = testApp.app.get(RequestContext);
    const as = (id: string) =>
      context.run(() => cache.getOrLoad(upstream(adapterId), policy, undefined, load), {
        principal: principal(id),
      });
    expect((await as('alice')).response.body).toBe('answer-1');
    expect(await as('bob')).toMatchObject({ cache: 'miss', response: { body: 'answer-2' } });
    expect(await as('alice')).toMatchObject({ cache: 'hit', response: { body: 'answer-1' } });
    expect(await as('bob')).toMatchObject({ cache: 'hit', response: { body: 'answer-2' } });
    // No principal, no per-principal entry.
    expect((await cache.getOrLoad(upstream(adapterId), policy, undefined, load)).cache).toBe('bypass');
    expect(calls()).toBe(3);
  });

  it('expires an entry after its TTL', async () => {
    const adapterId = randomUUID();
    const { load, calls } = loader({ 'cache-control': 'max-age=1' });
    await cache.getOrLoad(upstream(adapterId), POLICY, undefined, load);
    expect((await cache.getOrLoad(upstream(adapterId), POLICY, undefined, load)).cache).toBe('hit');
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(await cache.getOrLoad(upstream(adapterId), POLICY, undefined, load)).toMatchObject({
      cache: 'miss',
      response: { body: 'answer-2' },
    });
    expect(calls()).toBe(2);
  });

  it('lets only cache:read see the stats and only cache:admin purge', async () => {
    await request(server()).get('/api/v1/cache/stats').expect(401);
    await request(server()).get('/api/v1/cache/stats').set(bearer(agentToken)).expect(403);
    await request(server()).delete('/api/v1/cache').set(bearer(viewerToken)).expect(403);
    await request(server()).delete('/api/v1/cache').expect(401);
  });

  it("purges one adapter's entries, answers 204 and audits the purge", async () => {
    const [purged, kept] = [randomUUID(), randomUUID()];
    for (const adapterId of [purged, kept]) {
      await cache.getOrLoad(upstream(adapterId), POLICY, undefined, loader().load);
    }
    const res = await request(server())
      .delete(`/api/v1/cache?adapterId=${purged}`)
      .set(bearer(adminToken))
      .expect(204);
    expect(res.text).toBe('');
    expect(await statsOf(purged)).toMatchObject({ entries: 0, bytes: 0 });
    expect(await statsOf(kept)).toMatchObject({ entries: 1 });
    expect((await cache.getOrLoad(upstream(purged), POLICY, undefined, loader().load)).cache).toBe('miss');
    expect((await cache.getOrLoad(upstream(kept), POLICY, undefined, loader().load)).cache).toBe('hit');

    const events = await request(server())
      .get('/api/v1/audit/events?action=cache.purge')
      .set(bearer(adminToken))
      .expect(200);
    expect(events.body.items).toContainEqual(
      expect.objectContaining({
        action: 'cache.purge',
        outcome: 'success',
        resourceType: 'cache',
        resourceId: purged,
        details: expect.objectContaining({ adapterId: purged, purged: { l1: 1, l2: 0 } }),
      }),
    );
  });

  it('purges every entry without an adapter id', async () => {
    const adapters = [randomUUID(), randomUUID()];
    for (const adapterId of adapters)
      await cache.getOrLoad(upstream(adapterId), POLICY, undefined, loader().load);
    await request(server()).delete('/api/v1/cache').set(bearer(adminToken)).expect(204);
    const res = await request(server()).get('/api/v1/cache/stats').set(bearer(adminToken)).expect(200);
    expect(res.body.items.length).toBeGreaterThanOrEqual(2);
    for (const item of res.body.items) expect(item).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('refuses a malformed or unknown purge parameter', async () => {
    const bad = await request(server())
      .delete('/api/v1/cache?adapterId=nope')
      .set(bearer(adminToken))
      .expect(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    await request(server()).delete('/api/v1/cache?scope=all').set(bearer(adminToken)).expect(400);
  });

  it('exports request counts and sizes as metrics labelled by adapter id', async () => {
    const adapterId = randomUUID();
    await cache.getOrLoad(upstream(adapterId), POLICY, undefined, loader().load);
    await cache.getOrLoad(upstream(adapterId), POLICY, undefined, loader().load);
    await cache.getOrLoad({ ...upstream(adapterId), method: 'POST' }, POLICY, undefined, loader().load);
    const metrics = (await request(server()).get('/metrics').expect(200)).text;
    for (const line of [
      `cache_requests_total{adapter="${adapterId}",result="miss"} 1`,
      `cache_requests_total{adapter="${adapterId}",result="hit"} 1`,
      `cache_requests_total{adapter="${adapterId}",result="bypass"} 1`,
      `cache_l1_entries{adapter="${adapterId}"} 1`,
    ]) {
      expect(metrics).toContain(line);
    }
    expect(metrics).toMatch(new RegExp(`cache_l1_bytes\\{adapter="${adapterId}"\\} [1-9]\\d*`));
  });

  (TEST_REDIS_URL ? describe : describe.skip)('shared through Redis (TEST_REDIS_URL)', () => {
    const extraDatabases: TestDatabase[] = [];
    let redis: Redis;

    beforeAll(() => {
      redis = new Redis(TEST_REDIS_URL ?? '');
    });

    afterAll(async () => {
      await redis?.quit();
      for (const extra of extraDatabases) await extra.drop();
    });

    /** Another replica; on the embedded database (one connection) each replica needs its own. */
    async function replica(env: Record<string, string>): Promise<TestApp> {
      let target = database;
      if (database.kind === 'embedded') {
        target = await provisionTestDatabase();
        extraDatabases.push(target);
      }
      const started = await startTestApp(target, env);
      await waitFor(() => started.app.get(AdapterCache).stats().l2 === 'connected', 'Redis');
      return started;
    }

    it('shares entries between replicas and purges them everywhere', async () => {
      const env = {
        REDIS_URL: TEST_REDIS_URL ?? '',
        REDIS_KEY_PREFIX: `test-${randomBytes(4).toString('hex')}:`,
      };
      const first = await replica(env);
      const second = await replica(env);
      try {
        const adapterId = randomUUID();
        const [firstCache, secondCache] = [first.app.get(AdapterCache), second.app.get(AdapterCache)];
        const { load, calls } = loader();
        expect((await firstCache.getOrLoad(upstream(adapterId), POLICY, undefined, load)).cache).toBe('miss');
        expect(await secondCache.getOrLoad(upstream(adapterId), POLICY, undefined, load)).toMatchObject({
          cache: 'hit',
          response: { body: 'answer-1' },
        });
        expect(calls()).toBe(1);
        expect(await redis.keys(`${env.REDIS_KEY_PREFIX}cache:${adapterId}:*`)).toHaveLength(1);
        // Stored under the installation's prefix only.
        expect(await redis.keys(`cache:${adapterId}:*`)).toHaveLength(0);

        const { accessToken } = await signIn(second.app, TEST_ADMIN.email, TEST_ADMIN.password);
        await request(second.app.getHttpServer())
          .delete(`/api/v1/cache?adapterId=${adapterId}`)
          .set(bearer(accessToken))
          .expect(204);
        expect(await redis.keys(`${env.REDIS_KEY_PREFIX}cache:${adapterId}:*`)).toHaveLength(0);
        // The other replica drops its in-memory copy when the purge is announced.
        await waitFor(
          () => firstCache.stats().items.find((item) => item.adapterId === adapterId)?.entries === 0,
          'the purge to reach the other replica',
        );
        expect(await firstCache.getOrLoad(upstream(adapterId), POLICY, undefined, load)).toMatchObject({
          cache: 'miss',
          response: { body: 'answer-2' },
        });
      } finally {
        await first.close();
        await second.close();
      }
    });

    it('keeps answering from memory and the upstream when Redis goes away', async () => {
      const target = new URL(TEST_REDIS_URL ?? '');
      const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
      const port = await proxy.start();
      const prefix = `test-${randomBytes(4).toString('hex')}:`;
      const replicaApp = await replica({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: prefix });
      try {
        const replicaCache = replicaApp.app.get(AdapterCache);
        const adapterId = randomUUID();
        const before = loader();
        await replicaCache.getOrLoad(upstream(adapterId), POLICY, undefined, before.load);
        expect(await redis.keys(`${prefix}cache:${adapterId}:*`)).toHaveLength(1);
        const shared = await request(replicaApp.app.getHttpServer()).get('/health/ready').expect(200);
        expect(shared.body.info.redis).toEqual({ status: 'up', shared: true });

        await proxy.cut();
        await waitFor(() => replicaCache.stats().l2 === 'unavailable', 'the replica to notice');
        // Still ready: the replica serves on its own, and says so.
        const alone = await request(replicaApp.app.getHttpServer()).get('/health/ready').expect(200);
        expect(alone.body.info.redis).toMatchObject({ status: 'up', shared: false });

        expect(
          (await replicaCache.getOrLoad(upstream(adapterId), POLICY, undefined, before.load)).cache,
        ).toBe('hit');
        const after = loader();
        const other = upstream(adapterId, '/other');
        expect(await replicaCache.getOrLoad(other, POLICY, undefined, after.load)).toMatchObject({
          cache: 'miss',
          response: { body: 'answer-1' },
        });
        expect((await replicaCache.getOrLoad(other, POLICY, undefined, after.load)).cache).toBe('hit');
        expect(before.calls() + after.calls()).toBe(2);

        const { accessToken } = await signIn(replicaApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
        const stats = await request(replicaApp.app.getHttpServer())
          .get('/api/v1/cache/stats')
          .set(bearer(accessToken))
          .expect(200);
        expect(stats.body.l2).toBe('unavailable');
        const metrics = (await request(replicaApp.app.getHttpServer()).get('/metrics').expect(200)).text;
        expect(metrics).toMatch(/cache_l2_errors_total\{operation="get"\} [1-9]/);
        expect(metrics).toMatch(/^redis_connected 0$/m);
        // Lines written outside a request go to the process-wide logger of whichever app set it up.
        expect([...replicaApp.logs, ...testApp.logs]).toContainEqual(
          expect.objectContaining({ level: 40, msg: expect.stringContaining('Shared cache (Redis)') }),
        );
        // A purge that cannot reach Redis says so instead of pretending.
        const refused = await request(replicaApp.app.getHttpServer())
          .delete(`/api/v1/cache?adapterId=${adapterId}`)
          .set(bearer(accessToken))
          .expect(503);
        expect(refused.body.error.code).toBe('CACHE_UNAVAILABLE');
      } finally {
        await replicaApp.close();
        await proxy.cut();
      }
    });
  });
});
