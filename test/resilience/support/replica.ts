import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { exited, waitFor } from './processes';

const MAIN = resolve(__dirname, '../../../dist/main.js');

/**
 * One service replica: the compiled service (`dist/main.js`, so `npm run build` first) in its own
 * process on 127.0.0.1, as production runs it. Its JSON log goes to a file in the suite's directory.
 */
export class Replica {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error(`${this.name} is not running`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and waits until /health/ready answers 200. */
  async start(): Promise<void> {
    this.log = createWriteStream(join(this.logDir, `${this.name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(this.log, { end: false });
    child.stderr.pipe(this.log, { end: false });
    this.child = child;
    await waitFor(
      `${this.name} to be ready`,
      async () => {
        if (!this.running) throw new Error(`${this.name} exited during start; see ${this.name}.log`);
        return (await this.readiness()) === 200;
      },
      90_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.logTail()}`);
    });
  }

  /** The status of GET /health/ready, or 0 when nothing answers. */
  async readiness(): Promise<number> {
    try {
      const response = await fetch(`${this.baseUrl}/health/ready`, { signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      return response.status;
    } catch {
      return 0;
    }
  }

  /** SIGTERM (a rolling update) or SIGKILL (a crash); resolves with the exit code or signal. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<number | NodeJS.Signals> {
    const child = this.child;
    if (child === undefined) throw new Error(`${this.name} is not running`);
    child.kill(signal);
    const result = await exited(child);
    this.child = undefined;
    await new Promise<void>((done) => (this.log ? this.log.end(done) : done()));
    return result;
  }

  /** Resident set size in MiB, from /proc. */
  rssMiB(): number {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return match === null ? Number.NaN : Number(match[1]) / 1024;
  }

  openFds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** Every line of the replica's log so far (every start of it). */
  logLines(): string[] {
    try {
      return readFileSync(join(this.logDir, `${this.name}.log`), 'utf8').split('\n');
    } catch {
      return [];
    }
  }

  /** The last lines of the replica's log, for a failure message. */
  logTail(lines = 40): string {
    const text = this.logLines();
    return text.length === 0
      ? ''
      : `--- last lines of ${this.name}.log ---\n${text.slice(-lines).join('\n')}`;
  }
}
