'use strict';

/**
 * What `npm run bench` runs after the build: every bench script in turn (lib.BENCHES), each as a child
 * process writing straight to the terminal, then one summary table of them all (bench/summary.js).
 * One script at a time, so that no two loads share the CPUs. A script that fails does not stop the
 * others; it makes this exit non-zero and the summary names it. Aims are reported, never enforced.
 *
 *   node bench/all.js          measures whatever is in dist/ (npm run bench builds first)
 *
 * Every script reads the BENCH_ variables itself; each can still be run on its own.
 */
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const path = require('node:path');
const lib = require('./lib');
const { summarize } = require('./summary');

let current;
let interrupted;

// Ctrl-C reaches the running script as well (same process group), and it stops its own servers:
// wait for it, then run nothing more. SIGTERM is sent to this process alone, so pass it on.
process.once('SIGINT', () => {
  interrupted = 130;
});
process.once('SIGTERM', () => {
  interrupted = 143;
  current?.kill('SIGTERM');
});

/** Runs `node bench/<script>`; resolves to its exit code, or the signal that ended it. */
function runScript(script, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, script)], { stdio: 'inherit', env });
    current = child;
    child.once('error', (error) => {
      console.error(`could not start ${script}: ${error.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? signal));
  });
}

async function main() {
  // Tells the summary which result files this run wrote: older ones left in bench/results/ do not count.
  const runId = `${new Date().toISOString()}-${randomBytes(3).toString('hex')}`;
  const env = { ...process.env, BENCH_RUN_ID: runId };
  const started = Date.now();
  const exitCodes = {};
  const notRun = [];
  for (const bench of lib.BENCHES) {
    if (interrupted) {
      notRun.push(bench.name);
      continue;
    }
    console.log(`\n=== ${bench.title}: node bench/${bench.script} ===\n`);
    exitCodes[bench.name] = await runScript(bench.script, env);
    current = undefined;
  }
  const ok = summarize({ runId, exitCodes, notRun });
  console.log(`bench run took ${Math.round((Date.now() - started) / 1000)} s`);
  process.exitCode = interrupted ?? (ok ? 0 : 1);
}

lib.runMain(module, main);
