import { REDACTED, redactSecrets } from '../common/redact';

/** Serialized details above this size are replaced by TRUNCATED_DETAILS: the trail is not a blob store. */
export const MAX_DETAILS_BYTES = 16 * 1024;

export interface TruncatedDetails {
  readonly _truncated: true;
  readonly _originalBytes: number;
}

interface ValuePattern {
  readonly pattern: RegExp;
  readonly replace: string | ((match: string, ...groups: string[]) => string);
}

/**
 * Secrets recognised by their shape, wherever they appear inside a string. Key-name redaction
 * (redactSecrets) misses a token pasted into a free-text field or an error message; these catch it.
 * Each replaces only the secret part, so the rest of the text stays readable.
 */
const VALUE_PATTERNS: readonly ValuePattern[] = [
  // user:password@ in any URL (database URLs, proxies); the user name stays.
  {
    pattern: /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/?#@]*):([^\s/?#@]+)@/gi,
    replace: (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`,
  },
  // key=value pairs in query strings, connection strings and headers pasted as text.
  {
    pattern:
      /\b(password|passwd|pwd|secret|token|access_token|refresh_token|id_token|api[_-]?key|client_secret)=([^&\s;,'"]+)/gi,
    replace: (_m, key: string) => `${key}=${REDACTED}`,
  },
  // An all-lowercase word after the scheme is prose ("basic auth"), not a credential.
  {
    pattern: /\b(Bearer|Basic)\s+([A-Za-z0-9._~+/=-]+)/gi,
    replace: (match: string, scheme: string, credential: string) =>
      /[^a-z]/.test(credential) ? `${scheme} ${REDACTED}` : match,
  },
  // JWTs (header.payload.signature, the header always starts with base64url '{"').
  { pattern: /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, replace: REDACTED },
  // Our API keys, and the common provider token shapes.
  { pattern: /\bmcpa_[A-Za-z0-9_-]+/g, replace: `mcpa_${REDACTED}` },
  { pattern: /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}/g, replace: REDACTED },
  { pattern: /\bgh[pousr]_[A-Za-z0-9]{20,}/g, replace: REDACTED },
  { pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, replace: REDACTED },
  { pattern: /\bAKIA[0-9A-Z]{16}\b/g, replace: REDACTED },
  // Long hex strings: hashes of secrets, raw keys. (A content hash in details is lost too; acceptable.)
  { pattern: /\b[0-9a-fA-F]{32,}\b/g, replace: REDACTED },
  // Long base64 / base64url runs with mixed character classes: random tokens. Runs starting with a
  // slash are paths, and runs without a digit or without both cases are words or identifiers.
  {
    pattern: /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])/g,
    replace: (match: string) =>
      !match.startsWith('/') && /[0-9]/.test(match) && /[a-z]/.test(match) && /[A-Z]/.test(match)
        ? REDACTED
        : match,
  },
];

// PostgreSQL text and jsonb refuse NUL, and jsonb refuses unpaired surrogates: either would make
// the insert fail and the audited action with it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A string PostgreSQL accepts in text and jsonb. */
export function storableText(value: string): string {
  return value.replaceAll('\u0000', '').replace(LONE_SURROGATE, '\uFFFD');
}

/** The string with every secret-shaped part replaced by [REDACTED]. */
export function redactSecretValues(value: string): string {
  let result = value;
  for (const { pattern, replace } of VALUE_PATTERNS) {
    // String.replace's overloads do not accept the union; both branches are the same call.
    result =
      typeof replace === 'string'
        ? result.replace(pattern, replace)
        : result.replace(pattern, (match: string, ...rest: unknown[]) =>
            replace(match, ...rest.filter((item): item is string => typeof item === 'string')),
          );
  }
  return result;
}

/** JSON-safe copy: bigint as a decimal string, errors as name and message, cycles refused. */
function toJsonValue(value: unknown): unknown {
  const text = JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'bigint') return item.toString();
    if (item instanceof Error) return { name: item.name, message: item.message };
    return item;
  });
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

function redactValuesDeep(value: unknown): unknown {
  if (typeof value === 'string') return storableText(redactSecretValues(value));
  if (Array.isArray(value)) return value.map(redactValuesDeep);
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[storableText(key)] = redactValuesDeep(item);
    return copy;
  }
  return value;
}

/**
 * What is stored as an event's details: a JSON object with secrets removed by key name (the shared
 * redactSecrets) and by value (VALUE_PATTERNS), at most MAX_DETAILS_BYTES serialized.
 */
export function sanitizeDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (details === undefined) return {};
  let json: unknown;
  try {
    // redactSecrets runs first so that Errors and Dates, which it passes through, are still objects
    // it can see; toJsonValue then flattens what remains.
    json = toJsonValue(redactSecrets(details));
  } catch {
    // A cycle: keeping the event without its details beats refusing the audited action.
    return { _unserializable: true };
  }
  const redacted = redactValuesDeep(json);
  const object =
    redacted !== null && typeof redacted === 'object' && !Array.isArray(redacted)
      ? (redacted as Record<string, unknown>)
      : { value: redacted };
  const bytes = Buffer.byteLength(JSON.stringify(object), 'utf8');
  if (bytes > MAX_DETAILS_BYTES) {
    const marker: TruncatedDetails = { _truncated: true, _originalBytes: bytes };
    return { ...marker };
  }
  return object;
}
