import type { CachePolicy } from './adapter-cache';
import { decideStore, parseCacheControl } from './cache-policy';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const SHARED: CachePolicy = { ttlSeconds: 60 };
const PRINCIPAL: CachePolicy = { ttlSeconds: 60, scope: 'principal' };

function decide(headers: Record<string, string>, policy: CachePolicy = SHARED, method = 'GET', status = 200) {
  return decideStore(method, { status, headers }, policy, NOW);
}

describe('parseCacheControl', () => {
  it('reads directives case-insensitively, with quoted arguments that contain commas', () => {
    expect(parseCacheControl('Public, MAX-AGE=30, no-cache="set-cookie, x-a", s-maxage="10"')).toEqual({
      noStore: false,
      noCache: true,
      private: false,
      maxAge: 30,
      sMaxAge: 10,
    });
  });

  it('reads a malformed lifetime as 0 and a repeated one as the shortest', () => {
    expect(parseCacheControl('max-age=abc').maxAge).toBe(0);
    expect(parseCacheControl('max-age=-5').maxAge).toBe(0);
    expect(parseCacheControl('max-age=60, max-age=5').maxAge).toBe(5);
  });

  it('finds no-store after junk', () => {
    expect(parseCacheControl('max-age=60; foo, no-store').noStore).toBe(true);
  });

  it('reads nothing from an absent header', () => {
    expect(parseCacheControl(undefined)).toEqual({
      noStore: false,
      noCache: false,
      private: false,
      maxAge: undefined,
      sMaxAge: undefined,
    });
  });
});

describe('decideStore', () => {
  it('stores a plain 200 for the adapter TTL', () => {
    expect(decide({})).toEqual({ store: true, ttlMs: 60_000 });
    expect(decide({}, SHARED, 'head')).toEqual({ store: true, ttlMs: 60_000 });
  });

  it('stores only GET and HEAD with status 200', () => {
    expect(decide({}, SHARED, 'POST')).toEqual({ store: false, reason: 'method' });
    expect(decide({}, SHARED, 'GET', 203)).toEqual({ store: false, reason: 'status' });
    expect(decide({}, SHARED, 'GET', 404)).toEqual({ store: false, reason: 'status' });
  });

  it('takes the smaller of the adapter TTL and the upstream max-age', () => {
    expect(decide({ 'cache-control': 'max-age=5' })).toEqual({ store: true, ttlMs: 5_000 });
    expect(decide({ 'Cache-Control': 'max-age=600' })).toEqual({ store: true, ttlMs: 60_000 });
  });

  it('prefers s-maxage for shared entries and ignores it for per-principal ones', () => {
    const headers = { 'cache-control': 'private, max-age=20, s-maxage=3' };
    expect(decide({ 'cache-control': 'max-age=20, s-maxage=3' })).toEqual({ store: true, ttlMs: 3_000 });
    expect(decide(headers, PRINCIPAL)).toEqual({ store: true, ttlMs: 20_000 });
  });

  it('subtracts the Age the response already had', () => {
    expect(decide({ 'cache-control': 'max-age=30', age: '25' })).toEqual({ store: true, ttlMs: 5_000 });
    expect(decide({ 'cache-control': 'max-age=30', age: '30' })).toEqual({ store: false, reason: 'stale' });
  });

  it('never stores no-store, no-cache or max-age=0', () => {
    expect(decide({ 'cache-control': 'no-store' }, PRINCIPAL)).toEqual({ store: false, reason: 'no-store' });
    expect(decide({ 'cache-control': 'public, no-cache' })).toEqual({ store: false, reason: 'no-cache' });
    expect(decide({ 'cache-control': 'max-age=0' })).toEqual({ store: false, reason: 'stale' });
  });

  it('stores private responses only per principal', () => {
    expect(decide({ 'cache-control': 'private, max-age=10' })).toEqual({ store: false, reason: 'private' });
    expect(decide({ 'cache-control': 'private="x-user"' })).toEqual({ store: false, reason: 'private' });
    expect(decide({ 'cache-control': 'private, max-age=10' }, PRINCIPAL)).toEqual({
      store: true,
      ttlMs: 10_000,
    });
  });

  it('uses Expires relative to Date when there is no max-age, and reads a bad Expires as expired', () => {
    const date = new Date(NOW - 100_000).toUTCString();
    const expires = new Date(NOW - 100_000 + 30_000).toUTCString();
    expect(decide({ date, expires })).toEqual({ store: true, ttlMs: 30_000 });
    expect(decide({ expires: '0' })).toEqual({ store: false, reason: 'stale' });
    expect(decide({ 'cache-control': 'max-age=7', expires: '0' })).toEqual({ store: true, ttlMs: 7_000 });
  });

  it('does not share responses that set cookies', () => {
    expect(decide({ 'set-cookie': 'sid=1' })).toEqual({ store: false, reason: 'set-cookie' });
    expect(decide({ 'set-cookie': 'sid=1' }, PRINCIPAL)).toEqual({ store: true, ttlMs: 60_000 });
  });

  it('stores a response that varies only on key headers (or on Accept-Encoding)', () => {
    const keyed: CachePolicy = { ttlSeconds: 60, keyHeaders: ['Accept-Language'] };
    expect(decide({ vary: 'accept-language, Accept-Encoding' }, keyed)).toEqual({
      store: true,
      ttlMs: 60_000,
    });
    expect(decide({ vary: 'Accept-Language' })).toEqual({ store: false, reason: 'vary' });
    expect(decide({ vary: '*' }, keyed)).toEqual({ store: false, reason: 'vary' });
  });

  it('keeps nothing when the adapter TTL is 0', () => {
    expect(decide({}, { ttlSeconds: 0 })).toEqual({ store: false, reason: 'stale' });
  });
});
