import { trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RunningTracing, TracingSummary } from './tracing-sdk';

/**
 * Optional OpenTelemetry tracing (docs/OBSERVABILITY.md, "Tracing"), on only when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set. Off, the SDK is never loaded: only `@opentelemetry/api`, whose
 * calls then return no span, so the request hook below costs a lookup and does nothing.
 */

/** Span attribute names: `http.route` is the semantic convention's; `request.id` is the X-Request-ID. */
export const ATTR_HTTP_ROUTE = 'http.route';
export const ATTR_REQUEST_ID = 'request.id';

let running: RunningTracing | undefined;

/**
 * Starts the SDK when an endpoint is given. It hooks `http`, `pg` and `ioredis` as they are first
 * loaded, so it must run before the application's modules are imported (see main.ts).
 */
export async function startTracing(endpoint: string | undefined): Promise<TracingSummary | undefined> {
  if (endpoint === undefined) return undefined;
  if (running === undefined) {
    const { startTracingSdk } = await import('./tracing-sdk');
    running = startTracingSdk(endpoint);
  }
  return running.summary;
}

/** Exports the spans still queued and stops the SDK; bounded in time, never throws. */
export async function stopTracing(): Promise<void> {
  const current = running;
  running = undefined;
  await current?.shutdown();
}

/** Names the HTTP server span after the route template and tags it with the request id. */
export function registerTracingHooks(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    annotateServerSpan(request);
    done();
  });
}

/**
 * The active span in `onRequest` is the server span the http instrumentation opened for this request
 * (none when tracing is off, or for the ignored probe routes). Unmatched requests keep the bare
 * method as their name: a raw path would make span names unbounded.
 */
export function annotateServerSpan(request: FastifyRequest): void {
  const span = trace.getActiveSpan();
  if (span === undefined || !span.isRecording()) return;
  span.setAttribute(ATTR_REQUEST_ID, request.id);
  const route = request.routeOptions.url;
  if (route === undefined) return;
  span.setAttribute(ATTR_HTTP_ROUTE, route);
  span.updateName(`${request.method} ${route}`);
}
