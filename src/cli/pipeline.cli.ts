import 'reflect-metadata';
import { SingleBar } from 'cli-progress';
import { createApp } from '../app.setup';
import { AppError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { ConfigError, loadConfig } from '../config/load-config';
import { EmbeddedDatabaseInUseError } from '../database/embedded-postgres';
import { closeGracefully } from '../observability/shutdown.service';
import { isPipelineTask } from '../pipelines/pipeline-tasks';
import { PipelineRunsService, type Selection } from '../pipelines/pipeline-runs.service';
import { type CliOutput, runAsMain, stdio } from './cli-io';

const USAGE =
  'usage: npm run pipeline -- --task <task> (--all | --unprocessed | --products 1,2,3) [--concurrency N] [--model M] [--max-tokens N]';
const FINISHED = ['completed', 'completed_with_errors', 'failed', 'cancelled'];

interface Args {
  task: string;
  selection: Selection;
  concurrency?: number;
  model?: string;
  maxTokens?: number;
}

function parseArgs(argv: readonly string[]): Args | string {
  const values = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (!name.startsWith('--')) return `unexpected argument ${name}`;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      values.set(name.slice(2), next);
      i++;
    } else values.set(name.slice(2), true);
  }
  const task = values.get('task');
  if (typeof task !== 'string' || !isPipelineTask(task)) return 'give --task with a pipeline task name';
  const kinds = ['all', 'unprocessed', 'products'].filter((kind) => values.has(kind));
  if (kinds.length !== 1) return 'give exactly one of --all, --unprocessed, --products';
  const int = (name: string): number | undefined | string => {
    const raw = values.get(name);
    if (raw === undefined) return undefined;
    return typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : `--${name} needs a number`;
  };
  const concurrency = int('concurrency');
  const maxTokens = int('max-tokens');
  if (typeof concurrency === 'string') return concurrency;
  if (typeof maxTokens === 'string') return maxTokens;
  const products = values.get('products');
  let selection: Selection;
  if (kinds[0] === 'products') {
    if (typeof products !== 'string' || !/^\d+(,\d+)*$/.test(products))
      return '--products needs ids separated by commas';
    selection = { productIds: products.split(',').map(Number) };
  } else selection = kinds[0] === 'all' ? { all: true } : { unprocessed: true };
  const model = values.get('model');
  return {
    task,
    selection,
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(typeof model === 'string' ? { model } : {}),
  };
}

/**
 * `npm run pipeline -- --task meta_optimization --all [--concurrency 8]`: starts a run and works on it
 * in this process (with any running servers on the same database sharing the items), showing progress,
 * then prints the summary. Exit codes: 0 completed, 3 finished with failed or cancelled items,
 * 1 could not run, 2 usage.
 */
export async function runPipelineCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliOutput & { progress?: boolean } = { ...stdio, progress: process.stderr.isTTY },
): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.err(`${args}\n${USAGE}`);
    return 2;
  }
  let app;
  try {
    app = await createApp(loadConfig({ LOG_LEVEL: 'warn', ...env }));
    await app.init();
  } catch (error) {
    if (error instanceof EmbeddedDatabaseInUseError || error instanceof ConfigError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
  try {
    const runs = app.get(PipelineRunsService);
    const principal = {
      kind: 'system',
      id: 'pipeline-cli',
      label: 'pipeline (CLI)',
      permissions: new Set<string>(),
    } as const;
    let started;
    try {
      started = await app
        .get(RequestContext)
        .run(() => runs.start({ ...args, task: args.task as never }, undefined), { principal });
    } catch (error) {
      if (error instanceof AppError) {
        io.err(`${error.code}: ${error.message}`);
        return 1;
      }
      throw error;
    }
    const { id, total } = started.body;
    const bar = io.progress
      ? new SingleBar({
          format: `${args.task} [{bar}] {value}/{total} | failed {failed}`,
          stream: process.stderr,
        })
      : undefined;
    bar?.start(total, 0, { failed: 0 });
    let run = await runs.get(id);
    while (!FINISHED.includes(run.status) || run.counts.running > 0) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      run = await runs.get(id);
      bar?.update(run.counts.succeeded + run.counts.failed + run.counts.cancelled, {
        failed: run.counts.failed,
      });
    }
    bar?.stop();
    const { counts } = run;
    io.out(
      `Run ${id} ${run.status}${run.stopReason === null ? '' : ` (${run.stopReason})`}: ${counts.succeeded} succeeded, ` +
        `${counts.failed} failed, ${counts.cancelled} cancelled of ${run.total}; tokens ${run.tokens.in} in, ${run.tokens.out} out.`,
    );
    return run.status === 'completed' ? 0 : 3;
  } finally {
    await closeGracefully(app);
  }
}

if (require.main === module) runAsMain(() => runPipelineCli(process.argv.slice(2)));
