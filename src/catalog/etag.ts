import { BadRequestError } from '../common/app-error';

/** The product's ETag: its version, strong. */
export function productEtag(version: number): string {
  return `"v${version}"`;
}

/**
 * The versions an If-Match header accepts: `*` (any), or a list of ETags (weak ones compared by
 * their opaque part). Undefined when the header is absent.
 */
export function parseIfMatch(header: string | undefined): 'any' | number[] | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return 'any';
  const versions: number[] = [];
  for (const part of value.split(',')) {
    const match = /^(?:W\/)?"v([1-9][0-9]{0,9})"$/.exec(part.trim());
    if (match === null) {
      throw new BadRequestError(
        'INVALID_IF_MATCH',
        'If-Match must carry an ETag from GET /products/:id, e.g. "v3".',
      );
    }
    versions.push(Number(match[1]));
  }
  return versions;
}
