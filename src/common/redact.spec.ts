import { REDACTED, redactSecrets } from './redact';

describe('redactSecrets', () => {
  it('replaces secret-named fields at any depth and keeps the rest', () => {
    const input = {
      email: 'a@example.com',
      password: 'hunter2',
      nested: { refreshToken: 'r', headers: { Authorization: 'Bearer x', cookie: 'c', accept: 'json' } },
      list: [{ apiKey: 'k', name: 'n' }],
      secrets: { connectionString: 'postgres://u:p@h/db' },
      usage: { maxTokens: 10, tokensIn: 3 },
    };
    expect(redactSecrets(input)).toEqual({
      email: 'a@example.com',
      password: REDACTED,
      nested: {
        refreshToken: REDACTED,
        headers: { Authorization: REDACTED, cookie: REDACTED, accept: 'json' },
      },
      list: [{ apiKey: REDACTED, name: 'n' }],
      secrets: REDACTED,
      usage: { maxTokens: 10, tokensIn: 3 },
    });
    expect(input.password).toBe('hunter2');
  });

  it('stops at a bounded depth', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 20; i++) deep = { child: deep };
    expect(JSON.stringify(redactSecrets(deep))).toContain('[TRUNCATED]');
  });
});
