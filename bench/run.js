'use strict';

// Load benchmark: the built service (dist/) against bare Fastify, both on loopback, in one run.
// Writes bench/results/http-latest.json for the summary of `npm run bench` (bench/all.js), which
// builds first; see docs/PERFORMANCE.md for what is measured and the knobs.

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');
const scenarios = require('./scenarios');

const ROOT = path.resolve(__dirname, '..');
const RESULTS_DIR = lib.RESULTS_DIR;
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
function readOptions() {
  return { ...lib.loadOptions(), connections: lib.intFromEnv('BENCH_CONNECTIONS', 50, 1, 1000) };
}

function unmetNeeds(scenario, options) {
  const available = { redis: Boolean(options.redisUrl), postgres: Boolean(options.databaseUrl) };
  const hint = { redis: 'BENCH_REDIS_URL', postgres: 'BENCH_DATABASE_URL' };
  return (scenario.needs ?? [])
    .filter((need) => !available[need])
    .map((need) => (hint[need] ? `${need} (set ${hint[need]})` : `${need} (unknown requirement)`));
}

async function measure(scenario, ctx, targets, options) {
  const target = targets[scenario.target];
  if (!target) throw new Error(`scenario '${scenario.name}': target must be 'service' or 'baseline'`);
  const run = { method: 'GET', headers: {}, ...scenario };
  if (scenario.setup) Object.assign(run, (await scenario.setup(ctx)) ?? {});
  const url = `${target.url}${run.path}`;

  // One request first, so that a wrong path or a failed login reads as such, not as 50 000 non-2xx.
  const probe = await lib.request(url, { method: run.method, headers: run.headers, body: run.body });
  if (probe.status < 200 || probe.status >= 300) {
    throw new Error(`scenario '${scenario.name}': ${run.method} ${url} answered HTTP ${probe.status}`);
  }

  const load = {
    url,
    method: run.method,
    headers: run.headers,
    body: run.body,
    connections: options.connections,
  };
  process.stdout.write(`  ${scenario.name}: `);
  if (options.warmup > 0) {
    process.stdout.write(`warm-up ${options.warmup} s, `);
    await lib.runAutocannon({ ...load, duration: options.warmup });
  }
  process.stdout.write(`measuring ${options.duration} s with ${options.connections} connections\n`);
  const cpuBefore = lib.cpuMs(target.pid);
  const r = await lib.runAutocannon({ ...load, duration: options.duration });
  const cpuUsed = lib.cpuMs(target.pid) - cpuBefore;
  return {
    name: scenario.name,
    target: scenario.target,
    method: run.method,
    path: run.path,
    requestsPerSec: r.requests.mean,
    requestsPerSecStddev: r.requests.stddev,
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean, max: r.latency.max },
    requests: r.requests.total,
    serverCpuUsPerRequest: Number.isFinite(cpuUsed) ? (cpuUsed * 1000) / r.requests.total : undefined,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    minRatio: scenario.minRatio,
    compareTo: scenario.compareTo,
  };
}

function addRatios(results) {
  const baselines = results.filter((r) => r.target === 'baseline' && !r.skipped);
  for (const r of results) {
    if (r.skipped || r.target !== 'service') continue;
    // compareTo may name any measured scenario (e.g. an authenticated route against /health/live).
    const ref = r.compareTo ? results.find((b) => b.name === r.compareTo && !b.skipped) : baselines[0];
    if (!ref) continue;
    r.baseline = ref.name;
    r.ratio = r.requestsPerSec / ref.requestsPerSec;
    if (r.minRatio !== undefined) r.targetMet = r.ratio >= r.minRatio;
  }
}

function printTable(results, rss) {
  const rows = [
    ['scenario', 'req/s (mean)', 'p50 ms', 'p99 ms', 'ours/baseline', 'server CPU us/req', 'errors+non2xx'],
  ];
  for (const r of results) {
    if (r.skipped) {
      rows.push([r.name, 'skipped', '', '', '', '', '']);
      continue;
    }
    rows.push([
      r.name,
      r.requestsPerSec.toFixed(0),
      String(r.latencyMs.p50),
      String(r.latencyMs.p99),
      r.ratio === undefined ? '-' : r.ratio.toFixed(2),
      r.serverCpuUsPerRequest === undefined ? '-' : r.serverCpuUsPerRequest.toFixed(0),
      String(r.errors + r.non2xx),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(`\n${line(rows[0])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const row of rows.slice(1)) console.log(line(row));
  console.log(`\n${lib.describeRss(rss)}`);
  for (const r of results) {
    if (r.targetMet === undefined) continue;
    console.log(
      `target: ${r.name} >= ${r.minRatio} x ${r.baseline} req/s: ${r.targetMet ? 'met' : 'NOT met'} (${r.ratio.toFixed(2)})`,
    );
  }
  for (const r of results) if (r.skipped) console.log(`skipped: ${r.name}: ${r.reason}`);
}

/** The rows of the run's summary: our scenarios, each with the one its ratio is against. */
function summaryRows(results) {
  const short = (name) => name.replace(/^(service|baseline): /, '');
  return results
    .filter((r) => r.target === 'service')
    .map((r) => {
      const ref = r.skipped ? undefined : results.find((b) => b.name === r.baseline);
      return lib.resultRow({
        scenario: r.name,
        unit: 'req/s',
        ours: r.skipped ? null : r.requestsPerSec,
        baseline: ref?.requestsPerSec,
        baselineName: ref ? short(ref.name) : null,
        ratio: r.ratio,
        aim: r.minRatio === undefined ? null : `ratio >= ${r.minRatio}`,
        met: r.targetMet,
        skipped: r.skipped ? r.reason : null,
      });
    });
}

/** Which code was measured: the commit, and whether the working tree differed from it. */
function revision() {
  try {
    const git = (...args) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', '--short', 'HEAD'), dirty: git('status', '--porcelain') !== '' };
  } catch {
    return undefined;
  }
}

async function main() {
  const options = readOptions();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run bench`, which builds first');
  }
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-admin-bench-'));
  const procs = [];
  const cleanups = [];
  let shutdownPromise;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
      for (const fn of cleanups.reverse())
        await fn().catch((e) => console.error(`cleanup failed: ${e.message}`));
      const crashed = procs.filter((p) => p.exitCode !== undefined);
      const codes = await Promise.all(procs.map((p) => lib.stopProcess(p, STOP_TIMEOUT_MS)));
      procs.forEach((p, i) => {
        if (codes[i] === 0) return;
        const when = crashed.includes(p) ? 'on its own' : 'after SIGTERM';
        console.error(
          `note: ${p.name} exited with ${codes[i]} ${when} (log: ${path.relative(ROOT, p.logFile)})`,
        );
      });
      fs.rmSync(tmp, { recursive: true, force: true });
    })());
  for (const [signal, code] of Object.entries({ SIGINT: 130, SIGTERM: 143 })) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping the servers`);
      void shutdown().finally(() => process.exit(code));
    });
  }

  try {
    const baselinePort = await lib.freePort();
    let servicePort = await lib.freePort();
    while (servicePort === baselinePort) servicePort = await lib.freePort();
    const admin = { email: 'bench-admin@bench.invalid', password: crypto.randomBytes(16).toString('hex') };
    const baselineUrl = `http://${lib.LOOPBACK}:${baselinePort}`;
    const serviceUrl = `http://${lib.LOOPBACK}:${servicePort}`;
    const baseline = lib.startNode('baseline', [path.join(__dirname, 'baseline-server.js')], {
      cwd: ROOT,
      env: { ...process.env, HOST: lib.LOOPBACK, PORT: String(baselinePort) },
      logFile: path.join(RESULTS_DIR, 'baseline.log'),
    });
    procs.push(baseline);
    const service = lib.startNode(
      'service',
      [...options.serviceNodeArgs, path.join(ROOT, 'dist', 'main.js')],
      {
        cwd: ROOT,
        env: lib.serviceEnv({
          port: servicePort,
          tmp,
          admin,
          logLevel: options.logLevel,
          databaseUrl: options.databaseUrl,
          redisUrl: options.redisUrl,
        }),
        logFile: path.join(RESULTS_DIR, 'service.log'),
      },
    );
    procs.push(service);

    console.log(
      `database: ${options.databaseUrl ? 'BENCH_DATABASE_URL' : 'embedded PGlite (fresh)'}, ` +
        `redis: ${options.redisUrl ? 'BENCH_REDIS_URL' : 'none'}, LOG_LEVEL=${options.logLevel}`,
    );
    console.log('waiting for the service to be ready...');
    const started = Date.now();
    try {
      await Promise.all([
        lib.waitForOk(`${baselineUrl}/`, { proc: baseline, timeoutMs: 30_000 }),
        lib.waitForOk(`${serviceUrl}/health/ready`, { proc: service, timeoutMs: READY_TIMEOUT_MS }),
      ]);
    } catch (error) {
      for (const p of procs) console.error(`--- ${p.name} output (last lines) ---\n${lib.tail(p.logFile)}`);
      throw error;
    }
    const readyAfterMs = Date.now() - started;
    console.log(`ready after ${(readyAfterMs / 1000).toFixed(1)} s`);
    // Everything from here on, the catalogue import included, counts as load.
    const rssWatch = lib.watchRss(service.child.pid, 'service');

    const ctx = {
      serviceUrl,
      baselineUrl,
      redisUrl: options.redisUrl,
      admin,
      request: lib.request,
      onCleanup: (fn) => cleanups.push(fn),
      startStubServer: async (handler) => {
        const stub = await lib.startStubServer(handler);
        cleanups.push(stub.close);
        return stub;
      },
    };

    const targets = {
      service: { url: serviceUrl, pid: service.child.pid },
      baseline: { url: baselineUrl, pid: baseline.child.pid },
    };
    const results = [];
    for (const scenario of scenarios) {
      const unmet = unmetNeeds(scenario, options);
      if (unmet.length > 0) {
        const reason = `needs ${unmet.join(', ')}`;
        console.log(`  ${scenario.name}: skipped, ${reason}`);
        results.push({ name: scenario.name, target: scenario.target, skipped: true, reason });
        continue;
      }
      results.push(await measure(scenario, ctx, targets, options));
    }
    const rss = rssWatch.stop();
    addRatios(results);
    printTable(results, rss);

    const failed = results.filter((r) => !r.skipped && r.errors + r.non2xx > 0);
    const details = {
      revision: revision(),
      settings: {
        durationSeconds: options.duration,
        warmupSeconds: options.warmup,
        connections: options.connections,
        logLevel: options.logLevel,
        database: options.databaseUrl ? 'PostgreSQL (BENCH_DATABASE_URL)' : 'embedded PGlite',
        redis: Boolean(options.redisUrl),
        serviceNodeArgs: options.serviceNodeArgs,
      },
      serviceReadyAfterMs: readyAfterMs,
      scenarios: results,
    };
    console.log('');
    lib.writeResults('http', { ok: failed.length === 0, rows: summaryRows(results), rss, details });
    if (failed.length > 0) {
      for (const r of failed) {
        console.error(`FAILED: ${r.name}: ${r.errors} errors (${r.timeouts} timeouts), ${r.non2xx} non-2xx`);
      }
      process.exitCode = 1;
    }
  } finally {
    await shutdown();
  }
}

main().catch((error) => {
  console.error(`bench failed: ${error.message}`);
  process.exitCode = 1;
});
