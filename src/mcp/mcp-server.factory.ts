import { Injectable, Logger } from '@nestjs/common';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { toErrorResponse } from '../common/error-response';
import { PACKAGE_VERSION } from '../common/package-version';
import { type ClientInfo, type Principal, RequestContext } from '../common/request-context';
import { ToolRefusal, ToolsService, toolErrorBody } from '../tools/tools.service';
import type { ToolTransport } from '../tools/tool.types';
import { McpCatalog } from './mcp-catalog';

/** What the HTTP layer hands each MCP message: who sent it, and the HTTP request it came in. */
export interface McpCaller {
  readonly principal: Principal;
  readonly requestId: string;
  readonly client: ClientInfo;
}

/** Wraps the caller as the SDK's AuthInfo (no token: credentials never travel past the HTTP layer). */
export function authInfoFor(caller: McpCaller): AuthInfo {
  return {
    token: '',
    clientId: caller.principal.id,
    scopes: [...caller.principal.permissions],
    extra: { caller },
  };
}

const INSTRUCTIONS =
  'MCP Admin: a product catalogue with a review queue. Read with search_products and get_product; change ' +
  'products only by proposing (propose_product_change), which a reviewer approves; run LLM pipelines over ' +
  'products with start_pipeline_run. The tools listed are exactly those you may call.';

/**
 * Builds the MCP server of one session (or one stateless request): tools, resources and prompts
 * over the same services as the REST API. Every handler runs in a request context with the
 * principal and request id of the HTTP request that carried the message.
 */
@Injectable()
export class McpServerFactory {
  private readonly logger = new Logger('Mcp');

  constructor(
    private readonly tools: ToolsService,
    private readonly catalog: McpCatalog,
    private readonly context: RequestContext,
  ) {}

  create(transport: Exclude<ToolTransport, 'rest'>): Server {
    const server = new Server(
      { name: 'mcp-admin', title: 'MCP Admin', version: PACKAGE_VERSION },
      {
        capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} },
        instructions: INSTRUCTIONS,
      },
    );
    server.onerror = (error) => this.logger.warn(`MCP ${transport} session error: ${error.message}`);

    server.setRequestHandler(ListToolsRequestSchema, (_request, extra) =>
      this.as(extra.authInfo, async () => ({
        tools: (await this.tools.list()).map(({ permission: _permission, ...tool }) => tool),
      })),
    );
    server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
      this.as(extra.authInfo, async () => {
        const progressToken = request.params._meta?.progressToken;
        try {
          const result = await this.tools.execute(request.params.name, request.params.arguments ?? {}, {
            transport,
            sessionId: extra.sessionId,
            signal: extra.signal,
            progress:
              progressToken === undefined
                ? undefined
                : (update) =>
                    extra.sendNotification({
                      method: 'notifications/progress',
                      params: { progressToken, ...update },
                    }),
          });
          return {
            content: result.content,
            isError: result.isError,
            ...(result.structuredContent === undefined
              ? {}
              : { structuredContent: result.structuredContent }),
          };
        } catch (error) {
          if (!(error instanceof ToolRefusal)) throw error;
          // An unknown tool is a protocol error; every other refusal is a tool result the model can read.
          if (error.error.code === 'TOOL_NOT_FOUND')
            throw new McpError(ErrorCode.InvalidParams, error.message);
          return {
            content: [
              {
                type: 'text' as const,
                text: JSON.stringify(toolErrorBody(error.error, this.context.requestId)),
              },
            ],
            isError: true,
          };
        }
      }),
    );
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (_request, extra) =>
      this.as(extra.authInfo, () => Promise.resolve(this.catalog.resourceTemplates())),
    );
    server.setRequestHandler(ListResourcesRequestSchema, (request, extra) =>
      this.as(extra.authInfo, () => this.catalog.resources(request.params?.cursor)),
    );
    server.setRequestHandler(ReadResourceRequestSchema, (request, extra) =>
      this.as(extra.authInfo, () => this.catalog.read(request.params.uri)),
    );
    server.setRequestHandler(ListPromptsRequestSchema, (request, extra) =>
      this.as(extra.authInfo, () => this.catalog.promptList(request.params?.cursor)),
    );
    server.setRequestHandler(GetPromptRequestSchema, (request, extra) =>
      this.as(extra.authInfo, () => this.catalog.prompt(request.params.name, request.params.arguments)),
    );
    return server;
  }

  /** Runs a handler as the caller of the HTTP request that carried the message. */
  private as<T>(authInfo: AuthInfo | undefined, work: () => Promise<T>): Promise<T> {
    const caller = (authInfo?.extra as { caller?: McpCaller } | undefined)?.caller;
    if (caller === undefined) throw new McpError(ErrorCode.InternalError, 'No authenticated caller');
    return this.context.run(
      async () => {
        this.context.setClient(caller.client);
        try {
          return await work();
        } catch (error) {
          throw this.protocolError(error, caller.requestId);
        }
      },
      { requestId: caller.requestId, principal: caller.principal },
    );
  }

  /** JSON-RPC errors carry numeric codes and never internals: our code and request id go in `data`. */
  private protocolError(error: unknown, requestId: string): McpError {
    if (error instanceof McpError) return error;
    const response = toErrorResponse(error);
    if (response.unexpected) this.logger.error(error, `MCP request ${requestId} failed`);
    return new McpError(
      response.status < 500 ? ErrorCode.InvalidParams : ErrorCode.InternalError,
      response.message,
      { code: response.code, requestId },
    );
  }
}
