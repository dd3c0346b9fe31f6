import { Injectable } from '@nestjs/common';
import { NotFoundError } from '../common/app-error';
import { schemaPermissionDenied, toSchemaQueryError } from './postgres-errors';
import type { QueryExecutor } from './query-executor';
import type {
  ColumnDescription,
  ForeignKeyDescription,
  IndexDescription,
  SchemaDescription,
  TableDescription,
  TableKind,
} from './schema.types';

/** The server-side limit of each catalog query unless the caller brings its own. */
export const SCHEMA_QUERY_TIMEOUT_MS = 5_000;

/** Schema names the API accepts: an unquoted-identifier shape within PostgreSQL's 63-byte limit. */
export const SCHEMA_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

const KINDS: Readonly<Record<string, TableKind>> = {
  r: 'table',
  p: 'partitioned_table',
  v: 'view',
  m: 'materialized_view',
  f: 'foreign_table',
};

/**
 * The relations described, as a condition on `pg_class c` with the schema's oid as `$1`. Partitions
 * are left out: a partitioned table with a thousand partitions is one table to its users.
 */
const RELATIONS = `c.relnamespace = $1::oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition`;

// Every query reads pg_catalog (information_schema hides what the role cannot use and is slow on
// large catalogs), and each covers the whole schema at once: the count of queries does not grow
// with the count of tables. Names are sorted with COLLATE "C" so the order does not depend on the
// database's collation.

const SCHEMA_SQL = `
  SELECT n.oid::text AS oid, has_schema_privilege(n.oid, 'USAGE') AS usable
  FROM pg_catalog.pg_namespace n
  WHERE n.nspname = $1`;

const TABLES_SQL = `
  SELECT c.relname::text AS name, c.relkind::text AS kind, d.description AS comment,
         c.reltuples::float8 AS reltuples
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_description d
    ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
  WHERE ${RELATIONS}
  ORDER BY c.relname COLLATE "C"`;

const COLUMNS_SQL = `
  SELECT c.relname::text AS "table", a.attname::text AS name,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
         NOT a.attnotnull AS nullable,
         pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) AS expression,
         a.attidentity::text AS identity, a.attgenerated::text AS generated,
         d.description AS comment
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  LEFT JOIN pg_catalog.pg_description d
    ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
  WHERE ${RELATIONS}
  ORDER BY c.relname COLLATE "C", a.attnum`;

// conparentid <> 0 marks the per-partition copies PostgreSQL makes of a foreign key that references
// a partitioned table: the parent constraint already describes them.
const CONSTRAINTS_SQL = `
  SELECT c.relname::text AS "table", con.conname::text AS name, con.contype::text AS type,
         ARRAY(SELECT a.attname::text
               FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
               ORDER BY k.ord) AS columns,
         rn.nspname::text AS "referencedSchema", rc.relname::text AS "referencedTable",
         ARRAY(SELECT a.attname::text
               FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
               ORDER BY k.ord) AS "referencedColumns"
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
  LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
  WHERE ${RELATIONS} AND con.contype IN ('p', 'f') AND con.conparentid = 0
  ORDER BY c.relname COLLATE "C", con.conname COLLATE "C"`;

// indkey holds 0 for an expression column; pg_get_indexdef(index, k, true) renders key column k
// (without its operator class). Only the first indnkeyatts entries are keys; the rest are INCLUDE.
const INDEXES_SQL = `
  SELECT c.relname::text AS "table", ic.relname::text AS name, i.indisunique AS "unique",
         i.indisprimary AS "primary", am.amname::text AS method,
         ARRAY(SELECT CASE WHEN k.attnum <> 0 THEN a.attname::text
                           ELSE pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, true) END
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
               WHERE k.ord <= i.indnkeyatts
               ORDER BY k.ord) AS columns,
         pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) AS predicate
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_am am ON am.oid = ic.relam
  WHERE ${RELATIONS}
  ORDER BY c.relname COLLATE "C", ic.relname COLLATE "C"`;

interface SchemaRow {
  oid: string;
  usable: boolean;
}
interface TableRow {
  name: string;
  kind: string;
  comment: string | null;
  reltuples: number | null;
}
interface ColumnRow {
  table: string;
  name: string;
  type: string;
  nullable: boolean;
  expression: string | null;
  identity: string | null;
  generated: string | null;
  comment: string | null;
}
interface ConstraintRow {
  table: string;
  name: string;
  type: string;
  columns: string[];
  referencedSchema: string | null;
  referencedTable: string | null;
  referencedColumns: string[];
}
interface IndexRow {
  table: string;
  name: string;
  unique: boolean;
  primary: boolean;
  method: string;
  columns: string[];
  predicate: string | null;
}

export interface IntrospectOptions {
  /** Per-query server-side limit; SCHEMA_QUERY_TIMEOUT_MS when omitted. */
  readonly timeoutMs?: number;
}

/**
 * Describes one schema of a PostgreSQL database through any QueryExecutor: the application
 * database, or a Postgres adapter's target. It runs five catalog queries one after the other (one
 * connection at a time is all an executor needs), each under the executor's per-query timeout.
 */
@Injectable()
export class SchemaIntrospector {
  async introspect(
    executor: QueryExecutor,
    schema: string,
    options: IntrospectOptions = {},
  ): Promise<SchemaDescription> {
    const timeoutMs = options.timeoutMs ?? SCHEMA_QUERY_TIMEOUT_MS;
    const run = async <T extends object>(sql: string, params: readonly unknown[]): Promise<T[]> => {
      try {
        return await executor.query<T>(sql, params, { timeoutMs });
      } catch (error) {
        throw toSchemaQueryError(error, schema);
      }
    };

    const [found] = await run<SchemaRow>(SCHEMA_SQL, [schema]);
    if (found === undefined) {
      throw new NotFoundError('SCHEMA_NOT_FOUND', `There is no schema named "${schema}".`);
    }
    // The catalogs would still list the tables, but a role that may not use the schema cannot
    // query them either: say so rather than describe tables it cannot reach.
    if (!found.usable) throw schemaPermissionDenied(schema);

    const params = [found.oid];
    const tableRows = await run<TableRow>(TABLES_SQL, params);
    const columnRows = await run<ColumnRow>(COLUMNS_SQL, params);
    const constraintRows = await run<ConstraintRow>(CONSTRAINTS_SQL, params);
    const indexRows = await run<IndexRow>(INDEXES_SQL, params);
    return { schema, tables: assemble(tableRows, columnRows, constraintRows, indexRows) };
  }
}

interface MutableTable extends TableDescription {
  primaryKey: string[];
}

/**
 * Joins the per-query rows by table name. The queries run in separate statements, so a table
 * created or dropped between them may appear in one and not another: rows of a table that the
 * first query did not list are ignored.
 */
function assemble(
  tableRows: readonly TableRow[],
  columnRows: readonly ColumnRow[],
  constraintRows: readonly ConstraintRow[],
  indexRows: readonly IndexRow[],
): TableDescription[] {
  const tables = new Map<string, MutableTable>();
  for (const row of tableRows) {
    const kind = KINDS[row.kind];
    if (kind === undefined) continue;
    tables.set(row.name, {
      name: row.name,
      kind,
      comment: row.comment,
      rowEstimate: rowEstimate(kind, row.reltuples),
      columns: [],
      primaryKey: [],
      foreignKeys: [],
      indexes: [],
    });
  }
  for (const row of columnRows) tables.get(row.table)?.columns.push(toColumn(row));
  for (const row of constraintRows) {
    const table = tables.get(row.table);
    if (table === undefined) continue;
    if (row.type === 'p') {
      table.primaryKey = [...row.columns];
    } else if (row.referencedSchema !== null && row.referencedTable !== null) {
      table.foreignKeys.push(toForeignKey(row, row.referencedSchema, row.referencedTable));
    }
  }
  for (const row of indexRows) tables.get(row.table)?.indexes.push(toIndex(row));
  return [...tables.values()];
}

/**
 * `reltuples` is -1 for a table never vacuumed or analysed (PostgreSQL 14 and later), and
 * meaningless for a view: null then, rather than a number that looks like a count.
 */
function rowEstimate(kind: TableKind, reltuples: number | null): number | null {
  if (kind === 'view' || reltuples === null || reltuples < 0) return null;
  return Math.round(reltuples);
}

function toColumn(row: ColumnRow): ColumnDescription {
  // A generated column keeps its expression where a default would be: it is not a default.
  const generated = row.generated !== null && row.generated !== '' ? row.expression : null;
  return {
    name: row.name,
    type: row.type,
    nullable: row.nullable,
    default: generated === null ? row.expression : null,
    identity: row.identity === 'a' ? 'always' : row.identity === 'd' ? 'byDefault' : null,
    generated,
    comment: row.comment,
  };
}

function toForeignKey(row: ConstraintRow, schema: string, table: string): ForeignKeyDescription {
  return {
    name: row.name,
    columns: [...row.columns],
    references: { schema, table, columns: [...row.referencedColumns] },
  };
}

function toIndex(row: IndexRow): IndexDescription {
  return {
    name: row.name,
    columns: [...row.columns],
    unique: row.unique,
    primary: row.primary,
    method: row.method,
    predicate: row.predicate,
  };
}
