/**
 * Copying the application's tables from one PostgreSQL database to another (the embedded PGlite
 * into a PostgreSQL server: `npm run db:export-embedded`, docs/OPERATIONS-EMBEDDED-EXPORT.md).
 *
 * Everything here works on the `public` schema as the catalogues describe it, not on a list of our
 * tables, so that a table added by a later migration is copied without touching this file. The one
 * exception is `activeWork`, which knows which records stand for work a job queue is still doing.
 */

/** Runs one statement and answers its rows. */
export type Sql = <T = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<T[]>;

export interface TableLayout {
  readonly name: string;
  /** Columns a row is copied through, in table order: every column except generated ones. */
  readonly columns: readonly string[];
  /** Generated columns: the target computes them again. */
  readonly generated: readonly string[];
  /** The primary key (names and SQL types, in key order); without one, rows are paged by ctid. */
  readonly key: { readonly columns: readonly string[]; readonly types: readonly string[] } | undefined;
  /** Other tables this one's foreign keys point to. */
  readonly references: readonly string[];
  /** A foreign key to itself: rows may point to rows that come later in key order. */
  readonly selfReferencing: boolean;
  /** Has triggers of its own (not the ones PostgreSQL makes for constraints). */
  readonly userTriggers: boolean;
}

export interface DatabaseLayout {
  /** In foreign-key order: a table comes after every table it references. */
  readonly tables: readonly TableLayout[];
  readonly sequences: readonly string[];
}

/** Rows per table. */
export type RowCounts = ReadonlyMap<string, number>;

export interface CopyOptions {
  /** Rows per page at most. */
  readonly maxBatchRows: number;
  /** About how many bytes of row data a page should hold (wide rows make smaller pages). */
  readonly batchBytes: number;
  /** Called once per table when it has been copied. */
  readonly onTableCopied?: (table: string, rows: number, milliseconds: number) => void;
}

export const DEFAULT_COPY_OPTIONS: CopyOptions = { maxBatchRows: 1000, batchBytes: 8 * 1024 * 1024 };

/** The target holds rows that neither its migrations nor an earlier export attempt put there. */
export class TargetNotEmptyError extends Error {
  constructor(readonly tables: ReadonlyArray<{ table: string; rows: number }>) {
    super(
      `The target database already holds data (${tables.map((t) => `${t.table}: ${t.rows} rows`).join(', ')}). ` +
        'Export into a new, empty database (CREATE DATABASE ...), never into one a server has used.',
    );
    this.name = 'TargetNotEmptyError';
  }
}

/** The two databases' schemas differ in a way that a copy cannot bridge. */
export class LayoutMismatchError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `The target's schema does not match the embedded database's:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'LayoutMismatchError';
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function qualified(table: string): string {
  return `public.${quoteIdent(table)}`;
}

// ---- reading the layout ----

interface ColumnRow {
  table: string;
  column: string;
  generated: boolean;
}

interface KeyRow {
  table: string;
  column: string;
  type: string;
}

interface ReferenceRow {
  table: string;
  referenced: string;
}

/**
 * The tables of the `public` schema (except `excludeTable`, the migrations table each database keeps
 * for itself) with what a copy needs to know about them, and the sequences not owned by that table.
 */
export async function readLayout(sql: Sql, excludeTable: string): Promise<DatabaseLayout> {
  const tableNames = (
    await sql<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND c.relname <> $1
        ORDER BY c.relname`,
      [excludeTable],
    )
  ).map((row) => row.name);
  const columns = await sql<ColumnRow>(
    `SELECT c.relname AS table, a.attname AS column, a.attgenerated <> '' AS generated
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [tableNames],
  );
  const keys = await sql<KeyRow>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS key(attnum, position)
       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = key.attnum
      WHERE k.contype = 'p' AND c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace
      ORDER BY c.relname, key.position`,
    [tableNames],
  );
  const references = await sql<ReferenceRow>(
    `SELECT c.relname AS table, r.relname AS referenced
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_class r ON r.oid = k.confrelid
      WHERE k.contype = 'f' AND c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace
        AND r.relnamespace = 'public'::regnamespace`,
    [tableNames],
  );
  const triggered = new Set(
    (
      await sql<{ table: string }>(
        `SELECT DISTINCT c.relname AS table FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          WHERE NOT t.tgisinternal AND c.relname = ANY($1) AND c.relnamespace = 'public'::regnamespace`,
        [tableNames],
      )
    ).map((row) => row.table),
  );
  const sequences = (
    await sql<{ name: string }>(
      `SELECT s.relname AS name FROM pg_class s
         LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
         LEFT JOIN pg_class owner ON owner.oid = d.refobjid
        WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace
          AND owner.relname IS DISTINCT FROM $1
        ORDER BY s.relname`,
      [excludeTable],
    )
  ).map((row) => row.name);

  const tables = tableNames.map((name): TableLayout => {
    const own = columns.filter((c) => c.table === name);
    const key = keys.filter((k) => k.table === name);
    const referenced = references.filter((r) => r.table === name).map((r) => r.referenced);
    return {
      name,
      columns: own.filter((c) => !c.generated).map((c) => c.column),
      generated: own.filter((c) => c.generated).map((c) => c.column),
      key:
        key.length === 0 ? undefined : { columns: key.map((k) => k.column), types: key.map((k) => k.type) },
      references: [...new Set(referenced.filter((r) => r !== name))].sort(),
      selfReferencing: referenced.includes(name),
      userTriggers: triggered.has(name),
    };
  });
  return { tables: orderByForeignKeys(tables), sequences };
}

/**
 * Tables ordered so that each comes after the tables it references (ties by name, so the order is
 * stable). A cycle between two or more tables has no such order: it is reported, not guessed at.
 */
export function orderByForeignKeys<T extends Pick<TableLayout, 'name' | 'references'>>(
  tables: readonly T[],
): T[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const ordered: T[] = [];
  const placed = new Set<string>();
  let remaining = [...tables].sort((a, b) => a.name.localeCompare(b.name));
  while (remaining.length > 0) {
    const ready = remaining.filter((t) => t.references.every((r) => placed.has(r) || !byName.has(r)));
    if (ready.length === 0) {
      throw new Error(
        `Foreign keys form a cycle between ${remaining.map((t) => t.name).join(', ')}: no copy order exists.`,
      );
    }
    for (const table of ready) {
      ordered.push(table);
      placed.add(table.name);
    }
    remaining = remaining.filter((t) => !placed.has(t.name));
  }
  return ordered;
}

/** What would make a copy from `source` into `target` fail or lose data; empty when none. */
export function layoutProblems(source: DatabaseLayout, target: DatabaseLayout): string[] {
  const problems: string[] = [];
  const targetTables = new Map(target.tables.map((t) => [t.name, t]));
  for (const table of source.tables) {
    const other = targetTables.get(table.name);
    if (other === undefined) {
      problems.push(`table ${table.name} exists only in the embedded database`);
      continue;
    }
    const missing = table.columns.filter((c) => !other.columns.includes(c));
    if (missing.length > 0) {
      problems.push(`${table.name}: the target has no writable column ${missing.join(', ')}`);
    }
  }
  const missingSequences = source.sequences.filter((s) => !target.sequences.includes(s));
  if (missingSequences.length > 0) {
    problems.push(`sequences that exist only in the embedded database: ${missingSequences.join(', ')}`);
  }
  return problems;
}

// ---- checks ----

export interface ActiveWork {
  readonly kind: 'pipeline run' | 'catalog import' | 'model pull';
  readonly id: string;
  readonly status: string;
}

/**
 * Records of work the job queue (pg-boss, schema `pgboss`, not copied) still holds: copied without
 * their jobs they would stay queued or running forever.
 */
export function activeWork(sql: Sql): Promise<ActiveWork[]> {
  return sql<ActiveWork>(
    `SELECT 'pipeline run' AS kind, id::text AS id, status FROM pipeline_runs WHERE status IN ('queued', 'running')
     UNION ALL
     SELECT 'catalog import', id::text, status FROM catalog_imports WHERE status IN ('queued', 'running')
     UNION ALL
     SELECT 'model pull', id::text || ' (' || model || ')', status FROM llm_pulls WHERE status IN ('queued', 'running')
     ORDER BY 1, 2`,
  );
}

/** Schemas the copy leaves behind, other than PostgreSQL's own and the job queue's. */
export async function otherSchemas(sql: Sql, jobSchema: string): Promise<string[]> {
  const rows = await sql<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace
      WHERE nspname NOT IN ('public', 'information_schema', $1) AND nspname NOT LIKE 'pg\\_%'
      ORDER BY nspname`,
    [jobSchema],
  );
  return rows.map((row) => row.name);
}

export async function countRows(sql: Sql, tables: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const table of tables) {
    const [{ n }] = await sql<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(table)}`);
    counts.set(table, Number(n));
  }
  return counts;
}

/** Tables holding more rows than a freshly migrated database holds in them (`seeded`). */
export function unexpectedRows(counts: RowCounts, seeded: RowCounts): Array<{ table: string; rows: number }> {
  return [...counts]
    .filter(([table, rows]) => rows > (seeded.get(table) ?? 0))
    .map(([table, rows]) => ({ table, rows }));
}

export interface CountDifference {
  readonly table: string;
  readonly source: number;
  readonly target: number | undefined;
}

export function countDifferences(source: RowCounts, target: RowCounts): CountDifference[] {
  return [...source]
    .filter(([table, rows]) => target.get(table) !== rows)
    .map(([table, rows]) => ({ table, source: rows, target: target.get(table) }));
}

// ---- copying ----

export interface CopyReport {
  readonly rows: Map<string, number>;
  readonly sequences: number;
}

/**
 * Copies every table of `layout` from `source` into `target`, which must be one open transaction
 * (the caller commits it). The target's tables are locked, checked to hold no more than `seeded`
 * rows (what its migrations put there), emptied, and filled page by page; then the sequences take
 * the source's values. The tables' own triggers are off for the copy (the audit trail's refuse
 * deletes and rewrites) and on again before it returns.
 */
export async function copyTables(
  source: Sql,
  target: Sql,
  layout: DatabaseLayout,
  seeded: RowCounts,
  options: CopyOptions = DEFAULT_COPY_OPTIONS,
): Promise<CopyReport> {
  const names = layout.tables.map((t) => t.name);
  const all = names.map(qualified).join(', ');
  // A server started on the target meanwhile must not write between the check and the copy.
  await target(`LOCK TABLE ${all} IN ACCESS EXCLUSIVE MODE`);
  const unexpected = unexpectedRows(await countRows(target, names), seeded);
  if (unexpected.length > 0) throw new TargetNotEmptyError(unexpected);

  const triggered = layout.tables.filter((t) => t.userTriggers);
  for (const table of triggered) await target(`ALTER TABLE ${qualified(table.name)} DISABLE TRIGGER USER`);
  // The rows the migrations seeded (instance id, chain anchor, prompts) give way to the source's.
  await target(`TRUNCATE ${all}`);
  const rows = new Map<string, number>();
  for (const table of layout.tables) {
    const started = Date.now();
    const copied = await copyTable(source, target, table, options);
    rows.set(table.name, copied);
    options.onTableCopied?.(table.name, copied, Date.now() - started);
  }
  for (const table of triggered) await target(`ALTER TABLE ${qualified(table.name)} ENABLE TRIGGER USER`);

  // Last, because setval is not undone by a rollback.
  for (const sequence of layout.sequences) {
    const [{ last_value: lastValue, is_called: isCalled }] = await source<{
      last_value: string;
      is_called: boolean;
    }>(`SELECT last_value::text AS last_value, is_called FROM ${qualified(sequence)}`);
    await target('SELECT setval($1::regclass, $2::bigint, $3::boolean)', [
      qualified(sequence),
      lastValue,
      isCalled,
    ]);
  }
  return { rows, sequences: layout.sequences.length };
}

/** A temporary table (dropped at the latest with the session) holding pages of a self-referencing table. */
const STAGE_TABLE = 'mcp_admin_export_stage';

/**
 * Pages through `table` on the source in key order (keyset, never OFFSET) as JSON text, which
 * carries every value exactly (timestamps to the microsecond, numerics digit for digit) without
 * passing through JavaScript types, and inserts each page with json_populate_recordset.
 *
 * A table with a foreign key to itself is staged first and inserted in one statement: foreign keys
 * are checked at the end of a statement, so then no row can arrive before the row it points to.
 */
async function copyTable(
  source: Sql,
  target: Sql,
  table: TableLayout,
  options: CopyOptions,
): Promise<number> {
  const columnList = table.columns.map(quoteIdent).join(', ');
  const insertColumns = table.columns.map((c) => `r.${quoteIdent(c)}`).join(', ');
  const populate = `json_populate_recordset(NULL::${qualified(table.name)}, $1::json) AS r`;
  const insert = `INSERT INTO ${qualified(table.name)} (${columnList}) OVERRIDING SYSTEM VALUE SELECT ${insertColumns}`;
  if (table.selfReferencing) await target(`CREATE TEMP TABLE ${STAGE_TABLE} (doc json NOT NULL)`);

  let limit = await firstPageRows(source, table, options);
  let after: string[] | undefined;
  let copied = 0;
  for (;;) {
    const page = await source<Record<string, string>>(pageQuery(table, after !== undefined), [
      ...(after ?? []),
      limit,
    ]);
    if (page.length === 0) break;
    const doc = `[${page.map((row) => row.json).join(',')}]`;
    if (table.selfReferencing)
      await target(`INSERT INTO pg_temp.${STAGE_TABLE} (doc) VALUES ($1::json)`, [doc]);
    else await target(`${insert} FROM ${populate}`, [doc]);
    copied += page.length;
    const last = page[page.length - 1];
    after = pageKey(table).refs.map((_, i) => last[`k${i}`]);
    if (page.length < limit) break;
    // Wide rows the size estimate missed: smaller pages from here on.
    if (doc.length > 2 * options.batchBytes) limit = Math.max(1, Math.floor(limit / 2));
  }
  if (table.selfReferencing) {
    await target(
      `${insert} FROM pg_temp.${STAGE_TABLE} s CROSS JOIN LATERAL json_populate_recordset(NULL::${qualified(table.name)}, s.doc) AS r`,
    );
    await target(`DROP TABLE pg_temp.${STAGE_TABLE}`);
  }
  return copied;
}

/** What orders the pages: the primary key, or without one the physical row address (nothing writes to the source meanwhile). */
function pageKey(table: TableLayout): { refs: string[]; types: readonly string[] } {
  return table.key === undefined
    ? { refs: ['t.ctid'], types: ['tid'] }
    : { refs: table.key.columns.map((c) => `t.${quoteIdent(c)}`), types: table.key.types };
}

/** Rows per page from the table's size on disk, so that a page of wide rows stays near the byte budget. */
async function firstPageRows(source: Sql, table: TableLayout, options: CopyOptions): Promise<number> {
  const [{ bytes, rows }] = await source<{ bytes: string; rows: string }>(
    `SELECT pg_total_relation_size($1::regclass) AS bytes, (SELECT count(*) FROM ${qualified(table.name)}) AS rows`,
    [qualified(table.name)],
  );
  const perRow = Math.max(1, Number(bytes) / Math.max(1, Number(rows)));
  return Math.max(1, Math.min(options.maxBatchRows, Math.floor(options.batchBytes / perRow)));
}

/** Parameters: the previous page's last key values (as text), when `paged`, then the row limit. */
function pageQuery(table: TableLayout, paged: boolean): string {
  const { refs: keyRefs, types } = pageKey(table);
  const keyOut = keyRefs.map((ref, i) => `${ref}::text AS k${i}`).join(', ');
  const where = paged
    ? `WHERE (${keyRefs.join(', ')}) > (${types.map((type, i) => `$${i + 1}::${type}`).join(', ')})`
    : '';
  const limit = `$${paged ? keyRefs.length + 1 : 1}`;
  const values = table.columns.map((c) => `t.${quoteIdent(c)}`).join(', ');
  return `SELECT row_to_json(r)::text AS json, ${keyOut}
            FROM ${qualified(table.name)} t CROSS JOIN LATERAL (SELECT ${values}) r
            ${where}
           ORDER BY ${keyRefs.join(', ')}
           LIMIT ${limit}`;
}
