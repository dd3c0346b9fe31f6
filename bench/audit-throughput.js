'use strict';

/**
 * Audit write throughput: how many events per second AuditService.record() stores, each in its own
 * request context (as concurrent requests would), then how long the sealer takes to chain them and
 * whether the chain verifies. Runs the built service's modules in-process (dist/), on
 * BENCH_DATABASE_URL when given (the figure the target is about), else on a fresh embedded PGlite.
 * Writes bench/results/audit-latest.json, with this process's memory (the app's) idle and at its peak.
 *
 *   node bench/audit-throughput.js        (npm run bench runs it after the HTTP scenarios)
 *   BENCH_AUDIT_EVENTS=20000 BENCH_AUDIT_CONCURRENCY=64 node bench/audit-throughput.js
 */
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const {
  createBenchDatabase,
  describeRss,
  intFromEnv,
  resultRow,
  runMain,
  watchRss,
  writeResults,
} = require('./lib');

/** The aim for audit writes, stated for PostgreSQL: the embedded database is not what it is about. */
const WRITE_AIM_EVENTS_PER_SEC = 5_000;

const dist = join(__dirname, '..', 'dist');

async function main() {
  const events = intFromEnv('BENCH_AUDIT_EVENTS', 20_000, 100, 1_000_000);
  const concurrency = intFromEnv('BENCH_AUDIT_CONCURRENCY', 64, 1, 1_000);
  const serverUrl = process.env.BENCH_DATABASE_URL;
  const database = serverUrl ? await createBenchDatabase(serverUrl) : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'mcp-admin-bench-audit-'));

  const { loadConfig } = require(join(dist, 'config', 'load-config.js'));
  const { createApp } = require(join(dist, 'app.setup.js'));
  const { AuditService } = require(join(dist, 'audit', 'audit.service.js'));
  const { AuditSealer } = require(join(dist, 'audit', 'audit-sealer.service.js'));
  const { AuditVerifier } = require(join(dist, 'audit', 'audit-verifier.service.js'));
  const { RequestContext } = require(join(dist, 'common', 'request-context.js'));
  const { Writable } = require('node:stream');

  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    JWT_SECRET: randomBytes(48).toString('base64url'),
    ADMIN_EMAIL: 'bench@example.com',
    ADMIN_PASSWORD: randomBytes(18).toString('base64url'),
    PGLITE_DATA_DIR: join(dataDir, 'pglite'),
    DB_POOL_SIZE: String(Math.min(concurrency, 32)),
    ...(database ? { DATABASE_URL: database.url } : {}),
  });
  const quiet = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const app = await createApp(config, { logDestination: quiet });
  await app.init();
  try {
    const audit = app.get(AuditService);
    const context = app.get(RequestContext);
    const principal = { kind: 'system', id: 'bench', label: 'bench', permissions: new Set() };
    // The app runs in this process, so this process's memory is the replica's.
    const rssWatch = watchRss(process.pid, 'in-process app');
    let next = 0;
    const worker = async () => {
      while (next < events) {
        const i = next++;
        await context.run(
          () =>
            audit.record({
              action: 'bench.write',
              outcome: 'success',
              resourceType: 'bench',
              resourceId: String(i),
              details: { i, note: 'throughput run' },
            }),
          { principal },
        );
      }
    };
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const writeSeconds = Number(process.hrtime.bigint() - started) / 1e9;

    // The periodic sealer has been sealing while the writers ran; this times the backlog it left.
    const sealer = app.get(AuditSealer);
    const sealStarted = process.hrtime.bigint();
    while ((await context.run(() => sealer.sealPending())) > 0);
    const sealSeconds = Number(process.hrtime.bigint() - sealStarted) / 1e9;
    const verifyStarted = process.hrtime.bigint();
    const verified = await context.run(() => app.get(AuditVerifier).verify({}));
    const verifySeconds = Number(process.hrtime.bigint() - verifyStarted) / 1e9;
    const rss = rssWatch.stop();

    const result = {
      database: database ? 'PostgreSQL (BENCH_DATABASE_URL)' : 'embedded PGlite',
      events,
      concurrency,
      writeEventsPerSec: Math.round(events / writeSeconds),
      sealBacklogSeconds: Math.round(sealSeconds * 1000) / 1000,
      verifyEventsPerSec: Math.round(verified.checked / verifySeconds),
      verified,
    };
    process.stdout.write(
      `\nAudit trail (${result.database}, ${events} events, ${concurrency} concurrent writers)\n` +
        `  write   ${result.writeEventsPerSec} events/s  (target >= 5000 on PostgreSQL)\n` +
        `  seal    backlog left after the writes sealed in ${result.sealBacklogSeconds} s\n` +
        `  verify  ${result.verifyEventsPerSec} events/s  -> ${JSON.stringify(verified)}\n` +
        `  ${describeRss(rss)}\n\n`,
    );
    const onPostgres = Boolean(database);
    writeResults('audit', {
      ok: verified.ok,
      rows: [
        resultRow({
          scenario: `audit write (${events} events, ${concurrency} writers)`,
          unit: 'events/s',
          ours: result.writeEventsPerSec,
          aim: `>= ${WRITE_AIM_EVENTS_PER_SEC} on PostgreSQL`,
          met: onPostgres ? result.writeEventsPerSec >= WRITE_AIM_EVENTS_PER_SEC : null,
          note: onPostgres ? null : 'the aim is for PostgreSQL (BENCH_DATABASE_URL)',
        }),
        resultRow({
          scenario: 'audit seal (backlog after the writes)',
          unit: 's',
          ours: result.sealBacklogSeconds,
        }),
        resultRow({
          scenario: 'audit verify (whole chain)',
          unit: 'events/s',
          ours: result.verifyEventsPerSec,
          aim: 'chain verifies',
          met: verified.ok,
        }),
      ],
      rss,
      details: result,
    });
    if (!verified.ok) process.exitCode = 1;
    return result;
  } finally {
    await app.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

module.exports = { runAuditThroughput: main };

runMain(module, main);
