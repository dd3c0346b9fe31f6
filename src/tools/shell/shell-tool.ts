import { z } from 'zod';
import { type ToolDefinition, defineTool } from '../tool.types';
import type { CommandPolicy } from './command-policy';
import type { CommandRunner } from './command-runner';

export const MAX_ARGS = 64;
export const MAX_ARG_LENGTH = 4096;

const output = z.object({
  command: z.string(),
  argv: z.array(z.string()),
  exitCode: z.int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean(),
  timedOut: z.boolean(),
  durationMs: z.number(),
});

/**
 * `run_command` (permission `tools:shell`): starts one allowlisted binary with checked arguments. Wire it
 * only when TOOLS_SHELL_ENABLED is true; with an empty allowlist it refuses every command.
 */
export function shellTool(policy: CommandPolicy, runner: CommandRunner): ToolDefinition {
  const allowed = policy.describe();
  return defineTool({
    name: 'run_command',
    title: 'Run a command',
    description:
      'Runs one allowlisted program directly (no shell) in the file root and returns its exit code, stdout and ' +
      'stderr. `command` is the absolute path of the program; each entry of `args` is passed as one literal ' +
      'argument, so pipes, redirections, `;`, `$(...)`, globs and variables have no effect. An argument ' +
      'starting with "-" must be one of the allowed flags exactly. Output beyond the limit is cut ' +
      '(truncated: true); a command that runs too long is killed (timedOut: true). A non-zero exit code is a ' +
      'normal result. Allowed commands: ' +
      (allowed.length === 0 ? 'none.' : allowed.join('; ') + '.'),
    input: z.strictObject({
      command: z
        .string()
        .min(1)
        .max(MAX_ARG_LENGTH)
        .describe('Absolute path of the program, e.g. /usr/bin/echo.'),
      args: z.array(z.string().max(MAX_ARG_LENGTH)).max(MAX_ARGS).default([]),
    }),
    output,
    permission: 'tools:shell',
    // An allowlisted program may change files, and running it twice may not do the same thing twice.
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    auditArguments: ({ command, args }) => ({ command, args }),
    handler: async ({ command, args }, call) => {
      const argv = policy.argv(command, args);
      const result = await runner.run(command, argv, policy.limits(command), call.signal);
      return { command, argv, ...result };
    },
  });
}
