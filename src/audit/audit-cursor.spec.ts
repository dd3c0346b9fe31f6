import { BadRequestError } from '../common/app-error';
import { decodeCursor, encodeCursor } from './audit-cursor';

describe('audit keyset cursor', () => {
  it('round-trips an id and is opaque', () => {
    expect(encodeCursor(12345)).not.toContain('12345');
    expect(decodeCursor(encodeCursor(12345))).toBe(12345);
    expect(decodeCursor(encodeCursor(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([
    '',
    'not base64!',
    Buffer.from('abc').toString('base64url'),
    Buffer.from('0').toString('base64url'),
    Buffer.from('-5').toString('base64url'),
    Buffer.from('1e3').toString('base64url'),
    Buffer.from('99999999999999999').toString('base64url'),
    'A'.repeat(500),
  ])('refuses a malformed cursor %j with INVALID_CURSOR', (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(BadRequestError);
    try {
      decodeCursor(cursor);
    } catch (error) {
      expect((error as BadRequestError).code).toBe('INVALID_CURSOR');
    }
  });
});
