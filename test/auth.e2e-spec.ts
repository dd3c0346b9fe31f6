import { DataSource } from 'typeorm';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { bearer, createUser, loginOverHttp, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

describe('authentication', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let server: ReturnType<TestApp['app']['getHttpServer']>;

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database);
    server = testApp.app.getHttpServer();
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  async function auditEvents(filter: string, parameters: unknown[]): Promise<Array<Record<string, unknown>>> {
    return testApp.app
      .get(DataSource)
      .query(
        `SELECT action, outcome, details, actor_id AS "actorId" FROM audit_events WHERE ${filter} ORDER BY id`,
        parameters,
      );
  }

  describe('sign-in', () => {
    it('returns a bearer access token and a refresh token, and /auth/me describes the user', async () => {
      const tokens = await loginOverHttp(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      expect(tokens).toEqual({
        accessToken: expect.any(String),
        expiresIn: 900,
        refreshToken: expect.any(String),
        tokenType: 'Bearer',
      });
      const claims = jwt.decode(tokens.accessToken, { complete: true });
      expect(claims?.header.alg).toBe('HS256');
      expect(claims?.payload).toEqual(
        expect.objectContaining({
          sub: expect.any(String),
          sid: expect.any(String),
          jti: expect.any(String),
          iss: 'mcp-admin',
          aud: 'mcp-admin-api',
        }),
      );
      const me = await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(200);
      expect(me.body.user).toEqual({
        id: expect.any(String),
        email: TEST_ADMIN.email,
        displayName: 'Administrator',
        status: 'active',
        mustChangePassword: false,
      });
      expect(me.body.roles).toEqual(['admin']);
      expect(me.body.permissions).toContain('audit:read');
    });

    it('gives the same 401 for an unknown email, a wrong password and a disabled account', async () => {
      const disabled = await createUser(testApp.app, ['viewer']);
      const admin = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      await request(server)
        .post(`/api/v1/users/${disabled.id}/disable`)
        .set(bearer(admin.accessToken))
        .expect(200);
      const bodies = [];
      for (const [email, password] of [
        ['nobody@example.com', 'whatever-password'],
        [TEST_ADMIN.email, 'wrong-password-here'],
        [disabled.email, disabled.password],
      ]) {
        const res = await request(server).post('/api/v1/auth/login').send({ email, password }).expect(401);
        bodies.push({ ...res.body.error, requestId: undefined });
      }
      expect(bodies[0]).toEqual({
        code: 'INVALID_CREDENTIALS',
        message: 'The email or password is wrong.',
        requestId: undefined,
      });
      expect(bodies[1]).toEqual(bodies[0]);
      expect(bodies[2]).toEqual(bodies[0]);
      // the admin's failure must not lock the account for the other tests
      await request(server).post('/api/v1/auth/login').send(TEST_ADMIN).expect(200);
    });

    it('locks an account after repeated failures: 429 with Retry-After, one audit event per attempt', async () => {
      const victim = await createUser(testApp.app, ['viewer']);
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await request(server)
          .post('/api/v1/auth/login')
          .send({ email: victim.email, password: 'definitely-wrong-password' });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
          expect(res.body.error.code).toBe('LOGIN_LOCKED');
        }
      }
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual(Array(15).fill(429));
      // even the right password is refused while locked
      await request(server)
        .post('/api/v1/auth/login')
        .send({ email: victim.email, password: victim.password })
        .expect(429);

      const events = await auditEvents("action LIKE 'auth.login%' AND actor_id = $1", [victim.id]);
      expect(events).toHaveLength(21);
      expect(events.every((e) => e.action === 'auth.login_failed' && e.outcome === 'failure')).toBe(true);
      const reasons = events.map((e) => (e.details as { reason: string }).reason);
      expect(reasons.slice(0, 5)).toEqual(Array(5).fill('bad_credentials'));
      expect(new Set(reasons.slice(5))).toEqual(new Set(['locked']));
    });
  });

  describe('sessions and refresh tokens', () => {
    it('rotates refresh tokens; reusing an old one revokes the whole session', async () => {
      const first = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      const second = (
        await request(server)
          .post('/api/v1/auth/refresh')
          .send({ refreshToken: first.refreshToken })
          .expect(200)
      ).body as typeof first;
      expect(second.refreshToken).not.toBe(first.refreshToken);
      await request(server).get('/api/v1/auth/me').set(bearer(second.accessToken)).expect(200);

      const reuse = await request(server)
        .post('/api/v1/auth/refresh')
        .send({ refreshToken: first.refreshToken })
        .expect(401);
      expect(reuse.body.error.code).toBe('REFRESH_TOKEN_INVALID');
      // the legitimate holder is cut off too: the session is gone
      await request(server)
        .post('/api/v1/auth/refresh')
        .send({ refreshToken: second.refreshToken })
        .expect(401);
      await request(server).get('/api/v1/auth/me').set(bearer(second.accessToken)).expect(401);
      expect(await auditEvents("action = 'auth.refresh_reuse'", [])).toHaveLength(1);
    });

    it('logout ends the session: its access token stops working at once', async () => {
      const tokens = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(200);
      await request(server).post('/api/v1/auth/logout').set(bearer(tokens.accessToken)).send({}).expect(204);
      const after = await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(401);
      expect(after.body.error.code).toBe('SESSION_REVOKED');
      await request(server)
        .post('/api/v1/auth/refresh')
        .send({ refreshToken: tokens.refreshToken })
        .expect(401);
    });

    it('lists own sessions and ends one; another user’s session is a 404', async () => {
      const user = await createUser(testApp.app, ['viewer']);
      const a = await signIn(testApp.app, user.email, user.password);
      const b = await signIn(testApp.app, user.email, user.password);
      const list = await request(server).get('/api/v1/auth/sessions').set(bearer(a.accessToken)).expect(200);
      expect(list.body).toHaveLength(2);
      const other = list.body.find((s: { current: boolean }) => !s.current) as { id: string };
      const admin = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      await request(server)
        .delete(`/api/v1/auth/sessions/${other.id}`)
        .set(bearer(admin.accessToken))
        .expect(404);
      await request(server)
        .delete(`/api/v1/auth/sessions/${other.id}`)
        .set(bearer(a.accessToken))
        .expect(204);
      await request(server).get('/api/v1/auth/me').set(bearer(b.accessToken)).expect(401);
      await request(server).get('/api/v1/auth/me').set(bearer(a.accessToken)).expect(200);
    });

    it('changing the password needs the current one and ends the other sessions', async () => {
      const user = await createUser(testApp.app, ['viewer']);
      const a = await signIn(testApp.app, user.email, user.password);
      const b = await signIn(testApp.app, user.email, user.password);
      const wrong = await request(server)
        .post('/api/v1/auth/me/password')
        .set(bearer(a.accessToken))
        .send({ currentPassword: 'not-the-password', newPassword: 'a-brand-new-password' })
        .expect(400);
      expect(wrong.body.error.code).toBe('CURRENT_PASSWORD_WRONG');
      const weak = await request(server)
        .post('/api/v1/auth/me/password')
        .set(bearer(a.accessToken))
        .send({ currentPassword: user.password, newPassword: 'short' })
        .expect(400);
      expect(weak.body.error.code).toBe('PASSWORD_TOO_WEAK');
      await request(server)
        .post('/api/v1/auth/me/password')
        .set(bearer(a.accessToken))
        .send({ currentPassword: user.password, newPassword: 'a-brand-new-password' })
        .expect(204);
      await request(server).get('/api/v1/auth/me').set(bearer(a.accessToken)).expect(200);
      await request(server).get('/api/v1/auth/me').set(bearer(b.accessToken)).expect(401);
      await signIn(testApp.app, user.email, 'a-brand-new-password');
    });
  });

  describe('administration takes effect on live credentials', () => {
    it('disabling a user kills their tokens and keys; role changes apply to the next request', async () => {
      const admin = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      const user = await createUser(testApp.app, ['operator']);
      const tokens = await signIn(testApp.app, user.email, user.password);
      const key = await request(server)
        .post('/api/v1/api-keys')
        .set(bearer(tokens.accessToken))
        .send({ name: 'ci', permissions: ['products:read'] })
        .expect(201);
      await request(server).get('/api/v1/api-keys').set('X-API-Key', key.body.key).expect(200);

      await request(server)
        .put(`/api/v1/users/${user.id}/roles`)
        .set(bearer(admin.accessToken))
        .send({ roles: ['viewer'] })
        .expect(200);
      const me = await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(200);
      expect(me.body.roles).toEqual(['viewer']);

      await request(server)
        .post(`/api/v1/users/${user.id}/disable`)
        .set(bearer(admin.accessToken))
        .expect(200);
      await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(401);
      await request(server).get('/api/v1/api-keys').set('X-API-Key', key.body.key).expect(401);
    });

    it('keeps at least one active admin', async () => {
      const admin = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      const me = await request(server).get('/api/v1/auth/me').set(bearer(admin.accessToken)).expect(200);
      const res = await request(server)
        .put(`/api/v1/users/${me.body.user.id}/roles`)
        .set(bearer(admin.accessToken))
        .send({ roles: ['viewer'] })
        .expect(409);
      expect(res.body.error.code).toBe('LAST_ADMIN');
      await request(server)
        .post(`/api/v1/users/${me.body.user.id}/disable`)
        .set(bearer(admin.accessToken))
        .expect(409);
    });
  });

  it('never writes passwords or tokens to the logs', async () => {
    const tokens = await loginOverHttp(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
    await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(200);
    const logs = JSON.stringify(testApp.logs);
    expect(logs).not.toContain(TEST_ADMIN.password);
    expect(logs).not.toContain(tokens.accessToken);
    expect(logs).not.toContain(tokens.refreshToken);
    expect(logs).not.toContain(TEST_JWT_SECRET);
  });
});
