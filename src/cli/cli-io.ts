import { loadDotEnvFile } from '../config/load-config';

/** Where a command writes: results to `out`, diagnostics to `err` (tests pass their own). */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

export const stdio: CliOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Runs a command as the process's main module: `.env` first, its answer as the exit code. */
export function runAsMain(command: () => Promise<number>): void {
  loadDotEnvFile();
  command().then(
    (code) => process.exit(code),
    (error: unknown) => {
      stdio.err(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    },
  );
}
