import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, type TestApp } from './support/test-app';
import {
  provisionTestDatabase,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  type TestDatabase,
} from './support/test-database';

const LIMITS = { RATE_LIMIT_MAX: '3', RATE_LIMIT_TTL_SECONDS: '60' };

describe('rate limiting', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await provisionTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  describe('per client, in this replica', () => {
    let testApp: TestApp;

    beforeAll(async () => {
      testApp = await startTestApp(database, LIMITS);
    });

    afterAll(async () => {
      await testApp?.close();
    });

    it('counts down in RateLimit-* headers, then answers 429 with Retry-After in the envelope', async () => {
      const server = testApp.app.getHttpServer();
      for (const remaining of [2, 1, 0]) {
        const res = await request(server).get('/api/v1/probe/items/1').expect(200);
        expect(res.headers['ratelimit-limit']).toBe('3');
        expect(res.headers['ratelimit-remaining']).toBe(String(remaining));
        expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
      }
      const refused = await request(server).get('/api/v1/probe/items/1').expect(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.body).toEqual({
        error: {
          code: 'RATE_LIMITED',
          message: expect.any(String),
          requestId: refused.headers['x-request-id'],
        },
      });
    });

    it('never limits health and metrics', async () => {
      const server = testApp.app.getHttpServer();
      for (let i = 0; i < 6; i++) {
        const live = await request(server).get('/health/live').expect(200);
        expect(live.headers['ratelimit-limit']).toBeUndefined();
        await request(server).get('/metrics').expect(200);
      }
    });
  });

  it('is off when RATE_LIMIT_ENABLED=false', async () => {
    const testApp = await startTestApp(database, { ...LIMITS, RATE_LIMIT_ENABLED: 'false' });
    try {
      for (let i = 0; i < 5; i++)
        await request(testApp.app.getHttpServer()).get('/api/v1/probe/items/1').expect(200);
    } finally {
      await testApp.close();
    }
  });

  it('keeps limiting per replica when Redis is unreachable', async () => {
    const testApp = await startTestApp(database, { ...LIMITS, REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const server = testApp.app.getHttpServer();
      for (let i = 0; i < 3; i++) await request(server).get('/api/v1/probe/items/1').expect(200);
      await request(server).get('/api/v1/probe/items/1').expect(429);
    } finally {
      await testApp.close();
    }
  });

  // Several replicas on one database need a PostgreSQL server; the embedded one serves one process.
  (TEST_REDIS_URL && TEST_DATABASE_URL ? describe : describe.skip)(
    'shared through Redis (TEST_REDIS_URL)',
    () => {
      it('counts one client across two replicas', async () => {
        const env = {
          ...LIMITS,
          REDIS_URL: TEST_REDIS_URL ?? '',
          REDIS_KEY_PREFIX: `test-${randomBytes(4).toString('hex')}:`,
        };
        const first = await startTestApp(database, env);
        const second = await startTestApp(database, env);
        try {
          await request(first.app.getHttpServer()).get('/api/v1/probe/items/1').expect(200);
          await request(second.app.getHttpServer()).get('/api/v1/probe/items/1').expect(200);
          const third = await request(first.app.getHttpServer()).get('/api/v1/probe/items/1').expect(200);
          expect(third.headers['ratelimit-remaining']).toBe('0');
          await request(second.app.getHttpServer()).get('/api/v1/probe/items/1').expect(429);
        } finally {
          await first.close();
          await second.close();
        }
      });

      it("counts one principal's calls of a tool across two replicas", async () => {
        const env = {
          TOOLS_RATE_LIMIT_MAX: '2',
          REDIS_URL: TEST_REDIS_URL ?? '',
          REDIS_KEY_PREFIX: `test-${randomBytes(4).toString('hex')}:`,
        };
        const first = await startTestApp(database, env);
        const second = await startTestApp(database, env);
        try {
          const user = await createUser(first.app, ['viewer']);
          const auth = bearer((await signIn(first.app, user.email, user.password)).accessToken);
          const callOn = (replica: TestApp) =>
            request(replica.app.getHttpServer())
              .post('/api/v1/tools/search_products/execute')
              .set(auth)
              .send({ arguments: { q: 'lamp' } });
          await callOn(first).expect(200);
          await callOn(second).expect(200);
          // Past the limit on both replicas, and still so: the shared counter, not a per-replica fallback.
          for (const replica of [first, second, first]) {
            const refused = await callOn(replica).expect(429);
            expect(refused.body.error.code).toBe('RATE_LIMITED');
          }
        } finally {
          await first.close();
          await second.close();
        }
      });
    },
  );
});
