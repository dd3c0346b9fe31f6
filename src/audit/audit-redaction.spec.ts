import { REDACTED } from '../common/redact';
import { MAX_DETAILS_BYTES, redactSecretValues, sanitizeDetails, storableText } from './audit-redaction';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const API_KEY = 'mcpa_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr';

describe('audit details redaction', () => {
  it.each([
    [`token was ${JWT} here`, `token was ${REDACTED} here`],
    ['Authorization: Bearer abc.def-ghi', `Authorization: Bearer ${REDACTED}`],
    ['basic auth Basic dXNlcjpwYXNz', `basic auth Basic ${REDACTED}`],
    [`key ${API_KEY} used`, `key mcpa_${REDACTED} used`],
    ['postgres://app:s3cr3t@db.internal:5432/main', `postgres://app:${REDACTED}@db.internal:5432/main`],
    ['https://user:p%40ss@example.com/x?y=1', `https://user:${REDACTED}@example.com/x?y=1`],
    ['GET /cb?code=1&access_token=abc123&x=2', `GET /cb?code=1&access_token=${REDACTED}&x=2`],
    ['host=db password=hunter2 user=app', `host=db password=${REDACTED} user=app`],
    ['sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', `sha ${REDACTED}`],
    ['raw Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr9Q==', `raw ${REDACTED}`],
    ['openai sk-proj-abcdefghijklmnop1234', `openai ${REDACTED}`],
    ['aws AKIAIOSFODNN7EXAMPLE', `aws ${REDACTED}`],
  ])('redacts the secret part of %j', (input, expected) => {
    expect(redactSecretValues(input)).toBe(expected);
  });

  it.each([
    'Created product 12345 in Furniture > Beds & Accessories > Beds',
    '/api/v1/products/1234567890/variants/ABCdef1234567890XYZ',
    'https://example.com/path/to/resource?page=2',
    '3f2b8c1e-7d4a-4b9e-9c0f-1a2b3c4d5e6f',
    'averyveryverylonglowercaseidentifierwithoutdigits',
    'user.create',
  ])('leaves ordinary text alone: %j', (input) => {
    expect(redactSecretValues(input)).toBe(input);
  });

  it('redacts by key name and by value at any depth, without touching the input', () => {
    const input = {
      email: 'ada@example.com',
      password: 'hunter2',
      nested: { note: `use ${API_KEY}`, list: [{ refreshToken: 'r' }, `Bearer ${JWT}`] },
      count: 3,
    };
    expect(sanitizeDetails(input)).toEqual({
      email: 'ada@example.com',
      password: REDACTED,
      nested: { note: `use mcpa_${REDACTED}`, list: [{ refreshToken: REDACTED }, `Bearer ${REDACTED}`] },
      count: 3,
    });
    expect(input.password).toBe('hunter2');
  });

  it('makes the details JSON that PostgreSQL accepts', () => {
    const details = sanitizeDetails({
      big: 12n,
      when: new Date('2025-01-01T00:00:00Z'),
      error: new Error('failed for postgres://u:pw@h/db'),
      nul: 'a\u0000b',
      lone: 'x\uD800y',
      skipped: undefined,
    });
    expect(details).toEqual({
      big: '12',
      when: '2025-01-01T00:00:00.000Z',
      error: { name: 'Error', message: `failed for postgres://u:${REDACTED}@h/db` },
      nul: 'ab',
      lone: 'x\uFFFDy',
    });
    expect(storableText('ok\u0000')).toBe('ok');
    expect(sanitizeDetails(undefined)).toEqual({});
  });

  it('replaces details above the size cap by a truncation marker', () => {
    const details = sanitizeDetails({ blob: 'x '.repeat(MAX_DETAILS_BYTES) });
    expect(details).toEqual({ _truncated: true, _originalBytes: expect.any(Number) });
    expect(details._originalBytes).toBeGreaterThan(MAX_DETAILS_BYTES);
    expect(sanitizeDetails({ small: 'x'.repeat(1000) })).toEqual({ small: 'x'.repeat(1000) });
  });

  it('keeps the event when the details are cyclic: the depth bound cuts the cycle', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const details = sanitizeDetails(cyclic);
    expect(details.a).toBe(1);
    expect(JSON.stringify(details)).toContain('[TRUNCATED]');
  });

  it('leaves prose about authentication schemes alone', () => {
    expect(redactSecretValues('use basic auth or Bearer tokens')).toBe('use basic auth or Bearer tokens');
  });
});
