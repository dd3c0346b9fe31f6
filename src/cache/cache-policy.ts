import type { CachePolicy, CacheScope } from './adapter-cache';

/**
 * Whether an upstream response may be stored, and for how long: the adapter's `cache` setting
 * bounds what the upstream's own Cache-Control allows (RFC 9111, read conservatively: anything
 * unclear is not stored, since a wrong hit is worse than an extra upstream call).
 */

export interface CacheControl {
  readonly noStore: boolean;
  readonly noCache: boolean;
  readonly private: boolean;
  /** Seconds; 0 when the directive is present but malformed (a malformed lifetime is no lifetime). */
  readonly maxAge?: number;
  readonly sMaxAge?: number;
}

export type NotStoredReason =
  'method' | 'status' | 'no-store' | 'no-cache' | 'private' | 'vary' | 'set-cookie' | 'stale' | 'too-large';

export type StoreDecision =
  | { readonly store: true; readonly ttlMs: number }
  | { readonly store: false; readonly reason: NotStoredReason };

export const CACHEABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/**
 * Stored responses are decoded by the adapter's HTTP client, so the upstream's content coding
 * cannot make two requests differ; every other header a response varies on must be in `keyHeaders`.
 */
const VARY_IGNORED = new Set(['accept-encoding']);

/** Splits a comma-separated header list, keeping commas inside quoted strings. */
function splitList(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (quoted && char === '\\') {
      current += char + (value[i + 1] ?? '');
      i++;
    } else if (char === '"') {
      quoted = !quoted;
      current += char;
    } else if (char === ',' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}

export function parseCacheControl(value: string | undefined): CacheControl {
  const names = new Set<string>();
  const lifetimes = new Map<string, number>();
  for (const directive of splitList(value ?? '')) {
    const equals = directive.indexOf('=');
    const name = (equals < 0 ? directive : directive.slice(0, equals)).trim().toLowerCase();
    const argument =
      equals < 0
        ? undefined
        : directive
            .slice(equals + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1');
    names.add(name);
    if (name === 'max-age' || name === 's-maxage') {
      // A malformed lifetime is no lifetime; a repeated one is a conflict, read as the shortest.
      const seconds = argument !== undefined && /^\d+$/.test(argument) ? Number(argument) : 0;
      lifetimes.set(name, Math.min(seconds, lifetimes.get(name) ?? Infinity));
    }
  }
  return {
    noStore: names.has('no-store'),
    // The field-name forms (`no-cache="Set-Cookie"`, `private="..."`) are read as their unqualified
    // forms: caching part of a response is not supported.
    noCache: names.has('no-cache'),
    private: names.has('private'),
    maxAge: lifetimes.get('max-age'),
    sMaxAge: lifetimes.get('s-maxage'),
  };
}

/** A header value by case-insensitive name. */
export function headerValue(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/**
 * The upstream's freshness lifetime in ms, minus the age it already had, or undefined when it
 * states none. A shared entry honours `s-maxage` first; a per-principal one is a private cache
 * and reads `max-age` only.
 */
function upstreamLifetimeMs(
  headers: Readonly<Record<string, string>>,
  cacheControl: CacheControl,
  scope: CacheScope,
  nowMs: number,
): number | undefined {
  let lifetimeMs: number | undefined;
  const seconds = scope === 'shared' ? (cacheControl.sMaxAge ?? cacheControl.maxAge) : cacheControl.maxAge;
  if (seconds !== undefined) {
    lifetimeMs = seconds * 1000;
  } else {
    const expires = headerValue(headers, 'expires');
    if (expires !== undefined) {
      // An Expires that does not parse (often "0" or "-1") means already expired.
      const expiresAt = Date.parse(expires);
      const date = Date.parse(headerValue(headers, 'date') ?? '');
      lifetimeMs = Number.isNaN(expiresAt) ? 0 : expiresAt - (Number.isNaN(date) ? nowMs : date);
    }
  }
  if (lifetimeMs === undefined) return undefined;
  const age = headerValue(headers, 'age');
  const ageSeconds = age !== undefined && /^\s*\d+\s*$/.test(age) ? Number(age) : 0;
  return lifetimeMs - ageSeconds * 1000;
}

/** Whether `response` to a `method` request may be stored under `policy`, and for how long. */
export function decideStore(
  method: string,
  response: { readonly status: number; readonly headers: Readonly<Record<string, string>> },
  policy: CachePolicy,
  nowMs: number,
): StoreDecision {
  if (!CACHEABLE_METHODS.has(method.toUpperCase())) return { store: false, reason: 'method' };
  if (response.status !== 200) return { store: false, reason: 'status' };
  const scope = policy.scope ?? 'shared';
  const cacheControl = parseCacheControl(headerValue(response.headers, 'cache-control'));
  if (cacheControl.noStore) return { store: false, reason: 'no-store' };
  // We never revalidate, so a response that must be revalidated before each use is not kept.
  if (cacheControl.noCache) return { store: false, reason: 'no-cache' };
  if (cacheControl.private && scope !== 'principal') return { store: false, reason: 'private' };
  if (scope === 'shared' && headerValue(response.headers, 'set-cookie') !== undefined) {
    return { store: false, reason: 'set-cookie' };
  }
  const vary = headerValue(response.headers, 'vary');
  if (vary !== undefined) {
    const keyed = new Set((policy.keyHeaders ?? []).map((name) => name.toLowerCase()));
    const names = vary
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== '');
    if (names.some((name) => name === '*' || (!VARY_IGNORED.has(name) && !keyed.has(name)))) {
      return { store: false, reason: 'vary' };
    }
  }
  const adapterMs = Math.floor(policy.ttlSeconds * 1000);
  const upstreamMs = upstreamLifetimeMs(response.headers, cacheControl, scope, nowMs);
  const ttlMs = Math.floor(Math.min(adapterMs, upstreamMs ?? Infinity));
  if (!(ttlMs > 0)) return { store: false, reason: 'stale' };
  return { store: true, ttlMs };
}
