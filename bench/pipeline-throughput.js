'use strict';

/**
 * Pipeline throughput: a run of BENCH_PIPELINE_ITEMS (1000) meta_optimization items against a stub
 * LLM on loopback that answers after BENCH_PIPELINE_LATENCY_MS (50 ms), at concurrency
 * BENCH_PIPELINE_CONCURRENCY (16). Prints the wall time of the run as a ratio to the ideal
 * (items x latency / concurrency); the aim is <= 1.25. Runs the built modules in-process (dist/), on
 * BENCH_DATABASE_URL's server when given, else on a fresh embedded PGlite. Writes
 * bench/results/pipeline-latest.json, with this process's memory (the app's) idle and at its peak.
 *
 *   node bench/pipeline-throughput.js        (npm run bench runs it after the HTTP scenarios)
 */
const { mkdtempSync, rmSync } = require('node:fs');
const { createServer } = require('node:http');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { Writable } = require('node:stream');
const {
  createBenchDatabase,
  describeRss,
  intFromEnv,
  resultRow,
  runMain,
  watchRss,
  writeResults,
} = require('./lib');

/** The aim: the run's wall time at most this many times the ideal. */
const AIM_RATIO_TO_IDEAL = 1.25;
/** A run that has not finished after this many times its ideal time is stuck, not slow. */
const GIVE_UP_RATIO_TO_IDEAL = 40;
const GIVE_UP_MIN_MS = 120_000;

const dist = join(__dirname, '..', 'dist');

/** An Ollama-shaped /api/chat that answers valid meta_optimization output after a fixed delay. */
function startStubLlm(latencyMs) {
  const content = JSON.stringify({
    seoTitle: 'Walnut Floor Lamp with Linen Shade | Lumen Lighting',
    seoDescription:
      'A walnut floor lamp with a soft linen shade that brings warm, even light to reading corners and living rooms. Order yours today.',
    seoKeywords: [
      'walnut floor lamp',
      'linen shade lamp',
      'reading lamp',
      'living room lighting',
      'wood floor lamp',
    ],
    confidence: 0.8,
  });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            model: 'bench-model',
            message: { role: 'assistant', content },
            done: true,
            done_reason: 'stop',
            prompt_eval_count: 200,
            eval_count: 60,
          }),
        );
      }, latencyMs);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const items = intFromEnv('BENCH_PIPELINE_ITEMS', 1000, 10, 100_000);
  const latencyMs = intFromEnv('BENCH_PIPELINE_LATENCY_MS', 50, 1, 10_000);
  const concurrency = intFromEnv('BENCH_PIPELINE_CONCURRENCY', 16, 1, 64);
  const serverUrl = process.env.BENCH_DATABASE_URL;
  const database = serverUrl ? await createBenchDatabase(serverUrl) : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'mcp-admin-bench-pipeline-'));
  const stub = await startStubLlm(latencyMs);

  const { loadConfig } = require(join(dist, 'config', 'load-config.js'));
  const { createApp } = require(join(dist, 'app.setup.js'));
  const { RequestContext } = require(join(dist, 'common', 'request-context.js'));
  const { CatalogImporter } = require(join(dist, 'catalog', 'import', 'catalog-importer.js'));
  const { PipelineRunsService } = require(join(dist, 'pipelines', 'pipeline-runs.service.js'));

  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    JWT_SECRET: randomBytes(48).toString('base64url'),
    ADMIN_EMAIL: 'bench@example.com',
    ADMIN_PASSWORD: randomBytes(18).toString('base64url'),
    PGLITE_DATA_DIR: join(dataDir, 'pglite'),
    DB_POOL_SIZE: '32',
    OLLAMA_URL: `http://127.0.0.1:${stub.address().port}`,
    LLM_DEFAULT_MODEL: 'bench-model',
    LLM_MAX_CONCURRENCY: String(Math.max(concurrency, 8)),
    ...(database ? { DATABASE_URL: database.url } : {}),
  });
  const quiet = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const app = await createApp(config, { logDestination: quiet });
  await app.init();
  try {
    const context = app.get(RequestContext);
    const principal = { kind: 'system', id: 'bench', label: 'bench', permissions: new Set() };
    // The app runs in this process, so this process's memory is the replica's; the import counts as load.
    const rssWatch = watchRss(process.pid, 'in-process app');
    const ids = Array.from({ length: items }, (_, i) => 5_000_000 + i);
    await context.run(async () => {
      for (let start = 0; start < ids.length; start += 250) {
        await app.get(CatalogImporter).importBatch(
          ids.slice(start, start + 250).map((id, index) => ({
            position: start + index + 1,
            value: {
              id,
              title: `Walnut Floor Lamp ${id}`,
              handle: `walnut-floor-lamp-${id}`,
              vendor: 'Lumen',
            },
          })),
        );
      }
    });
    const runs = app.get(PipelineRunsService);
    const ideal = (items * latencyMs) / concurrency / 1000;
    const giveUpAt = Date.now() + Math.max(GIVE_UP_MIN_MS, ideal * 1000 * GIVE_UP_RATIO_TO_IDEAL);
    const started = process.hrtime.bigint();
    const response = await context.run(
      () => runs.start({ task: 'meta_optimization', selection: { all: true }, concurrency }, undefined),
      { principal },
    );
    let run;
    for (;;) {
      run = await context.run(() => runs.get(response.body.id));
      if (!['queued', 'running'].includes(run.status) && run.counts.running === 0) break;
      if (Date.now() > giveUpAt) {
        const waited = Math.round(Number(process.hrtime.bigint() - started) / 1e9);
        throw new Error(`the run is still ${run.status} after ${waited} s: ${JSON.stringify(run.counts)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rss = rssWatch.stop();
    const result = {
      database: database ? 'PostgreSQL (BENCH_DATABASE_URL)' : 'embedded PGlite',
      items,
      latencyMs,
      concurrency,
      status: run.status,
      counts: run.counts,
      seconds: Math.round(seconds * 100) / 100,
      idealSeconds: Math.round(ideal * 100) / 100,
      ratioToIdeal: Math.round((seconds / ideal) * 100) / 100,
    };
    process.stdout.write(
      `\nPipeline (${result.database}, ${items} items, stub LLM ${latencyMs} ms, concurrency ${concurrency})\n` +
        `  run     ${result.status} in ${result.seconds} s; ideal ${result.idealSeconds} s; ratio ${result.ratioToIdeal} (aim <= ${AIM_RATIO_TO_IDEAL})\n` +
        `  ${describeRss(rss)}\n\n`,
    );
    writeResults('pipeline', {
      ok: run.status === 'completed',
      rows: [
        resultRow({
          scenario: `pipeline: ${items} items, stub LLM ${latencyMs} ms, concurrency ${concurrency}`,
          unit: 's',
          ours: result.seconds,
          baseline: result.idealSeconds,
          baselineName: 'ideal',
          ratio: result.ratioToIdeal,
          aim: `ratio <= ${AIM_RATIO_TO_IDEAL}`,
          met: result.ratioToIdeal <= AIM_RATIO_TO_IDEAL,
          note:
            run.status === 'completed' ? null : `the run ended ${run.status}: ${JSON.stringify(run.counts)}`,
        }),
      ],
      rss,
      details: result,
    });
    if (run.status !== 'completed') process.exitCode = 1;
    return result;
  } finally {
    await app.close();
    stub.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

module.exports = { runPipelineThroughput: main };

runMain(module, main);
