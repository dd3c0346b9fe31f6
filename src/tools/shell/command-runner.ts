import { spawn } from 'node:child_process';
import { ServiceUnavailableError } from '../../common/app-error';
import type { CommandLimits } from './command-policy';

export interface CommandResult {
  /** null when the process was ended by a signal. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout or stderr reached maxOutputBytes; the process was killed and the output kept so far is returned. */
  readonly truncated: boolean;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

/**
 * Runs one allowlisted command (the argv comes from CommandPolicy). Never through a shell, in the file
 * root, with an environment built from scratch: nothing of process.env (JWT_SECRET, DATABASE_URL, ...)
 * reaches the child. A non-zero exit is a result, not an error.
 *
 * `spawn` rather than `execFile`: execFile cannot start the child in its own process group, and without
 * one a timeout kills only the child while a grandchild holding the output pipes open keeps the call
 * waiting. Like execFile with `shell: false`, spawn hands the argv to the kernel as it is.
 */
export class CommandRunner {
  private readonly env: Readonly<Record<string, string>>;

  constructor(private readonly cwd: string) {
    this.env = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', HOME: cwd };
  }

  run(
    binary: string,
    argv: readonly string[],
    limits: CommandLimits,
    signal?: AbortSignal,
  ): Promise<CommandResult> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const started = performance.now();
    return new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(binary, argv, {
        cwd: this.cwd,
        env: this.env,
        shell: false,
        // No input: a program that reads stdin sees its end at once instead of waiting for the timeout.
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group (pgid = pid), so that one kill reaches everything the command started.
        detached: true,
        windowsHide: true,
      });
      let timedOut = false;
      let truncated = false;
      const killGroup = (): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // The group is already gone.
        }
      };
      const onFull = (): void => {
        truncated = true;
        killGroup();
      };
      const stdout = new CappedOutput(limits.maxOutputBytes, onFull);
      const stderr = new CappedOutput(limits.maxOutputBytes, onFull);
      child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, limits.timeoutMs);
      signal?.addEventListener('abort', killGroup, { once: true });
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', killGroup);
      };

      child.once('error', (error) => {
        // A started child (it has a pid) always ends with 'close'; without a pid it never started at all.
        if (child.pid !== undefined) return;
        finish();
        reject(cannotStart(binary, error));
      });
      child.once('close', (code, exitSignal) => {
        finish();
        if (signal?.aborted) return reject(abortReason(signal));
        resolve({
          exitCode: code,
          signal: exitSignal,
          stdout: stdout.text(),
          stderr: stderr.text(),
          truncated,
          timedOut,
          durationMs: Math.round(performance.now() - started),
        });
      });
    });
  }
}

/** Keeps the first `limit` bytes of a stream and reports once when more arrives. */
class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private full = false;

  constructor(
    private readonly limit: number,
    private readonly onFull: () => void,
  ) {}

  add(chunk: Buffer): void {
    if (this.full) return;
    const room = this.limit - this.bytes;
    this.chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    this.bytes += Math.min(chunk.length, room);
    if (chunk.length > room) {
      this.full = true;
      this.onFull();
    }
  }

  /** A multi-byte character cut at the limit becomes U+FFFD. */
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** The command was killed because the call was cancelled; nobody is waiting for its output any more. */
function abortReason(signal: AbortSignal): Error {
  const error = new Error('The command was cancelled.', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

/** An allowlisted binary that is missing or not executable is a deployment problem, not the caller's. */
function cannotStart(binary: string, error: NodeJS.ErrnoException): ServiceUnavailableError {
  const code = error.code ?? 'unknown';
  return new ServiceUnavailableError('COMMAND_UNAVAILABLE', `${binary} could not be started (${code}).`);
}
