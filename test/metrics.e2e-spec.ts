import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AuditSealer } from '../src/audit/audit-sealer.service';
import { AUDIT_CHAIN_LOCK_KEY } from '../src/audit/audit.repository';
import { AuditService } from '../src/audit/audit.service';
import { CatalogImporter } from '../src/catalog/import/catalog-importer';
import { RequestContext } from '../src/common/request-context';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

interface Series {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Prometheus text format, samples only (comments and blank lines skipped). */
function parseMetrics(text: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[label[1]] = label[2];
    series.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return series;
}

describe('Prometheus metrics of auth, authz, audit, adapters, database and pipelines', () => {
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: { Authorization: string };
  let upstream: Server;
  let adapterId: string;
  const http = () => request(app.getHttpServer());

  async function scrape(): Promise<Series[]> {
    return parseMetrics((await http().get('/metrics').expect(200)).text);
  }

  /** The sum of the series of `name` whose labels include `labels`; undefined when there is none. */
  async function value(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    const matching = (await scrape()).filter(
      (s) => s.name === name && Object.entries(labels).every(([key, v]) => s.labels[key] === v),
    );
    return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
  }

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      if (req.url === '/api/slow') {
        setTimeout(() => res.end('{}'), 2_000);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.2', resolve));
    db = await provisionTestDatabase();
    t = await startTestApp(db, { SECRETS_KEY: randomBytes(32).toString('base64') });
    app = t.app;
    admin = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
    const created = await http()
      .post('/api/v1/adapters')
      .set(admin)
      .send({
        name: 'metrics_upstream',
        type: 'rest',
        config: {
          baseUrl: `http://127.0.0.2:${(upstream.address() as AddressInfo).port}/api`,
          allowedMethods: ['GET'],
          allowedCidrs: ['127.0.0.2/32'],
          timeoutMs: { connect: 1_000, total: 500 },
          retry: { attempts: 0, backoffMs: 10 },
        },
      })
      .expect(201);
    adapterId = created.body.id as string;
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it('counts refused sign-ins by reason and the moment an account locks', async () => {
    const victim = await createUser(app, ['viewer']);
    const badBefore = (await value('auth_failures_total', { reason: 'bad_credentials' })) ?? 0;
    const lockedBefore = (await value('auth_failures_total', { reason: 'locked' })) ?? 0;
    const lockoutsBefore = (await value('auth_lockouts_total')) ?? 0;

    await http()
      .post('/api/v1/auth/login')
      .send({ email: 'nobody@example.com', password: 'whatever-password' })
      .expect(401);
    for (let attempt = 0; attempt < 5; attempt++) {
      await http()
        .post('/api/v1/auth/login')
        .send({ email: victim.email, password: 'definitely-wrong-password' })
        .expect(401);
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      await http()
        .post('/api/v1/auth/login')
        .send({ email: victim.email, password: victim.password })
        .expect(429);
    }

    expect(await value('auth_failures_total', { reason: 'bad_credentials' })).toBe(badBefore + 6);
    expect(await value('auth_failures_total', { reason: 'locked' })).toBe(lockedBefore + 2);
    // Five failures lock the account once; attempts while locked do not lock it again.
    expect(await value('auth_lockouts_total')).toBe(lockoutsBefore + 1);
  });

  it('counts refused tokens and API keys, and refused refresh tokens', async () => {
    await http().get('/api/v1/auth/me').set(bearer('not-a-jwt')).expect(401);
    await http().get('/api/v1/auth/me').set('X-API-Key', 'mcpa_not-a-real-key').expect(401);
    await http().post('/api/v1/auth/refresh').send({ refreshToken: 'not-a-refresh-token' }).expect(401);

    expect(await value('auth_failures_total', { reason: 'token_invalid' })).toBe(1);
    expect(await value('auth_failures_total', { reason: 'api_key_invalid' })).toBe(1);
    expect(await value('auth_failures_total', { reason: 'refresh_token_invalid' })).toBe(1);
    // No credentials at all is not a refused credential.
    await http().get('/api/v1/auth/me').expect(401);
    expect(await value('auth_failures_total', { reason: 'token_invalid' })).toBe(1);
  });

  it('counts permission denials by route template, never by raw URL', async () => {
    const viewer = await createUser(app, ['viewer']);
    const token = bearer((await signIn(app, viewer.email, viewer.password)).accessToken);
    await http().delete(`/api/v1/adapters/${adapterId}`).set(token).expect(403);
    await http().post('/api/v1/adapters').set(token).send({}).expect(403);
    await http().post('/api/v1/adapters').set(token).send({}).expect(403);

    const denials = (await scrape()).filter((s) => s.name === 'authz_denials_total');
    expect(denials).toEqual(
      expect.arrayContaining([
        {
          name: 'authz_denials_total',
          labels: { method: 'DELETE', route: '/api/v1/adapters/:id' },
          value: 1,
        },
        { name: 'authz_denials_total', labels: { method: 'POST', route: '/api/v1/adapters' }, value: 2 },
      ]),
    );
    expect(denials.some((s) => s.labels.route.includes(adapterId))).toBe(false);
  });

  it('times adapter calls and counts them by adapter, type and outcome', async () => {
    const execute = (path: string) =>
      http().post(`/api/v1/adapters/${adapterId}/execute`).set(admin).send({ method: 'GET', path });
    await execute('/ok').expect(200);
    await execute('/ok').expect(200);
    expect((await execute('/slow').expect(504)).body.error.code).toBe('ADAPTER_TIMEOUT');

    const labels = { adapter: adapterId, type: 'rest' };
    expect(await value('adapter_requests_total', { ...labels, outcome: 'success' })).toBe(2);
    expect(await value('adapter_requests_total', { ...labels, outcome: 'ADAPTER_TIMEOUT' })).toBe(1);
    expect(await value('adapter_request_duration_seconds_count', labels)).toBe(3);
    // The timed-out call waited for the 500 ms budget.
    expect(await value('adapter_request_duration_seconds_sum', labels)).toBeGreaterThanOrEqual(0.45);
  });

  it('times audit writes in both modes and counts the ones that fail', async () => {
    expect(await value('audit_write_duration_seconds_count', { mode: 'grouped' })).toBeGreaterThan(0);
    // A successful sign-in records its event in the sign-in's transaction.
    expect(await value('audit_write_duration_seconds_count', { mode: 'in_transaction' })).toBeGreaterThan(0);
    expect(await value('audit_write_failures_total', { mode: 'grouped' })).toBeUndefined();

    const dataSource = app.get(DataSource);
    await dataSource.query(
      `ALTER TABLE audit_events ADD CONSTRAINT metrics_probe_refused CHECK (action <> 'probe.refused')`,
    );
    try {
      const refused = app
        .get(RequestContext)
        .run(() => app.get(AuditService).record({ action: 'probe.refused', outcome: 'success' }));
      await expect(refused).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    } finally {
      await dataSource.query('ALTER TABLE audit_events DROP CONSTRAINT metrics_probe_refused');
    }
    expect(await value('audit_write_failures_total', { mode: 'grouped' })).toBe(1);
  });

  it('reports the unsealed backlog after each sealer pass', async () => {
    const sealer = app.get(AuditSealer);
    await sealer.sealPending();
    expect(await value('audit_unsealed_events')).toBe(0);
    // Holding the chain lock from another connection stops sealing, as another replica's sealer would.
    if (db.kind === 'embedded') return; // one connection only: nothing else can hold the lock
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1::bigint)', [AUDIT_CHAIN_LOCK_KEY]);
      const audit = app.get(AuditService);
      await app.get(RequestContext).run(async () => {
        for (let i = 0; i < 3; i++) await audit.record({ action: 'probe.backlog', outcome: 'success' });
      });
      await sealer.sealPending();
      expect(await value('audit_unsealed_events')).toBeGreaterThanOrEqual(3);
      await other.query('SELECT pg_advisory_unlock($1::bigint)', [AUDIT_CHAIN_LOCK_KEY]);
      await sealer.sealPending();
      expect(await value('audit_unsealed_events')).toBe(0);
    } finally {
      await other.end();
    }
  });

  it("reports the database pool's connections by state on each scrape", async () => {
    const states = (await scrape()).filter((s) => s.name === 'db_pool_connections');
    expect(states.map((s) => s.labels.state).sort()).toEqual(['idle', 'in_use', 'waiting']);
    const open = states.filter((s) => s.labels.state !== 'waiting').reduce((sum, s) => sum + s.value, 0);
    expect(open).toBeGreaterThanOrEqual(1);
    expect(open).toBeLessThanOrEqual(db.poolSize);
    // A connection held outside the pool's idle list shows as in use while it is held.
    const runner = app.get(DataSource).createQueryRunner();
    await runner.connect();
    try {
      expect(await value('db_pool_connections', { state: 'in_use' })).toBeGreaterThanOrEqual(1);
    } finally {
      await runner.release();
    }
  });

  it("exports the event loop's lag among the default metrics", async () => {
    expect(await value('nodejs_eventloop_lag_seconds')).toEqual(expect.any(Number));
    expect(await value('nodejs_eventloop_lag_p99_seconds')).toEqual(expect.any(Number));
  });

  it('counts pipeline items by task and status, and times the run', async () => {
    const ids = Array.from({ length: 3 }, (_, i) => 70_000 + i);
    await app.get(RequestContext).run(() =>
      app.get(CatalogImporter).importBatch(
        ids.map((id, index) => ({
          position: index + 1,
          value: {
            id,
            title: `Oak Desk Lamp ${id}`,
            handle: `oak-desk-lamp-${id}`,
            body_html: '<p>A lamp.</p>',
            vendor: 'Lumen',
            product_type: 'Lighting/Lamps',
            tags: ['Lamp'],
          },
        })),
      ),
    );
    const started = await http()
      .post('/api/v1/pipeline-runs')
      .set(admin)
      .send({ task: 'category_normalization', selection: { productIds: ids } })
      .expect(202);
    const until = Date.now() + 30_000;
    let status = 'queued';
    while (['queued', 'running'].includes(status) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await http().get(`/api/v1/pipeline-runs/${started.body.id}`).set(admin).expect(200)).body
        .status as string;
    }
    expect(status).toBe('completed');

    const task = 'category_normalization';
    expect(await value('pipeline_items_total', { task, status: 'succeeded' })).toBe(3);
    expect(await value('pipeline_items_total', { task, status: 'failed' })).toBeUndefined();
    expect(await value('pipeline_run_duration_seconds_count', { task, status: 'completed' })).toBe(1);
  });
});
