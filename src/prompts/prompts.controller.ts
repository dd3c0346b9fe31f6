import { Body, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Audited, AuditedManually } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { ApiController } from '../common/api-controller.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import {
  CreatePromptDto,
  ListPromptsQueryDto,
  PreviewPromptDto,
  PromptDto,
  PromptNameParam,
  PromptPageDto,
  PromptVersionParams,
  RenderedPromptDto,
  UpdatePromptDto,
} from './dto/prompts.dto';
import {
  type PromptPage,
  type PromptResponse,
  PromptsService,
  type RenderedPromptResponse,
} from './prompts.service';

/** The prompt's name from the path, or from the body of a create. */
function promptName(result: unknown, request: FastifyRequest): string | undefined {
  if (result !== undefined) return (result as PromptResponse).name;
  const fromParams = (request.params as { name?: unknown } | undefined)?.name;
  if (typeof fromParams === 'string') return fromParams;
  const fromBody = (request.body as { name?: unknown } | undefined)?.name;
  return typeof fromBody === 'string' ? fromBody.slice(0, 100) : undefined;
}

@ApiController('prompts')
@ApiBearerAuth()
export class PromptsController {
  constructor(private readonly prompts: PromptsService) {}

  @Get()
  @RequirePermissions('prompts:read')
  @ApiOperation({ summary: 'The active version of every prompt, by name' })
  @ApiOkResponse({ type: PromptPageDto })
  list(@Query() query: ListPromptsQueryDto): Promise<PromptPage> {
    return this.prompts.list(query);
  }

  @Post()
  @RequirePermissions('prompts:write')
  @HttpCode(201)
  @Audited({ action: 'prompt.create', resourceType: 'prompt', resourceId: promptName })
  @ApiOperation({ summary: 'Create a prompt (its version 1, active)' })
  @ApiCreatedResponse({ type: PromptDto })
  create(@Body() body: CreatePromptDto): Promise<PromptResponse> {
    return this.prompts.create(body);
  }

  @Get(':name')
  @RequirePermissions('prompts:read')
  @ApiOperation({ summary: 'The active version of a prompt' })
  @ApiOkResponse({ type: PromptDto })
  get(@Param() { name }: PromptNameParam): Promise<PromptResponse> {
    return this.prompts.getActive(name);
  }

  @Put(':name')
  @RequirePermissions('prompts:write')
  @Audited({ action: 'prompt.update', resourceType: 'prompt', resourceId: promptName })
  @ApiOperation({
    summary: 'Store a new version of a prompt',
    description: 'The new version becomes the active one unless `activate` is false.',
  })
  @ApiOkResponse({ type: PromptDto })
  update(@Param() { name }: PromptNameParam, @Body() body: UpdatePromptDto): Promise<PromptResponse> {
    return this.prompts.update(name, body);
  }

  @Get(':name/versions')
  @RequirePermissions('prompts:read')
  @ApiOperation({ summary: 'Every version of a prompt, newest first' })
  @ApiOkResponse({ type: PromptPageDto })
  versions(@Param() { name }: PromptNameParam, @Query() query: PageQueryDto): Promise<PromptPage> {
    return this.prompts.versions(name, query.page, query.limit);
  }

  @Get(':name/versions/:version')
  @RequirePermissions('prompts:read')
  @ApiOperation({ summary: 'One version of a prompt' })
  @ApiOkResponse({ type: PromptDto })
  version(@Param() { name, version }: PromptVersionParams): Promise<PromptResponse> {
    return this.prompts.getVersion(name, version);
  }

  @Post(':name/versions/:version/activate')
  @RequirePermissions('prompts:write')
  @HttpCode(200)
  @Audited({ action: 'prompt.activate', resourceType: 'prompt', resourceId: promptName })
  @ApiOperation({ summary: 'Make a version the active one' })
  @ApiOkResponse({ type: PromptDto })
  activate(@Param() { name, version }: PromptVersionParams): Promise<PromptResponse> {
    return this.prompts.activate(name, version);
  }

  @Post(':name/preview')
  @RequirePermissions('prompts:read')
  @HttpCode(200)
  // A read sent as POST: it changes nothing, so it records no event.
  @AuditedManually()
  @ApiOperation({
    summary: 'Render a prompt against a product',
    description: 'The active version unless `version` is given; nothing is sent to a model.',
  })
  @ApiOkResponse({ type: RenderedPromptDto })
  preview(
    @Param() { name }: PromptNameParam,
    @Body() body: PreviewPromptDto,
  ): Promise<RenderedPromptResponse> {
    return this.prompts.preview(name, body.productId, body.version);
  }
}
