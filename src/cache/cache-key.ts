import { createHash } from 'node:crypto';
import type { CacheableRequest, CachePolicy } from './adapter-cache';
import { headerValue } from './cache-policy';

export interface CacheKey {
  readonly adapterId: string;
  /** sha256 of the normalised parts, hex. */
  readonly hash: string;
}

/**
 * Adapter ids are UUIDs; the narrower rule keeps ids usable as a Redis key segment and SCAN pattern
 * (no `:`, no glob characters).
 */
const ADAPTER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function assertAdapterId(adapterId: string): void {
  if (!ADAPTER_ID.test(adapterId)) throw new Error(`invalid adapter id for the cache: ${adapterId}`);
}

/**
 * Scheme and host in lower case, default port dropped, dot segments resolved (WHATWG URL), and
 * percent-escapes in upper case. Nothing that could make two different resources equal (trailing
 * slashes, escaped reserved characters) is touched: a missed equivalence costs a miss, a wrong one a
 * wrong answer.
 */
export function normaliseUrl(raw: string): { base: string; query: Array<[string, string]> } {
  const url = new URL(raw);
  const query: Array<[string, string]> = [...url.searchParams.entries()];
  const path = url.pathname.replace(/%[0-9a-f]{2}/gi, (escape) => escape.toUpperCase());
  return { base: `${url.protocol}//${url.host}${path}`, query };
}

/**
 * Query parameters sorted by name. The values of a repeated name keep their order, since
 * `a=1&a=2` and `a=2&a=1` may mean different things upstream.
 */
export function sortedQuery(
  fromUrl: ReadonlyArray<[string, string]>,
  query: CacheableRequest['query'],
): Array<[string, string]> {
  const pairs: Array<[string, string]> = [...fromUrl];
  for (const [name, value] of Object.entries(query ?? {})) {
    for (const item of typeof value === 'string' ? [value] : value) pairs.push([name, item]);
  }
  // Array.prototype.sort is stable, so equal names keep their relative order.
  return pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The entry a request maps to. `principalId` takes part only under `scope: principal`, so shared
 * entries are shared and per-principal ones never are.
 */
export function cacheKey(
  request: CacheableRequest,
  policy: CachePolicy,
  principalId: string | undefined,
): CacheKey {
  assertAdapterId(request.adapterId);
  const { base, query } = normaliseUrl(request.url);
  const headers = request.headers ?? {};
  const keyHeaders = [...new Set((policy.keyHeaders ?? []).map((name) => name.toLowerCase()))].sort();
  const scope = policy.scope ?? 'shared';
  // JSON of an array: unambiguous, unlike joining the parts with a separator they may contain.
  const material = JSON.stringify([
    'v1',
    request.adapterId,
    request.method.toUpperCase(),
    base,
    sortedQuery(query, request.query),
    keyHeaders.map((name) => [name, headerValue(headers, name) ?? null]),
    scope,
    scope === 'principal' ? (principalId ?? null) : null,
  ]);
  return { adapterId: request.adapterId, hash: createHash('sha256').update(material).digest('hex') };
}
