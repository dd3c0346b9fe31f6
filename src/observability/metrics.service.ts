import { Injectable } from '@nestjs/common';
import { InjectMetric, makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';

/** Labels are route templates and bounded enums only: never raw URLs, ids or free text. */
type HttpLabels = 'method' | 'route' | 'status_class';

const HTTP_LABELS: HttpLabels[] = ['method', 'route', 'status_class'];
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export const METRIC_PROVIDERS = [
  makeCounterProvider({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status class.',
    labelNames: HTTP_LABELS,
  }),
  makeHistogramProvider({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route template and status class.',
    labelNames: HTTP_LABELS,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
];

/** The only place business code reaches Prometheus through: every metric is defined and updated here. */
@Injectable()
export class MetricsService {
  constructor(
    @InjectMetric('http_requests_total') private readonly httpRequests: Counter<HttpLabels>,
    @InjectMetric('http_request_duration_seconds') private readonly httpDuration: Histogram<HttpLabels>,
  ) {}

  /** `route` is the matched route template (`/api/v1/products/:id`), or undefined when none matched. */
  observeHttpRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    const labels = {
      method: KNOWN_METHODS.has(method) ? method : 'OTHER',
      route: route ?? 'unmatched',
      status_class: `${Math.floor(statusCode / 100)}xx`,
    };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }
}
