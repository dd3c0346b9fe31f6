import { type BeforeApplicationShutdown, type INestApplication, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';

/**
 * Graceful shutdown: readiness turns 503 at once, the HTTP server stops accepting and lets in-flight
 * requests finish (cut off after SHUTDOWN_GRACE_MS), and only then do the later shutdown hooks close
 * the database. Nest closes the HTTP server after all shutdown hooks, too late for that order, so it
 * is drained here, in the hook that runs first.
 */
@Injectable()
export class ShutdownService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ShutdownService.name);
  private readonly stopping = new AbortController();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  get isShuttingDown(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Aborted once shutdown begins: long-lived streams end on it, so clients reconnect elsewhere. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  markShuttingDown(): void {
    this.stopping.abort();
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.markShuttingDown();
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const graceMs = this.config.http.shutdownGraceMs;
    this.logger.log(
      `Shutting down${signal ? ` on ${signal}` : ''}: draining requests for up to ${graceMs} ms`,
    );
    const deadline = setTimeout(() => {
      this.logger.warn('Shutdown grace period over: closing the remaining connections');
      fastify.server.closeAllConnections();
    }, graceMs);
    deadline.unref();
    try {
      await fastify.close();
    } finally {
      clearTimeout(deadline);
    }
  }
}

/** What SIGTERM and SIGINT do: readiness turns 503 immediately, then the application closes in order. */
export async function closeGracefully(app: INestApplication): Promise<void> {
  app.get(ShutdownService).markShuttingDown();
  await app.close();
}
