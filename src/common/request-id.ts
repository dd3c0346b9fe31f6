import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** An incoming X-Request-ID is kept when it is 1-128 of [A-Za-z0-9._-]; anything else gets a fresh UUID. */
export function resolveRequestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && ACCEPTABLE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** Fastify's `genReqId`. Also sets `req.id` on the raw request, which pino-http then reuses. */
export function generateRequestId(req: IncomingMessage): string {
  const id = resolveRequestId(req.headers['x-request-id']);
  req.id = id;
  return id;
}
