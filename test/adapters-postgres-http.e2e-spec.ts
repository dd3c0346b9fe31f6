import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { bearer, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

/** The registry, permissions and audit of PostgreSQL adapters over HTTP (the connector has its own tests). */
(TEST_DATABASE_URL ? describe : describe.skip)('PostgreSQL adapters over HTTP (PostgreSQL server)', () => {
  const password = `pw-SECRET-${randomBytes(6).toString('hex')}`;
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: { Authorization: string };
  let id: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await provisionTestDatabase();
    t = await startTestApp(db, { SECRETS_KEY: randomBytes(32).toString('base64') });
    app = t.app;
    admin = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
    // The target is the test's own database; the machine's server trusts loopback, so the password
    // is never checked, but it is a secret all the same.
    const target = new URL(db.url);
    target.password = password;
    const created = await http()
      .post('/api/v1/adapters')
      .set(admin)
      .send({
        name: 'warehouse',
        type: 'postgres',
        config: { allowedCidrs: ['127.0.0.1/32'], maxRows: 2, statementTimeoutMs: 300 },
        secrets: { connectionString: target.toString() },
      })
      .expect(201);
    id = created.body.id as string;
    expect(created.body.secretFields).toEqual(['connectionString']);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('runs read-only queries with parameters and caps rows', async () => {
    const res = await http()
      .post(`/api/v1/adapters/${id}/query`)
      .set(admin)
      .send({ sql: 'SELECT n, $1::text AS label FROM generate_series(1, 5) AS n ORDER BY n', params: ['x'] })
      .expect(200);
    expect(res.body).toMatchObject({
      rowCount: 2,
      truncated: true,
      rows: [
        { n: 1, label: 'x' },
        { n: 2, label: 'x' },
      ],
    });
    expect(res.body.columns).toEqual([
      { name: 'n', type: 'integer' },
      { name: 'label', type: 'text' },
    ]);
  });

  it('refuses writes and stops slow statements', async () => {
    for (const sql of [
      'DROP TABLE users',
      'SELECT 1; DELETE FROM users',
      "SELECT pg_read_file('/etc/passwd')",
    ]) {
      const res = await http().post(`/api/v1/adapters/${id}/query`).set(admin).send({ sql }).expect(400);
      expect(res.body.error.code).toBe('QUERY_NOT_ALLOWED');
    }
    const slow = await http()
      .post(`/api/v1/adapters/${id}/query`)
      .set(admin)
      .send({ sql: 'SELECT pg_sleep(30)' })
      .expect(504);
    expect(slow.body.error.code).toBe('ADAPTER_QUERY_TIMEOUT');
    const users = await app.get(DataSource).query<Array<{ count: string }>>('SELECT count(*) FROM users');
    expect(Number(users[0].count)).toBeGreaterThan(0);
  });

  it('introspects the target schema and tests connectivity', async () => {
    const schema = await http().get(`/api/v1/adapters/${id}/schema`).set(admin).expect(200);
    expect(schema.body.tables.map((table: { name: string }) => table.name)).toContain('products');
    const tested = await http().post(`/api/v1/adapters/${id}/test`).set(admin).expect(200);
    expect(tested.body).toMatchObject({ ok: true });
    await http()
      .post(`/api/v1/adapters/${id}/execute`)
      .set(admin)
      .send({ method: 'GET', path: '/' })
      .expect(400);
  });

  it('keeps the connection string out of responses, logs and audit, and records the SQL', async () => {
    const one = await http().get(`/api/v1/adapters/${id}`).set(admin).expect(200);
    const events = await app
      .get(DataSource)
      .query<Array<{ action: string; outcome: string; details: Record<string, unknown> }>>(
        `SELECT action, outcome, details FROM audit_events WHERE action LIKE 'adapter.%' ORDER BY id`,
      );
    for (const text of [JSON.stringify(one.body), JSON.stringify(events), JSON.stringify(t.logs)]) {
      expect(text).not.toContain(password);
    }
    expect(
      events.find((e) => e.action === 'adapter.query' && e.outcome === 'success')?.details,
    ).toMatchObject({
      adapter: 'warehouse',
      sql: 'SELECT n, $1::text AS label FROM generate_series(1, 5) AS n ORDER BY n',
      params: 1,
      rowCount: 2,
    });
    expect(
      events.some(
        (e) =>
          e.action === 'adapter.query' && e.outcome === 'failure' && e.details.code === 'QUERY_NOT_ALLOWED',
      ),
    ).toBe(true);
  });
});
