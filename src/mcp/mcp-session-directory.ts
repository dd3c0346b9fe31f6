import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { REDIS, type RedisClient } from '../redis/redis.module';
import type { McpCaller } from './mcp-server.factory';
import type { McpTransportKind } from './mcp-sessions';

/** What every replica may know of a session: who owns it, where its stream is, how it began. */
export interface SessionRecord {
  readonly kind: McpTransportKind;
  readonly owner: string;
  /** The replica holding the session's stream (legacy SSE messages are relayed there). */
  readonly replica: string;
  /** The `initialize` parameters, so that another replica can take a Streamable HTTP session up. */
  readonly initialize?: unknown;
}

/** A legacy SSE message relayed to the replica that holds the stream. */
export interface RelayedMessage {
  readonly sessionId: string;
  readonly message: unknown;
  readonly caller: McpCaller;
}

/** How often a session's expiry is pushed back while it is in use (a fraction of the idle timeout). */
const TOUCH_FRACTION = 4;

/**
 * MCP sessions shared across replicas through Redis (REDIS_URL), so that a round-robin load
 * balancer never causes "session not found": every session is recorded under
 * `<prefix>mcp:session:<id>` (expiring after MCP_SESSION_IDLE_SECONDS without use); a Streamable
 * HTTP request for a session another replica opened is served here after taking the session up
 * from its record, and a legacy SSE message is relayed over pub/sub to the replica holding the
 * stream. Without Redis, or while Redis is away, sessions are this replica's only (404 elsewhere).
 */
@Injectable()
export class McpSessionDirectory implements OnModuleDestroy {
  readonly replica = randomUUID();
  private readonly logger = new Logger('McpSessions');
  private readonly idleMs: number;
  private readonly touched = new Map<string, number>();
  private subscriber: Redis | undefined;
  private relayHandler: ((message: RelayedMessage) => void) | undefined;
  private closedHandler: ((sessionId: string) => void) | undefined;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.idleMs = config.mcp.sessionIdleSeconds * 1000;
  }

  get shared(): boolean {
    return this.redis !== null;
  }

  /** Starts listening for relayed messages and for sessions ended on other replicas. */
  listen(onRelay: (message: RelayedMessage) => void, onClosed: (sessionId: string) => void): void {
    this.relayHandler = onRelay;
    this.closedHandler = onClosed;
    if (this.redis === null || this.subscriber !== undefined) return;
    const subscriber = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, raw: string) => this.receive(channel, raw));
    subscriber.subscribe(this.relayChannel(this.replica), this.closedChannel()).catch((error: unknown) => {
      this.logger.warn(`Cannot subscribe to MCP session relays: ${(error as Error).message}`);
    });
  }

  async register(sessionId: string, record: Omit<SessionRecord, 'replica'>): Promise<void> {
    if (this.redis === null) return;
    await this.quietly(() =>
      this.redis!.set(
        this.key(sessionId),
        JSON.stringify({ ...record, replica: this.replica }),
        'PX',
        this.idleMs,
      ),
    );
    this.touched.set(sessionId, Date.now());
  }

  async lookup(sessionId: string): Promise<SessionRecord | undefined> {
    if (this.redis === null) return undefined;
    const raw = await this.quietly(() => this.redis!.get(this.key(sessionId)));
    if (typeof raw !== 'string') return undefined;
    try {
      return JSON.parse(raw) as SessionRecord;
    } catch {
      return undefined;
    }
  }

  /** Pushes the session's expiry back, at most a few times per idle period. */
  touch(sessionId: string): void {
    if (this.redis === null) return;
    const last = this.touched.get(sessionId) ?? 0;
    if (Date.now() - last < this.idleMs / TOUCH_FRACTION) return;
    this.touched.set(sessionId, Date.now());
    void this.quietly(() => this.redis!.pexpire(this.key(sessionId), this.idleMs));
  }

  /** The session ended for good (deleted by its client, or its stream closed): every replica forgets it. */
  async remove(sessionId: string): Promise<void> {
    this.touched.delete(sessionId);
    if (this.redis === null) return;
    await this.quietly(() => this.redis!.del(this.key(sessionId)));
    await this.quietly(() =>
      this.redis!.publish(this.closedChannel(), JSON.stringify({ sessionId, from: this.replica })),
    );
  }

  /** Stops keeping a session's expiry fresh here (closed locally, perhaps alive elsewhere). */
  forget(sessionId: string): void {
    this.touched.delete(sessionId);
  }

  /** Relays a legacy SSE message to the replica with the stream; false when nobody received it. */
  async relay(replica: string, message: RelayedMessage): Promise<boolean> {
    if (this.redis === null) return false;
    const receivers = await this.quietly(() =>
      this.redis!.publish(this.relayChannel(replica), JSON.stringify(serializeRelay(message))),
    );
    return typeof receivers === 'number' && receivers > 0;
  }

  onModuleDestroy(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private receive(channel: string, raw: string): void {
    try {
      const value = JSON.parse(raw) as Record<string, unknown>;
      if (channel === this.closedChannel()) {
        if (value.from !== this.replica && typeof value.sessionId === 'string')
          this.closedHandler?.(value.sessionId);
        return;
      }
      this.relayHandler?.(deserializeRelay(value));
    } catch (error) {
      this.logger.warn(`Dropped an unreadable MCP relay message: ${(error as Error).message}`);
    }
  }

  /** Redis failures never fail the request: the session is then treated as this replica's only. */
  private async quietly<T>(command: () => Promise<T>): Promise<T | undefined> {
    try {
      return await command();
    } catch (error) {
      this.logger.warn(`Shared MCP session store unavailable: ${(error as Error).message}`);
      return undefined;
    }
  }

  private key(sessionId: string): string {
    return `mcp:session:${sessionId}`;
  }

  /** Channels are not prefixed by ioredis: the key prefix is added here so deployments stay apart. */
  private relayChannel(replica: string): string {
    return `${this.config.redis.keyPrefix}mcp:relay:${replica}`;
  }

  private closedChannel(): string {
    return `${this.config.redis.keyPrefix}mcp:closed`;
  }
}

function serializeRelay(message: RelayedMessage): Record<string, unknown> {
  const { principal } = message.caller;
  return {
    sessionId: message.sessionId,
    message: message.message,
    caller: { ...message.caller, principal: { ...principal, permissions: [...principal.permissions] } },
  };
}

function deserializeRelay(value: Record<string, unknown>): RelayedMessage {
  const caller = value.caller as McpCaller & { principal: Principal & { permissions: string[] } };
  return {
    sessionId: String(value.sessionId),
    message: value.message,
    caller: {
      ...caller,
      principal: { ...caller.principal, permissions: new Set(caller.principal.permissions) },
    },
  };
}
