import { Injectable } from '@nestjs/common';
import {
  InjectMetric,
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

/** Labels are route templates and bounded enums only: never raw URLs, ids or free text. */
type HttpLabels = 'method' | 'route' | 'status_class';

const HTTP_LABELS: HttpLabels[] = ['method', 'route', 'status_class'];
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** `adapter` is the adapter id: adapters are few and created by administrators, so the label stays bounded. */
export type CacheResultLabel = 'hit' | 'miss' | 'bypass';
export type CacheL2Operation = 'get' | 'set' | 'purge' | 'subscribe';

/**
 * Model names come from configuration and administrators, so they are few; still, past this many
 * distinct names further ones share the label `other`, so that a flood of names cannot blow up the
 * series count.
 */
export const MAX_LLM_MODEL_LABELS = 50;
type LlmLabels = 'provider' | 'model';

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
  makeCounterProvider({
    name: 'cache_requests_total',
    help: 'Adapter cache lookups, by adapter id and result (hit, miss, bypass).',
    labelNames: ['adapter', 'result'],
  }),
  makeGaugeProvider({
    name: 'cache_l1_entries',
    help: "Entries in this replica's in-process adapter cache, by adapter id.",
    labelNames: ['adapter'],
  }),
  makeGaugeProvider({
    name: 'cache_l1_bytes',
    help: "Bytes of responses in this replica's in-process adapter cache, by adapter id.",
    labelNames: ['adapter'],
  }),
  makeCounterProvider({
    name: 'cache_evictions_total',
    help: 'Adapter cache entries dropped from the in-process cache to stay within its bounds, by adapter id.',
    labelNames: ['adapter'],
  }),
  makeCounterProvider({
    name: 'cache_l2_errors_total',
    help: 'Shared (Redis) cache operations that failed, timed out or were skipped while Redis was away.',
    labelNames: ['operation'],
  }),
  makeCounterProvider({
    name: 'llm_requests_total',
    help: 'LLM calls, by provider, model and outcome (success, or the error code without LLM_, e.g. timeout, rate_limited).',
    labelNames: ['provider', 'model', 'outcome'],
  }),
  makeHistogramProvider({
    name: 'llm_request_duration_seconds',
    help: 'Time of LLM calls that reached the provider (waiting for a slot excluded), by provider and model.',
    labelNames: ['provider', 'model'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
  }),
  makeCounterProvider({
    name: 'llm_tokens_total',
    help: 'Tokens of successful LLM calls, by provider, model and direction (in: prompt, out: completion).',
    labelNames: ['provider', 'model', 'direction'],
  }),
  makeGaugeProvider({
    name: 'llm_requests_in_flight',
    help: 'LLM calls this replica has open at the provider (at most LLM_MAX_CONCURRENCY).',
    labelNames: ['provider'],
  }),
  makeGaugeProvider({
    name: 'llm_requests_queued',
    help: 'LLM calls on this replica waiting for a free slot under LLM_MAX_CONCURRENCY.',
    labelNames: ['provider'],
  }),
  makeCounterProvider({
    name: 'tool_calls_total',
    help: 'Tool calls, by tool (adapter tools share adapter_request / adapter_query), transport and outcome.',
    labelNames: ['tool', 'transport', 'outcome'],
  }),
  makeHistogramProvider({
    name: 'tool_call_duration_seconds',
    help: 'Time of tool calls that ran, by tool (adapter tools share adapter_request / adapter_query).',
    labelNames: ['tool'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  }),
  makeGaugeProvider({
    name: 'mcp_sessions_active',
    help: 'MCP sessions this replica holds, by transport (streamable-http, sse).',
    labelNames: ['transport'],
  }),
];

/** The only place business code reaches Prometheus through: every metric is defined and updated here. */
@Injectable()
export class MetricsService {
  private readonly llmModels = new Set<string>();

  constructor(
    @InjectMetric('http_requests_total') private readonly httpRequests: Counter<HttpLabels>,
    @InjectMetric('http_request_duration_seconds') private readonly httpDuration: Histogram<HttpLabels>,
    @InjectMetric('cache_requests_total') private readonly cacheRequests: Counter<'adapter' | 'result'>,
    @InjectMetric('cache_l1_entries') private readonly cacheEntries: Gauge<'adapter'>,
    @InjectMetric('cache_l1_bytes') private readonly cacheBytes: Gauge<'adapter'>,
    @InjectMetric('cache_evictions_total') private readonly cacheEvictions: Counter<'adapter'>,
    @InjectMetric('cache_l2_errors_total') private readonly cacheL2Errors: Counter<'operation'>,
    @InjectMetric('llm_requests_total') private readonly llmRequests: Counter<LlmLabels | 'outcome'>,
    @InjectMetric('llm_request_duration_seconds') private readonly llmDuration: Histogram<LlmLabels>,
    @InjectMetric('llm_tokens_total') private readonly llmTokens: Counter<LlmLabels | 'direction'>,
    @InjectMetric('llm_requests_in_flight') private readonly llmInFlight: Gauge<'provider'>,
    @InjectMetric('llm_requests_queued') private readonly llmQueued: Gauge<'provider'>,
    @InjectMetric('tool_calls_total') private readonly toolCalls: Counter<'tool' | 'transport' | 'outcome'>,
    @InjectMetric('tool_call_duration_seconds') private readonly toolDuration: Histogram<'tool'>,
    @InjectMetric('mcp_sessions_active') private readonly mcpSessions: Gauge<'transport'>,
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

  observeCacheRequest(adapterId: string, result: CacheResultLabel): void {
    this.cacheRequests.inc({ adapter: adapterId, result });
  }

  setCacheSize(adapterId: string, entries: number, bytes: number): void {
    this.cacheEntries.set({ adapter: adapterId }, entries);
    this.cacheBytes.set({ adapter: adapterId }, bytes);
  }

  observeCacheEviction(adapterId: string): void {
    this.cacheEvictions.inc({ adapter: adapterId });
  }

  observeCacheL2Error(operation: CacheL2Operation): void {
    this.cacheL2Errors.inc({ operation });
  }

  /**
   * One LLM call. `outcome` is a bounded enum (`success` or an error code); `seconds` is given when
   * the call reached the provider, `tokens` when it succeeded.
   */
  observeLlmRequest(
    provider: string,
    model: string,
    outcome: string,
    seconds?: number,
    tokens?: { readonly in: number; readonly out: number },
  ): void {
    const labels = { provider, model: this.llmModelLabel(model) };
    this.llmRequests.inc({ ...labels, outcome });
    if (seconds !== undefined) this.llmDuration.observe(labels, seconds);
    if (tokens !== undefined) {
      if (tokens.in > 0) this.llmTokens.inc({ ...labels, direction: 'in' }, tokens.in);
      if (tokens.out > 0) this.llmTokens.inc({ ...labels, direction: 'out' }, tokens.out);
    }
  }

  setLlmLoad(provider: string, inFlight: number, queued: number): void {
    this.llmInFlight.set({ provider }, inFlight);
    this.llmQueued.set({ provider }, queued);
  }

  /** `tool` must be a bounded label: a built-in tool name or the shared name of adapter tools. */
  observeToolCall(tool: string, transport: string, outcome: string, seconds?: number): void {
    this.toolCalls.inc({ tool, transport, outcome });
    if (seconds !== undefined) this.toolDuration.observe({ tool }, seconds);
  }

  setMcpSessions(transport: string, count: number): void {
    this.mcpSessions.set({ transport }, count);
  }

  private llmModelLabel(model: string): string {
    if (this.llmModels.has(model)) return model;
    if (this.llmModels.size >= MAX_LLM_MODEL_LABELS) return 'other';
    this.llmModels.add(model);
    return model;
  }
}
