import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { AuditSealer } from '../src/audit/audit-sealer.service';
import { runDbExportEmbeddedCli } from '../src/cli/db-export-embedded.cli';
import { runMigrationCli } from '../src/cli/migrations.cli';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';
import { bearer, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

const SAMPLE = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'sample_product.json'), 'utf8')) as {
  id: number;
};

function product(id: number): Record<string, unknown> {
  return {
    id,
    title: `Walnut Shelf ${id}`,
    handle: `walnut-shelf-${id}`,
    body_html: `<p>Walnut shelf number ${id}</p>`,
    vendor: 'Woodworks',
    product_type: 'Furniture/Shelves',
    tags: ['Material: Walnut', `Batch ${id % 2}`],
    variants: [
      { id: id * 10 + 1, title: 'Small', price: '79.90', sku: `WS-${id}-S`, option1: 'Small' },
      { id: id * 10 + 2, title: 'Large', price: '119.00', sku: `WS-${id}-L`, option1: 'Large' },
    ],
    images: [{ id: id * 10 + 3, src: `https://cdn.example.com/shelf-${id}.jpg`, position: 1 }],
    options: [{ name: 'Size', position: 1, values: ['Small', 'Large'] }],
  };
}

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function exportCli(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDbExportEmbeddedCli(
    argv,
    { NODE_ENV: 'test', LOG_LEVEL: 'error', ...env },
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  return { code, out, err };
}

/** SQL on the embedded database while nothing else has it open. */
async function onEmbedded<T>(dataDir: string, work: (client: Client) => Promise<T>): Promise<T> {
  const embedded = await EmbeddedPostgres.start({ dataDir, tcp: true });
  const client = new Client({ connectionString: embedded.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
    await embedded.stop();
  }
}

async function onServer<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Every application table's rows as JSON text in a fixed order: what "the same data" means here. */
async function snapshot(client: Client): Promise<Record<string, string[]>> {
  const { rows: tables } = await client.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'typeorm_migrations'
      ORDER BY 1`,
  );
  const result: Record<string, string[]> = {};
  for (const { name } of tables) {
    const { rows } = await client.query<{ j: string }>(
      `SELECT row_to_json(t)::text AS j FROM "${name}" t ORDER BY 1`,
    );
    result[name] = rows.map((row) => row.j);
  }
  return result;
}

(TEST_DATABASE_URL ? describe : describe.skip)('db:export-embedded (PostgreSQL server)', () => {
  // Made in beforeAll: a skipped describe still runs its body.
  let root: string;
  let dataDir: string;
  const targets: TestDatabase[] = [];
  let productBefore: { body: unknown; etag: string };
  let sourceChecked: number;
  let refusedWhileRunning: Run;

  const newTarget = async (): Promise<TestDatabase> => {
    const db = await provisionTestDatabase();
    targets.push(db);
    return db;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'mcp-admin-export-'));
    dataDir = join(root, 'pglite');
    const source: TestApp = await startTestApp(undefined, { PGLITE_DATA_DIR: dataDir });
    try {
      const app: NestFastifyApplication = source.app;
      const http = () => request(app.getHttpServer());
      const admin = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
      const started = await http()
        .post('/api/v1/catalog/imports')
        .set(admin)
        .send({ products: [SAMPLE, product(4101), product(4102), product(4103)] })
        .expect(202);
      let status = '';
      for (let attempt = 0; attempt < 200 && !['completed', 'failed'].includes(status); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await http().get(started.headers.location).set(admin).expect(200)).body.status as string;
      }
      expect(status).toBe('completed');

      // An applied proposal, its revert (a change pointing at another change), and a pending one.
      const propose = async (id: number, changes: Record<string, unknown>) =>
        (await http().post(`/api/v1/products/${id}/proposals`).set(admin).send({ changes }).expect(201)).body
          .items[0] as { id: string };
      const applied = await propose(4101, { seoTitle: 'Walnut Shelf | Solid Wood' });
      await http().post(`/api/v1/changes/${applied.id}/approve`).set(admin).expect(200);
      await http().post(`/api/v1/changes/${applied.id}/revert`).set(admin).expect(200);
      await propose(SAMPLE.id, { title: 'Task Floor Lamp, Brass' });

      const detail = await http().get(`/api/v1/products/${SAMPLE.id}`).set(admin).expect(200);
      productBefore = { body: detail.body, etag: detail.headers.etag };
      await app.get(AuditSealer).sealPending();
      sourceChecked = (await http().get('/api/v1/audit/verify').set(admin).expect(200)).body
        .checked as number;

      refusedWhileRunning = await exportCli(['--to', TEST_DATABASE_URL ?? '', '--data-dir', dataDir]);
    } finally {
      await source.close();
    }
  });

  afterAll(async () => {
    for (const db of targets) await db.drop();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  it('refuses while the server holds the embedded database', () => {
    expect(refusedWhileRunning.code).toBe(2);
    expect(refusedWhileRunning.err.join('\n')).toMatch(/in use by another process.*Stop the server first/s);
    expect(refusedWhileRunning.out).toEqual([]);
  });

  it('refuses usage problems: no target, an unknown argument, a directory without a database', async () => {
    const noTarget = await exportCli(['--data-dir', dataDir]);
    expect(noTarget.code).toBe(2);
    expect(noTarget.err.join('\n')).toMatch(/--to <postgres URL> or DATABASE_URL/);
    expect((await exportCli(['--to'])).code).toBe(2);
    expect((await exportCli(['--force'])).err[0]).toMatch(/^unexpected argument --force\nusage: /);
    const noDatabase = await exportCli([
      '--to',
      TEST_DATABASE_URL ?? '',
      '--data-dir',
      join(root, 'nothing'),
    ]);
    expect(noDatabase.code).toBe(2);
    expect(noDatabase.err.join('\n')).toMatch(/There is no embedded database at .*nothing/);
    const notPostgres = await exportCli(['--to', 'mysql://root@localhost/db', '--data-dir', dataDir]);
    expect(notPostgres.code).toBe(2);
  });

  it('refuses while a pipeline run is still running, and leaves the target untouched', async () => {
    const runId = await onEmbedded(dataDir, async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO pipeline_runs (task, status, selection, concurrency, total, actor_type, started_at)
         VALUES ('meta_optimization', 'running', '{"all": true}', 1, 1, 'system', now()) RETURNING id`,
      );
      return rows[0].id;
    });
    const target = await newTarget();
    const refused = await exportCli(['--data-dir', dataDir], { DATABASE_URL: target.url });
    expect(refused.code).toBe(2);
    expect(refused.err.join('\n')).toMatch(new RegExp(`pipeline run ${runId} \\(running\\)`));
    expect(refused.err.join('\n')).toMatch(/let this work finish, or cancel it/);
    const tables = await onServer(target.url, async (client) => {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`,
      );
      return rows[0].n;
    });
    expect(tables).toBe(0);
    // Cancelled, the run is history like any other and is exported with the rest.
    await onEmbedded(dataDir, (client) =>
      client.query(`UPDATE pipeline_runs SET status = 'cancelled', finished_at = now() WHERE id = $1`, [
        runId,
      ]),
    );
  });

  describe('into a database that has only been migrated', () => {
    let target: TestDatabase;
    let exported: Run;

    beforeAll(async () => {
      target = await newTarget();
      const migrated = { out: [] as string[], err: [] as string[] };
      expect(
        await runMigrationCli(
          ['run'],
          { DATABASE_URL: target.url, NODE_ENV: 'test' },
          { out: (l) => migrated.out.push(l), err: (l) => migrated.err.push(l) },
        ),
      ).toBe(0);
      exported = await exportCli(['--to', target.url, '--data-dir', dataDir]);
    });

    it('copies every table, prints the counts, and exits 0', () => {
      expect(exported.err.filter((line) => /differences|failed/.test(line))).toEqual([]);
      expect(exported.code).toBe(0);
      expect(exported.out[0]).toMatch(
        /^Copied \d+ rows in \d+ tables from the embedded database at .* to postgres:/,
      );
      expect(exported.out[1]).toMatch(/^table\s+source rows\s+target rows$/);
      const counted = exported.out.slice(2).filter((line) => /^[a-z_]+\s+\d+\s+\d+$/.test(line));
      expect(counted.length).toBeGreaterThan(20);
      for (const line of counted) {
        const [, source, target] = line.split(/\s+/);
        expect(target).toBe(source);
      }
      expect(counted.find((line) => line.startsWith('products '))).toMatch(/\s4\s+4$/);
      expect(exported.out.join('\n')).toMatch(/Audit chain on the target: intact, \d+ sealed events checked/);
      expect(exported.out.at(-1)).toBe(
        'Everything matches. Set DATABASE_URL to the target and start the server.',
      );
      // Progress went to stderr, one line per table.
      expect(exported.err).toContainEqual(expect.stringMatching(/^ {2}products: 4 rows \(\d+\.\d s\)$/));
    });

    it('holds exactly the embedded rows, the instance id and the chain anchor included', async () => {
      const source = await onEmbedded(dataDir, snapshot);
      const copied = await onServer(target.url, snapshot);
      expect(Object.keys(copied)).toEqual(Object.keys(source));
      for (const table of Object.keys(source))
        expect({ table, rows: copied[table] }).toEqual({ table, rows: source[table] });
      expect(
        source.changes.some(
          (row) => (JSON.parse(row) as { reverts_change_id: string | null }).reverts_change_id,
        ),
      ).toBe(true);
    });

    it('serves the same product, signs the same admin in, and verifies the audit chain', async () => {
      const app = await startTestApp(target);
      try {
        const http = () => request(app.app.getHttpServer());
        const admin = bearer((await signIn(app.app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
        const detail = await http().get(`/api/v1/products/${SAMPLE.id}`).set(admin).expect(200);
        expect(detail.headers.etag).toBe(productBefore.etag);
        expect(detail.body).toEqual(productBefore.body);
        const search = await http().get('/api/v1/products?q=walnut').set(admin).expect(200);
        expect(search.body.total).toBe(3);
        await app.app.get(AuditSealer).sealPending();
        const verified = await http().get('/api/v1/audit/verify').set(admin).expect(200);
        expect(verified.body).toMatchObject({ ok: true, unsealed: 0 });
        expect(verified.body.checked).toBeGreaterThanOrEqual(sourceChecked);
      } finally {
        await app.close();
      }
    });

    it('refuses to export into it again, now that it holds data, and changes nothing', async () => {
      const before = await onServer(target.url, snapshot);
      const again = await exportCli(['--to', target.url, '--data-dir', dataDir]);
      expect(again.code).toBe(2);
      expect(again.err.join('\n')).toMatch(/The target database already holds data \(.*users: 1 rows.*\)/);
      expect(await onServer(target.url, snapshot)).toEqual(before);
    });
  });

  it('exports into a brand-new database given by DATABASE_URL', async () => {
    const target = await newTarget();
    const exported = await exportCli(['--data-dir', dataDir], { DATABASE_URL: target.url });
    expect(exported.code).toBe(0);
    expect(await onServer(target.url, snapshot)).toEqual(await onEmbedded(dataDir, snapshot));
  });

  it('exits 1 when the audit chain does not verify, saying the break came from the embedded database', async () => {
    await onEmbedded(dataDir, (client) =>
      client.query(`
        ALTER TABLE audit_events DISABLE TRIGGER USER;
        UPDATE audit_events SET details = details || '{"tampered": true}' WHERE id = 2;
        ALTER TABLE audit_events ENABLE TRIGGER USER;`),
    );
    const target = await newTarget();
    const exported = await exportCli(['--to', target.url, '--data-dir', dataDir]);
    expect(exported.code).toBe(1);
    expect(exported.out.join('\n')).toMatch(/Audit chain on the target: BROKEN at event 2/);
    expect(exported.err.join('\n')).toMatch(
      /the audit chain does not verify on the target \(first broken event 2\); it was already broken in the embedded database \(at event 2\)/,
    );
  });
});
