import { resolveRequestId } from './request-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('resolveRequestId', () => {
  it.each(['abc', 'A.b_c-1', 'x'.repeat(128)])('keeps an acceptable id %#', (id) => {
    expect(resolveRequestId(id)).toBe(id);
  });

  it.each([undefined, '', 'x'.repeat(129), 'has space', 'semi;colon', 'new\nline', ['a', 'b']])(
    'replaces an unacceptable id with a UUID %#',
    (id) => {
      expect(resolveRequestId(id)).toMatch(UUID);
    },
  );
});
