import { Controller, Delete, Get, Logger, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditedManually } from '../audit/audited.decorator';
import type { AuthenticatedRequest } from '../auth/authentication.guard';
import { Authenticated } from '../authz/route-access.decorators';
import { MethodNotAllowedError, UnauthenticatedError } from '../common/app-error';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { type McpCaller, McpServerFactory, authInfoFor } from './mcp-server.factory';
import { McpRequestGuard } from './mcp-request.guard';
import { type McpSession, McpSessions, ownerOf } from './mcp-sessions';

/** SSE comment frames keep idle legacy streams open through proxies (Streamable HTTP has its own). */
const SSE_KEEP_ALIVE_MS = 15_000;
const VERSION = '0.1.0';

type McpRequest = AuthenticatedRequest & { body?: unknown };

/**
 * The MCP transports on the Fastify instance: Streamable HTTP at `/mcp` (POST messages, GET the
 * server stream, DELETE the session) and the legacy HTTP+SSE transport (`GET /mcp/sse`, `POST
 * /mcp/messages?sessionId=`). Every request passes the global authentication, rate limit and
 * permission guards first and the transport safeguards after; once accepted, the SDK transport
 * answers on the raw response.
 */
@Controller('mcp')
@ApiTags('mcp')
@ApiBearerAuth()
@Authenticated()
@UseGuards(McpRequestGuard)
export class McpController {
  private readonly logger = new Logger('Mcp');

  constructor(
    private readonly sessions: McpSessions,
    private readonly servers: McpServerFactory,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Post()
  @AuditedManually()
  @ApiOperation({
    summary:
      'Streamable HTTP: JSON-RPC messages (initialize without Mcp-Session-Id opens a session); docs/MCP.md',
  })
  async post(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    if (this.config.mcp.stateless) return this.stateless(request, reply);
    const sessionId = header(request, 'mcp-session-id');
    if (sessionId !== undefined) {
      const session = this.sessions.get<StreamableHTTPServerTransport>(
        sessionId,
        this.principal(request),
        'streamable-http',
      );
      return this.handOver(request, reply, (req, res) =>
        session.transport.handleRequest(req, res, request.body),
      );
    }
    return this.open(request, reply);
  }

  @Get()
  @ApiOperation({ summary: 'Streamable HTTP: the server stream of a session (Mcp-Session-Id)' })
  async stream(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const session = this.existing(request);
    await this.handOver(request, reply, (req, res) => session.transport.handleRequest(req, res));
  }

  @Delete()
  @AuditedManually()
  @ApiOperation({ summary: 'Streamable HTTP: end a session (Mcp-Session-Id)' })
  async end(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const session = this.existing(request);
    await this.handOver(request, reply, (req, res) => session.transport.handleRequest(req, res));
  }

  @Get('sse')
  @ApiOperation({
    summary: 'Legacy HTTP+SSE: open a session stream; its first event names the message endpoint',
  })
  async legacyStream(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const principal = this.principal(request);
    await this.sessions.reserve(ownerOf(principal));
    await this.handOver(request, reply, async (_req, res) => {
      const transport = new SSEServerTransport('/mcp/messages', res);
      const server = this.servers.create('sse', VERSION);
      const session: McpSession = {
        id: transport.sessionId,
        kind: 'sse',
        owner: ownerOf(principal),
        server,
        transport,
        lastSeen: Date.now(),
      };
      res.setHeader('x-accel-buffering', 'no');
      const keepAlive = setInterval(() => {
        if (!res.writableEnded) res.write(': keep-alive\n\n');
      }, SSE_KEEP_ALIVE_MS);
      keepAlive.unref();
      server.onclose = () => {
        clearInterval(keepAlive);
        this.sessions.remove(session.id);
      };
      res.once('close', () => void this.sessions.close(session.id));
      this.sessions.add(session);
      await server.connect(transport);
    });
  }

  @Post('messages')
  @AuditedManually()
  @ApiOperation({
    summary: 'Legacy HTTP+SSE: a message for the session in ?sessionId= (answered on its stream)',
  })
  async legacyMessage(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const sessionId = (request.query as { sessionId?: unknown }).sessionId;
    const session = this.sessions.get<SSEServerTransport>(
      typeof sessionId === 'string' ? sessionId : undefined,
      this.principal(request),
      'sse',
    );
    await this.handOver(request, reply, (req, res) =>
      session.transport.handlePostMessage(req, res, request.body),
    );
  }

  /** A new Streamable HTTP session: the SDK answers the initialize request and names the session. */
  private async open(request: McpRequest, reply: FastifyReply): Promise<void> {
    const principal = this.principal(request);
    const owner = ownerOf(principal);
    await this.sessions.reserve(owner);
    const server = this.servers.create('streamable-http', VERSION);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) =>
        this.sessions.add({ id, kind: 'streamable-http', owner, server, transport, lastSeen: Date.now() }),
    });
    server.onclose = () => {
      if (transport.sessionId !== undefined) this.sessions.remove(transport.sessionId);
    };
    await server.connect(transport);
    await this.handOver(request, reply, (req, res) => transport.handleRequest(req, res, request.body));
    // Not an initialize request (the SDK has answered 400): nothing to keep.
    if (transport.sessionId === undefined) await server.close();
  }

  /** MCP_STATELESS: a server and transport for this request only. */
  private async stateless(request: McpRequest, reply: FastifyReply): Promise<void> {
    const server = this.servers.create('streamable-http', VERSION);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: false,
    });
    await server.connect(transport);
    reply.raw.once('close', () => void server.close());
    await this.handOver(request, reply, (req, res) => transport.handleRequest(req, res, request.body));
  }

  private existing(request: McpRequest): McpSession<StreamableHTTPServerTransport> {
    if (this.config.mcp.stateless) {
      throw new MethodNotAllowedError(
        'METHOD_NOT_ALLOWED',
        'The MCP endpoint is stateless here: only POST is served.',
        undefined,
        { allow: 'POST' },
      );
    }
    return this.sessions.get(header(request, 'mcp-session-id'), this.principal(request), 'streamable-http');
  }

  /**
   * Gives the raw request and response to the SDK: Fastify stops managing the reply, and the headers
   * already set for it (request id, security headers) go out with the SDK's answer.
   */
  private async handOver(
    request: McpRequest,
    reply: FastifyReply,
    handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): Promise<void> {
    const caller: McpCaller = {
      principal: this.principal(request),
      requestId: request.id,
      client: { ip: request.ip, userAgent: header(request, 'user-agent')?.slice(0, 300) },
    };
    const req = Object.assign(request.raw, { auth: authInfoFor(caller) });
    const res = reply.raw;
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) res.setHeader(name, value);
    }
    reply.hijack();
    try {
      await handle(req, res);
    } catch (error) {
      this.logger.error(error, `MCP request ${request.id} failed`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            jsonrpc: '2.0',
            error: {
              code: -32603,
              message: 'An unexpected error occurred.',
              data: { requestId: request.id },
            },
            id: null,
          }),
        );
      } else if (!res.writableEnded) res.end();
    }
  }

  private principal(request: McpRequest) {
    if (request.user === undefined)
      throw new UnauthenticatedError('UNAUTHENTICATED', 'Authentication is required.');
    return request.user;
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
