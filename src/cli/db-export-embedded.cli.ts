import 'reflect-metadata';
import { type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import type { AuditVerifyResult } from '../audit/audit-event';
import { AuditVerifier } from '../audit/audit-verifier.service';
import { AUDIT_OPTIONS, DEFAULT_AUDIT_OPTIONS } from '../audit/audit.options';
import { AuditRepository } from '../audit/audit.repository';
import { RequestContextModule } from '../common/request-context.module';
import type { AppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { ConfigError, loadConfig } from '../config/load-config';
import { DatabaseModule } from '../database/database.module';
import {
  activeWork,
  copyTables,
  countDifferences,
  countRows,
  type CopyReport,
  DEFAULT_COPY_OPTIONS,
  type DatabaseLayout,
  LayoutMismatchError,
  layoutProblems,
  otherSchemas,
  readLayout,
  type RowCounts,
  type Sql,
  TargetNotEmptyError,
  unexpectedRows,
} from '../database/embedded-export';
import { EmbeddedDatabaseInUseError } from '../database/embedded-postgres';
import { runMigrationsLocked } from '../database/migration-runner';
import { JOB_SCHEMA } from '../jobs/job-engine';
import { type CliOutput, runAsMain, stdio } from './cli-io';

const USAGE =
  'usage: npm run db:export-embedded -- --to <postgres URL> [--data-dir <PGLITE_DATA_DIR>]\n' +
  '  (without --to the target is DATABASE_URL; without --data-dir the embedded database is PGLITE_DATA_DIR)';

/** A precondition the operator has to fix first: nothing was copied (exit 2). */
class Refusal extends Error {}

interface Args {
  readonly to?: string;
  readonly dataDir?: string;
}

function parseArgs(argv: readonly string[]): Args | string {
  const values: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const match = /^--(to|data-dir)(?:=(.*))?$/s.exec(argv[i]);
    if (match === null) return `unexpected argument ${argv[i]}`;
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === '') return `--${match[1]} needs a value`;
    values[match[1]] = value;
  }
  return { to: values['to'], dataDir: values['data-dir'] };
}

/**
 * `npm run db:export-embedded -- --to postgres://...`: moves an embedded (PGlite) installation into
 * a PostgreSQL server (docs/OPERATIONS-EMBEDDED-EXPORT.md). Both databases are migrated first; the
 * target must hold nothing but what its migrations create. Every table of the `public` schema is
 * copied in one target transaction, then row counts and the target's audit chain are checked.
 * Progress goes to stderr, the summary to stdout. Exit codes: 0 copied and verified, 1 copied but
 * verification found a difference (or the copy failed and was rolled back), 2 usage or a
 * precondition (server running, work in progress, target not empty, unreachable target).
 */
export async function runDbExportEmbeddedCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliOutput = stdio,
): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.err(`${args}\n${USAGE}`);
    return 2;
  }
  try {
    return await exportEmbedded(args, env, io);
  } catch (error) {
    if (
      error instanceof Refusal ||
      error instanceof ConfigError ||
      error instanceof EmbeddedDatabaseInUseError ||
      error instanceof TargetNotEmptyError ||
      error instanceof LayoutMismatchError
    ) {
      io.err(error.message);
      return 2;
    }
    throw error;
  }
}

async function exportEmbedded(args: Args, env: NodeJS.ProcessEnv, io: CliOutput): Promise<number> {
  const config = loadConfig(env);
  const targetUrl = args.to ?? config.database.url;
  if (targetUrl === undefined) {
    throw new Refusal(
      `Give the target PostgreSQL database with --to <postgres URL> or DATABASE_URL.\n${USAGE}`,
    );
  }
  const targetName = describeUrl(targetUrl);
  const dataDir = resolve(args.dataDir ?? config.database.pgliteDataDir);
  // Opening a directory that holds no database would create an empty one and "export" nothing.
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new Refusal(`There is no embedded database at ${dataDir} (give its directory with --data-dir).`);
  }

  io.err(`Opening the embedded database at ${dataDir}`);
  const source = await openDatabase(embeddedConfig(config, dataDir), io);
  try {
    const applied = await runMigrationsLocked(source.dataSource);
    io.err(`  ${describeMigrations(applied)}`);
    await refuseActiveWork(source.sql);
    for (const schema of await otherSchemas(source.sql, JOB_SCHEMA)) {
      io.err(`  Schema ${schema} is not part of the application: it is not copied.`);
    }
    const layout = await readLayout(source.sql, source.migrationsTable);

    io.err(`Opening the target ${targetName}`);
    const target = await openTarget(config, targetUrl, targetName, io);
    try {
      const seeded = await checkTargetAndMigrate(target, config, io);
      const problems = layoutProblems(layout, await readLayout(target.sql, target.migrationsTable));
      if (problems.length > 0) throw new LayoutMismatchError(problems);

      io.err('Verifying the audit chain of the embedded database');
      const sourceChain = await source.verifyAuditChain();
      io.err(`Copying ${layout.tables.length} tables in one transaction`);
      const started = Date.now();
      const report = await copyInOneTransaction(source, target, layout, seeded, io);
      if (report === undefined) return 1;
      const elapsed = Date.now() - started;

      io.err('Verifying the target');
      return await verify({ source, target, layout, report, sourceChain, elapsed, dataDir, targetName }, io);
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

/** Undefined when the copy failed (and was rolled back); a target found holding data is a refusal. */
async function copyInOneTransaction(
  source: OpenDatabase,
  target: OpenDatabase,
  layout: DatabaseLayout,
  seeded: RowCounts,
  io: CliOutput,
): Promise<CopyReport | undefined> {
  try {
    return await target.dataSource.transaction((manager) =>
      copyTables(source.sql, managerSql(manager), layout, seeded, {
        ...DEFAULT_COPY_OPTIONS,
        onTableCopied: (table, rows, ms) => io.err(`  ${table}: ${rows} rows (${seconds(ms)})`),
      }),
    );
  } catch (error) {
    if (error instanceof TargetNotEmptyError) throw error;
    io.err(
      `The copy failed and was rolled back (the target holds only what its migrations created): ${(error as Error).message}`,
    );
    return undefined;
  }
}

// ---- the databases ----

/** What the audit verifier needs besides the database (it is the same class the API answers with). */
@Module({
  providers: [{ provide: AUDIT_OPTIONS, useValue: DEFAULT_AUDIT_OPTIONS }, AuditRepository, AuditVerifier],
})
class ExportDatabaseModule {}

interface OpenDatabase {
  readonly dataSource: DataSource;
  readonly sql: Sql;
  readonly migrationsTable: string;
  verifyAuditChain(): Promise<AuditVerifyResult>;
  close(): Promise<void>;
}

/**
 * A database opened the way the server opens it (embedded: locked, one connection), with the
 * server's own audit verifier on it, and nothing else: no sealer, no job engine, no timers.
 */
async function openDatabase(config: AppConfig, io: CliOutput): Promise<OpenDatabase> {
  const app = await NestFactory.createApplicationContext(
    {
      module: ExportDatabaseModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule, RequestContextModule],
    },
    // abortOnError false: Nest would otherwise exit the process on a failed start (server running, say).
    { logger: cliLogger(io), abortOnError: false },
  );
  const dataSource = app.get(DataSource);
  return {
    dataSource,
    sql: <T>(text: string, params?: readonly unknown[]) =>
      dataSource.query<T[]>(text, params === undefined ? undefined : [...params]),
    migrationsTable: dataSource.options.migrationsTableName ?? 'migrations',
    verifyAuditChain: () => app.get(AuditVerifier).verify(),
    close: () => app.close(),
  };
}

async function openTarget(
  config: AppConfig,
  url: string,
  name: string,
  io: CliOutput,
): Promise<OpenDatabase> {
  try {
    return await openDatabase(
      {
        ...config,
        database: { url, pgliteDataDir: config.database.pgliteDataDir, migrationsRun: false, poolSize: 2 },
      },
      io,
    );
  } catch (error) {
    throw new Refusal(`Cannot open the target ${name}: ${(error as Error).message}`);
  }
}

function embeddedConfig(config: AppConfig, dataDir: string, migrationsRun = false): AppConfig {
  return { ...config, database: { pgliteDataDir: dataDir, migrationsRun, poolSize: 1 } };
}

function managerSql(manager: { query<T>(text: string, params?: unknown[]): Promise<T> }): Sql {
  return <T>(text: string, params?: readonly unknown[]) =>
    manager.query<T[]>(text, params === undefined ? undefined : [...params]);
}

/** Nest's start-up chatter is dropped; its warnings and errors (a retried connection, say) go to stderr. */
function cliLogger(io: CliOutput): LoggerService {
  return {
    log: () => undefined,
    warn: (message: unknown) => io.err(String(message)),
    error: (message: unknown) => io.err(String(message)),
  };
}

/**
 * Row counts of a freshly migrated database: what the migrations themselves insert (the instance
 * id, the audit chain's genesis anchor, the default prompts), which a target may already hold.
 */
async function seededRowCounts(config: AppConfig, io: CliOutput): Promise<RowCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-admin-export-reference-'));
  try {
    const scratch = await openDatabase(embeddedConfig(config, join(dir, 'pglite'), true), io);
    try {
      const layout = await readLayout(scratch.sql, scratch.migrationsTable);
      return await countRows(
        scratch.sql,
        layout.tables.map((t) => t.name),
      );
    } finally {
      await scratch.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- preconditions ----

async function refuseActiveWork(sql: Sql): Promise<void> {
  const work = await activeWork(sql);
  if (work.length === 0) return;
  throw new Refusal(
    'The embedded database has work in progress whose jobs live in the job queue, which is not copied:\n' +
      work.map((w) => `  - ${w.kind} ${w.id} (${w.status})`).join('\n') +
      '\nStart the server and let this work finish, or cancel it, then stop the server and export again.',
  );
}

async function tableCounts(db: OpenDatabase): Promise<RowCounts> {
  const layout = await readLayout(db.sql, db.migrationsTable);
  return countRows(
    db.sql,
    layout.tables.map((t) => t.name),
  );
}

/**
 * Refuses a target that holds data (checked before migrating it, so that a database holding
 * anything else is left as it was), migrates it, and answers what its migrations seeded: the rows
 * the copy may replace. A target with rows may still be one that was only migrated; what a
 * freshly migrated database holds then comes from a scratch embedded one.
 */
async function checkTargetAndMigrate(
  target: OpenDatabase,
  config: AppConfig,
  io: CliOutput,
): Promise<RowCounts> {
  const before = await tableCounts(target);
  let seeded: RowCounts | undefined;
  if ([...before.values()].some((rows) => rows > 0)) {
    io.err('  The target has rows: comparing with a freshly migrated scratch database');
    seeded = await seededRowCounts(config, io);
    const unexpected = unexpectedRows(before, seeded);
    if (unexpected.length > 0) throw new TargetNotEmptyError(unexpected);
  }
  io.err(`  ${describeMigrations(await runMigrationsLocked(target.dataSource))}`);
  // An empty database before: whatever is in it now, its migrations put there.
  return seeded ?? (await tableCounts(target));
}

// ---- verification and the summary ----

interface Outcome {
  readonly source: OpenDatabase;
  readonly target: OpenDatabase;
  readonly layout: DatabaseLayout;
  readonly report: CopyReport;
  readonly sourceChain: AuditVerifyResult;
  readonly elapsed: number;
  readonly dataDir: string;
  readonly targetName: string;
}

async function verify(outcome: Outcome, io: CliOutput): Promise<number> {
  const names = outcome.layout.tables.map((t) => t.name);
  const sourceCounts = await countRows(outcome.source.sql, names);
  const targetCounts = await countRows(outcome.target.sql, names);
  const targetChain = await outcome.target.verifyAuditChain();

  const total = [...outcome.report.rows.values()].reduce((sum, n) => sum + n, 0);
  io.out(
    `Copied ${total} rows in ${names.length} tables from the embedded database at ${outcome.dataDir} ` +
      `to ${outcome.targetName} in ${seconds(outcome.elapsed)}; ${outcome.report.sequences} sequences set.`,
  );
  printCounts(names, sourceCounts, targetCounts, io);
  io.out(
    `Audit chain on the target: ${targetChain.ok ? 'intact' : `BROKEN at event ${targetChain.firstBrokenId}`}, ` +
      `${targetChain.checked} sealed events checked, ${targetChain.unsealed} not sealed yet` +
      (targetChain.unsealed > 0 ? ' (the server seals them when it starts).' : '.'),
  );

  const problems = countDifferences(sourceCounts, targetCounts).map(
    (d) => `${d.table}: ${d.source} rows in the embedded database, ${d.target ?? 'no table'} in the target`,
  );
  problems.push(...chainProblems(outcome.sourceChain, targetChain));
  if (problems.length > 0) {
    io.err(`Verification found differences:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return 1;
  }
  io.out('Everything matches. Set DATABASE_URL to the target and start the server.');
  return 0;
}

function chainProblems(source: AuditVerifyResult, target: AuditVerifyResult): string[] {
  if (!target.ok) {
    const before = source.ok
      ? 'it verified in the embedded database before the copy'
      : `it was already broken in the embedded database (at event ${source.firstBrokenId}), and the copy carried the break over`;
    return [
      `the audit chain does not verify on the target (first broken event ${target.firstBrokenId}); ${before}`,
    ];
  }
  if (target.checked !== source.checked || target.unsealed !== source.unsealed) {
    return [
      `the audit chain covers ${target.checked} sealed and ${target.unsealed} unsealed events on the target, ` +
        `${source.checked} and ${source.unsealed} in the embedded database`,
    ];
  }
  return [];
}

function printCounts(names: readonly string[], source: RowCounts, target: RowCounts, io: CliOutput): void {
  const rows = names.map((name) => [name, String(source.get(name) ?? '-'), String(target.get(name) ?? '-')]);
  const header = ['table', 'source rows', 'target rows'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  io.out(line(header));
  for (const row of rows) io.out(`${line(row)}${row[1] === row[2] ? '' : '  <- differs'}`);
}

function describeMigrations(applied: ReadonlyArray<{ name: string }>): string {
  return applied.length === 0
    ? 'no pending migrations'
    : `applied ${applied.length} migration(s): ${applied.map((m) => m.name).join(', ')}`;
}

/** The target as printed: never with its password. */
function describeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Refusal('The target is not a URL: give postgres://user:password@host:5432/database.');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Refusal(`The target must be a postgres:// URL, not ${parsed.protocol}//...`);
  }
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

if (require.main === module) runAsMain(() => runDbExportEmbeddedCli(process.argv.slice(2)));
