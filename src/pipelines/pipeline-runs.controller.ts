import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Audited, AuditedManually } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import { BadRequestError } from '../common/app-error';
import { ListItemsQueryDto, ListRunsQueryDto, RunIdParam, StartRunDto } from './dto/pipeline-runs.dto';
import { PipelineEvents } from './pipeline-events';
import { PipelineRunsService, type Selection, type StartRunInput } from './pipeline-runs.service';

const runId = (_: unknown, request: { params: unknown }) => (request.params as { id?: string }).id;

@Controller(API_PREFIX)
@ApiTags('pipeline runs')
@ApiBearerAuth()
export class PipelineRunsController {
  constructor(
    private readonly runs: PipelineRunsService,
    private readonly events: PipelineEvents,
  ) {}

  @Post('pipeline-runs')
  @HttpCode(202)
  @RequirePermissions('pipelines:run')
  @AuditedManually()
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiOperation({
    summary: 'Start a run (202 { id, status, total }); dryRun answers 200 { total, model, estimatedCalls }',
  })
  async start(
    @Body() body: StartRunDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<unknown> {
    const input: StartRunInput = {
      task: body.task,
      selection: selectionOf(body),
      ...(body.model === undefined ? {} : { model: body.model }),
      ...(body.concurrency === undefined ? {} : { concurrency: body.concurrency }),
      ...(body.maxTokens === undefined ? {} : { maxTokens: body.maxTokens }),
    };
    if (body.dryRun === true) {
      void reply.status(200);
      return this.runs.dryRun(input);
    }
    const response = await this.runs.start(input, idempotencyKey);
    void reply.status(response.status);
    if (response.location !== undefined) void reply.header('location', response.location);
    return response.body;
  }

  @Get('pipeline-runs')
  @RequirePermissions('pipelines:read')
  @ApiOperation({ summary: 'Runs, newest first' })
  list(@Query() query: ListRunsQueryDto) {
    return this.runs.list(
      {
        ...(query.task === undefined ? {} : { task: query.task }),
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.from === undefined ? {} : { from: new Date(query.from) }),
        ...(query.to === undefined ? {} : { to: new Date(query.to) }),
      },
      query.page,
      query.limit,
    );
  }

  @Get('pipeline-runs/:id')
  @RequirePermissions('pipelines:read')
  @ApiOperation({ summary: 'A run with its counts, tokens and duration' })
  get(@Param() { id }: RunIdParam) {
    return this.runs.get(id);
  }

  @Get('pipeline-runs/:id/items')
  @RequirePermissions('pipelines:read')
  @ApiOperation({
    summary: "The run's items: status, attempts, duration, tokens, error, output, proposed change ids",
  })
  items(@Param() { id }: RunIdParam, @Query() query: ListItemsQueryDto) {
    return this.runs.items(id, query.status, query.page ?? 1, query.limit ?? 100);
  }

  @Get('pipeline-runs/:id/events')
  @RequirePermissions('pipelines:read')
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false })
  @ApiOperation({ summary: 'Live progress (server-sent events: snapshot, item, progress, done)' })
  async stream(
    @Param() { id }: RunIdParam,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await this.events.stream(id, request, reply);
  }

  @Post('pipeline-runs/:id/cancel')
  @HttpCode(200)
  @RequirePermissions('pipelines:run')
  @Audited({ action: 'pipeline.cancel', resourceType: 'pipeline_run', resourceId: runId })
  @ApiOperation({ summary: 'Stop starting items (409 on a finished run)' })
  cancel(@Param() { id }: RunIdParam) {
    return this.runs.cancel(id);
  }

  @Post('pipeline-runs/:id/retry')
  @HttpCode(202)
  @RequirePermissions('pipelines:run')
  @Audited({ action: 'pipeline.retry', resourceType: 'pipeline_run', resourceId: runId })
  @ApiOperation({ summary: 'Run the failed items again on the same run (409 while it runs)' })
  async retry(@Param() { id }: RunIdParam, @Res({ passthrough: true }) reply: FastifyReply) {
    const result = await this.runs.retry(id);
    void reply.header('location', `/api/v1/pipeline-runs/${id}`);
    return result;
  }
}

function selectionOf(body: StartRunDto): Selection {
  const { productIds, filter, all, unprocessed } = body.selection;
  const given = [productIds !== undefined, filter !== undefined, all === true, unprocessed === true].filter(
    Boolean,
  );
  if (given.length !== 1) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field: 'selection', issue: 'give exactly one of productIds, filter, all, unprocessed' },
    ]);
  }
  if (productIds !== undefined) return { productIds };
  if (filter !== undefined) {
    // The list's paging and sorting do not select anything.
    const ignored = new Set(['page', 'limit', 'cursor', 'sort', 'order']);
    return {
      filter: Object.fromEntries(
        Object.entries(filter).filter(([key, value]) => value !== undefined && !ignored.has(key)),
      ),
    };
  }
  return all === true ? { all: true } : { unprocessed: true };
}
