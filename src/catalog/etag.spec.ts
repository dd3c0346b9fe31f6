import { parseIfMatch, productEtag } from './etag';
import { decodeProductCursor, encodeProductCursor } from './product-cursor';

describe('product ETags and If-Match', () => {
  it('round-trips versions, lists, weak tags and *', () => {
    expect(productEtag(3)).toBe('"v3"');
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch('*')).toBe('any');
    expect(parseIfMatch('"v3"')).toEqual([3]);
    expect(parseIfMatch('W/"v3", "v4"')).toEqual([3, 4]);
  });

  it('refuses malformed headers', () => {
    for (const header of ['v3', '"3"', '"v0"', '"v3', '', '"v1", junk']) {
      expect(() => parseIfMatch(header)).toThrow(expect.objectContaining({ code: 'INVALID_IF_MATCH' }));
    }
  });
});

describe('product cursors', () => {
  it('round-trips and refuses a cursor of another sort or order, or a forged one', () => {
    const cursor = encodeProductCursor('title', 'asc', { value: "Kids' Bed", id: 7 });
    expect(decodeProductCursor(cursor, 'title', 'asc')).toEqual({ value: "Kids' Bed", id: 7 });
    expect(() => decodeProductCursor(cursor, 'title', 'desc')).toThrow(
      expect.objectContaining({ code: 'INVALID_CURSOR' }),
    );
    expect(() => decodeProductCursor(cursor, 'id', 'asc')).toThrow(
      expect.objectContaining({ code: 'INVALID_CURSOR' }),
    );
    const forged = Buffer.from(JSON.stringify(['id', 'asc', 1, 1.5])).toString('base64url');
    expect(() => decodeProductCursor(forged, 'id', 'asc')).toThrow(
      expect.objectContaining({ code: 'INVALID_CURSOR' }),
    );
    expect(() => decodeProductCursor('!!', 'id', 'asc')).toThrow(
      expect.objectContaining({ code: 'INVALID_CURSOR' }),
    );
  });
});
