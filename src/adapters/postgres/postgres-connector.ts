import { Injectable, Logger, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  type FieldDef,
  Pool,
  type PoolClient,
  Query,
  type QueryConfig,
  type QueryResult,
  type QueryResultRow,
} from 'pg';
import { BadRequestError } from '../../common/app-error';
import type { QueryExecutor } from '../../schema/query-executor';
import { SchemaIntrospector } from '../../schema/schema-introspector';
import type { SchemaDescription } from '../../schema/schema.types';
import type { AdapterRecord, PostgresAdapterConfig, PostgresAdapterSecrets } from '../adapter.types';
import { SsrfGuard } from '../ssrf-guard';
import {
  CLIENT_TIMEOUT_MARGIN_MS,
  CONNECT_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_RESULT_BYTES,
  POOL_RESOLVE_TTL_MS,
  type ResolvedPostgresConfig,
  resolvePostgresConfig,
  transactionLimits,
} from './postgres-config';
import { parsePostgresConnectionString, type PostgresTarget } from './postgres-connection-string';
import {
  breaksConnection,
  type ErrorContext,
  type ErrorMode,
  scrub,
  toAdapterError,
} from './postgres-connector-errors';
import { BUILTIN_TYPE_NAMES, RESULT_TYPES } from './postgres-types';
import { checkParams, checkQuery, queryNotAllowed, type QueryParam } from './sql-guard';

export type PostgresAdapter = AdapterRecord<PostgresAdapterConfig, PostgresAdapterSecrets>;

/** What `POST /adapters/:id/query` answers. */
export interface PostgresQueryResult {
  /** In select-list order; `type` as PostgreSQL names it (`integer`, `text`, `timestamp with time zone`). */
  columns: Array<{ name: string; type: string }>;
  /** One object per row, keyed by column name (a repeated name gets a `_2`, `_3` suffix). */
  rows: Array<Record<string, unknown>>;
  /** Rows returned (after truncation). */
  rowCount: number;
  /** More rows existed than were returned (maxRows or the response size limit). */
  truncated: boolean;
  durationMs: number;
}

export interface PostgresTestResult {
  ok: true;
  latencyMs: number;
  serverVersion: string;
}

/** One adapter's pool, for one revision of its configuration and one checked address. */
interface LivePool {
  readonly pool: Pool;
  readonly address: string;
  /** When the host was last resolved and checked. */
  resolvedAt: number;
  /** Names of non-built-in types seen on this target (enums, domains, extension types). */
  readonly typeNames: Map<number, string>;
}

interface PoolEntry {
  readonly revision: string;
  readonly ready: Promise<LivePool>;
}

/** Bounded so that a target with endless ad-hoc types cannot grow the cache without limit. */
const MAX_CACHED_TYPES = 1_000;

const TYPE_NAMES_SQL = `
  SELECT t.oid AS oid, pg_catalog.format_type(t.oid, NULL) AS name
  FROM pg_catalog.pg_type t
  WHERE t.oid = ANY($1::pg_catalog.oid[])`;

/**
 * Runs read-only SQL against the PostgreSQL databases registered as adapters.
 *
 * Each adapter gets one `pg.Pool`, created on first use and keyed by the adapter's revision: a
 * changed configuration or secret ends the old pool. The pool connects to the address the SSRF
 * guard checked, never to a second lookup of the name, and re-resolves the name every few minutes.
 *
 * Every statement runs on one pooled connection inside `BEGIN READ ONLY` with `SET LOCAL`
 * statement, lock and idle-in-transaction timeouts, and is always rolled back. Queries from callers
 * pass the SQL guard first (sql-guard.ts). Secrets never appear in what this throws or logs.
 */
@Injectable()
export class PostgresConnector implements OnApplicationShutdown {
  private readonly logger = new Logger(PostgresConnector.name);
  private readonly pools = new Map<string, PoolEntry>();
  private readonly introspector: SchemaIntrospector;

  constructor(
    private readonly ssrf: SsrfGuard,
    // Stateless: made here when the module does not provide it.
    @Optional() introspector?: SchemaIntrospector,
  ) {
    this.introspector = introspector ?? new SchemaIntrospector();
  }

  /**
   * For saving an adapter: the connection string must parse (no Unix socket, one host, known
   * parameters) and a literal address must already be allowed. Names are checked on every call.
   */
  assertTargetAllowed(connectionString: string, allowedCidrs: readonly string[]): void {
    const target = parsePostgresConnectionString(connectionString);
    this.ssrf.assertLiteralAllowed(target.host, allowedCidrs);
  }

  async query(
    adapter: PostgresAdapter,
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<PostgresQueryResult> {
    const config = resolvePostgresConfig(adapter.config);
    const values = checkParams(params);
    const checked = await checkQuery(sql, values.length);
    const text =
      checked.kind === 'select'
        ? await limitRows(checked.statement, config.maxRows, values.length)
        : checked.statement;

    const started = performance.now();
    return this.inTransaction(adapter, config, config.statementTimeoutMs, 'query', async (client, live) => {
      const fetched = await fetchRows(client, text, values, config);
      const types = await this.typeNames(client, live, fetched.fields, config.statementTimeoutMs);
      const names = uniqueNames(fetched.fields.map((field) => field.name));
      return {
        columns: names.map((name, index) => ({ name, type: types[index] })),
        rows: fetched.rows.map((row) => Object.fromEntries(names.map((name, index) => [name, row[index]]))),
        rowCount: fetched.rows.length,
        truncated: fetched.truncated,
        durationMs: Math.round(performance.now() - started),
      };
    });
  }

  /** The schema service of the application database, run against the adapter's database. */
  async schema(adapter: PostgresAdapter, schemaName: string): Promise<SchemaDescription> {
    const config = resolvePostgresConfig(adapter.config);
    const executor: QueryExecutor = {
      query: <T extends object>(sql: string, params: readonly unknown[], options: { timeoutMs: number }) =>
        this.inTransaction(adapter, config, options.timeoutMs, 'catalog', async (client) => {
          const result = await run(client, sql, [...params], options.timeoutMs);
          return result.rows as T[];
        }),
    };
    return this.introspector.introspect(executor, schemaName, { timeoutMs: config.statementTimeoutMs });
  }

  /** Connectivity and latency (connection included): `SELECT` of the server's version. */
  async test(adapter: PostgresAdapter): Promise<PostgresTestResult> {
    const config = resolvePostgresConfig(adapter.config);
    const started = performance.now();
    const serverVersion = await this.inTransaction(
      adapter,
      config,
      config.statementTimeoutMs,
      'catalog',
      async (client) => {
        const result = await run<{ version: string }>(
          client,
          `SELECT pg_catalog.current_setting('server_version') AS version`,
          [],
          config.statementTimeoutMs,
        );
        return result.rows[0]?.version ?? 'unknown';
      },
    );
    return { ok: true, latencyMs: Math.round(performance.now() - started), serverVersion };
  }

  /** Ends the adapter's pool (after an update or a delete); in-flight queries finish first. */
  evict(adapterId: string): void {
    const entry = this.pools.get(adapterId);
    if (entry === undefined) return;
    this.pools.delete(adapterId);
    this.retire(adapterId, entry);
  }

  async onApplicationShutdown(): Promise<void> {
    const entries = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(entries.map(async (entry) => endPool(await entry.ready.catch(() => undefined))));
  }

  /** Open pools (for tests and diagnostics). */
  get poolCount(): number {
    return this.pools.size;
  }

  private async inTransaction<T>(
    adapter: PostgresAdapter,
    config: ResolvedPostgresConfig,
    timeoutMs: number,
    mode: ErrorMode,
    work: (client: PoolClient, live: LivePool) => Promise<T>,
  ): Promise<T> {
    const target = targetOf(adapter);
    const context: ErrorContext = {
      host: target.host,
      port: target.port,
      statementTimeoutMs: timeoutMs,
      secrets: secretsOf(adapter, target),
    };
    let client: PoolClient;
    let live: LivePool;
    try {
      live = await this.livePool(adapter, config, target);
      client = await live.pool.connect();
    } catch (error) {
      throw toAdapterError(error, context, mode);
    }
    let broken = false;
    // The pool listens for errors of idle connections only; one that fails while checked out
    // (the server shut down between two statements) would otherwise crash the process.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await run(client, prologue(timeoutMs), [], timeoutMs);
      return await work(client, live);
    } catch (error) {
      broken ||= breaksConnection(error);
      throw toAdapterError(error, context, mode);
    } finally {
      if (!broken) {
        // Read-only either way; the rollback ends the transaction and its SET LOCAL limits.
        broken = await run(client, 'ROLLBACK', [], timeoutMs).then(
          () => false,
          () => true,
        );
      }
      client.off('error', onError);
      // A connection in an unknown state is closed instead of going back to the pool.
      client.release(broken);
    }
  }

  private async livePool(
    adapter: PostgresAdapter,
    config: ResolvedPostgresConfig,
    target: PostgresTarget,
  ): Promise<LivePool> {
    const existing = this.pools.get(adapter.id);
    if (existing !== undefined && existing.revision === adapter.revision) {
      const live = await existing.ready;
      if (Date.now() - live.resolvedAt < POOL_RESOLVE_TTL_MS) return live;
      let address: string;
      try {
        ({ address } = await this.ssrf.resolve(target.host, config.allowedCidrs));
      } catch (error) {
        // The name now leads somewhere refused (or nowhere): the pool must not keep using it.
        if (this.pools.get(adapter.id) === existing) this.evict(adapter.id);
        throw error;
      }
      if (address === live.address) {
        live.resolvedAt = Date.now();
        return live;
      }
      if (this.pools.get(adapter.id) !== existing) return this.livePool(adapter, config, target);
    }

    const entry: PoolEntry = {
      revision: adapter.revision,
      ready: this.ssrf
        .resolve(target.host, config.allowedCidrs)
        .then((resolved) => this.openPool(adapter, config, target, resolved.host, resolved.address)),
    };
    this.pools.set(adapter.id, entry);
    if (existing !== undefined) this.retire(adapter.id, existing);
    entry.ready.catch(() => {
      if (this.pools.get(adapter.id) === entry) this.pools.delete(adapter.id);
    });
    return entry.ready;
  }

  private openPool(
    adapter: PostgresAdapter,
    config: ResolvedPostgresConfig,
    target: PostgresTarget,
    checkedHost: string,
    address: string,
  ): LivePool {
    const { password } = target;
    const pool = new Pool({
      host: address,
      port: target.port,
      database: target.database,
      user: target.user,
      // A function, never undefined: node-postgres would otherwise fall back to PGPASSWORD or
      // ~/.pgpass of this service and send that to the adapter's server.
      password: () => password ?? '',
      // Explicit, or node-postgres would read PGSSLMODE of this service's environment.
      ssl:
        target.tls === false
          ? false
          : {
              rejectUnauthorized: target.tls.rejectUnauthorized,
              // The certificate is checked against the name the operator wrote, not the address.
              ...(isIP(checkedHost) === 0 ? { servername: checkedHost } : {}),
            },
      application_name: target.applicationName ?? 'mcp-admin',
      max: config.poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      keepAlive: true,
      allowExitOnIdle: true,
    });
    const secrets = secretsOf(adapter, target);
    // Without a listener, an idle connection dropped by the server would crash the process.
    pool.on('error', (error) => {
      this.logger.warn(
        `Adapter ${adapter.name} (${adapter.id}): idle connection failed: ${scrub(error.message, secrets)}`,
      );
    });
    return { pool, address, resolvedAt: Date.now(), typeNames: new Map() };
  }

  private retire(adapterId: string, entry: PoolEntry): void {
    entry.ready.then(endPool).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.debug(`Adapter ${adapterId}: retired pool did not open or close cleanly: ${message}`);
    });
  }

  /** Type names for the result's columns: built-ins from the table, the rest looked up once per pool. */
  private async typeNames(
    client: PoolClient,
    live: LivePool,
    fields: readonly FieldDef[],
    timeoutMs: number,
  ): Promise<string[]> {
    const known = (oid: number) => BUILTIN_TYPE_NAMES.get(oid) ?? live.typeNames.get(oid);
    const missing = [...new Set(fields.map((field) => field.dataTypeID))].filter(
      (oid) => known(oid) === undefined,
    );
    if (missing.length > 0) {
      try {
        const result = await run<{ oid: number; name: string }>(client, TYPE_NAMES_SQL, [missing], timeoutMs);
        if (live.typeNames.size + result.rows.length > MAX_CACHED_TYPES) live.typeNames.clear();
        for (const row of result.rows) live.typeNames.set(Number(row.oid), row.name);
      } catch {
        // A name is a convenience: the rows are already here, so the type stays unnamed.
      }
    }
    return fields.map((field) => known(field.dataTypeID) ?? `oid:${field.dataTypeID}`);
  }
}

function targetOf(adapter: PostgresAdapter): PostgresTarget {
  const connectionString = adapter.secrets.connectionString;
  if (connectionString === undefined || connectionString === '') {
    throw new BadRequestError(
      'ADAPTER_NOT_CONFIGURED',
      `The adapter ${adapter.name} has no connection string; set secrets.connectionString.`,
    );
  }
  return parsePostgresConnectionString(connectionString);
}

function secretsOf(adapter: PostgresAdapter, target: PostgresTarget): string[] {
  return [target.password, adapter.secrets.connectionString].filter(
    (secret): secret is string => secret !== undefined && secret !== '',
  );
}

async function endPool(live: LivePool | undefined): Promise<void> {
  if (live !== undefined) await live.pool.end();
}

/**
 * The transaction every statement runs in. The numbers come from the validated configuration;
 * DateStyle and TimeZone fix how dates and times read (postgres-types.ts).
 */
function prologue(timeoutMs: number): string {
  const limits = transactionLimits(Math.trunc(timeoutMs));
  return [
    'BEGIN READ ONLY',
    `SET LOCAL statement_timeout = ${limits.statementTimeoutMs}`,
    `SET LOCAL lock_timeout = ${limits.lockTimeoutMs}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${limits.idleInTransactionMs}`,
    `SET LOCAL DateStyle = 'ISO, YMD'`,
    `SET LOCAL TimeZone = 'UTC'`,
    `SET LOCAL IntervalStyle = 'postgres'`,
  ].join('; ');
}

/**
 * Wraps a checked SELECT so that the server stops after maxRows + 1 rows (one more than returned
 * tells whether there were more). The subquery keeps the statement's own ORDER BY: PostgreSQL does
 * not flatten a sorted subquery, so its order reaches the LIMIT. The wrapped text is checked again,
 * so that no statement text can combine with the wrapper into something else.
 */
async function limitRows(statement: string, maxRows: number, paramCount: number): Promise<string> {
  const wrapped = `SELECT * FROM (\n${statement}\n) AS q LIMIT ${maxRows + 1}`;
  const checked = await checkQuery(wrapped, paramCount);
  if (checked.kind !== 'select') throw queryNotAllowed('the statement could not be limited');
  return wrapped;
}

/** The error node-postgres raises for its own read timeout, so both read the same way. */
function clientTimeout(): Error {
  return new Error('Query read timeout');
}

/**
 * One statement through the promise API, with a client-side limit on top of the server's: a
 * server that stops answering (a network partition) cannot cancel itself.
 */
function run<T extends QueryResultRow = QueryResultRow>(
  client: PoolClient,
  text: string,
  values: unknown[],
  timeoutMs: number,
): Promise<QueryResult<T>> {
  // query_timeout is honoured per query by node-postgres but missing from its type definitions.
  const config: QueryConfig & { query_timeout: number } = {
    text,
    values,
    query_timeout: timeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
  };
  return client.query<T>(config);
}

interface FetchedRows {
  fields: FieldDef[];
  rows: unknown[][];
  truncated: boolean;
}

/**
 * Runs one statement with the extended protocol (which carries exactly one statement and its
 * `$n` values apart from the text), keeping at most maxRows rows and MAX_RESULT_BYTES of them:
 * rows past either limit are read from the socket and dropped, never held.
 */
function fetchRows(
  client: PoolClient,
  text: string,
  values: QueryParam[],
  config: ResolvedPostgresConfig,
): Promise<FetchedRows> {
  return new Promise((resolve, reject) => {
    const rows: unknown[][] = [];
    let fields: FieldDef[] = [];
    let bytes = 0;
    let truncated = false;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Rows past the limits still stream until the statement ends; if that runs into the
      // statement timeout, what was kept is still the answer.
      if (error === undefined || truncated) resolve({ fields, rows, truncated });
      else reject(error);
    };
    // Its own client-side limit: node-postgres's query_timeout would replace the query's events by
    // a callback and buffer every row.
    const timer = setTimeout(
      () => settle(clientTimeout()),
      config.statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
    );
    // rowMode and queryMode are honoured by node-postgres; queryMode is missing from its types.
    const queryConfig: QueryConfig & { rowMode: 'array'; queryMode: 'extended' } = {
      text,
      values,
      rowMode: 'array',
      queryMode: 'extended',
      types: RESULT_TYPES,
    };
    const query = new Query<unknown[]>(queryConfig);
    query.on('row', (row: unknown[], result) => {
      if (result !== undefined) fields = result.fields;
      if (truncated) return;
      if (rows.length >= config.maxRows) {
        truncated = true;
        return;
      }
      const size = Buffer.byteLength(JSON.stringify(row));
      if (bytes + size > MAX_RESULT_BYTES) {
        truncated = true;
        return;
      }
      bytes += size;
      rows.push(row);
    });
    query.on('error', (error) => settle(error));
    query.on('end', (result) => {
      fields = result.fields;
      settle();
    });
    client.query(query);
  });
}

/** Object keys must be unique: a repeated column name gets `_2`, `_3`, ... */
function uniqueNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    let candidate = name;
    for (let n = 2; used.has(candidate); n++) candidate = `${name}_${n}`;
    used.add(candidate);
    return candidate;
  });
}
