import type { FastifyInstance } from 'fastify';
import { BadRequestError, UnsupportedMediaTypeError } from './app-error';

/** Route config flag (`@RouteConfig({ [FORM_BODY]: true })`): the route accepts HTML-form bodies. */
export const FORM_BODY = 'formBody';

/**
 * `application/x-www-form-urlencoded` bodies, for the routes that need them (OAuth endpoints and the
 * sign-in and consent forms); every other route answers 415. A parameter given twice is refused
 * (RFC 6749 section 3.1), values are strings.
 */
export function registerFormBodyRoutes(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (request, body, done) => {
      if (
        (request.routeOptions.config as unknown as Record<string, unknown> | undefined)?.[FORM_BODY] !== true
      ) {
        done(
          new UnsupportedMediaTypeError('UNSUPPORTED_MEDIA_TYPE', 'This route accepts JSON bodies only.'),
          undefined,
        );
        return;
      }
      const values: Record<string, string> = {};
      for (const [name, value] of new URLSearchParams(body as string)) {
        if (Object.hasOwn(values, name)) {
          done(
            new BadRequestError('DUPLICATE_PARAMETER', `The parameter ${name} is given more than once.`),
            undefined,
          );
          return;
        }
        values[name] = value;
      }
      done(null, values);
    },
  );
}
