import { Client } from 'pg';
import {
  copyTables,
  countDifferences,
  countRows,
  layoutProblems,
  orderByForeignKeys,
  readLayout,
  type Sql,
  TargetNotEmptyError,
  unexpectedRows,
} from './embedded-export';
import { EmbeddedPostgres } from './embedded-postgres';

/** Every awkward thing a copy must carry exactly; the same DDL on both sides, like migrations would. */
const SCHEMA = `
  CREATE TABLE typeorm_migrations (id serial PRIMARY KEY, name text NOT NULL);
  CREATE SEQUENCE event_seq;
  CREATE TABLE parents (
    id serial PRIMARY KEY,
    name text NOT NULL,
    at timestamptz NOT NULL,
    amount numeric(14, 2),
    ratio real,
    labels text[] NOT NULL DEFAULT '{}',
    meta jsonb,
    doc json,
    raw bytea,
    search tsvector GENERATED ALWAYS AS (to_tsvector('english', name)) STORED
  );
  CREATE TABLE children (
    parent_id integer NOT NULL REFERENCES parents (id),
    position integer NOT NULL,
    note text,
    PRIMARY KEY (parent_id, position)
  );
  CREATE TABLE nodes (id integer PRIMARY KEY, parent integer REFERENCES nodes (id), label text);
  CREATE TABLE loose (value text);
  CREATE TABLE numbered (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
  CREATE TABLE guarded (id integer PRIMARY KEY, v text);
  CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'guarded refuses %', TG_OP; END $$;
  CREATE TRIGGER guarded_no_insert BEFORE INSERT ON guarded FOR EACH ROW EXECUTE FUNCTION refuse();
  CREATE TRIGGER guarded_no_truncate BEFORE TRUNCATE ON guarded FOR EACH STATEMENT EXECUTE FUNCTION refuse();
`;

const DATA = `
  INSERT INTO typeorm_migrations (name) VALUES ('only-in-source');
  SELECT nextval('event_seq') FROM generate_series(1, 42);
  INSERT INTO parents (name, at, amount, ratio, labels, meta, doc, raw) VALUES
    ('oak table', '2024-05-01 10:00:00.123456+02', 959.40, 0.1, '{"a,b","quote\\"d",""}',
     '{"z": 1, "a": [1.50, "x"], "n": null, "s": "☃"}', '{"b": 1, "a": 2, "b": 3}', '\\x00ff10'),
    ('lamp', '1999-12-31 23:59:59.999999+00', NULL, 3.4028235e38, '{}', '"just a string"', NULL, NULL),
    ('chair', '2030-01-01 00:00:00+00', 0.01, -0, '{NULL}', '[]', '[]', '\\x');
  INSERT INTO children (parent_id, position, note)
    SELECT p, n, 'note ' || p || '-' || n FROM generate_series(1, 3) p, generate_series(1, 4) n;
  -- Rows point forward in key order: 1 -> 5 -> 7, 2 -> 1.
  INSERT INTO nodes VALUES (7, NULL, 'root'), (5, 7, 'mid'), (1, 5, 'leaf'), (2, 1, 'leaf of leaf');
  INSERT INTO loose VALUES ('same'), ('same'), (NULL);
  INSERT INTO numbered (v) VALUES ('one'), ('two'), ('three');
  DELETE FROM numbered WHERE v = 'two';
  ALTER TABLE guarded DISABLE TRIGGER guarded_no_insert;
  INSERT INTO guarded VALUES (1, 'kept');
  ALTER TABLE guarded ENABLE TRIGGER guarded_no_insert;
`;

async function connect(db: EmbeddedPostgres): Promise<{ client: Client; sql: Sql }> {
  const client = new Client({ connectionString: db.url });
  await client.connect();
  const sql: Sql = async <T>(text: string, params?: readonly unknown[]) =>
    (await client.query(text, params as unknown[])).rows as T[];
  return { client, sql };
}

/** Every table's rows as JSON text in a fixed order, generated columns included. */
async function snapshot(sql: Sql, tables: readonly string[]): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const table of tables) {
    const rows = await sql<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM ${table} t ORDER BY 1`);
    result[table] = rows.map((row) => row.j);
  }
  return result;
}

describe('embedded export: copying tables between two databases', () => {
  let sourceDb: EmbeddedPostgres;
  let targetDb: EmbeddedPostgres;
  let source: { client: Client; sql: Sql };
  let target: { client: Client; sql: Sql };

  beforeAll(async () => {
    sourceDb = await EmbeddedPostgres.start({ tcp: true });
    targetDb = await EmbeddedPostgres.start({ tcp: true });
    source = await connect(sourceDb);
    target = await connect(targetDb);
    await source.client.query(SCHEMA);
    await source.client.query(DATA);
    await target.client.query(SCHEMA);
    // What "migrations" seeded in the target: the copy replaces it.
    await target.client.query(
      `INSERT INTO parents (name, at) VALUES ('seeded', now()); SELECT setval('event_seq', 1000)`,
    );
  });

  afterAll(async () => {
    await source?.client.end();
    await target?.client.end();
    await sourceDb?.stop();
    await targetDb?.stop();
  });

  it('reads the layout: foreign-key order, keys, generated columns, triggers, sequences', async () => {
    const layout = await readLayout(source.sql, 'typeorm_migrations');
    const names = layout.tables.map((t) => t.name);
    expect(names).not.toContain('typeorm_migrations');
    expect(names.indexOf('parents')).toBeLessThan(names.indexOf('children'));
    const byName = new Map(layout.tables.map((t) => [t.name, t]));
    expect(byName.get('parents')).toMatchObject({
      generated: ['search'],
      key: { columns: ['id'], types: ['integer'] },
      userTriggers: false,
    });
    expect(byName.get('parents')?.columns).not.toContain('search');
    expect(byName.get('children')?.key?.columns).toEqual(['parent_id', 'position']);
    expect(byName.get('nodes')).toMatchObject({ selfReferencing: true, references: [] });
    expect(byName.get('loose')?.key).toBeUndefined();
    expect(byName.get('guarded')?.userTriggers).toBe(true);
    expect(layout.sequences).toEqual(['event_seq', 'numbered_id_seq', 'parents_id_seq']);
  });

  it('refuses a target holding more rows than its migrations seeded, and changes nothing', async () => {
    const layout = await readLayout(source.sql, 'typeorm_migrations');
    const before = await snapshot(target.sql, ['parents']);
    await target.client.query('BEGIN');
    const copying = copyTables(source.sql, target.sql, layout, new Map());
    await expect(copying).rejects.toBeInstanceOf(TargetNotEmptyError);
    await expect(copying).rejects.toThrow(/parents: 1 rows/);
    await target.client.query('ROLLBACK');
    expect(await snapshot(target.sql, ['parents'])).toEqual(before);
  });

  it.each([
    ['pages of 2 rows', { maxBatchRows: 2, batchBytes: 8 * 1024 * 1024 }],
    ['a byte budget that allows one row per page', { maxBatchRows: 1000, batchBytes: 1 }],
  ])('copies every row exactly, in %s, with sequences and triggers restored', async (_, options) => {
    const layout = await readLayout(source.sql, 'typeorm_migrations');
    const targetLayout = await readLayout(target.sql, 'typeorm_migrations');
    expect(layoutProblems(layout, targetLayout)).toEqual([]);
    const names = layout.tables.map((t) => t.name);
    const seeded = await countRows(target.sql, names);
    const progress: string[] = [];

    await target.client.query('BEGIN');
    const report = await copyTables(source.sql, target.sql, layout, seeded, {
      ...options,
      onTableCopied: (table, rows) => progress.push(`${table}:${rows}`),
    });
    await target.client.query('COMMIT');

    expect(report.sequences).toBe(3);
    expect(progress).toEqual(layout.tables.map((t) => `${t.name}:${report.rows.get(t.name)}`));
    expect(report.rows.get('children')).toBe(12);
    expect(await snapshot(target.sql, names)).toEqual(await snapshot(source.sql, names));
    expect(countDifferences(await countRows(source.sql, names), await countRows(target.sql, names))).toEqual(
      [],
    );
    for (const sequence of layout.sequences) {
      const [a] = await source.sql(`SELECT last_value, is_called FROM ${sequence}`);
      const [b] = await target.sql(`SELECT last_value, is_called FROM ${sequence}`);
      expect({ sequence, ...b }).toEqual({ sequence, ...a });
    }
    // The migrations table is the target's own, and the triggers guard again.
    expect(await target.sql('SELECT count(*)::int AS n FROM typeorm_migrations')).toEqual([{ n: 0 }]);
    await expect(target.sql(`INSERT INTO guarded VALUES (2, 'new')`)).rejects.toThrow(
      /guarded refuses INSERT/,
    );
    // The next id continues after the copied ones rather than colliding with them.
    expect(await target.sql(`INSERT INTO parents (name, at) VALUES ('next', now()) RETURNING id`)).toEqual([
      { id: 4 },
    ]);
    await target.sql(`DELETE FROM parents WHERE id = 4`);
  });

  it('names what a target lacks', async () => {
    const layout = await readLayout(source.sql, 'typeorm_migrations');
    const lacking = {
      tables: layout.tables
        .filter((t) => t.name !== 'loose')
        .map((t) => (t.name === 'children' ? { ...t, columns: t.columns.filter((c) => c !== 'note') } : t)),
      sequences: [],
    };
    expect(layoutProblems(layout, lacking)).toEqual([
      'table loose exists only in the embedded database',
      'children: the target has no writable column note',
      'sequences that exist only in the embedded database: event_seq, numbered_id_seq, parents_id_seq',
    ]);
  });
});

describe('embedded export: pure parts', () => {
  it('orders tables after the tables they reference, by name among equals', () => {
    const tables = [
      { name: 'variants', references: ['products'] },
      { name: 'products', references: ['vendors', 'types'] },
      { name: 'vendors', references: [] },
      { name: 'audit', references: [] },
      { name: 'types', references: ['elsewhere'] },
    ];
    expect(orderByForeignKeys(tables).map((t) => t.name)).toEqual([
      'audit',
      'types',
      'vendors',
      'products',
      'variants',
    ]);
  });

  it('reports a cycle between tables instead of guessing an order', () => {
    expect(() =>
      orderByForeignKeys([
        { name: 'a', references: ['b'] },
        { name: 'b', references: ['a'] },
        { name: 'c', references: [] },
      ]),
    ).toThrow('Foreign keys form a cycle between a, b');
  });

  it('counts rows beyond what the migrations seed, and differences between counts', () => {
    expect(
      unexpectedRows(
        new Map([
          ['prompts', 5],
          ['users', 1],
          ['system_info', 2],
        ]),
        new Map([
          ['prompts', 5],
          ['system_info', 2],
        ]),
      ),
    ).toEqual([{ table: 'users', rows: 1 }]);
    expect(
      countDifferences(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
        new Map([['a', 1]]),
      ),
    ).toEqual([{ table: 'b', source: 2, target: undefined }]);
  });
});
