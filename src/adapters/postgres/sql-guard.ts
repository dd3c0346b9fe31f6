import { hasSqlDetails, parse } from 'libpg-query';
import { BadRequestError } from '../../common/app-error';
import { MAX_PARAM_LENGTH, MAX_PARAMS, MAX_SQL_LENGTH } from './postgres-config';

/** A statement the guard let through. */
export interface CheckedQuery {
  /** `select` covers SELECT, VALUES, TABLE and WITH … SELECT, with set operations. */
  readonly kind: 'select' | 'explain';
  /** The statement's own text: without leading comments and without the trailing semicolon. */
  readonly statement: string;
  /** The highest `$n` the statement uses (0 when none). */
  readonly paramCount: number;
}

/** What a parameter may be: values only, sent to the server separately from the SQL. */
export type QueryParam = string | number | boolean | null;

export function queryNotAllowed(reason: string): BadRequestError {
  return new BadRequestError('QUERY_NOT_ALLOWED', `The query is not allowed: ${reason}.`);
}

function queryInvalid(message: string, details?: Array<{ field: string; issue: string; position?: number }>) {
  return new BadRequestError('QUERY_INVALID', message, details);
}

/**
 * Functions refused wherever they appear, with the reason given back. A name matches whatever its
 * schema (`pg_catalog.pg_read_file`, `public.dblink`) and whatever its case: refusing a quoted
 * `"PG_READ_FILE"` that might be some other function costs nothing. A read-only transaction already
 * stops writes to tables; these are the functions that reach past it (files, other servers,
 * settings, sessions, sequences, replication) or that run SQL text the guard never sees.
 */
const DENIED_FUNCTIONS: ReadonlyArray<{ readonly names: readonly string[]; readonly reason: string }> = [
  {
    names: ['pg_read_*', 'pg_stat_file', 'pg_ls_*', 'pg_file_*', 'pg_logdir_ls', 'pg_get_wal_*'],
    reason: 'it reads files of the database server',
  },
  { names: ['lo_*', 'loread', 'lowrite'], reason: 'it uses large objects (and through them server files)' },
  { names: ['dblink*'], reason: 'it connects to other databases' },
  { names: ['set_config'], reason: 'it changes server settings' },
  { names: ['pg_advisory_*', 'pg_try_advisory_*'], reason: 'it takes advisory locks' },
  {
    names: [
      'pg_terminate_backend',
      'pg_cancel_backend',
      'pg_signal_backend',
      'pg_reload_conf',
      'pg_rotate_logfile*',
      'pg_log_backend_memory_contexts',
      'pg_switch_wal',
      'pg_switch_xlog',
      'pg_create_*',
      'pg_drop_*',
      'pg_copy_*',
      'pg_promote',
      'pg_wal_replay_*',
      'pg_xlog_replay_*',
      'pg_backup_*',
      'pg_start_backup',
      'pg_stop_backup',
      'pg_replication_*',
      'pg_logical_*',
      'pg_sync_replication_slots',
      'pg_stat_reset*',
      'pg_stat_statements_reset',
      'pg_import_system_collations',
      'pg_nextoid',
    ],
    reason: 'it administers the server',
  },
  {
    names: [
      'query_to_xml*',
      'cursor_to_xml*',
      'table_to_xml*',
      'schema_to_xml*',
      'database_to_xml*',
      'ts_stat',
      'ts_rewrite',
    ],
    reason: 'it runs SQL given as text',
  },
  { names: ['nextval', 'setval'], reason: 'it changes a sequence' },
  { names: ['pg_notify'], reason: 'it sends notifications' },
];

function deniedReason(name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const rule of DENIED_FUNCTIONS) {
    const hit = rule.names.some((pattern) =>
      pattern.endsWith('*') ? lower.startsWith(pattern.slice(0, -1)) : lower === pattern,
    );
    if (hit) return rule.reason;
  }
  return undefined;
}

/** Statement node names as a reader knows them; others are spelled from the node name. */
const STATEMENT_NAMES: Readonly<Record<string, string>> = {
  CreateStmt: 'CREATE TABLE',
  CreateTableAsStmt: 'CREATE TABLE AS',
  IndexStmt: 'CREATE INDEX',
  ViewStmt: 'CREATE VIEW',
  CreatedbStmt: 'CREATE DATABASE',
  DropdbStmt: 'DROP DATABASE',
  VariableSetStmt: 'SET',
  VariableShowStmt: 'SHOW',
  VacuumStmt: 'VACUUM or ANALYZE',
  DeclareCursorStmt: 'DECLARE CURSOR',
  RenameStmt: 'ALTER … RENAME',
  RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW',
  CheckPointStmt: 'CHECKPOINT',
};

function statementName(node: string, body: unknown): string {
  if (node === 'TransactionStmt') {
    const kind = (body as { kind?: unknown } | null)?.kind;
    if (typeof kind === 'string') return kind.replace(/^TRANS_STMT_/, '').replace(/_/g, ' ');
  }
  return (
    STATEMENT_NAMES[node] ??
    node
      .replace(/Stmt$/, '')
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toUpperCase()
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lastName(names: unknown): string | undefined {
  if (!Array.isArray(names) || names.length === 0) return undefined;
  const last: unknown = names[names.length - 1];
  const sval = isRecord(last) && isRecord(last.String) ? last.String.sval : undefined;
  return typeof sval === 'string' ? sval : undefined;
}

/**
 * Walks every node below `root` (iteratively: a deeply nested query must not overflow the stack)
 * and refuses what a read-only query may not contain. Answers the highest `$n` seen.
 */
function inspect(root: unknown): number {
  let maxParam = 0;
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (Array.isArray(value)) {
      // One by one: spreading a list of thousands of VALUES rows could exceed the argument limit.
      for (const item of value as unknown[]) pending.push(item);
      continue;
    }
    if (!isRecord(value)) continue;
    for (const [key, child] of Object.entries(value)) {
      if (key.endsWith('Stmt') && key !== 'SelectStmt') {
        throw queryNotAllowed(`${statementName(key, child)} inside the query is not allowed`);
      }
      if (key === 'intoClause' && child !== undefined && child !== null) {
        throw queryNotAllowed('SELECT … INTO is not allowed (it creates a table)');
      }
      if (key === 'lockingClause' && Array.isArray(child) && child.length > 0) {
        throw queryNotAllowed('FOR UPDATE / FOR SHARE locking clauses are not allowed');
      }
      if (key === 'FuncCall' && isRecord(child)) {
        const name = lastName(child.funcname);
        const reason = name === undefined ? undefined : deniedReason(name);
        if (reason !== undefined) throw queryNotAllowed(`function ${name} is not allowed: ${reason}`);
      }
      // PostgreSQL reads `x.f` as the call `f(x)` when x is a row and no column f exists, so a
      // qualified column reference that names a denied function is refused too.
      if (key === 'ColumnRef' && isRecord(child) && Array.isArray(child.fields) && child.fields.length > 1) {
        const name = lastName(child.fields);
        const reason = name === undefined ? undefined : deniedReason(name);
        if (reason !== undefined) throw queryNotAllowed(`function ${name} is not allowed: ${reason}`);
      }
      if (key === 'ParamRef' && isRecord(child) && typeof child.number === 'number') {
        maxParam = Math.max(maxParam, child.number);
      }
      if (typeof child === 'object' && child !== null) pending.push(child);
    }
  }
  return maxParam;
}

/** EXPLAIN options arrive as DefElem nodes; ANALYZE would run the statement. */
function assertNoAnalyze(options: unknown): void {
  if (!Array.isArray(options)) return;
  for (const option of options) {
    const name = isRecord(option) && isRecord(option.DefElem) ? option.DefElem.defname : undefined;
    if (typeof name === 'string' && name.toLowerCase() === 'analyze') {
      throw queryNotAllowed(
        'EXPLAIN ANALYZE is not allowed (it runs the statement); use EXPLAIN without ANALYZE',
      );
    }
  }
}

const ALLOWED = 'only SELECT, VALUES, WITH … SELECT and EXPLAIN without ANALYZE are';

/**
 * Checks one query with PostgreSQL's own parser (libpg-query) before it reaches an adapter's
 * database: exactly one statement; a SELECT (VALUES, TABLE, set operations, WITH … SELECT without a
 * data-modifying CTE anywhere) or an EXPLAIN of one without ANALYZE; no SELECT … INTO, no locking
 * clause, no denied function anywhere in the tree. The read-only transaction the query then runs in
 * is the second wall; the role the operator connects with is the third.
 */
export async function checkQuery(sql: string, paramCount: number): Promise<CheckedQuery> {
  if (sql.length > MAX_SQL_LENGTH) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field: 'sql', issue: `must be at most ${MAX_SQL_LENGTH} characters` },
    ]);
  }
  if (sql.trim() === '') throw queryInvalid('The query is empty.');

  let tree: Awaited<ReturnType<typeof parse>>;
  try {
    tree = await parse(sql);
  } catch (error) {
    throw parseError(sql, error);
  }
  const statements = tree.stmts ?? [];
  if (statements.length === 0) throw queryInvalid('The query is empty.');
  if (statements.length > 1) {
    throw queryNotAllowed(`only one statement is allowed, and this text holds ${statements.length}`);
  }
  const [raw] = statements;
  const node: unknown = raw.stmt;
  if (!isRecord(node)) throw queryInvalid('The query is empty.');
  const [type] = Object.keys(node);

  let kind: CheckedQuery['kind'];
  let query: Record<string, unknown> = node;
  if (type === 'SelectStmt') {
    kind = 'select';
  } else if (type === 'ExplainStmt') {
    const explain = node.ExplainStmt;
    const inner = isRecord(explain) ? explain.query : undefined;
    assertNoAnalyze(isRecord(explain) ? explain.options : undefined);
    if (!isRecord(inner) || !('SelectStmt' in inner)) {
      const [innerType] = isRecord(inner) ? Object.keys(inner) : ['unknown'];
      throw queryNotAllowed(
        `EXPLAIN of ${statementName(innerType, isRecord(inner) ? inner[innerType] : undefined)} is not allowed; ${ALLOWED}`,
      );
    }
    kind = 'explain';
    query = inner;
  } else {
    throw queryNotAllowed(`${statementName(type, node[type])} statements are not allowed; ${ALLOWED}`);
  }

  const maxParam = inspect(query);
  if (maxParam !== paramCount) {
    throw queryInvalid(
      `The query uses ${maxParam} parameter(s) ($1 to $${maxParam}) but ${paramCount} were given.`,
      [{ field: 'params', issue: `must hold exactly ${maxParam} value(s)` }],
    );
  }
  return { kind, statement: statementText(sql, raw.stmt_location, raw.stmt_len), paramCount };
}

/** The parser counts in bytes of UTF-8; a length of 0 (or none) means "to the end". */
function statementText(sql: string, location: number | undefined, length: number | undefined): string {
  const bytes = Buffer.from(sql, 'utf8');
  const start = location ?? 0;
  const end = length === undefined || length === 0 ? bytes.length : start + length;
  return bytes.subarray(start, end).toString('utf8');
}

function parseError(sql: string, error: unknown): BadRequestError {
  if (hasSqlDetails(error) && error.sqlDetails !== undefined) {
    const { message, cursorPosition } = error.sqlDetails;
    // 1-based, in characters, as PostgreSQL itself reports positions.
    const position = Math.min(cursorPosition, sql.length) + 1;
    return queryInvalid(`The query could not be parsed: ${message} (at character ${position}).`, [
      { field: 'sql', issue: message, position },
    ]);
  }
  const message = error instanceof Error ? error.message : 'unknown parser error';
  return queryInvalid(`The query could not be parsed: ${message}.`, [{ field: 'sql', issue: message }]);
}

/** Parameters are values only: strings, finite numbers, booleans and null. */
export function checkParams(params: readonly unknown[]): QueryParam[] {
  if (params.length > MAX_PARAMS) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field: 'params', issue: `must hold at most ${MAX_PARAMS} values` },
    ]);
  }
  return params.map((value, index) => {
    const fail = (issue: string) =>
      new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
        { field: `params.${index}`, issue },
      ]);
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw fail('must be a finite number');
      return value;
    }
    if (typeof value === 'string') {
      if (value.length > MAX_PARAM_LENGTH) throw fail(`must be at most ${MAX_PARAM_LENGTH} characters`);
      return value;
    }
    throw fail('must be a string, a number, a boolean or null');
  });
}
