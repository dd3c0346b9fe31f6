import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { type DestinationStream, type Logger as PinoBaseLogger, pino } from 'pino';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';
import { redactSecrets } from '../common/redact';

/** Set on the raw request by the Fastify `onRequest` hook: the matched route template, if any. */
export interface TaggedRequest extends IncomingMessage {
  routeTemplate?: string;
}

/** Probes and scrapes arrive every few seconds: logged at debug so that they do not drown the rest. */
const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * JSON logs. Every application line written while serving a request carries its `requestId`
 * (nestjs-pino binds a child logger per request). Any field named like a secret is redacted
 * wherever it appears; headers are never logged.
 */
export function createRootLogger(config: AppConfig, destination?: DestinationStream): PinoBaseLogger {
  return pino(
    {
      level: config.log.level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
        censor: '[REDACTED]',
      },
      formatters: {
        log: (object) => redactSecrets(object) as Record<string, unknown>,
      },
    },
    destination ?? pino.destination(1),
  );
}

/** The root logger, for code outside Nest's injector (Fastify hooks). */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

export function loggerOptions(logger: PinoBaseLogger): Params {
  return {
    pinoHttp: {
      logger,
      // Fastify's genReqId already chose the id and stored it on the raw request.
      genReqId: (req) => req.id,
      customAttributeKeys: { reqId: 'requestId' },
      quietReqLogger: true,
      // The one line per request is written by `logRequest`, which knows the route template.
      autoLogging: false,
    },
  };
}

/** The one log line per answered request: method, route template, path, status, duration, request id. */
export function logRequest(
  logger: PinoBaseLogger,
  request: FastifyRequest,
  statusCode: number,
  durationMs: number,
): void {
  const route = request.routeOptions.url;
  const level =
    statusCode >= 500
      ? 'error'
      : statusCode >= 400
        ? 'warn'
        : QUIET_ROUTES.has(route ?? '')
          ? 'debug'
          : 'info';
  if (!logger.isLevelEnabled(level)) return;
  logger[level](
    {
      requestId: request.id,
      method: request.method,
      route: route ?? 'unmatched',
      path: request.url.split('?')[0],
      statusCode,
      durationMs: Math.round(durationMs * 100) / 100,
    },
    'request completed',
  );
}
