import request from 'supertest';
import { DataSource } from 'typeorm';
import { AuditSealer } from '../src/audit/audit-sealer.service';
import { RequestContext } from '../src/common/request-context';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

describe('security acceptance', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let server: ReturnType<TestApp['app']['getHttpServer']>;
  let admin: { accessToken: string; refreshToken: string };

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database, { RATE_LIMIT_MAX: '5000' });
    server = testApp.app.getHttpServer();
    admin = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  const sealAll = async () => {
    const sealer = testApp.app.get(AuditSealer);
    const context = testApp.app.get(RequestContext);
    while ((await context.run(() => sealer.sealPending())) > 0);
  };

  it('200 concurrent user creations leave exactly 200 user.create events; the sealed chain verifies; tampering is found', async () => {
    const passwords = Array.from(
      { length: 200 },
      (_, i) => `concurrent-password-${i}-${Math.random().toString(36).slice(2)}`,
    );
    const responses = await Promise.all(
      passwords.map((password, i) =>
        request(server)
          .post('/api/v1/users')
          .set(bearer(admin.accessToken))
          .send({ email: `bulk-${i}@example.com`, password, displayName: `Bulk ${i}`, roles: ['viewer'] }),
      ),
    );
    expect(responses.map((res) => res.status)).toEqual(Array(200).fill(201));

    const dataSource = testApp.app.get(DataSource);
    const [{ n }] = await dataSource.query(
      "SELECT count(*)::int AS n FROM audit_events WHERE action = 'user.create' AND outcome = 'success' AND details->>'email' LIKE 'bulk-%'",
    );
    expect(n).toBe(200);

    await sealAll();
    const verified = await request(server)
      .get('/api/v1/audit/verify')
      .set(bearer(admin.accessToken))
      .expect(200);
    expect(verified.body).toEqual({ ok: true, checked: expect.any(Number), unsealed: expect.any(Number) });
    expect(verified.body.checked).toBeGreaterThanOrEqual(200);

    // Nothing secret in the audit trail: not the passwords, not the tokens.
    const trail = JSON.stringify(await dataSource.query('SELECT * FROM audit_events'));
    for (const secret of [
      ...passwords.slice(0, 20),
      TEST_ADMIN.password,
      admin.accessToken,
      admin.refreshToken,
      TEST_JWT_SECRET,
    ]) {
      expect(trail).not.toContain(secret);
    }

    const [victim] = await dataSource.query(
      "SELECT id FROM audit_events WHERE action = 'user.create' AND sealed_at IS NOT NULL ORDER BY id LIMIT 1 OFFSET 100",
    );
    await dataSource.transaction(async (manager) => {
      // What a superuser could do: bypass the triggers and rewrite a sealed row.
      await manager.query('SET LOCAL session_replication_role = replica');
      await manager.query(
        `UPDATE audit_events SET details = '{"email":"someone-else@example.com"}' WHERE id = $1`,
        [victim.id],
      );
    });
    const broken = await request(server)
      .get('/api/v1/audit/verify')
      .set(bearer(admin.accessToken))
      .expect(200);
    expect(broken.body).toEqual(expect.objectContaining({ ok: false, firstBrokenId: Number(victim.id) }));
  });

  it('an ordinary UPDATE or DELETE of an audit event is refused by the database', async () => {
    const dataSource = testApp.app.get(DataSource);
    await expect(
      dataSource.query(
        "UPDATE audit_events SET action = 'user.delete' WHERE id = (SELECT min(id) FROM audit_events)",
      ),
    ).rejects.toThrow();
    await expect(
      dataSource.query('DELETE FROM audit_events WHERE id = (SELECT min(id) FROM audit_events)'),
    ).rejects.toThrow();
  });

  it('records a refused permission as one authz.denied naming the missing permission', async () => {
    const viewer = await createUser(testApp.app, ['viewer']);
    const tokens = await signIn(testApp.app, viewer.email, viewer.password);
    const res = await request(server).get('/api/v1/audit/events').set(bearer(tokens.accessToken)).expect(403);
    const events = await testApp.app
      .get(DataSource)
      .query(
        'SELECT action, outcome, actor_id AS "actorId", details, http_status AS "httpStatus" FROM audit_events WHERE request_id = $1',
        [res.headers['x-request-id']],
      );
    expect(events).toEqual([
      {
        action: 'authz.denied',
        outcome: 'denied',
        actorId: viewer.id,
        httpStatus: 403,
        details: { missing: ['audit:read'], route: 'GET /api/v1/audit/events' },
      },
    ]);
  });
});

// Two replicas on one database need a PostgreSQL server.
(TEST_DATABASE_URL ? describe : describe.skip)('revocation across replicas (TEST_DATABASE_URL)', () => {
  it('a user disabled on one replica is refused by another within 5 s', async () => {
    const database = await provisionTestDatabase();
    const first = await startTestApp(database);
    const second = await startTestApp(database);
    try {
      const admin = await signIn(first.app, TEST_ADMIN.email, TEST_ADMIN.password);
      const user = await createUser(first.app, ['viewer']);
      const tokens = await signIn(first.app, user.email, user.password);
      await request(second.app.getHttpServer())
        .get('/api/v1/auth/me')
        .set(bearer(tokens.accessToken))
        .expect(200);

      await request(first.app.getHttpServer())
        .post(`/api/v1/users/${user.id}/disable`)
        .set(bearer(admin.accessToken))
        .expect(200);
      const started = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - started < 5_000) {
        status = (
          await request(second.app.getHttpServer()).get('/api/v1/auth/me').set(bearer(tokens.accessToken))
        ).status;
        if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe(401);
    } finally {
      await first.close();
      await second.close();
      await database.drop();
    }
  });
});
