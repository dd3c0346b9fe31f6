import helmet from '@fastify/helmet';
import type { DynamicModule, ForwardReference, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createServer, type RequestListener } from 'node:http';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import type { DestinationStream, Logger as PinoBaseLogger } from 'pino';
import { AppModule } from './app.module';
import { BadRequestError } from './common/app-error';
import { registerFormBodyRoutes } from './common/form-body';
import { registerLargeBodyRoutes } from './common/large-body';
import { generateRequestId } from './common/request-id';
import type { AppConfig } from './config/app-config';
import { buildOpenApiDocument, OpenApiDocumentHolder } from './docs/openapi';
import { logRequest, ROOT_LOGGER, type TaggedRequest } from './observability/logging';
import { LivenessResponder } from './observability/liveness';
import { MetricsService } from './observability/metrics.service';
import { ShutdownService } from './observability/shutdown.service';
import { registerTracingHooks } from './observability/tracing';

export interface CreateAppOptions {
  /** Extra modules mounted beside AppModule (tests use this for probe routes). */
  readonly imports?: Array<Type | DynamicModule | ForwardReference>;
  /** Where JSON log lines go (default: stdout). */
  readonly logDestination?: DestinationStream;
}

const CORS_ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'If-Match',
  'Idempotency-Key',
  'X-Request-ID',
  'Last-Event-ID',
];
const CORS_EXPOSED_HEADERS = [
  'X-Request-ID',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'Retry-After',
  'Location',
  'ETag',
];

/**
 * Creates the application (not yet listening): Fastify with the body limit and request ids, the
 * Nest modules, security headers, CORS, request metrics and the OpenAPI document. `main.ts` and the
 * end-to-end tests both start the service through this function.
 */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const liveness = new LivenessResponder();
  const adapter = new FastifyAdapter({
    serverFactory: (handler: RequestListener) =>
      createServer((req, res) => {
        if (!liveness.handle(req, res)) handler(req, res);
      }),
    bodyLimit: config.http.bodyLimitBytes,
    trustProxy: config.http.trustProxy,
    requestIdHeader: false,
    genReqId: generateRequestId,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 256 },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options), adapter, {
    bufferLogs: true,
    abortOnError: false,
    // The JSON parser is registered below, with the error envelope's code for malformed bodies.
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  registerTracingHooks(fastify);
  // Only JSON bodies are accepted unless a route registers a parser of its own: anything else is a 415.
  fastify.removeContentTypeParser('text/plain');
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    void parseJson(request, body as string, (error, value) => {
      if (error)
        done(new BadRequestError('MALFORMED_JSON', 'The request body is not valid JSON.'), undefined);
      else done(null, value);
    });
  });

  registerLargeBodyRoutes(fastify, config.http.importBodyLimitBytes);
  registerFormBodyRoutes(fastify);

  const metrics = app.get(MetricsService);
  liveness.observeWith(metrics);
  const httpLogger = app.get<PinoBaseLogger>(ROOT_LOGGER).child({ context: 'http' });
  fastify.addHook('onRequest', (request, reply, done) => {
    (request.raw as TaggedRequest).routeTemplate = request.routeOptions.url;
    void reply.header('x-request-id', request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.observeHttpRequest(
      request.method,
      request.routeOptions.url,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    logRequest(httpLogger, request, reply.statusCode, reply.elapsedTime);
    done();
  });

  // While shutting down, answers close their connection: keep-alive clients reconnect elsewhere and
  // idle sockets do not hold the server open until the grace period ends.
  const shutdown = app.get(ShutdownService);
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (shutdown.isShuttingDown) void reply.header('connection', 'close');
    done(null, payload);
  });

  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
      },
    },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
  });

  const origins = config.http.corsOrigins;
  app.enableCors({
    origin: origins === '*' ? true : origins.length > 0 ? [...origins] : false,
    // Credentials are never combined with a wildcard origin.
    credentials: origins !== '*',
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
  });

  app.get(OpenApiDocumentHolder).set(buildOpenApiDocument(app));
  return app;
}
