import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Client } from 'pg';
import { runCatalogImportCli } from '../src/cli/catalog-import.cli';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

const SAMPLE_TEXT = readFileSync(join(__dirname, 'fixtures', 'sample_product.json'), 'utf8');
const SAMPLE = JSON.parse(SAMPLE_TEXT) as Record<string, unknown>;

interface Run {
  code: number;
  out: string[];
  err: string[];
}

describe('catalog:import CLI', () => {
  let db: TestDatabase;
  let dir: string;

  const run = async (path: string): Promise<Run> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCatalogImportCli(
      [path],
      { DATABASE_URL: db.url, DB_POOL_SIZE: String(db.poolSize), NODE_ENV: 'test', LOG_LEVEL: 'error' },
      { out: (line) => out.push(line), err: (line) => err.push(line), progress: false },
    );
    return { code, out, err };
  };

  const sql = async <T>(text: string, params: unknown[] = []): Promise<T[]> => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query(text, params)).rows as T[];
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    db = await provisionTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'catalog-import-'));
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('imports a single product file, then reports it unchanged', async () => {
    const file = join(dir, 'sample.json');
    writeFileSync(file, SAMPLE_TEXT);
    const first = await run(file);
    expect(first.err).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.out[0]).toBe(
      'Imported 1 products from 1 file(s): 1 created, 0 updated, 0 unchanged, 0 rejected.',
    );
    const again = await run(file);
    expect(again.out[0]).toBe(
      'Imported 1 products from 1 file(s): 0 created, 0 updated, 1 unchanged, 0 rejected.',
    );
  });

  it('reads every accepted shape, gzip included, from a directory, and reports bad records', async () => {
    const sub = mkdtempSync(join(dir, 'shapes-'));
    const make = (id: number, extra: Record<string, unknown> = {}) => ({
      ...SAMPLE,
      id,
      handle: `lamp-${id}`,
      variants: [],
      images: [],
      ...extra,
    });
    writeFileSync(join(sub, 'a-document.json'), JSON.stringify({ products: [make(11), make(12)] }, null, 2));
    writeFileSync(
      join(sub, 'b-array.json.gz'),
      gzipSync(JSON.stringify([make(13), make(14, { title: '' })])),
    );
    writeFileSync(
      join(sub, 'c-lines.ndjson'),
      `${JSON.stringify(make(15))}\n{"id": 16,\n${JSON.stringify(make(17))}\n`,
    );
    writeFileSync(join(sub, 'd-pretty.json'), JSON.stringify(make(18), null, 2));
    writeFileSync(join(sub, 'e-broken.json'), '[{"id": 19, "title": "x", "handle": "x"}, {"id": ');
    writeFileSync(join(sub, 'notes.txt'), 'ignored');
    const result = await run(sub);
    expect(result.code).toBe(3);
    expect(result.out[0]).toBe(
      'Imported 10 products from 5 file(s): 7 created, 0 updated, 0 unchanged, 3 rejected.',
    );
    expect(result.out.slice(1).join('\n')).toMatch(/b-array\.json\.gz #2 \(id 14\): title: is required/);
    expect(result.out.slice(1).join('\n')).toMatch(
      /c-lines\.ndjson #2: c-lines\.ndjson line 2: not valid JSON/,
    );
    expect(result.out.slice(1).join('\n')).toMatch(/e-broken\.json #2: e-broken\.json: not valid JSON/);
    const rows = await sql<{ id: string }>('SELECT id FROM products WHERE id BETWEEN 11 AND 19 ORDER BY id');
    expect(rows.map((r) => Number(r.id))).toEqual([11, 12, 13, 15, 17, 18, 19]);
    const events = await sql<{ details: Record<string, unknown> }>(
      "SELECT details FROM audit_events WHERE action = 'import.complete' ORDER BY id DESC LIMIT 1",
    );
    expect(events[0].details).toMatchObject({ via: 'cli', total: 10, created: 7, rejected: 3 });
  });

  it('refuses usage errors', async () => {
    expect((await run(join(dir, 'missing.json'))).code).toBe(2);
  });

  (TEST_DATABASE_URL ? describe : describe.skip)(
    'a generated catalogue of 10k products (PostgreSQL server)',
    () => {
      it('imports 10k products, and a re-import reports every one unchanged', async () => {
        const file = join(dir, 'catalog-10k.ndjson.gz');
        execFileSync(process.execPath, [
          join(__dirname, '..', 'bench', 'generate-catalog.js'),
          '--count',
          '10000',
          '--out',
          file,
        ]);
        const first = await run(file);
        expect(first.out[0]).toBe(
          'Imported 10000 products from 1 file(s): 10000 created, 0 updated, 0 unchanged, 0 rejected.',
        );
        const again = await run(file);
        expect(again.out[0]).toBe(
          'Imported 10000 products from 1 file(s): 0 created, 0 updated, 10000 unchanged, 0 rejected.',
        );
        const [{ count }] = await sql<{ count: string }>(
          'SELECT count(*) FROM products WHERE id > 7000000000',
        );
        expect(Number(count)).toBe(10_000);
        const [{ variants }] = await sql<{ variants: string }>(
          'SELECT count(*) AS variants FROM variants WHERE product_id > 7000000000',
        );
        expect(Number(variants)).toBeGreaterThan(10_000);
      }, 300_000);
    },
  );
});
