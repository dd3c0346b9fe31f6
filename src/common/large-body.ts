import type { FastifyInstance } from 'fastify';
import { BadRequestError, UnsupportedMediaTypeError } from './app-error';

/** Route config flag (`@RouteConfig({ [LARGE_BODY]: true })`): the route accepts bodies up to IMPORT_BODY_LIMIT_BYTES. */
export const LARGE_BODY = 'largeBody';

/** NDJSON records that are not JSON travel on as `{ "$malformed": reason }` for the importer to report. */
export const MALFORMED_RECORD = '$malformed';

/**
 * Bulk routes (imports) take larger bodies than the rest of the API, and NDJSON besides JSON. The
 * larger limit is set per route when routes are registered; every other route keeps BODY_LIMIT_BYTES
 * and refuses NDJSON with 415.
 */
export function registerLargeBodyRoutes(fastify: FastifyInstance, limitBytes: number): void {
  fastify.addHook('onRoute', (route) => {
    if ((route.config as Record<string, unknown> | undefined)?.[LARGE_BODY] === true)
      route.bodyLimit = limitBytes;
  });
  fastify.addContentTypeParser('application/x-ndjson', { parseAs: 'string' }, (request, body, done) => {
    if (
      (request.routeOptions.config as unknown as Record<string, unknown> | undefined)?.[LARGE_BODY] !== true
    ) {
      done(
        new UnsupportedMediaTypeError('UNSUPPORTED_MEDIA_TYPE', 'This route accepts JSON bodies only.'),
        undefined,
      );
      return;
    }
    done(null, parseNdjson(body as string));
  });
}

/** One value per non-blank line; a line that is not JSON becomes a malformed-record marker. */
export function parseNdjson(text: string): unknown[] {
  const records: unknown[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    if (line === '') continue;
    try {
      records.push(JSON.parse(line));
    } catch (error) {
      records.push({ [MALFORMED_RECORD]: `line ${index + 1}: not valid JSON (${(error as Error).message})` });
    }
  }
  if (records.length === 0) throw new BadRequestError('MALFORMED_JSON', 'The NDJSON body has no records.');
  return records;
}
