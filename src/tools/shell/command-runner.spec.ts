import { existsSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandPolicy } from './command-policy';
import { CommandRunner } from './command-runner';
import { shellTool } from './shell-tool';

const ECHO = existsSync('/usr/bin/echo') ? '/usr/bin/echo' : '/bin/echo';
const limits = { timeoutMs: 5_000, maxOutputBytes: 65_536 };

describe('CommandRunner', () => {
  let root: string;
  let runner: CommandRunner;
  const policy = CommandPolicy.parse({
    [ECHO]: { flags: ['-n'], positional: { max: 10, pattern: '[^\\u0000]{0,1000}' }, endOfOptions: false },
  });

  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'command-runner-')));
    runner = new CommandRunner(root);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each([['; id'], ['| id'], ['&& id'], ['$(id)'], ['`id`'], ['\nid'], ['> /tmp/owned'], ['*']])(
    'passes %j to echo as literal text',
    async (arg) => {
      const result = await runner.run(ECHO, policy.argv(ECHO, [arg]), limits);
      expect(result.stdout).toBe(`${arg}\n`);
      expect(result.stdout).not.toContain('uid=');
      expect(result).toMatchObject({ exitCode: 0, signal: null, truncated: false, timedOut: false });
    },
  );

  it('reports a non-zero exit as a result, with stderr', async () => {
    const result = await runner.run('/bin/sh', ['-c', 'echo oops >&2; exit 3'], limits);
    expect(result).toMatchObject({
      exitCode: 3,
      signal: null,
      stdout: '',
      stderr: 'oops\n',
      timedOut: false,
    });
  });

  it('kills a command that runs past its timeout', async () => {
    const result = await runner.run('/usr/bin/sleep', ['5'], { timeoutMs: 200, maxOutputBytes: 1024 });
    expect(result).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
    expect(result.durationMs).toBeLessThan(4_000);
  });

  it('also kills what the command started (its process group)', async () => {
    const result = await runner.run('/bin/sh', ['-c', '/usr/bin/sleep 5 & /usr/bin/sleep 5'], {
      timeoutMs: 200,
      maxOutputBytes: 1024,
    });
    expect(result.timedOut).toBe(true);
    expect(result.durationMs).toBeLessThan(4_000);
  });

  it('cuts the output at maxOutputBytes and stops the command', async () => {
    const result = await runner.run('/usr/bin/yes', [], { timeoutMs: 5_000, maxOutputBytes: 1000 });
    expect(result.stdout).toBe('y\n'.repeat(500));
    expect(result).toMatchObject({ truncated: true, timedOut: false, signal: 'SIGKILL' });
  });

  it('keeps output of exactly the limit whole', async () => {
    const result = await runner.run(ECHO, ['-n', 'abcd'], { timeoutMs: 5_000, maxOutputBytes: 4 });
    expect(result).toMatchObject({ stdout: 'abcd', truncated: false, exitCode: 0 });
  });

  it('gives the child a minimal environment, never the parent secrets', async () => {
    const previous = process.env.JWT_SECRET;
    process.env.JWT_SECRET = 'parent-secret-that-must-not-leak-0123456789';
    try {
      const result = await runner.run('/usr/bin/env', [], limits);
      expect(result.stdout).not.toContain('JWT_SECRET');
      expect(result.stdout).not.toContain('parent-secret');
      expect(result.stdout.trim().split('\n').sort()).toEqual([
        `HOME=${root}`,
        'LANG=C.UTF-8',
        'PATH=/usr/local/bin:/usr/bin:/bin',
      ]);
    } finally {
      if (previous === undefined) delete process.env.JWT_SECRET;
      else process.env.JWT_SECRET = previous;
    }
  });

  it('runs in the file root with stdin closed', async () => {
    expect((await runner.run('/usr/bin/pwd', [], limits)).stdout).toBe(`${root}\n`);
    // cat with no arguments reads stdin: it must see its end at once, not wait for the timeout.
    expect(await runner.run('/usr/bin/cat', [], limits)).toMatchObject({
      exitCode: 0,
      stdout: '',
      timedOut: false,
    });
  });

  it('stops when the call is cancelled', async () => {
    const controller = new AbortController();
    const running = runner.run('/usr/bin/sleep', ['5'], limits, controller.signal);
    setTimeout(() => controller.abort(), 100);
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('answers 503 when an allowlisted binary is missing', async () => {
    await expect(runner.run('/usr/bin/does-not-exist-here', [], limits)).rejects.toMatchObject({
      code: 'COMMAND_UNAVAILABLE',
      status: 503,
    });
  });
});

describe('run_command', () => {
  let root: string;
  const call = {
    signal: new AbortController().signal,
    transport: 'rest' as const,
    progress: () => Promise.resolve(),
  };

  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'run-command-')));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const tool = () =>
    shellTool(
      CommandPolicy.parse({ [ECHO]: { positional: { max: 2, pattern: '[a-z;| ]*' }, maxOutputBytes: 100 } }),
      new CommandRunner(root),
    );

  it('checks the arguments with the policy, then runs the command', async () => {
    const definition = tool();
    const input = definition.input.parse({ command: ECHO, args: ['hi; id'] });
    const result = await definition.handler(input, call);
    expect(definition.output?.parse(result)).toMatchObject({
      command: ECHO,
      argv: ['--', 'hi; id'],
      exitCode: 0,
      // GNU echo does not know `--` and prints it: with endOfOptions on, that is what echo says.
      stdout: '-- hi; id\n',
    });
    await expect(
      definition.handler(definition.input.parse({ command: ECHO, args: ['-e'] }), call),
    ).rejects.toMatchObject({ code: 'COMMAND_REFUSED' });
    await expect(
      definition.handler(definition.input.parse({ command: 'echo', args: [] }), call),
    ).rejects.toMatchObject({ code: 'COMMAND_REFUSED' });
  });

  it('has a strict, bounded input and audits command and args', () => {
    const definition = tool();
    expect(definition.input.safeParse({ command: ECHO, args: [], shell: true }).success).toBe(false);
    expect(definition.input.safeParse({ command: ECHO, args: Array(65).fill('a') }).success).toBe(false);
    expect(definition.input.safeParse({ command: ECHO, args: ['a'.repeat(4097)] }).success).toBe(false);
    expect(definition.auditArguments?.({ command: ECHO, args: ['x'] })).toEqual({
      command: ECHO,
      args: ['x'],
    });
    expect(definition.annotations).toEqual({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
      openWorldHint: false,
    });
    expect(definition.description).toContain(ECHO);
  });
});
