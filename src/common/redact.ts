/** Key names whose values are secrets wherever they appear (headers, bodies, log fields, audit details). */
// `token` only as a whole name or a suffix (`accessToken`, `refresh_token`): `maxTokens` and `tokensIn` are counts.
const SECRET_KEY =
  /passw(or)?d|passphrase|^pass$|secret|token$|authorization|cookie|api[-_]?key|credential|private[-_]?key|connection[-_]?string/i;
export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 8;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A deep copy of `value` with every secret-named field replaced by `[REDACTED]`. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[TRUNCATED]';
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  if (value instanceof Error || value instanceof Date || Buffer.isBuffer(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = isSecretKey(key) ? REDACTED : redactSecrets(item, depth + 1);
  }
  return copy;
}
