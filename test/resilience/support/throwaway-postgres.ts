import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../support/ports';
import { run, waitFor } from './processes';

/**
 * A PostgreSQL server of its own for the resilience suite: a temporary data directory, a free port
 * on 127.0.0.1, started and stopped with the machine's initdb/pg_ctl. Those refuse to run as root,
 * so as root they run as the `postgres` system user, which then owns the directory. The suite can
 * stop and restart it freely without touching the machine's own server.
 */
export class ThrowawayPostgres {
  readonly url: string;
  private readonly dataDir: string;
  private readonly logFile: string;

  private constructor(
    private readonly bin: string,
    private readonly root: string,
    readonly port: number,
  ) {
    this.dataDir = join(root, 'data');
    this.logFile = join(root, 'postgres.log');
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  static async start(): Promise<ThrowawayPostgres> {
    const root = mkdtempSync(join(tmpdir(), 'resilience-pg-'));
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const uid = Number(stdout.trim());
      const { stdout: group } = await run('id', ['-g', 'postgres']);
      chownSync(root, uid, Number(group.trim()));
    }
    const server = new ThrowawayPostgres(postgresBin(), root, await freePort());
    await server.pg('initdb', [
      '-D',
      server.dataDir,
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    await server.startServer();
    return server;
  }

  /** Starts the server (again) and waits until it accepts connections. */
  async startServer(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${this.root}`,
      '-c fsync=off',
      '-c max_connections=200',
    ].join(' ');
    await this.pg('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      this.logFile,
      '-o',
      options,
      '-w',
      '-t',
      '60',
      'start',
    ]);
    await waitFor('PostgreSQL to accept connections', () => this.accepts(), 30_000);
  }

  /** `fast` ends sessions and stops cleanly; `immediate` is a crash (recovery at the next start). */
  async stopServer(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.url, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async destroy(): Promise<void> {
    if (existsSync(join(this.dataDir, 'postmaster.pid')))
      await this.stopServer('immediate').catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }

  private async accepts(): Promise<boolean> {
    await this.query('SELECT 1');
    return true;
  }

  private async pg(binary: string, args: string[]): Promise<void> {
    const path = join(this.bin, binary);
    const [command, argv] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    await run(command, argv, { cwd: this.root, timeout: 120_000 });
  }
}

/** The newest server binaries Debian's postgresql-common installed (or PG_BIN when set). */
function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined)
    throw new Error('No PostgreSQL server binaries under /usr/lib/postgresql (set PG_BIN)');
  return join(base, newest, 'bin');
}
