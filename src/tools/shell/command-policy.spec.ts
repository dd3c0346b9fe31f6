import { CommandPolicy } from './command-policy';

const ECHO = '/usr/bin/echo';

function refusal(run: () => unknown): {
  code: string;
  status: number;
  details: Array<{ field: string; issue: string }>;
} {
  try {
    run();
  } catch (error) {
    return error as { code: string; status: number; details: Array<{ field: string; issue: string }> };
  }
  throw new Error('expected a refusal');
}

describe('CommandPolicy.parse', () => {
  it('accepts the documented example and applies defaults', () => {
    const policy = CommandPolicy.parse({
      [ECHO]: { flags: ['-n'], positional: { max: 10, pattern: '[^\\u0000]{0,1000}' }, endOfOptions: false },
      '/usr/bin/head': { valueFlags: { '-c': '[0-9]{1,9}' }, positional: { max: 1, pattern: '[a-z.]+' } },
    });
    expect(policy.commands).toEqual(['/usr/bin/echo', '/usr/bin/head']);
    expect(policy.limits(ECHO)).toEqual({ timeoutMs: 10_000, maxOutputBytes: 1024 * 1024 });
  });

  it('treats a missing allowlist as "nothing allowed"', () => {
    const policy = CommandPolicy.parse(undefined);
    expect(policy.commands).toEqual([]);
    expect(refusal(() => policy.argv(ECHO, []))).toMatchObject({ code: 'COMMAND_NOT_ALLOWED', status: 403 });
  });

  it('names every problem in one error', () => {
    let message = '';
    try {
      CommandPolicy.parse({
        echo: {},
        '/usr/bin/../bin/cat': {},
        '/usr/bin/ls/': {},
        '/usr/bin/sleep': { timeoutMs: 600_001 },
        '/usr/bin/yes': { maxOutputBytes: 11 * 1024 * 1024 },
        '/usr/bin/env': { flag: ['-i'] },
        '/usr/bin/grep': { positional: { max: 1, pattern: '(' } },
        '/usr/bin/sed': { positional: { max: 1, pattern: 'x)|(.*' } },
        '/usr/bin/tail': { flags: ['n'] },
        '/usr/bin/wc': { flags: ['-l'], valueFlags: { '-l': '.*' } },
      });
    } catch (error) {
      message = (error as Error).message;
    }
    for (const expected of [
      '"echo": must be an absolute path',
      '"/usr/bin/../bin/cat": must be normalised',
      '"/usr/bin/ls/": must be normalised',
      '"/usr/bin/sleep".timeoutMs',
      '"/usr/bin/yes".maxOutputBytes',
      '"/usr/bin/env": Unrecognized key: "flag"',
      '"/usr/bin/grep".positional.pattern: is not a valid regular expression',
      '"/usr/bin/sed".positional.pattern: is not a valid regular expression',
      '"/usr/bin/tail".flags.0',
      '"/usr/bin/wc": -l listed in both',
    ]) {
      expect(message).toContain(expected);
    }
  });

  it('refuses a non-object', () => {
    expect(() => CommandPolicy.parse(['/usr/bin/echo'] as unknown as Record<string, unknown>)).toThrow(
      /JSON object/,
    );
  });
});

describe('CommandPolicy.argv', () => {
  const policy = CommandPolicy.parse({
    [ECHO]: {
      flags: ['-n', '--output'],
      positional: { max: 3, pattern: '[a-z ;|&$()`\\n]*' },
      endOfOptions: false,
    },
    '/usr/bin/cat': { positional: { max: 2, pattern: '[a-z]+\\.txt' } },
    '/usr/bin/head': {
      flags: ['-q'],
      valueFlags: { '-c': '[0-9]{1,9}' },
      positional: { max: 1, pattern: '[a-z]+' },
    },
  });

  it('passes allowed flags and positionals through', () => {
    expect(policy.argv(ECHO, ['-n', 'hello', '; id'])).toEqual(['-n', 'hello', '; id']);
  });

  it('puts positionals after -- when endOfOptions is on (the default)', () => {
    expect(policy.argv('/usr/bin/cat', ['a.txt', 'b.txt'])).toEqual(['--', 'a.txt', 'b.txt']);
    expect(policy.argv('/usr/bin/head', ['notes', '-c', '100', '-q'])).toEqual([
      '-c',
      '100',
      '-q',
      '--',
      'notes',
    ]);
    expect(policy.argv('/usr/bin/head', ['-q'])).toEqual(['-q']);
  });

  it('refuses flags that are not allowed exactly', () => {
    for (const args of [['--output=/tmp/x'], ['-o', '/tmp/x'], ['-nq'], ['--'], ['-']]) {
      const error = refusal(() => policy.argv(ECHO, args));
      expect(error).toMatchObject({ code: 'COMMAND_REFUSED', status: 400 });
      expect(error.details[0]).toEqual({
        field: 'args[0]',
        issue: expect.stringContaining('is not an allowed flag'),
      });
    }
  });

  it('checks the values of value flags', () => {
    expect(refusal(() => policy.argv('/usr/bin/head', ['-c', '1k']))).toMatchObject({
      details: [{ field: 'args[1]' }],
    });
    expect(refusal(() => policy.argv('/usr/bin/head', ['-c']))).toMatchObject({
      details: [{ field: 'args[0]' }],
    });
  });

  it('refuses too many positionals, unmatched ones and NUL bytes, naming each', () => {
    expect(refusal(() => policy.argv('/usr/bin/cat', ['a.txt', 'b.txt', 'c.txt']))).toMatchObject({
      details: [{ field: 'args' }],
    });
    // The pattern is anchored: `[a-z]+\.txt` does not accept a path that merely contains such a name.
    expect(refusal(() => policy.argv('/usr/bin/cat', ['../a.txt', 'b.txt.sh']))).toMatchObject({
      details: [{ field: 'args[0]' }, { field: 'args[1]' }],
    });
    expect(refusal(() => policy.argv(ECHO, ['a\u0000b']))).toMatchObject({ details: [{ field: 'args[0]' }] });
  });

  it('refuses relative, unknown and unnormalised binaries', () => {
    expect(refusal(() => policy.argv('echo', []))).toMatchObject({ code: 'COMMAND_REFUSED', status: 400 });
    for (const binary of ['/usr/bin/id', '/usr/bin/../bin/echo', '/bin/echo', '__proto__', '/constructor']) {
      const error = refusal(() => policy.argv(binary, []));
      expect(error.code).toMatch(/^COMMAND_(NOT_ALLOWED|REFUSED)$/);
    }
    expect(refusal(() => policy.argv('/usr/bin/id', []))).toMatchObject({
      code: 'COMMAND_NOT_ALLOWED',
      status: 403,
    });
  });

  it('describes the allowed commands for the tool description', () => {
    expect(policy.describe()).toEqual([
      '/usr/bin/cat (flags: none; up to 2 other arguments; 10000 ms)',
      '/usr/bin/echo (flags: -n --output; up to 3 other arguments; 10000 ms)',
      '/usr/bin/head (flags: -q -c <value>; up to 1 other arguments; 10000 ms)',
    ]);
  });
});
