import { Body, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuditedManually } from '../audit/audited.decorator';
import { Authenticated } from '../authz/route-access.decorators';
import { ApiController } from '../common/api-controller.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { ExecuteToolDto, ToolNameParam } from './dto/tools.dto';
import { type ToolCallResult, type ToolInfo, ToolRefusal, ToolsService } from './tools.service';

/**
 * The tool registry over REST: any authenticated principal sees exactly the tools it may call (the
 * same list MCP `tools/list` gives) and runs them with the same checks and audit as MCP.
 */
@ApiController('tools')
@ApiBearerAuth()
@Authenticated()
export class ToolsController {
  constructor(private readonly tools: ToolsService) {}

  @Get()
  @ApiOperation({ summary: 'The tools the caller may call' })
  async list(@Query() { page, limit }: PageQueryDto) {
    const all = await this.tools.list();
    return { items: all.slice((page - 1) * limit, page * limit), total: all.length, page, limit };
  }

  @Get(':name')
  @ApiOperation({ summary: 'One tool (404 for a tool the caller may not call)' })
  describe(@Param() { name }: ToolNameParam): Promise<ToolInfo> {
    return this.tools.describe(name);
  }

  @Post(':name/execute')
  @HttpCode(200)
  @AuditedManually()
  @ApiOperation({
    summary:
      'Run a tool: 200 with its result (isError when it ran and failed); 403 refused, 400 invalid arguments, 404 unknown, 429 rate limited',
  })
  async execute(
    @Param() { name }: ToolNameParam,
    @Body() body: ExecuteToolDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ToolCallResult> {
    // A client that goes away cancels the call (an LLM call, a command, a wait for a run).
    const cancel = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) cancel.abort();
    };
    reply.raw.once('close', onClose);
    try {
      return await this.tools.execute(name, body.arguments ?? {}, {
        transport: 'rest',
        signal: cancel.signal,
      });
    } catch (error) {
      throw error instanceof ToolRefusal ? error.error : error;
    } finally {
      reply.raw.off('close', onClose);
    }
  }
}
