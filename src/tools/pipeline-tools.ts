import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AuditedWork } from '../audit/audited-work';
import { BadRequestError } from '../common/app-error';
import { PipelineRunsService, type RunView, type Selection } from '../pipelines/pipeline-runs.service';
import { FINISHED_RUN_STATUSES } from '../pipelines/pipeline-runs.repository';
import { PIPELINE_TASKS } from '../pipelines/pipeline-tasks';
import { ADDITIVE, READ_ONLY, type ToolCallContext, type ToolDefinition, defineTool } from './tool.types';

const runId = z.uuid();
const POLL_INTERVAL_MS = 500;
/** Longest a call may wait for its run: MCP clients time requests out, usually after a minute or a few. */
const MAX_WAIT_SECONDS = 600;

const filter = z.strictObject({
  q: z.string().max(500).optional(),
  vendor: z.string().max(255).optional(),
  productType: z.string().max(255).optional(),
  category: z.string().max(1000).optional(),
  tag: z.string().max(255).optional(),
  minConfidence: z.number().min(0).max(1).optional(),
  maxConfidence: z.number().min(0).max(1).optional(),
  hasPendingChanges: z.boolean().optional(),
});

/** Pipeline tools: start, follow, list and cancel LLM runs over the catalogue. */
@Injectable()
export class PipelineTools {
  constructor(
    private readonly runs: PipelineRunsService,
    private readonly audited: AuditedWork,
  ) {}

  definitions(): ToolDefinition[] {
    return [
      defineTool({
        name: 'start_pipeline_run',
        title: 'Start a pipeline run',
        description:
          'Starts an LLM task over products; its outputs become proposals for review. Select the products with ' +
          'exactly one of `productIds`, `filter`, `all` or `unprocessed`. With `waitSeconds` the call follows the ' +
          'run (progress notifications when a progress token is given) and returns it once finished or when the ' +
          'wait is over; the run goes on either way.',
        input: z
          .strictObject({
            task: z.enum(PIPELINE_TASKS),
            productIds: z
              .array(z.number().int().positive().max(Number.MAX_SAFE_INTEGER))
              .min(1)
              .max(10_000)
              .optional(),
            filter: filter.optional(),
            all: z.literal(true).optional(),
            unprocessed: z.literal(true).optional(),
            model: z.string().min(1).max(200).optional(),
            concurrency: z.number().int().min(1).max(64).optional(),
            maxTokens: z.number().int().min(1).max(2_000_000_000).optional(),
            waitSeconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).default(0),
          })
          .refine(
            (input) =>
              [input.productIds, input.filter, input.all, input.unprocessed].filter((v) => v !== undefined)
                .length === 1,
            { message: 'give exactly one of productIds, filter, all, unprocessed', path: ['productIds'] },
          ),
        permission: 'pipelines:run',
        annotations: ADDITIVE,
        handler: async (input, context) => {
          const { task, model, concurrency, maxTokens, waitSeconds } = input;
          const started = await this.runs.start(
            { task, selection: selectionOf(input), model, concurrency, maxTokens },
            undefined,
          );
          if (waitSeconds === 0) return this.runs.get(started.body.id);
          return this.follow(started.body.id, waitSeconds, context);
        },
      }),
      defineTool({
        name: 'get_pipeline_run',
        title: 'Get a pipeline run',
        description: 'A pipeline run with its status, counts by item status, tokens used and duration.',
        input: z.strictObject({ id: runId }),
        permission: 'pipelines:read',
        annotations: READ_ONLY,
        handler: ({ id }) => this.runs.get(id),
      }),
      defineTool({
        name: 'list_pipeline_runs',
        title: 'List pipeline runs',
        description: 'Pipeline runs, newest first, optionally by task and status.',
        input: z.strictObject({
          task: z.enum(PIPELINE_TASKS).optional(),
          status: z
            .enum(['queued', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled'])
            .optional(),
          page: z.number().int().min(1).max(100_000).default(1),
          limit: z.number().int().min(1).max(100).default(20),
        }),
        permission: 'pipelines:read',
        annotations: READ_ONLY,
        handler: ({ task, status, page, limit }) => this.runs.list({ task, status }, page, limit),
      }),
      defineTool({
        name: 'cancel_pipeline_run',
        title: 'Cancel a pipeline run',
        description:
          'Stops a run from starting further items; items already running finish and are recorded. Fails on a ' +
          'finished run.',
        input: z.strictObject({ id: runId }),
        permission: 'pipelines:run',
        annotations: {
          readOnlyHint: false,
          destructiveHint: true,
          idempotentHint: false,
          openWorldHint: false,
        },
        handler: ({ id }) =>
          this.audited.run(
            {
              action: 'pipeline.cancel',
              resourceType: 'pipeline_run',
              resourceId: () => id,
              successStatus: 200,
            },
            () => this.runs.cancel(id),
          ),
      }),
    ];
  }

  /** Polls the run until it finishes, the wait ends or the call is cancelled, reporting progress as items finish. */
  private async follow(id: string, waitSeconds: number, context: ToolCallContext): Promise<RunView> {
    const deadline = Date.now() + waitSeconds * 1000;
    let reported = -1;
    for (;;) {
      const run = await this.runs.get(id);
      const done = run.total - run.counts.pending - run.counts.running;
      if (done !== reported) {
        reported = done;
        await context.progress({
          progress: done,
          total: run.total,
          message: `${run.status}: ${done}/${run.total}`,
        });
      }
      if (FINISHED_RUN_STATUSES.includes(run.status) || Date.now() >= deadline || context.signal.aborted)
        return run;
      try {
        await sleep(Math.min(POLL_INTERVAL_MS, deadline - Date.now()), undefined, { signal: context.signal });
      } catch {
        // Cancelled by the client: answer with the run as it stands.
      }
    }
  }
}

function selectionOf(input: {
  productIds?: number[];
  filter?: z.infer<typeof filter>;
  all?: true;
  unprocessed?: true;
}): Selection {
  if (input.productIds !== undefined) return { productIds: input.productIds };
  if (input.filter !== undefined) return { filter: input.filter };
  if (input.all) return { all: true };
  if (input.unprocessed) return { unprocessed: true };
  throw new BadRequestError('VALIDATION_FAILED', 'Give exactly one of productIds, filter, all, unprocessed.');
}
