import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PostgresConnector, type PostgresAdapter } from '../src/adapters/postgres/postgres-connector';
import type { PostgresAdapterConfig } from '../src/adapters/adapter.types';
import { SsrfGuard } from '../src/adapters/ssrf-guard';
import { AppError } from '../src/common/app-error';
import { SchemaIntrospector } from '../src/schema/schema-introspector';
import { TEST_DATABASE_URL } from './support/test-database';

const LOOPBACK = ['127.0.0.1/32', '::1/128'];

async function failure(work: Promise<unknown>): Promise<AppError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/**
 * The PostgreSQL adapter's connector against a real server: a database of its own holding the
 * table `t`, reached through the connector exactly as the adapters service reaches it.
 */
(TEST_DATABASE_URL ? describe : describe.skip)('PostgreSQL adapter connector (TEST_DATABASE_URL)', () => {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `mcp_pg_adapter_${suffix}`;
  const reader = `mcp_reader_${suffix}`;
  // Marks this file's connections in pg_stat_activity.
  const applicationName = `pg_adapter_test_${suffix}`;
  let admin: Client;
  let target: Client;
  let connector: PostgresConnector;

  function connectionString(options: { user?: string; password?: string; database?: string } = {}): string {
    const url = new URL(TEST_DATABASE_URL as string);
    if (options.user !== undefined) url.username = options.user;
    if (options.password !== undefined) url.password = options.password;
    url.pathname = `/${options.database ?? database}`;
    url.search = `?application_name=${applicationName}`;
    return url.toString();
  }

  let revisions = 0;
  function adapter(
    config: PostgresAdapterConfig = {},
    secrets: { connectionString?: string } = { connectionString: connectionString() },
    id = '00000000-0000-4000-8000-000000000001',
  ): PostgresAdapter {
    return {
      id,
      name: 'warehouse',
      type: 'postgres',
      config: { allowedCidrs: LOOPBACK, ...config },
      secrets,
      revision: `r${JSON.stringify({ config, secrets })}`.slice(0, 200) + String(revisions),
    };
  }

  async function backends(): Promise<number> {
    const result = await admin.query<{ count: string }>(
      'SELECT count(*) FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    return Number(result.rows[0].count);
  }

  async function eventually(check: () => Promise<boolean>): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('condition not reached within 5 s');
  }

  async function relations(): Promise<string[]> {
    const result = await target.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`,
    );
    return result.rows.map((row) => row.name);
  }

  beforeAll(async () => {
    admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.query(`CREATE ROLE ${reader} LOGIN`);
    target = new Client({ connectionString: connectionString().replace(/\?.*$/, '') });
    await target.connect();
    await target.query(`
      CREATE TYPE mood AS ENUM ('sad', 'happy');
      CREATE TABLE t (n integer PRIMARY KEY, label text NOT NULL);
      INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five');
      CREATE TABLE big AS SELECT g AS n FROM generate_series(1, 50) g;
      CREATE TABLE hidden (secret text);
      CREATE SEQUENCE s;
      -- Passes the SQL guard (an ordinary function call) but writes: the read-only transaction stops it.
      CREATE FUNCTION bump() RETURNS integer LANGUAGE sql AS $$ INSERT INTO t VALUES (99, 'ninety-nine') RETURNING n $$;
      GRANT SELECT ON t TO ${reader};
    `);
    connector = new PostgresConnector(new SsrfGuard(), new SchemaIntrospector());
  });

  afterAll(async () => {
    await connector?.onApplicationShutdown();
    await target?.end();
    if (admin !== undefined) {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${reader}`);
      await admin.end();
    }
  });

  it('refuses every SQL vector (or lets it run harmlessly) and leaves the target unchanged', async () => {
    const before = await relations();
    const record = adapter({ statementTimeoutMs: 300 });
    const vectors = [
      'SELECT 1; DROP TABLE t',
      'COMMIT; DROP TABLE t',
      'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
      "SELECT pg_read_file('/etc/passwd')",
      "SELECT set_config('default_transaction_read_only','off',false)",
      "COPY t TO PROGRAM 'id'",
      'CREATE TABLE x()',
      "SELECT * FROM dblink('', '')",
      'EXPLAIN ANALYZE DELETE FROM t',
      'SELECT * FROM t FOR UPDATE',
      'SELECT * INTO x FROM t',
      "SELECT nextval('s')",
      "SELECT pg_catalog.pg_read_file('/etc/passwd')",
      "SELECT * FROM t, LATERAL (SELECT pg_ls_dir('.')) f",
    ];
    for (const sql of vectors) {
      const error = await failure(connector.query(record, sql));
      expect({ sql, status: error.status, code: error.code }).toEqual({
        sql,
        status: 400,
        code: 'QUERY_NOT_ALLOWED',
      });
    }

    // The second wall: a function that writes passes the guard, and the read-only transaction refuses it.
    const write = await failure(connector.query(record, 'SELECT bump()'));
    expect(write).toMatchObject({ status: 400, code: 'QUERY_NOT_ALLOWED' });
    expect(write.message).toContain('read-only transaction');

    const sleep = await failure(connector.query(record, 'SELECT pg_sleep(60)'));
    expect(sleep).toMatchObject({ status: 504, code: 'ADAPTER_QUERY_TIMEOUT' });

    expect(await relations()).toEqual(before);
    expect(before).toContain('public.t:r');
    expect(before.some((name) => name.startsWith('public.x:'))).toBe(false);
    const rows = await target.query<{ n: number; label: string }>('SELECT n, label FROM t ORDER BY n');
    expect(rows.rows.map((row) => row.n)).toEqual([1, 2, 3, 4, 5]);
    const sequence = await target.query<{ is_called: boolean }>('SELECT is_called FROM s');
    expect(sequence.rows[0].is_called).toBe(false);
  });

  it('cancels pg_sleep(60) on the server at the statement timeout, and the pooled connection stays usable', async () => {
    const record = adapter({ statementTimeoutMs: 300, poolSize: 1 });
    const started = Date.now();
    const error = await failure(connector.query(record, 'SELECT pg_sleep(60)'));
    expect(error).toMatchObject({ status: 504, code: 'ADAPTER_QUERY_TIMEOUT' });
    expect(error.message).toContain('300 ms');
    expect(Date.now() - started).toBeLessThan(30_000);
    const sleeping = await admin.query(
      `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%pg_sleep(60)%' AND state = 'active'`,
      [applicationName],
    );
    expect(sleeping.rowCount).toBe(0);
    const after = await connector.query(record, "SELECT current_setting('transaction_read_only') AS ro");
    expect(after.rows).toEqual([{ ro: 'on' }]);
  });

  it('answers columns with type names and rows keyed by column', async () => {
    const result = await connector.query(
      adapter(),
      `SELECT 1::int AS i, 2::bigint AS b, 1.50::numeric AS num, 'x'::text AS s, true AS flag,
              '2024-01-02 03:04:05.123456+00'::timestamptz AS ts, '2024-01-02'::date AS d,
              '\\xdead'::bytea AS bin, '{"a": [1, 2]}'::jsonb AS j, ARRAY[1, 2] AS arr,
              'happy'::mood AS m, 'NaN'::float8 AS f, 0.5::float8 AS half, NULL AS nothing, 7 AS i`,
    );
    expect(result.columns).toEqual([
      { name: 'i', type: 'integer' },
      { name: 'b', type: 'bigint' },
      { name: 'num', type: 'numeric' },
      { name: 's', type: 'text' },
      { name: 'flag', type: 'boolean' },
      { name: 'ts', type: 'timestamp with time zone' },
      { name: 'd', type: 'date' },
      { name: 'bin', type: 'bytea' },
      { name: 'j', type: 'jsonb' },
      { name: 'arr', type: 'integer[]' },
      { name: 'm', type: 'mood' },
      { name: 'f', type: 'double precision' },
      { name: 'half', type: 'double precision' },
      { name: 'nothing', type: 'text' },
      { name: 'i_2', type: 'integer' },
    ]);
    expect(result.rows).toEqual([
      {
        i: 1,
        b: '2',
        num: '1.50',
        s: 'x',
        flag: true,
        ts: '2024-01-02 03:04:05.123456+00',
        d: '2024-01-02',
        bin: '\\xdead',
        j: { a: [1, 2] },
        arr: [1, 2],
        m: 'happy',
        f: 'NaN',
        half: 0.5,
        nothing: null,
        i_2: 7,
      },
    ]);
    expect(result).toMatchObject({ rowCount: 1, truncated: false });
    expect(typeof result.durationMs).toBe('number');
  });

  it('passes values only as $n parameters', async () => {
    const record = adapter();
    const result = await connector.query(
      record,
      'SELECT n, label FROM t WHERE n > $1 AND label <> $2 ORDER BY n',
      [2, 'four'],
    );
    expect(result.rows).toEqual([
      { n: 3, label: 'three' },
      { n: 5, label: 'five' },
    ]);
    const injected = await connector.query(record, 'SELECT count(*)::int AS c FROM t WHERE label = $1', [
      "x'; DROP TABLE t; --",
    ]);
    expect(injected.rows).toEqual([{ c: 0 }]);
    const nulls = await connector.query(record, 'SELECT $1::text IS NULL AS a, $2::boolean AS b', [
      null,
      true,
    ]);
    expect(nulls.rows).toEqual([{ a: true, b: true }]);
    expect(await failure(connector.query(record, 'SELECT $1::int', []))).toMatchObject({
      code: 'QUERY_INVALID',
    });
  });

  it('stops at maxRows, keeping the order, and says the result was truncated', async () => {
    const limited = await connector.query(adapter({ maxRows: 3 }), 'SELECT n FROM big ORDER BY n DESC');
    expect(limited.rows).toEqual([{ n: 50 }, { n: 49 }, { n: 48 }]);
    expect(limited).toMatchObject({ rowCount: 3, truncated: true });
    const exact = await connector.query(adapter({ maxRows: 5 }), 'TABLE t');
    expect(exact).toMatchObject({ rowCount: 5, truncated: false });
    const values = await connector.query(adapter({ maxRows: 2 }), 'VALUES (1), (2), (3)');
    expect(values).toMatchObject({ rows: [{ column1: 1 }, { column1: 2 }], truncated: true });
    const cte = await connector.query(
      adapter({ maxRows: 2 }),
      'WITH RECURSIVE r(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM r) SELECT k FROM r',
    );
    expect(cte).toMatchObject({ rows: [{ k: 1 }, { k: 2 }], truncated: true });
  });

  it('truncates a result past the response size limit instead of holding it', async () => {
    const result = await connector.query(
      adapter({ statementTimeoutMs: 30_000 }),
      "SELECT g, repeat('x', 1024 * 1024) AS filler FROM generate_series(1, 12) g",
    );
    expect(result.truncated).toBe(true);
    expect(result.rowCount).toBeGreaterThan(5);
    expect(result.rowCount).toBeLessThan(12);
    expect(Buffer.byteLength(JSON.stringify(result.rows))).toBeLessThanOrEqual(10 * 1024 * 1024 + 1024);
  });

  it('runs EXPLAIN without ANALYZE', async () => {
    const result = await connector.query(adapter(), 'EXPLAIN SELECT * FROM t WHERE n = 1');
    expect(result.columns).toEqual([{ name: 'QUERY PLAN', type: 'text' }]);
    expect(result.rowCount).toBeGreaterThan(0);
  });

  it("answers the database's complaints about a query with 400 QUERY_FAILED, and permission errors too", async () => {
    const missing = await failure(connector.query(adapter(), 'SELECT * FROM nope'));
    expect(missing).toMatchObject({ status: 400, code: 'QUERY_FAILED' });
    expect(missing.message).toContain('relation "nope" does not exist');

    const readerAdapter = adapter(
      {},
      { connectionString: connectionString({ user: reader }) },
      '00000000-0000-4000-8000-000000000002',
    );
    const denied = await failure(connector.query(readerAdapter, 'SELECT * FROM hidden'));
    expect(denied).toMatchObject({ status: 400, code: 'QUERY_FAILED' });
    expect(denied.message).toContain('permission denied');
    expect((await connector.query(readerAdapter, 'SELECT count(*)::int AS c FROM t')).rows).toEqual([
      { c: 5 },
    ]);
    connector.evict('00000000-0000-4000-8000-000000000002');
  });

  it('answers an unusable target with 502 and never shows the password', async () => {
    const password = 'n0t-to-be-seen-anywhere';
    const record = adapter(
      {},
      { connectionString: connectionString({ password, database: `${database}_missing` }) },
      '00000000-0000-4000-8000-000000000003',
    );
    const error = await failure(connector.query(record, 'SELECT 1'));
    expect(error).toMatchObject({ status: 502, code: 'ADAPTER_UPSTREAM_ERROR' });
    expect(error.message).toContain('does not exist');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(password);
    connector.evict('00000000-0000-4000-8000-000000000003');
  });

  it('refuses the loopback target of an adapter without allowedCidrs', async () => {
    const record = adapter();
    await connector.query(record, 'SELECT 1');
    // Taking allowedCidrs away is a new revision: the open pool must not carry on.
    const error = await failure(
      connector.query({ ...record, config: {}, revision: `${record.revision}-narrowed` }, 'SELECT 1'),
    );
    expect(error).toMatchObject({ status: 400, code: 'ADAPTER_TARGET_FORBIDDEN' });
    expect(connector.poolCount).toBe(0);
  });

  it('describes the target schema with the schema service', async () => {
    const description = await connector.schema(adapter(), 'public');
    const t = description.tables.find((table) => table.name === 't');
    expect(t).toMatchObject({
      kind: 'table',
      primaryKey: ['n'],
      columns: [
        expect.objectContaining({ name: 'n', type: 'integer', nullable: false }),
        expect.objectContaining({ name: 'label', type: 'text', nullable: false }),
      ],
    });
    expect(description.tables.map((table) => table.name)).toEqual(['big', 'hidden', 't']);
    expect(await failure(connector.schema(adapter(), 'nope'))).toMatchObject({
      status: 404,
      code: 'SCHEMA_NOT_FOUND',
    });
  });

  it('tests connectivity', async () => {
    const result = await connector.test(adapter());
    expect(result).toEqual({
      ok: true,
      latencyMs: expect.any(Number),
      serverVersion: expect.stringMatching(/^\d+/),
    });
  });

  it('shares a bounded pool between concurrent queries', async () => {
    await connector.onApplicationShutdown();
    await eventually(async () => (await backends()) === 0);
    const record = adapter({ poolSize: 2 });
    let done = false;
    const work = Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        connector.query(record, 'SELECT $1::int AS k, pg_sleep(0.1)', [index]),
      ),
    ).finally(() => {
      done = true;
    });
    let most = 0;
    while (!done) {
      most = Math.max(most, await backends());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const results = await work;
    expect(results.map((result) => result.rows[0].k)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  it('ends the old pool when the revision changes, and every pool on evict and shutdown', async () => {
    await connector.onApplicationShutdown();
    await eventually(async () => (await backends()) === 0);

    const first = adapter({ poolSize: 2 });
    await Promise.all([
      connector.query(first, 'SELECT pg_sleep(0.05)'),
      connector.query(first, 'SELECT pg_sleep(0.05)'),
    ]);
    expect(await backends()).toBe(2);

    revisions++;
    const second = adapter({ poolSize: 2 });
    expect(second.revision).not.toBe(first.revision);
    await connector.query(second, 'SELECT 1');
    await eventually(async () => (await backends()) === 1);

    connector.evict(second.id);
    expect(connector.poolCount).toBe(0);
    await eventually(async () => (await backends()) === 0);

    await connector.query(second, 'SELECT 1');
    expect(connector.poolCount).toBe(1);
    await connector.onApplicationShutdown();
    expect(connector.poolCount).toBe(0);
    await eventually(async () => (await backends()) === 0);
  });
});
