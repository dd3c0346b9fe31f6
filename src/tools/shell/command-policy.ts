import { posix } from 'node:path';
import { z } from 'zod';
import { BadRequestError, type ErrorDetail, ForbiddenError } from '../../common/app-error';

export const SHELL_LIMITS = {
  maxTimeoutMs: 600_000,
  defaultTimeoutMs: 10_000,
  maxOutputBytes: 10 * 1024 * 1024,
  defaultOutputBytes: 1024 * 1024,
  maxPositional: 64,
} as const;

/** How long a command may run and how much of each output stream is kept. */
export interface CommandLimits {
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
}

/** A flag as written on the command line: `-n`, `--version`, `--format=json` (matched exactly). */
const flag = z
  .string()
  .max(100)
  .regex(/^--?[A-Za-z0-9][^\s\0]*$/, 'must start with - or -- and a letter or digit, without whitespace');

const pattern = z
  .string()
  .min(1)
  .max(1000)
  .refine((source) => compiles(source), 'is not a valid regular expression');

/** One allowlist entry (docs/TOOLS-FS-SHELL.md). Unknown properties are refused so typos fail at boot. */
const ruleSchema = z.strictObject({
  flags: z.array(flag).max(100).default([]),
  /** Flags that take the next argument as their value, which must match the pattern. */
  valueFlags: z.record(flag, pattern).default({}),
  /** Absent: no positional arguments at all. */
  positional: z.strictObject({ max: z.int().min(0).max(SHELL_LIMITS.maxPositional), pattern }).optional(),
  endOfOptions: z.boolean().default(true),
  timeoutMs: z.int().min(100).max(SHELL_LIMITS.maxTimeoutMs).default(SHELL_LIMITS.defaultTimeoutMs),
  maxOutputBytes: z.int().min(1).max(SHELL_LIMITS.maxOutputBytes).default(SHELL_LIMITS.defaultOutputBytes),
});
type RuleConfig = z.infer<typeof ruleSchema>;

interface CommandRule extends CommandLimits {
  readonly flags: ReadonlySet<string>;
  readonly valueFlags: ReadonlyMap<string, RegExp>;
  readonly maxPositional: number;
  readonly positional: RegExp;
  readonly endOfOptions: boolean;
}

/**
 * Which binaries `run_command` may start and with which arguments (TOOLS_SHELL_ALLOWLIST). Commands are
 * never given to a shell, so metacharacters are inert; what is left to police is the binary itself and
 * its options, since an option like `--output=/etc/x` or `-exec` turns a harmless program into a harmful one.
 */
export class CommandPolicy {
  private constructor(private readonly rules: ReadonlyMap<string, CommandRule>) {}

  /** Throws an Error listing every problem of the configuration, so that a bad allowlist stops the boot. */
  static parse(raw: Record<string, unknown> | undefined): CommandPolicy {
    if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
      throw new Error('TOOLS_SHELL_ALLOWLIST must be a JSON object mapping absolute binary paths to rules.');
    }
    const problems: string[] = [];
    // A Map, so that keys such as `__proto__` or `constructor` are plain strings and never prototype lookups.
    const rules = new Map<string, CommandRule>();
    for (const [binary, value] of Object.entries(raw ?? {})) {
      const name = JSON.stringify(binary);
      const keyProblem = binaryProblem(binary);
      if (keyProblem !== undefined) problems.push(`${name}: ${keyProblem}`);
      const parsed = ruleSchema.safeParse(value);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          problems.push(`${name}${issue.path.map((part) => `.${String(part)}`).join('')}: ${issue.message}`);
        }
      }
      const overlap = parsed.success
        ? parsed.data.flags.filter((f) => Object.hasOwn(parsed.data.valueFlags, f))
        : [];
      if (overlap.length > 0)
        problems.push(`${name}: ${overlap.join(', ')} listed in both flags and valueFlags`);
      if (keyProblem === undefined && parsed.success && overlap.length === 0)
        rules.set(binary, compile(parsed.data));
    }
    if (problems.length > 0) throw new Error(`TOOLS_SHELL_ALLOWLIST is invalid:\n- ${problems.join('\n- ')}`);
    return new CommandPolicy(rules);
  }

  /** The allowlisted binaries, sorted. */
  get commands(): string[] {
    return [...this.rules.keys()].sort();
  }

  /** One line per command, for the tool description an agent reads. */
  describe(): string[] {
    return this.commands.map((binary) => {
      const rule = this.rules.get(binary) as CommandRule;
      const flags = [...rule.flags, ...[...rule.valueFlags.keys()].map((f) => `${f} <value>`)];
      return (
        `${binary} (flags: ${flags.length === 0 ? 'none' : flags.join(' ')}; ` +
        `up to ${rule.maxPositional} other arguments; ${rule.timeoutMs} ms)`
      );
    });
  }

  /**
   * The argv to run `binary` with, or a refusal naming every argument that is not allowed. With
   * `endOfOptions`, flags come first and positionals after a literal `--`, so that no positional can be
   * read as an option by the program.
   */
  argv(binary: string, args: readonly string[]): string[] {
    const rule = this.rule(binary);
    const details: ErrorDetail[] = [];
    const options: string[] = [];
    const positionals: string[] = [];
    const ordered: string[] = [];
    for (let index = 0; index < args.length; index += 1) {
      const arg = args[index];
      const field = `args[${index}]`;
      if (arg.includes('\0')) {
        details.push({ field, issue: 'contains a NUL byte' });
        continue;
      }
      const valuePattern = rule.valueFlags.get(arg);
      if (valuePattern !== undefined) {
        const value = args[index + 1];
        index += 1;
        if (value === undefined) details.push({ field, issue: `${arg} needs a value` });
        else if (value.includes('\0') || !valuePattern.test(value)) {
          details.push({ field: `args[${index}]`, issue: `not an allowed value for ${arg}` });
        } else {
          options.push(arg, value);
          ordered.push(arg, value);
        }
        continue;
      }
      // Anything option-shaped must be an allowed flag exactly: `--output=x` is not `--output`.
      if (arg.startsWith('-')) {
        if (rule.flags.has(arg)) {
          options.push(arg);
          ordered.push(arg);
        } else details.push({ field, issue: `${JSON.stringify(arg.slice(0, 100))} is not an allowed flag` });
        continue;
      }
      if (!rule.positional.test(arg)) details.push({ field, issue: 'does not match the allowed pattern' });
      positionals.push(arg);
      ordered.push(arg);
    }
    if (positionals.length > rule.maxPositional) {
      details.push({
        field: 'args',
        issue: `at most ${rule.maxPositional} positional arguments are allowed`,
      });
    }
    if (details.length > 0) {
      throw new BadRequestError('COMMAND_REFUSED', `These arguments are not allowed for ${binary}.`, details);
    }
    if (!rule.endOfOptions) return ordered;
    return positionals.length === 0 ? options : [...options, '--', ...positionals];
  }

  limits(binary: string): CommandLimits {
    const { timeoutMs, maxOutputBytes } = this.rule(binary);
    return { timeoutMs, maxOutputBytes };
  }

  private rule(binary: string): CommandRule {
    if (binary.includes('\0')) throw commandRefused('contains a NUL byte');
    // A bare name would be looked up in PATH, which is exactly the indirection the allowlist removes.
    if (!binary.startsWith('/')) throw commandRefused('must be an absolute path, such as /usr/bin/echo');
    const rule = this.rules.get(binary);
    if (rule === undefined) {
      throw new ForbiddenError('COMMAND_NOT_ALLOWED', `${binary} is not in the command allowlist.`, [
        { field: 'command', issue: 'not allowlisted' },
      ]);
    }
    return rule;
  }
}

function binaryProblem(binary: string): string | undefined {
  if (binary.includes('\0')) return 'contains a NUL byte';
  if (!binary.startsWith('/')) return 'must be an absolute path';
  // Exact-match lookups only work when there is one spelling per binary.
  if (binary.endsWith('/') || posix.normalize(binary) !== binary) {
    return 'must be normalised (no ".", "..", "//" or trailing "/")';
  }
  return undefined;
}

function compile(config: RuleConfig): CommandRule {
  return {
    flags: new Set(config.flags),
    valueFlags: new Map(Object.entries(config.valueFlags).map(([f, source]) => [f, anchored(source)])),
    maxPositional: config.positional?.max ?? 0,
    positional: config.positional === undefined ? /(?!)/ : anchored(config.positional.pattern),
    endOfOptions: config.endOfOptions,
    timeoutMs: config.timeoutMs,
    maxOutputBytes: config.maxOutputBytes,
  };
}

/** Patterns must match the whole argument: `[a-z]+` must not accept `abc; id` by matching its start. */
function anchored(source: string): RegExp {
  return new RegExp(`^(?:${source})$`, 'u');
}

/**
 * On its own first: a source that only compiles inside our wrapper (`x)|(.*`) would break out of the
 * anchoring and match anything.
 */
function compiles(source: string): boolean {
  try {
    new RegExp(source, 'u');
    anchored(source);
    return true;
  } catch {
    return false;
  }
}

function commandRefused(issue: string): BadRequestError {
  return new BadRequestError('COMMAND_REFUSED', `The command is refused: it ${issue}.`, [
    { field: 'command', issue },
  ]);
}
