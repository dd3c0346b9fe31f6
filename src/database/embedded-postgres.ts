import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as lockfile from 'proper-lockfile';

/** The embedded data directory is held by another process (usually a running server). */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `The embedded database at ${dataDir} is in use by another process (is the MCP Admin server running?). ` +
        'Stop the server first, or do this through the HTTP API while it runs.',
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

export interface EmbeddedPostgresOptions {
  /** A directory to persist to; omitted: an in-memory database (tests). */
  readonly dataDir?: string;
  /** Serve on a loopback TCP port instead of a private Unix socket (tests that need a TCP endpoint). */
  readonly tcp?: boolean;
  readonly onLockCompromised?: (error: Error) => void;
}

/**
 * PostgreSQL compiled to WebAssembly (PGlite), served over the ordinary wire protocol so that the
 * same `pg` driver and TypeORM code run against it as against a PostgreSQL server.
 *
 * PGlite is one session: two interleaved transactions would share it and see each other's
 * uncommitted work. The socket server accepts exactly one client connection, and callers use a pool
 * of exactly one connection, so every transaction runs alone. The Unix socket lives in a fresh
 * directory readable only by this user; the data directory is locked against a second process.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly host: string,
    readonly port: number,
    private readonly socketDir: string | undefined,
    private readonly releaseLock: (() => Promise<void>) | undefined,
  ) {}

  static async start(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
    const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
    let releaseLock: (() => Promise<void>) | undefined;
    if (dataDir !== undefined) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      releaseLock = await lockDataDir(dataDir, options.onLockCompromised);
    }
    let socketDir: string | undefined;
    try {
      const db = await PGlite.create(dataDir === undefined ? undefined : { dataDir });
      if (options.tcp) {
        const port = await freeLoopbackPort();
        const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 1 });
        await server.start();
        return new EmbeddedPostgres(db, server, '127.0.0.1', port, undefined, releaseLock);
      }
      socketDir = mkdtempSync(join(tmpdir(), 'mcp-admin-pg-'));
      const server = new PGLiteSocketServer({
        db,
        path: join(socketDir, '.s.PGSQL.5432'),
        maxConnections: 1,
      });
      await server.start();
      return new EmbeddedPostgres(db, server, socketDir, 5432, socketDir, releaseLock);
    } catch (error) {
      if (socketDir !== undefined) rmSync(socketDir, { recursive: true, force: true });
      await releaseLock?.();
      throw error;
    }
  }

  /** A `postgres://` URL for tools that take one; TypeORM gets host and port directly. */
  get url(): string {
    return this.socketDir === undefined
      ? `postgres://postgres@${this.host}:${this.port}/postgres`
      : `postgres://postgres@localhost/postgres?host=${encodeURIComponent(this.host)}`;
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
    if (this.socketDir !== undefined) rmSync(this.socketDir, { recursive: true, force: true });
    await this.releaseLock?.();
  }
}

async function lockDataDir(
  dataDir: string,
  onCompromised?: (error: Error) => void,
): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath: `${dataDir}.lock`,
      stale: 15_000,
      update: 5_000,
      onCompromised: onCompromised ?? (() => undefined),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw new EmbeddedDatabaseInUseError(dataDir);
    throw error;
  }
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}
