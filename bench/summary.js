'use strict';

/**
 * One table of every bench script's results (bench/results/<name>-latest.json): each scenario with our
 * figure, its baseline, the ratio and whether the aim is met, then each script's service memory when
 * ready and at its peak under load against the per-replica aims. Aims are reported, not enforced; a
 * script without results, or whose results say it failed, makes the summary fail.
 *
 *   node bench/summary.js      the latest results of every script, whichever run wrote them
 *
 * bench/all.js calls it with its run id (BENCH_RUN_ID), so that a file an earlier run left behind
 * counts as missing rather than passing for this run's figures.
 */
const fs = require('node:fs');
const lib = require('./lib');

/** Memory per replica, from the issue: under 256 MB when idle and 400 MB under load, read as MiB. */
const RSS_AIMS_MIB = { idle: 256, underLoad: 400 };

/** The file's report, or why there is none to use. */
function readReport(name, runId) {
  let report;
  try {
    report = JSON.parse(fs.readFileSync(lib.resultsFile(name), 'utf8'));
  } catch (error) {
    return { reason: error.code === 'ENOENT' ? 'no results file' : `unreadable results (${error.message})` };
  }
  if (!Array.isArray(report.rows)) return { reason: 'results file in an older format (no rows)' };
  if (runId && report.runId !== runId) return { reason: `only stale results, from ${report.date}` };
  return { report };
}

function number(value) {
  if (value === null || value === undefined) return '-';
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toString();
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ratio(value) {
  if (value === null || value === undefined) return '-';
  // Some ratios are tiny (a products page against /health/live) and would all print as 0.00.
  return value >= 0.1 ? value.toFixed(2) : value.toPrecision(2);
}

function metCell(met, aim) {
  if (met === true) return 'met';
  if (met === false) return 'NOT met';
  return aim ? 'n/a' : '-';
}

function scenarioCells(row) {
  return [
    row.scenario,
    row.skipped ? 'skipped' : `${number(row.ours)} ${row.unit}`,
    row.baseline === null ? '-' : `${number(row.baseline)} [${row.baselineName}]`,
    ratio(row.ratio),
    row.aim ?? '-',
    metCell(row.met, row.aim),
  ];
}

function rssCells(bench, rss) {
  const cell = (label, value, aim) => {
    const met = value === null || value === undefined ? null : value < aim;
    return [
      `${bench.name}: ${rss.process}, ${label}`,
      `${number(value)} MiB`,
      '-',
      '-',
      `< ${aim} MiB`,
      metCell(met, true),
    ];
  };
  return [
    cell('idle (when ready)', rss.idleMiB, RSS_AIMS_MIB.idle),
    cell('under load (peak)', rss.underLoadMiB, RSS_AIMS_MIB.underLoad),
  ];
}

/** Rows of cells, or a section title (a string), as an aligned plain-text table. */
function printTable(header, body) {
  const rows = body.filter((r) => Array.isArray(r));
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i].length)));
  const line = (row) =>
    row
      .map((cell, i) => (i === 0 || i >= 4 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(Array.isArray(row) ? line(row) : `${row}`);
}

function databaseOf(report) {
  const details = report.details ?? {};
  return details.settings?.database ?? details.database;
}

/**
 * Prints the summary. `exitCodes` (name -> exit code or signal) and `notRun` come from bench/all.js.
 * Answers whether every script left results of this run and reported no failure.
 */
function summarize({ runId, exitCodes = {}, notRun = [] } = {}) {
  const problems = [];
  const notes = [];
  const body = [];
  const memory = [];
  let first;
  for (const bench of lib.BENCHES) {
    const script = `bench/${bench.script}`;
    const code = exitCodes[bench.name];
    const { report, reason } = notRun.includes(bench.name)
      ? { reason: 'not run (interrupted)' }
      : readReport(bench.name, runId);
    if (!report) {
      const exited = code === undefined || code === 0 ? '' : `exited with ${code}, `;
      problems.push(`missing: ${bench.name} (${script}): ${exited}${reason}`);
      body.push(`${bench.title} (${script}): NO RESULTS, ${exited}${reason}`);
      continue;
    }
    first ??= report;
    const database = databaseOf(report);
    // Without a run id the files may come from different runs: say when each was written.
    const when = runId ? '' : `, ${report.date}`;
    body.push(`${bench.title} (${script}${database ? `, ${database}` : ''}${when})`);
    for (const row of report.rows) {
      body.push(scenarioCells(row));
      if (row.skipped) notes.push(`${row.scenario}: skipped, ${row.skipped}`);
      else if (row.note) notes.push(`${row.scenario}: ${row.note}`);
    }
    if (report.rss) memory.push(...rssCells(bench, report.rss));
    if (code !== undefined && code !== 0)
      problems.push(`failed: ${bench.name} (${script}) exited with ${code}`);
    else if (report.ok === false) problems.push(`failed: ${bench.name} (${script}) reported failures`);
  }

  const heading = runId ? `Summary of bench run ${runId}` : 'Summary of the latest bench results';
  console.log(`\n${heading}`);
  if (first) {
    const m = first.machine;
    console.log(
      `${first.date.slice(0, 10)}, ${m.cpus} x ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.platform}, Node.js ${m.node}\n`,
    );
  }
  const header = ['scenario', 'ours', 'baseline', 'ratio', 'aim', 'met'];
  printTable(header, [
    ...body,
    `Memory per replica (RSS, sampled every 250 ms; aims ${RSS_AIMS_MIB.idle} MiB idle, ${RSS_AIMS_MIB.underLoad} MiB under load)`,
    ...memory,
  ]);
  if (notes.length > 0) console.log(`\nnotes:\n${notes.map((n) => `  ${n}`).join('\n')}`);
  console.log('\naims are reported, not enforced');
  for (const problem of problems) console.error(problem);
  return problems.length === 0;
}

module.exports = { summarize, RSS_AIMS_MIB };

lib.runMain(module, async () => {
  if (!summarize({ runId: process.env.BENCH_RUN_ID || undefined })) process.exitCode = 1;
});
