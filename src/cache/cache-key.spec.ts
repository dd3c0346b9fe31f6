import type { CacheableRequest, CachePolicy } from './adapter-cache';
import { cacheKey, normaliseUrl } from './cache-key';

const ADAPTER = '7d4f2a38-9a1e-4a0e-9c55-0b1f1f6a2c11';
const OTHER_ADAPTER = 'c0a80101-0000-4000-8000-000000000001';
const SHARED: CachePolicy = { ttlSeconds: 60 };

function hash(request: Partial<CacheableRequest>, policy: CachePolicy = SHARED, principal?: string): string {
  return cacheKey(
    { adapterId: ADAPTER, method: 'GET', url: 'https://api.example.com/items', ...request },
    policy,
    principal,
  ).hash;
}

describe('normaliseUrl', () => {
  it('lower-cases scheme and host, drops the default port and resolves dot segments', () => {
    expect(normaliseUrl('HTTPS://API.Example.COM:443/a/./b/../c%2fd').base).toBe(
      'https://api.example.com/a/c%2Fd',
    );
  });

  it('keeps trailing slashes and explicit ports, and returns the query separately', () => {
    expect(normaliseUrl('http://h:8080/a/?x=1&y=2#frag')).toEqual({
      base: 'http://h:8080/a/',
      query: [
        ['x', '1'],
        ['y', '2'],
      ],
    });
  });
});

describe('cacheKey', () => {
  it('is the same for equivalent requests', () => {
    const base = hash({ query: { b: '2', a: '1' } });
    expect(hash({ url: 'https://API.example.com:443/items', query: { a: '1', b: '2' } })).toBe(base);
    expect(hash({ url: 'https://api.example.com/items?b=2', query: { a: '1' } })).toBe(base);
    expect(hash({ method: 'get', query: { a: ['1'], b: '2' } })).toBe(base);
    // Headers outside keyHeaders do not count.
    expect(hash({ query: { a: '1', b: '2' }, headers: { 'x-trace': 'abc' } })).toBe(base);
  });

  it('differs for anything that can change the answer', () => {
    const base = hash({ query: { a: '1' } });
    const variants = [
      hash({ query: { a: '2' } }),
      hash({ query: { a: '1', b: '' } }),
      hash({ url: 'https://api.example.com/items/', query: { a: '1' } }),
      hash({ url: 'http://api.example.com/items', query: { a: '1' } }),
      hash({ method: 'HEAD', query: { a: '1' } }),
      cacheKey(
        { adapterId: OTHER_ADAPTER, method: 'GET', url: 'https://api.example.com/items', query: { a: '1' } },
        SHARED,
        undefined,
      ).hash,
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('keeps the order of repeated query values', () => {
    expect(hash({ query: { a: ['1', '2'] } })).not.toBe(hash({ query: { a: ['2', '1'] } }));
    expect(hash({ url: 'https://api.example.com/items?a=1', query: { a: '2' } })).toBe(
      hash({ query: { a: ['1', '2'] } }),
    );
  });

  it('reads key headers case-insensitively and tells absent from empty', () => {
    const policy: CachePolicy = { ttlSeconds: 60, keyHeaders: ['Accept-Language', 'accept-language'] };
    const en = hash({ headers: { 'ACCEPT-LANGUAGE': 'en' } }, policy);
    expect(hash({ headers: { 'accept-language': 'en' } }, policy)).toBe(en);
    expect(hash({ headers: { 'accept-language': 'de' } }, policy)).not.toBe(en);
    expect(hash({ headers: { 'accept-language': '' } }, policy)).not.toBe(hash({ headers: {} }, policy));
  });

  it('includes the principal only under scope principal', () => {
    const principal: CachePolicy = { ttlSeconds: 60, scope: 'principal' };
    expect(hash({}, SHARED, 'user:a')).toBe(hash({}, SHARED, 'user:b'));
    expect(hash({}, principal, 'user:a')).not.toBe(hash({}, principal, 'user:b'));
    expect(hash({}, principal, 'user:a')).not.toBe(hash({}, SHARED, 'user:a'));
  });

  it('refuses adapter ids that could not be a key segment', () => {
    expect(() => cacheKey({ adapterId: 'a:*', method: 'GET', url: 'https://h/' }, SHARED, undefined)).toThrow(
      /invalid adapter id/,
    );
  });
});
