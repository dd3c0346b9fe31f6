/** Hosts of loopback redirect URIs (RFC 8252 section 7.3), where native apps listen on any port. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const MAX_URI_LENGTH = 2000;

/**
 * Why a redirect URI may not be registered, or undefined when it may: `https://` anywhere, or
 * `http://` on a loopback host; no fragment and no user information.
 */
export function redirectUriProblem(value: string): string | undefined {
  if (value.length > MAX_URI_LENGTH) return 'is too long';
  let uri: URL;
  try {
    uri = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (uri.hash !== '' || value.includes('#')) return 'must not have a fragment';
  if (uri.username !== '' || uri.password !== '') return 'must not carry user information';
  if (uri.protocol === 'https:') return undefined;
  if (uri.protocol === 'http:' && LOOPBACK_HOSTS.has(uri.hostname)) return undefined;
  return 'must be https://, or http:// on 127.0.0.1, [::1] or localhost';
}

/**
 * Whether a presented redirect URI is one of the registered ones: exactly the same string, except
 * that a loopback URI may use another port (native apps take whatever port is free).
 */
export function redirectUriMatches(registered: readonly string[], presented: string): boolean {
  if (registered.includes(presented)) return true;
  let uri: URL;
  try {
    uri = new URL(presented);
  } catch {
    return false;
  }
  if (uri.protocol !== 'http:' || !LOOPBACK_HOSTS.has(uri.hostname)) return false;
  const withoutPort = (url: URL) => `${url.protocol}//${url.hostname}${url.pathname}${url.search}`;
  return registered.some((candidate) => {
    try {
      const known = new URL(candidate);
      return (
        known.protocol === 'http:' &&
        LOOPBACK_HOSTS.has(known.hostname) &&
        withoutPort(known) === withoutPort(uri) &&
        // Compare the spelled-out strings too, so that normalisation by URL cannot make two
        // different strings equal (say, an encoded path).
        candidate.replace(/^http:\/\/[^/?]+/, '') === presented.replace(/^http:\/\/[^/?]+/, '')
      );
    } catch {
      return false;
    }
  });
}
