'use strict';

// Process, port, HTTP, memory and results helpers for the bench scripts. Plain CommonJS so the harness
// runs without a build.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { randomBytes } = require('node:crypto');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('pg');
const autocannon = require('autocannon');

const LOOPBACK = '127.0.0.1';

/** Load is only ever pointed at this machine: refuse anything else outright. */
function assertLoopback(url) {
  const { hostname } = new URL(url);
  if (hostname !== LOOPBACK) throw new Error(`refusing to target ${url}: only ${LOOPBACK} is allowed`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, LOOPBACK, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const children = new Set();

/**
 * Starts `node <args>` with its output going to a log file rather than a pipe: a pipe the harness
 * does not drain would eventually block the child, and draining it would cost CPU during the load.
 */
function startNode(name, args, { env, cwd, logFile }) {
  const fd = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const proc = { name, child, logFile, exitCode: undefined };
  proc.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      proc.exitCode = code ?? signal;
      children.delete(proc);
      resolve(proc.exitCode);
    });
  });
  children.add(proc);
  return proc;
}

/** SIGTERM, then SIGKILL if the child has not exited after `timeoutMs`. Resolves to its exit code. */
async function stopProcess(proc, timeoutMs = 15_000) {
  if (proc.exitCode !== undefined) return proc.exitCode;
  proc.child.kill('SIGTERM');
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs, 'timeout')));
  const result = await Promise.race([proc.exited, timeout]);
  clearTimeout(timer);
  if (result !== 'timeout') return result;
  console.error(`${proc.name} did not exit ${timeoutMs} ms after SIGTERM; sending SIGKILL`);
  proc.child.kill('SIGKILL');
  return proc.exited;
}

// Last resort if the harness itself dies: never leave a server behind holding a port.
process.on('exit', () => {
  for (const proc of children) proc.child.kill('SIGKILL');
});

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** Objects are sent as JSON, with a JSON content type unless the caller chose another. */
function encodeBody(headers = {}, body) {
  const payload = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
  const allHeaders = { ...headers };
  if (payload !== undefined && !Object.keys(allHeaders).some((h) => h.toLowerCase() === 'content-type')) {
    allHeaders['content-type'] = 'application/json';
  }
  return { payload, allHeaders };
}

/** One HTTP request on loopback; resolves to { status, headers, body } with body parsed if JSON. */
function request(url, { method = 'GET', headers = {}, body, timeoutMs = 5_000 } = {}) {
  assertLoopback(url);
  const { payload, allHeaders } = encodeBody(headers, body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: allHeaders, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = text;
        if (/json/.test(res.headers['content-type'] ?? '')) {
          try {
            parsed = JSON.parse(text);
          } catch {
            // Leave it as text; the caller sees what came back.
          }
        }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Polls until `url` answers 200. Gives up early if the process serving it exits. */
async function waitForOk(url, { proc, timeoutMs }) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== undefined) {
      throw new Error(`${proc.name} exited (${proc.exitCode}) before ${url} answered 200`);
    }
    try {
      const res = await request(url, { timeoutMs: 2_000 });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error.message;
    }
    await sleep(250);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

/** Resident set size in MiB, from /proc where there is one and from ps elsewhere (macOS). */
function rssMiB(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // Not Linux, or the process is gone; fall through to ps.
  }
  try {
    return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) / 1024;
  } catch {
    return undefined;
  }
}

let clockTicks;

/**
 * CPU time (user + system) the process has used so far, in ms; Linux only. Per request it shows the
 * server's own cost, which a busy machine disturbs far less than it disturbs req/s.
 */
function cpuMs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}

function runAutocannon({ url, method = 'GET', headers, body, connections, duration }) {
  assertLoopback(url);
  const { payload, allHeaders } = encodeBody(headers, body);
  return new Promise((resolve, reject) => {
    autocannon({ url, method, headers: allHeaders, body: payload, connections, duration }, (error, result) =>
      error ? reject(error) : resolve(result),
    );
  });
}

/** A throwaway HTTP server on loopback for scenarios that need something to call (an LLM stub, say). */
function startStubServer(handler) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handler);
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address();
      resolve({
        url: `http://${LOOPBACK}:${port}`,
        port,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** An integer setting from the environment, within bounds; the fallback when unset. */
function intFromEnv(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max} (got '${raw}')`);
  }
  return value;
}

/** A fresh database of its own on a PostgreSQL server, for one in-process benchmark. */
async function createBenchDatabase(serverUrl) {
  const name = `mcp_admin_bench_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * The environment of `node dist/main.js` under a bench: production mode with a fresh secret and first
 * administrator, on loopback, an embedded database in `tmp` unless `databaseUrl` is given, rate limits
 * off. Whatever the shell has, the database and Redis are only the ones the bench was told to use.
 */
function serviceEnv({ port, tmp, admin, logLevel, databaseUrl, redisUrl }) {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATABASE_URL_FILE', 'REDIS_URL', 'REDIS_URL_FILE']) delete env[name];
  Object.assign(env, {
    NODE_ENV: 'production',
    // Production refuses to start without a strong secret, or on an empty database without a first
    // administrator. These live for one run.
    JWT_SECRET: randomBytes(32).toString('hex'),
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    HOST: LOOPBACK,
    PORT: String(port),
    // A subdirectory, because the data directory's lock file is written beside it.
    PGLITE_DATA_DIR: path.join(tmp, 'pglite'),
    TOOLS_FS_ROOT: path.join(tmp, 'files'),
    RATE_LIMIT_ENABLED: 'false',
    LOG_LEVEL: logLevel,
  });
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  if (redisUrl) env.REDIS_URL = redisUrl;
  return env;
}

/** The machine a run measured, for the results file. */
function machine() {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The settings every load bench reads: duration, warm-up, the service's log level, database, Redis
 * and extra node arguments (e.g. "--cpu-prof --cpu-prof-dir=bench/results": the profile is written
 * when the service exits).
 */
function loadOptions() {
  const logLevel = process.env.BENCH_LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel))
    throw new Error(`BENCH_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    duration: intFromEnv('BENCH_DURATION', 10, 1, 300),
    warmup: intFromEnv('BENCH_WARMUP', 2, 0, 60),
    logLevel,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    redisUrl: process.env.BENCH_REDIS_URL || undefined,
    serviceNodeArgs: (process.env.BENCH_SERVICE_NODE_ARGS || '').split(/\s+/).filter(Boolean),
  };
}

/** Every script `npm run bench` runs (bench/all.js), in order, and the name it writes its results under. */
const BENCHES = [
  { name: 'http', script: 'run.js', title: 'HTTP scenarios' },
  { name: 'audit', script: 'audit-throughput.js', title: 'Audit trail' },
  { name: 'pipeline', script: 'pipeline-throughput.js', title: 'Pipeline' },
  { name: 'mcp', script: 'mcp-throughput.js', title: 'MCP over Streamable HTTP' },
];

const RESULTS_DIR = path.join(__dirname, 'results');
const RSS_SAMPLE_MS = 250;

function resultsFile(name) {
  return path.join(RESULTS_DIR, `${name}-latest.json`);
}

const round1 = (v) => (v === undefined || v === null ? null : Math.round(v * 10) / 10);

/**
 * Watches a process's resident memory from the moment it is ready: `idle` is read at once, before any
 * load; then it is sampled every 250 ms until stop(), which answers the peak as "under load" (a single
 * reading after the load misses what the garbage collector has already given back).
 */
function watchRss(pid, label) {
  const idle = rssMiB(pid);
  let peak;
  let samples = 0;
  const sample = () => {
    const value = rssMiB(pid);
    if (value === undefined) return;
    peak = Math.max(peak ?? value, value);
    samples += 1;
  };
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  // A sampler must never be what keeps a finished bench alive.
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return {
        process: label,
        idleMiB: round1(idle),
        underLoadMiB: round1(peak),
        afterLoadMiB: round1(rssMiB(pid)),
        samples,
        sampleIntervalMs: RSS_SAMPLE_MS,
      };
    },
  };
}

/** "123.4 MiB when ready, peak 234.5 MiB under load, 200.1 MiB after", for a script's own output. */
function describeRss(rss) {
  const mib = (v) => (v === null || v === undefined ? 'n/a' : `${v.toFixed(1)} MiB`);
  return (
    `${rss.process} RSS: ${mib(rss.idleMiB)} when ready, peak ${mib(rss.underLoadMiB)} under load ` +
    `(${rss.samples} samples), ${mib(rss.afterLoadMiB)} after`
  );
}

/**
 * One row of a results file, the same shape for every script. `aim` is a short human statement of
 * what the figure (or the ratio, when there is one) should reach; `met` is null where there is no aim
 * or it does not apply to this run.
 */
function resultRow({ scenario, unit, ours, baseline, baselineName, ratio, aim, met, note, skipped }) {
  return {
    scenario,
    unit,
    ours: ours ?? null,
    baseline: baseline ?? null,
    baselineName: baselineName ?? null,
    ratio: ratio ?? null,
    aim: aim ?? null,
    met: met ?? null,
    note: note ?? null,
    skipped: skipped ?? null,
  };
}

/**
 * Writes a script's results to bench/results/<name>-latest.json: the summary rows, the service's RSS
 * (from watchRss) and whatever else the script measured under `details`. BENCH_RUN_ID, set by
 * bench/all.js, tells bench/summary.js that the file belongs to the run it summarises.
 */
function writeResults(name, { ok, rows, rss, details }) {
  if (!BENCHES.some((b) => b.name === name)) throw new Error(`unknown bench '${name}'`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = resultsFile(name);
  const report = {
    bench: name,
    runId: process.env.BENCH_RUN_ID || null,
    date: new Date().toISOString(),
    machine: machine(),
    ok,
    rows,
    rss: rss ?? null,
    details: details ?? {},
  };
  // Written whole and renamed, so that a reader never sees half a file.
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
  console.log(`results written to ${path.relative(process.cwd(), file)}`);
  return report;
}

/** Runs a bench's main when the file is run directly; a failure prints its stack and exits 1. */
function runMain(module, main) {
  if (require.main !== module) return;
  main().catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  });
}

module.exports = {
  BENCHES,
  RESULTS_DIR,
  resultsFile,
  watchRss,
  describeRss,
  resultRow,
  writeResults,
  loadOptions,
  runMain,
  machine,
  serviceEnv,
  intFromEnv,
  createBenchDatabase,
  LOOPBACK,
  assertLoopback,
  freePort,
  sleep,
  startNode,
  stopProcess,
  tail,
  request,
  waitForOk,
  rssMiB,
  cpuMs,
  runAutocannon,
  startStubServer,
};
