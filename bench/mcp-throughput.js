'use strict';

/**
 * MCP over Streamable HTTP: the built service's `POST /mcp` (bearer JWT, guards, permission check,
 * audit) against the bare SDK transport (bench/mcp-baseline-server.js), both started here on
 * loopback, for `tools/list` and `tools/call`; and the same tool call over the REST face. Prints a
 * table of req/s, p50/p99 and the ratio to the bare SDK's same operation, writes the figures to
 * bench/results/mcp-latest.json, and reports (does not enforce) the aim: ours >= 1.0x the bare
 * server's calls/s with a p99 no worse. Exits non-zero only when a run fails or sees a non-2xx.
 *
 *   node bench/mcp-throughput.js            (npm run bench runs it last, before its summary)
 *   BENCH_MCP_CONNECTIONS=64 BENCH_DURATION=20 node bench/mcp-throughput.js
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const { LATEST_PROTOCOL_VERSION } = require('@modelcontextprotocol/sdk/types.js');
const lib = require('./lib');

const ROOT = path.resolve(__dirname, '..');
const RESULTS_DIR = lib.RESULTS_DIR;
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
// A principal holds at most 100 MCP sessions (src/mcp/mcp-sessions.ts); one more would close the
// oldest, and with it a connection's session mid-run.
const MAX_CONNECTIONS = 100;

const TOOL_ARGUMENTS = { query: 'lamp', limit: 5 };
const MCP_HEADERS = {
  accept: 'application/json, text/event-stream',
  'content-type': 'application/json',
  'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
};

function rpc(id, method, params) {
  return JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
}

function readOptions() {
  return {
    ...lib.loadOptions(),
    connections: lib.intFromEnv('BENCH_MCP_CONNECTIONS', 32, 1, MAX_CONNECTIONS),
  };
}

async function login(serviceUrl, admin) {
  const res = await lib.request(`${serviceUrl}/api/v1/auth/login`, {
    method: 'POST',
    body: { email: admin.email, password: admin.password },
  });
  if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status}`);
  return res.body.accessToken;
}

/** Opens one Streamable HTTP session as a client would; answers the headers its requests carry. */
async function openSession(serviceUrl, token) {
  const headers = { ...MCP_HEADERS, authorization: `Bearer ${token}` };
  const init = await lib.request(`${serviceUrl}/mcp`, {
    method: 'POST',
    headers,
    body: rpc(0, 'initialize', {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-admin-bench', version: '0.0.0' },
    }),
  });
  const sessionId = init.headers['mcp-session-id'];
  if (init.status !== 200 || !sessionId) {
    throw new Error(`MCP initialize answered HTTP ${init.status} without a session: ${String(init.body)}`);
  }
  const sessionHeaders = { ...headers, 'mcp-session-id': sessionId };
  const ack = await lib.request(`${serviceUrl}/mcp`, {
    method: 'POST',
    headers: sessionHeaders,
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  if (ack.status !== 202) throw new Error(`notifications/initialized answered HTTP ${ack.status}`);
  return sessionHeaders;
}

/** An MCP answer (an SSE frame or JSON) that is a result, and not a tool that failed or was refused. */
function mcpResultOk(text) {
  return text.includes('"result"') && !text.includes('"isError":true');
}

/** The scenarios, in the order they run: each of our operations right after the bare SDK's. */
function scenarios(baselineUrl, serviceUrl, sessions, token) {
  const callParams = (name) => ({ name, arguments: TOOL_ARGUMENTS });
  return [
    {
      name: 'bare SDK: tools/list',
      target: 'baseline',
      op: 'tools/list',
      url: `${baselineUrl}/mcp`,
      body: rpc(1, 'tools/list'),
      headersFor: () => MCP_HEADERS,
      check: mcpResultOk,
    },
    {
      name: 'ours MCP: tools/list',
      target: 'service',
      op: 'tools/list',
      aim: true,
      url: `${serviceUrl}/mcp`,
      body: rpc(1, 'tools/list'),
      headersFor: (i) => sessions[i % sessions.length],
      check: (text) => mcpResultOk(text) && text.includes('"search_taxonomy"'),
    },
    {
      name: 'bare SDK: tools/call noop',
      target: 'baseline',
      op: 'tools/call',
      url: `${baselineUrl}/mcp`,
      body: rpc(2, 'tools/call', callParams('noop')),
      headersFor: () => MCP_HEADERS,
      check: mcpResultOk,
    },
    {
      name: 'ours MCP: tools/call search_taxonomy',
      target: 'service',
      op: 'tools/call',
      aim: true,
      url: `${serviceUrl}/mcp`,
      body: rpc(2, 'tools/call', callParams('search_taxonomy')),
      headersFor: (i) => sessions[i % sessions.length],
      // An empty taxonomy would make the call cheaper than it is: the probe must find lamps.
      check: (text) => mcpResultOk(text) && /lamp/i.test(text),
    },
    {
      name: 'ours REST: POST /api/v1/tools/search_taxonomy/execute',
      target: 'service',
      op: 'tools/call',
      url: `${serviceUrl}/api/v1/tools/search_taxonomy/execute`,
      body: JSON.stringify({ arguments: TOOL_ARGUMENTS }),
      headersFor: () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' }),
      check: (text) => text.includes('"content"') && !text.includes('"isError":true') && /lamp/i.test(text),
    },
  ];
}

/** autocannon with headers of each connection's own (lib.runAutocannon sends the same ones on all). */
function runLoad(scenario, connections, duration) {
  lib.assertLoopback(scenario.url);
  let next = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: scenario.url,
        method: 'POST',
        headers: scenario.headersFor(0),
        body: scenario.body,
        connections,
        duration,
        setupClient: (client) => client.setHeaders(scenario.headersFor(next++)),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

async function measure(scenario, pids, options) {
  // One request first, so that a broken setup reads as such, not as a fast run of refusals.
  const probe = await lib.request(scenario.url, {
    method: 'POST',
    headers: scenario.headersFor(0),
    body: scenario.body,
  });
  const text = typeof probe.body === 'string' ? probe.body : JSON.stringify(probe.body);
  if (probe.status < 200 || probe.status >= 300 || !scenario.check(text)) {
    throw new Error(`${scenario.name}: the probe answered HTTP ${probe.status}: ${text.slice(0, 500)}`);
  }

  process.stdout.write(`  ${scenario.name}: `);
  if (options.warmup > 0) {
    process.stdout.write(`warm-up ${options.warmup} s, `);
    await runLoad(scenario, options.connections, options.warmup);
  }
  process.stdout.write(`measuring ${options.duration} s with ${options.connections} connections\n`);
  const pid = pids[scenario.target];
  const cpuBefore = lib.cpuMs(pid);
  const r = await runLoad(scenario, options.connections, options.duration);
  const cpuUsed = lib.cpuMs(pid) - cpuBefore;
  return {
    name: scenario.name,
    target: scenario.target,
    operation: scenario.op,
    url: new URL(scenario.url).pathname,
    // A tools/list answer grows with the tools listed (the bare SDK lists one): the size explains a lot.
    responseBytes: Buffer.byteLength(text),
    requestsPerSec: r.requests.mean,
    requestsPerSecStddev: r.requests.stddev,
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean, max: r.latency.max },
    requests: r.requests.total,
    serverCpuUsPerRequest: Number.isFinite(cpuUsed) ? (cpuUsed * 1000) / r.requests.total : undefined,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    aim: scenario.aim === true,
  };
}

/** Each of our scenarios against the bare SDK's same operation; the aim where the scenario has one. */
function compare(results) {
  for (const r of results) {
    if (r.target !== 'service') continue;
    const ref = results.find((b) => b.target === 'baseline' && b.operation === r.operation);
    if (!ref) continue;
    r.baseline = ref.name;
    r.ratio = r.requestsPerSec / ref.requestsPerSec;
    if (r.aim) r.aimMet = r.ratio >= 1 && r.latencyMs.p99 <= ref.latencyMs.p99;
  }
}

function printTable(results, rss) {
  const rows = [
    [
      'scenario',
      'req/s (mean)',
      'p50 ms',
      'p99 ms',
      'ours/bare SDK',
      'server CPU us/req',
      'answer bytes',
      'errors+non2xx',
    ],
  ];
  for (const r of results) {
    rows.push([
      r.name,
      r.requestsPerSec.toFixed(0),
      String(r.latencyMs.p50),
      String(r.latencyMs.p99),
      r.ratio === undefined ? '-' : r.ratio.toFixed(2),
      r.serverCpuUsPerRequest === undefined ? '-' : r.serverCpuUsPerRequest.toFixed(0),
      String(r.responseBytes),
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
    if (r.aimMet === undefined) continue;
    const ref = results.find((b) => b.name === r.baseline);
    console.log(
      `aim: ${r.name} >= 1.0 x ${r.baseline} calls/s with a p99 no worse: ${r.aimMet ? 'met' : 'NOT met'} ` +
        `(${r.ratio.toFixed(2)} x; p99 ${r.latencyMs.p99} ms vs ${ref.latencyMs.p99} ms)`,
    );
  }
}

/** The rows of the run's summary: our scenarios against the bare SDK's same operation. */
function summaryRows(results) {
  return results
    .filter((r) => r.target === 'service')
    .map((r) => {
      const ref = results.find((b) => b.name === r.baseline);
      return lib.resultRow({
        scenario: r.name,
        unit: 'req/s',
        ours: r.requestsPerSec,
        baseline: ref?.requestsPerSec,
        baselineName: ref?.name,
        ratio: r.ratio,
        aim: r.aim ? 'ratio >= 1.0, p99 no worse' : null,
        met: r.aimMet,
        note: ref ? `p99 ${r.latencyMs.p99} ms vs ${ref.latencyMs.p99} ms` : `p99 ${r.latencyMs.p99} ms`,
      });
    });
}

/** Both servers started and ready; everything started is registered with `cleanups` or `procs`. */
async function startServers(options, tmp, procs, cleanups) {
  const baselinePort = await lib.freePort();
  let servicePort = await lib.freePort();
  while (servicePort === baselinePort) servicePort = await lib.freePort();
  const admin = { email: 'bench-admin@bench.invalid', password: crypto.randomBytes(16).toString('hex') };
  // A database of its own on the given server, so the audit events of earlier runs do not pile up.
  let databaseUrl;
  if (options.databaseUrl) {
    const database = await lib.createBenchDatabase(options.databaseUrl);
    cleanups.push(database.drop);
    databaseUrl = database.url;
  }
  const baseline = lib.startNode('MCP baseline', [path.join(__dirname, 'mcp-baseline-server.js')], {
    cwd: ROOT,
    env: { ...process.env, HOST: lib.LOOPBACK, PORT: String(baselinePort) },
    logFile: path.join(RESULTS_DIR, 'mcp-baseline.log'),
  });
  procs.push(baseline);
  const service = lib.startNode('service', [...options.serviceNodeArgs, path.join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env: lib.serviceEnv({
      port: servicePort,
      tmp,
      admin,
      logLevel: options.logLevel,
      databaseUrl,
      redisUrl: options.redisUrl,
    }),
    logFile: path.join(RESULTS_DIR, 'mcp-service.log'),
  });
  procs.push(service);
  const baselineUrl = `http://${lib.LOOPBACK}:${baselinePort}`;
  const serviceUrl = `http://${lib.LOOPBACK}:${servicePort}`;
  console.log(
    `MCP over Streamable HTTP (database: ${databaseUrl ? 'BENCH_DATABASE_URL' : 'embedded PGlite (fresh)'}, ` +
      `redis: ${options.redisUrl ? 'BENCH_REDIS_URL' : 'none'}, LOG_LEVEL=${options.logLevel})`,
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
  return { admin, baseline, service, baselineUrl, serviceUrl, readyAfterMs };
}

async function run(options, tmp, procs, cleanups) {
  const servers = await startServers(options, tmp, procs, cleanups);
  // Everything from here on, opening the sessions included, counts as load.
  const rssWatch = lib.watchRss(servers.service.child.pid, 'service');
  const token = await login(servers.serviceUrl, servers.admin);
  const sessions = [];
  for (let i = 0; i < options.connections; i++) sessions.push(await openSession(servers.serviceUrl, token));
  console.log(`opened ${sessions.length} MCP sessions`);

  const pids = { baseline: servers.baseline.child.pid, service: servers.service.child.pid };
  const results = [];
  for (const scenario of scenarios(servers.baselineUrl, servers.serviceUrl, sessions, token)) {
    results.push(await measure(scenario, pids, options));
  }
  const rss = rssWatch.stop();
  compare(results);
  printTable(results, rss);

  const failed = results.filter((r) => r.errors + r.non2xx > 0);
  const details = {
    settings: {
      durationSeconds: options.duration,
      warmupSeconds: options.warmup,
      connections: options.connections,
      logLevel: options.logLevel,
      database: options.databaseUrl ? 'PostgreSQL (BENCH_DATABASE_URL)' : 'embedded PGlite',
      redis: Boolean(options.redisUrl),
      serviceNodeArgs: options.serviceNodeArgs,
      protocolVersion: LATEST_PROTOCOL_VERSION,
    },
    serviceReadyAfterMs: servers.readyAfterMs,
    scenarios: results,
  };
  console.log('');
  const report = lib.writeResults('mcp', {
    ok: failed.length === 0,
    rows: summaryRows(results),
    rss,
    details,
  });
  for (const r of failed) {
    console.error(`FAILED: ${r.name}: ${r.errors} errors (${r.timeouts} timeouts), ${r.non2xx} non-2xx`);
  }
  if (failed.length > 0) process.exitCode = 1;
  return report;
}

async function main() {
  const options = readOptions();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run bench`, which builds first');
  }
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-admin-bench-mcp-'));
  const procs = [];
  const cleanups = [];
  let shutdownPromise;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
      const codes = await Promise.all(procs.map((p) => lib.stopProcess(p, STOP_TIMEOUT_MS)));
      procs.forEach((p, i) => {
        if (codes[i] !== 0) console.error(`note: ${p.name} exited with ${codes[i]} (log: ${p.logFile})`);
      });
      // The database goes after the service that holds connections to it.
      for (const fn of cleanups.reverse())
        await fn().catch((e) => console.error(`cleanup failed: ${e.message}`));
      fs.rmSync(tmp, { recursive: true, force: true });
    })());
  for (const [signal, code] of Object.entries({ SIGINT: 130, SIGTERM: 143 })) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping the servers`);
      void shutdown().finally(() => process.exit(code));
    });
  }
  try {
    return await run(options, tmp, procs, cleanups);
  } finally {
    await shutdown();
  }
}

module.exports = { runMcpThroughput: main };

lib.runMain(module, main);
