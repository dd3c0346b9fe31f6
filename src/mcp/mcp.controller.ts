import {
  Controller,
  Delete,
  Get,
  Logger,
  type OnModuleInit,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditedManually } from '../audit/audited.decorator';
import type { AuthenticatedRequest } from '../auth/authentication.guard';
import { Authenticated } from '../authz/route-access.decorators';
import { MethodNotAllowedError, UnauthenticatedError } from '../common/app-error';
import type { Principal } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { McpRequestGuard } from './mcp-request.guard';
import { McpSessionDirectory, type RelayedMessage } from './mcp-session-directory';
import { type McpCaller, McpServerFactory, authInfoFor } from './mcp-server.factory';
import { type McpSession, McpSessions, ownerOf, sessionNotFound } from './mcp-sessions';

/** SSE comment frames keep idle legacy streams open through proxies (Streamable HTTP has its own). */
const SSE_KEEP_ALIVE_MS = 15_000;

type McpRequest = AuthenticatedRequest & { body?: unknown };
type StreamableSession = McpSession<WebStandardStreamableHTTPServerTransport>;

/**
 * The MCP transports on the Fastify instance: Streamable HTTP at `/mcp` (POST messages, GET the
 * server stream, DELETE the session) and the legacy HTTP+SSE transport (`GET /mcp/sse`, `POST
 * /mcp/messages?sessionId=`). Every request passes the global authentication, rate limit and
 * permission guards first and the transport safeguards after. Streamable HTTP runs on the SDK's
 * web-standard transport (a Request in, a Response out, streamed by Fastify); with Redis, a
 * session opened on another replica is taken up here and legacy messages are relayed to the replica
 * holding the stream (McpSessionDirectory).
 */
@Controller('mcp')
@ApiTags('mcp')
@ApiBearerAuth()
@Authenticated()
@UseGuards(McpRequestGuard)
export class McpController implements OnModuleInit {
  private readonly logger = new Logger('Mcp');

  constructor(
    private readonly sessions: McpSessions,
    private readonly directory: McpSessionDirectory,
    private readonly servers: McpServerFactory,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.directory.listen(
      (relayed) => void this.deliver(relayed),
      (sessionId) => void this.sessions.close(sessionId),
    );
  }

  @Post()
  @AuditedManually()
  @ApiOperation({
    summary:
      'Streamable HTTP: JSON-RPC messages (initialize without Mcp-Session-Id opens a session); docs/MCP.md',
  })
  async post(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    if (this.config.mcp.stateless) return this.stateless(request, reply);
    const sessionId = header(request, 'mcp-session-id');
    if (sessionId === undefined) return this.open(request, reply);
    const session = await this.streamable(sessionId, request);
    await this.serve(session.transport, request, reply, request.body);
  }

  @Get()
  @ApiOperation({ summary: 'Streamable HTTP: the server stream of a session (Mcp-Session-Id)' })
  async stream(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const session = await this.streamable(this.requiredSessionId(request), request);
    await this.serve(session.transport, request, reply);
  }

  @Delete()
  @AuditedManually()
  @ApiOperation({ summary: 'Streamable HTTP: end a session (Mcp-Session-Id)' })
  async end(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const sessionId = this.requiredSessionId(request);
    const session = await this.streamable(sessionId, request);
    await this.serve(session.transport, request, reply);
    await this.directory.remove(sessionId);
  }

  @Get('sse')
  @ApiOperation({
    summary: 'Legacy HTTP+SSE: open a session stream; its first event names the message endpoint',
  })
  async legacyStream(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const principal = this.principal(request);
    const owner = ownerOf(principal);
    await this.sessions.reserve(owner);
    await this.handOver(request, reply, async (_req, res) => {
      const transport = new SSEServerTransport('/mcp/messages', res);
      const server = this.servers.create('sse');
      const session: McpSession = {
        id: transport.sessionId,
        kind: 'sse',
        owner,
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
        void this.directory.remove(session.id);
      };
      res.once('close', () => void this.sessions.close(session.id));
      this.sessions.add(session);
      await server.connect(transport);
      await this.directory.register(session.id, { kind: 'sse', owner });
    });
  }

  @Post('messages')
  @AuditedManually()
  @ApiOperation({
    summary: 'Legacy HTTP+SSE: a message for the session in ?sessionId= (answered on its stream)',
  })
  async legacyMessage(@Req() request: McpRequest, @Res() reply: FastifyReply): Promise<void> {
    const raw = (request.query as { sessionId?: unknown }).sessionId;
    if (typeof raw !== 'string') throw sessionNotFound();
    const principal = this.principal(request);
    const session = this.sessions.find<SSEServerTransport>(raw, principal, 'sse');
    if (session !== undefined) {
      await this.handOver(request, reply, (req, res) =>
        session.transport.handlePostMessage(req, res, request.body),
      );
      return;
    }
    // The stream is on another replica: the message goes there, the answer comes on the stream.
    const record = await this.directory.lookup(raw);
    if (record?.kind !== 'sse' || record.owner !== ownerOf(principal)) throw sessionNotFound();
    const relayed = await this.directory.relay(record.replica, {
      sessionId: raw,
      message: request.body,
      caller: this.caller(request),
    });
    if (!relayed) throw sessionNotFound();
    void reply.status(202).send('Accepted');
  }

  /** A new Streamable HTTP session: the SDK answers the initialize request and names the session. */
  private async open(request: McpRequest, reply: FastifyReply): Promise<void> {
    const principal = this.principal(request);
    const owner = ownerOf(principal);
    await this.sessions.reserve(owner);
    const initialize = (request.body as { method?: unknown; params?: unknown } | undefined) ?? {};
    const session = await this.createStreamable(owner, undefined);
    await this.serve(session.transport, request, reply, request.body);
    const id = session.transport.sessionId;
    // Not an initialize request (the SDK has answered 400): nothing to keep.
    if (id === undefined) await session.server.close();
    else if (initialize.method === 'initialize')
      await this.directory.register(id, { kind: 'streamable-http', owner, initialize: initialize.params });
  }

  /**
   * The session this request names: held here, or taken up from the shared record of another
   * replica (replaying its initialize, so that the SDK accepts the session's further requests).
   */
  private async streamable(sessionId: string, request: McpRequest): Promise<StreamableSession> {
    const principal = this.principal(request);
    const held = this.sessions.find<WebStandardStreamableHTTPServerTransport>(
      sessionId,
      principal,
      'streamable-http',
    );
    if (held !== undefined) return held;
    const record = await this.directory.lookup(sessionId);
    if (record?.kind !== 'streamable-http' || record.owner !== ownerOf(principal)) throw sessionNotFound();
    const session = await this.createStreamable(record.owner, sessionId);
    const replay = await session.transport.handleRequest(
      new Request(`http://localhost/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      }),
      {
        parsedBody: {
          jsonrpc: '2.0',
          id: `take-up-${sessionId}`,
          method: 'initialize',
          params: record.initialize,
        },
        authInfo: authInfoFor(this.caller(request)),
      },
    );
    await replay.text();
    const taken = this.sessions.held<WebStandardStreamableHTTPServerTransport>(sessionId);
    if (taken === undefined) {
      await session.server.close();
      throw sessionNotFound();
    }
    return taken;
  }

  /**
   * A server and transport whose session (named `knownId`, or a fresh id) joins this replica's
   * sessions once the SDK has accepted its initialize request.
   */
  private async createStreamable(
    owner: string,
    knownId: string | undefined,
  ): Promise<Pick<StreamableSession, 'server' | 'transport'>> {
    const server = this.servers.create('streamable-http');
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => knownId ?? randomUUID(),
      onsessioninitialized: (id) =>
        this.sessions.add({ id, kind: 'streamable-http', owner, server, transport, lastSeen: Date.now() }),
    });
    server.onclose = () => {
      if (transport.sessionId !== undefined) this.sessions.remove(transport.sessionId);
    };
    await server.connect(transport);
    return { server, transport };
  }

  /** MCP_STATELESS: a server and transport for this request only. */
  private async stateless(request: McpRequest, reply: FastifyReply): Promise<void> {
    const server = this.servers.create('streamable-http');
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    reply.raw.once('close', () => void server.close());
    await this.serve(transport, request, reply, request.body);
  }

  /** One request through the web-standard transport; Fastify streams the Response it gives back. */
  private async serve(
    transport: WebStandardStreamableHTTPServerTransport,
    request: McpRequest,
    reply: FastifyReply,
    parsedBody?: unknown,
  ): Promise<void> {
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    }
    const response = await transport.handleRequest(
      new Request(`http://localhost${request.url}`, { method: request.method, headers }),
      { parsedBody, authInfo: authInfoFor(this.caller(request)) },
    );
    if (response.headers.get('content-type')?.startsWith('text/event-stream'))
      void reply.header('x-accel-buffering', 'no');
    void reply.send(response);
  }

  /** A legacy message relayed from another replica, for a session whose stream is held here. */
  private async deliver(relayed: RelayedMessage): Promise<void> {
    const session = this.sessions.held<SSEServerTransport>(relayed.sessionId);
    if (session?.kind !== 'sse') return;
    session.lastSeen = Date.now();
    try {
      await session.transport.handleMessage(relayed.message, { authInfo: authInfoFor(relayed.caller) });
    } catch (error) {
      this.logger.warn(`Relayed MCP message not handled: ${(error as Error).message}`);
    }
  }

  /**
   * Gives the raw request and response to the legacy SSE transport: Fastify stops managing the
   * reply, and the headers already set for it (request id, security headers) go out with the answer.
   */
  private async handOver(
    request: McpRequest,
    reply: FastifyReply,
    handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): Promise<void> {
    const req = Object.assign(request.raw, { auth: authInfoFor(this.caller(request)) });
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

  private requiredSessionId(request: McpRequest): string {
    if (this.config.mcp.stateless) {
      throw new MethodNotAllowedError(
        'METHOD_NOT_ALLOWED',
        'The MCP endpoint is stateless here: only POST is served.',
        undefined,
        { allow: 'POST' },
      );
    }
    const sessionId = header(request, 'mcp-session-id');
    if (sessionId === undefined) throw sessionNotFound();
    return sessionId;
  }

  private caller(request: McpRequest): McpCaller {
    return {
      principal: this.principal(request),
      requestId: request.id,
      client: { ip: request.ip, userAgent: header(request, 'user-agent')?.slice(0, 300) },
    };
  }

  private principal(request: McpRequest): Principal {
    if (request.user === undefined)
      throw new UnauthenticatedError('UNAUTHENTICATED', 'Authentication is required.');
    return request.user;
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
