import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { NotFoundError, ServiceUnavailableError } from '../common/app-error';
import type { Principal } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../observability/metrics.service';
import { ToolsService } from '../tools/tools.service';
import { McpSessionDirectory } from './mcp-session-directory';

export type McpTransportKind = 'streamable-http' | 'sse';

/** Sessions one principal may hold; opening one more closes its least recently used. */
export const MAX_SESSIONS_PER_PRINCIPAL = 100;
/** Sessions one replica holds at most; past it new sessions are refused (503). */
export const MAX_SESSIONS = 10_000;

export interface McpSession<T extends Transport = Transport> {
  readonly id: string;
  readonly kind: McpTransportKind;
  /** The principal that opened it; nobody else may use it. */
  readonly owner: string;
  readonly server: Server;
  readonly transport: T;
  lastSeen: number;
}

/** Who owns a session: a user (whatever token they present) or one API key. */
export function ownerOf(principal: Principal): string {
  return `${principal.kind}:${principal.id}`;
}

export function sessionNotFound(): NotFoundError {
  return new NotFoundError('MCP_SESSION_NOT_FOUND', 'No such MCP session; start a new one.');
}

/**
 * The MCP sessions this replica holds, by id (McpSessionDirectory shares them across replicas). A
 * session belongs to the principal that opened it (anyone else presenting its id gets 404, as for an
 * unknown id); it ends when the client deletes it, its stream closes, it has been idle for
 * MCP_SESSION_IDLE_SECONDS, or the service shuts down. Sessions hear of changes to the tool list
 * (`notifications/tools/list_changed`).
 */
@Injectable()
export class McpSessions implements OnModuleDestroy {
  private readonly logger = new Logger('McpSessions');
  private readonly sessions = new Map<string, McpSession>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private closing = false;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly directory: McpSessionDirectory,
    tools: ToolsService,
  ) {
    const idleMs = config.mcp.sessionIdleSeconds * 1000;
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(1_000, idleMs / 4)));
    this.sweeper.unref();
    this.unsubscribe = tools.onListChanged(() => this.broadcastToolListChanged());
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Room for one more session of `owner`: its least recently used one is closed when it has too many. */
  async reserve(owner: string): Promise<void> {
    if (this.closing) throw new ServiceUnavailableError('SHUTTING_DOWN', 'The service is shutting down.');
    const own = [...this.sessions.values()].filter((session) => session.owner === owner);
    if (own.length >= MAX_SESSIONS_PER_PRINCIPAL) {
      const oldest = own.reduce((a, b) => (a.lastSeen <= b.lastSeen ? a : b));
      await this.close(oldest.id);
    }
    if (this.sessions.size >= MAX_SESSIONS) {
      throw new ServiceUnavailableError(
        'MCP_SESSIONS_EXHAUSTED',
        'Too many MCP sessions are open; try again later.',
      );
    }
  }

  add(session: McpSession): void {
    this.sessions.set(session.id, session);
    this.updateGauge(session.kind);
  }

  /**
   * The session held here, touched, when `principal` owns it; undefined when this replica does not
   * hold it; 404 when it is someone else's or of the other transport.
   */
  find<T extends Transport>(
    id: string,
    principal: Principal,
    kind: McpTransportKind,
  ): McpSession<T> | undefined {
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.owner !== ownerOf(principal) || session.kind !== kind) throw sessionNotFound();
    session.lastSeen = Date.now();
    this.directory.touch(id);
    return session as McpSession<T>;
  }

  /** A session held here by id, whoever owns it (relayed messages were checked where they arrived). */
  held<T extends Transport>(id: string): McpSession<T> | undefined {
    return this.sessions.get(id) as McpSession<T> | undefined;
  }

  /** Forgets a session whose transport has closed here (it may live on elsewhere until it expires). */
  remove(id: string): void {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    this.sessions.delete(id);
    this.directory.forget(id);
    this.updateGauge(session.kind);
  }

  async close(id: string): Promise<void> {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    this.remove(id);
    try {
      await session.server.close();
    } catch (error) {
      this.logger.warn(`Closing MCP session failed: ${(error as Error).message}`);
    }
  }

  /** Ends every session at shutdown, so that open streams finish cleanly and clients reconnect elsewhere. */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    this.unsubscribe();
    await Promise.all([...this.sessions.keys()].map((id) => this.close(id)));
  }

  private sweep(): void {
    const cutoff = Date.now() - this.config.mcp.sessionIdleSeconds * 1000;
    for (const session of this.sessions.values()) {
      if (session.lastSeen < cutoff) void this.close(session.id);
    }
  }

  private broadcastToolListChanged(): void {
    for (const session of this.sessions.values()) {
      session.server.sendToolListChanged().catch(() => {
        // A session whose stream is gone misses the notice; it sees the new list when it asks.
      });
    }
  }

  private updateGauge(kind: McpTransportKind): void {
    let count = 0;
    for (const session of this.sessions.values()) if (session.kind === kind) count += 1;
    this.metrics.setMcpSessions(kind, count);
  }
}
