import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuditedManually } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import { ModelNameParam, PullIdParam, PullModelDto } from './dto/llm.dto';
import { LlmModelsService } from './llm-models.service';
import { LlmPullsService, type PullStarted, type PullView } from './llm-pulls.service';
import { type LlmHealth, type LlmModelList, LlmService } from './llm.service';
import type { LlmModelDetail } from './llm.types';

@Controller(API_PREFIX)
@ApiTags('llm')
@ApiBearerAuth()
export class LlmController {
  constructor(
    private readonly llm: LlmService,
    private readonly models: LlmModelsService,
    private readonly pulls: LlmPullsService,
  ) {}

  @Get('llm/models')
  @RequirePermissions('llm:read')
  @ApiOperation({
    summary: 'Models the provider has (503 LLM_PROVIDER_UNAVAILABLE when it cannot be reached)',
  })
  listModels(): Promise<LlmModelList> {
    return this.llm.listModels();
  }

  @Get('llm/models/:name')
  @RequirePermissions('llm:read')
  @ApiOperation({ summary: 'One model: details, capabilities, context length' })
  showModel(@Param() { name }: ModelNameParam): Promise<LlmModelDetail> {
    return this.llm.showModel(name);
  }

  @Get('llm/health')
  @RequirePermissions('llm:read')
  @ApiOperation({ summary: 'Provider version, latency and loaded models; 503 when it is down' })
  health(): Promise<LlmHealth> {
    return this.llm.health();
  }

  @Post('llm/models/pull')
  @HttpCode(202)
  @RequirePermissions('llm:admin')
  @AuditedManually()
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiOperation({ summary: 'Start pulling a model (202; follow the Location, or its /events stream)' })
  async pull(
    @Body() body: PullModelDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PullStarted> {
    const response = await this.pulls.start(body.model, idempotencyKey);
    void reply.status(response.status);
    if (response.location !== undefined) void reply.header('location', response.location);
    return response.body;
  }

  @Get('llm/pulls/:id')
  @RequirePermissions('llm:admin')
  @ApiOperation({ summary: 'Status and progress of a model pull' })
  getPull(@Param() { id }: PullIdParam): Promise<PullView> {
    return this.pulls.get(id);
  }

  @Get('llm/pulls/:id/events')
  @RequirePermissions('llm:admin')
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false })
  @ApiOperation({ summary: 'Pull progress as server-sent events: snapshot, progress..., done' })
  async pullEvents(
    @Param() { id }: PullIdParam,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const stream = await this.pulls.openEvents(id, parseEventId(lastEventId));
    if (stream === 'finished') {
      void reply.status(204).send();
      return;
    }
    // Sent through Fastify rather than written to the raw socket, so the request id, security
    // headers, logging and metrics apply as to any other response.
    reply.raw.once('close', () => stream.close());
    void reply
      .status(200)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache, no-transform')
      .header('x-accel-buffering', 'no')
      .send(stream.readable);
  }

  @Delete('llm/models/:name')
  @HttpCode(204)
  @RequirePermissions('llm:admin')
  @AuditedManually()
  @ApiOperation({ summary: 'Delete a model from the provider (404 when it has no such model)' })
  async deleteModel(@Param() { name }: ModelNameParam): Promise<void> {
    await this.models.delete(name);
  }
}

function parseEventId(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
