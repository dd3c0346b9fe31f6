import { BadRequestError } from '../../common/app-error';

/**
 * Builds the upstream URL from the adapter's base URL and a caller's relative path. The path stays
 * below the base URL: absolute and scheme-relative URLs, backslashes, `.`/`..` segments (also
 * percent-encoded), control characters and fragments are refused.
 */
export function upstreamUrl(
  baseUrl: string,
  path: string,
  query: Record<string, string | string[]> = {},
): URL {
  const refuse = (issue: string) =>
    new BadRequestError('ADAPTER_PATH_INVALID', `The path is refused: ${issue}.`, [{ field: 'path', issue }]);
  if ([...path].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw refuse('control characters (CR, LF, NUL...) are not allowed');
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || path.startsWith('//'))
    throw refuse('it must be relative to the base URL');
  if (path.includes('\\')) throw refuse('backslashes are not allowed');
  if (path.includes('#')) throw refuse('fragments are not allowed');
  const [pathPart, inlineQuery = ''] = path.split('?', 2);
  let decodedSegments: string[];
  try {
    decodedSegments = pathPart.split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    throw refuse('it is not valid percent-encoding');
  }
  if (
    decodedSegments.some(
      (segment) => segment === '.' || segment === '..' || segment.includes('/') || segment.includes('\\'),
    )
  ) {
    throw refuse('. and .. segments (and encoded slashes) are not allowed');
  }
  const base = new URL(baseUrl);
  const basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const url = new URL(base.origin);
  url.pathname = `${basePath}${pathPart.replace(/^\/+/, '')}`;
  url.search = inlineQuery;
  for (const [name, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, item);
  }
  // The URL parser normalises the path: make sure what it produced is still below the base.
  if (url.origin !== base.origin || !url.pathname.startsWith(basePath.replace(/\/$/, ''))) {
    throw refuse('it leaves the base URL');
  }
  return url;
}

/** Request headers a caller may not send upstream: credentials of the caller, and connection control. */
const DROPPED_REQUEST_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'upgrade',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'x-api-key',
]);

export function callerHeaders(headers: Record<string, string> = {}): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (DROPPED_REQUEST_HEADERS.has(lower) || lower.startsWith('proxy-')) continue;
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]{1,100}$/.test(lower) || /[\r\n\0]/.test(value)) {
      throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
        { field: `headers.${name}`, issue: 'not a valid header name or value' },
      ]);
    }
    kept[lower] = value;
  }
  return kept;
}

/** Response headers passed back to the caller; the rest (cookies, auth challenges, hop-by-hop) stay upstream. */
const SAFE_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-language',
  'content-encoding',
  'cache-control',
  'etag',
  'last-modified',
  'expires',
  'date',
  'age',
  'vary',
  'retry-after',
  'location',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-request-id',
];

export function safeResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const safe: Record<string, string> = {};
  for (const name of SAFE_RESPONSE_HEADERS) {
    const value = headers[name];
    if (value !== undefined) safe[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return safe;
}
