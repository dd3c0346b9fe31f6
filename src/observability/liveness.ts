import type { IncomingMessage, ServerResponse } from 'node:http';
import { generateRequestId } from '../common/request-id';
import type { MetricsService } from './metrics.service';

const BODY = JSON.stringify({ status: 'ok' });
const BODY_LENGTH = String(Buffer.byteLength(BODY));

/**
 * Answers `GET /health/live` at the HTTP server, before Fastify and the Nest pipeline (request
 * context, guards, logging middleware, security headers). Liveness only says that the process
 * serves: it must stay cheap under load and must not depend on anything the pipeline depends on.
 * It still carries a request id and is counted in the HTTP metrics. HealthController.live documents
 * the route and answers HEAD.
 */
export class LivenessResponder {
  private metrics: MetricsService | undefined;

  observeWith(metrics: MetricsService): void {
    this.metrics = metrics;
  }

  /** True when it answered the request. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' || req.url !== '/health/live') return false;
    const started = process.hrtime.bigint();
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': BODY_LENGTH,
      'cache-control': 'no-store',
      'x-request-id': generateRequestId(req),
    });
    res.end(BODY);
    this.metrics?.observeHttpRequest(
      'GET',
      '/health/live',
      200,
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    return true;
  }
}
