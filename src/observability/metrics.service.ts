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

/**
 * Adapters are created by administrators, so their ids are few; past this many distinct ids further
 * ones share the label `other` in the adapter request metrics, so that churn (adapters created and
 * deleted over months) or a flood cannot grow the series count without bound.
 */
export const MAX_ADAPTER_LABELS = 100;
/** Outcomes are error codes, constants of the code base; the cap only guards against a code built at run time. */
export const MAX_ADAPTER_OUTCOME_LABELS = 50;
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** Why presented credentials were refused: a closed set, whatever code the refusal carried. */
export type AuthFailureReason =
  | 'bad_credentials'
  | 'locked'
  | 'token_invalid'
  | 'token_audience_mismatch'
  | 'api_key_invalid'
  | 'session_revoked'
  | 'refresh_token_invalid'
  | 'refresh_token_reused';

const REFUSED_CREDENTIAL_REASONS: Readonly<Record<string, AuthFailureReason>> = {
  API_KEY_INVALID: 'api_key_invalid',
  TOKEN_INVALID: 'token_invalid',
  TOKEN_AUDIENCE_MISMATCH: 'token_audience_mismatch',
  SESSION_REVOKED: 'session_revoked',
};

/** `grouped`: a multi-row INSERT of events written outside a transaction; `in_transaction`: one event in the caller's. */
export type AuditWriteMode = 'grouped' | 'in_transaction';

/** A connection pool's counts at one moment; `inUse` are the connections lent out. */
export interface DbPoolStats {
  readonly inUse: number;
  readonly idle: number;
  readonly waiting: number;
}

/** Answers the pool's counts, or undefined while it has none to give (not open, or closed). */
export type DbPoolSource = () => DbPoolStats | undefined;

/**
 * The pools reported by `db_pool_connections`. Process-wide on purpose: prom-client's registry is
 * process-wide and nestjs-prometheus hands every application in the process the same metric
 * object, whose `collect` runs once per scrape; normally there is one pool, two replicas booted in
 * one test process add up.
 */
const dbPoolSources = new Set<DbPoolSource>();

/** Admits the first `max` distinct values of a label; later values share `other`. */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}

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
  makeCounterProvider({
    name: 'auth_failures_total',
    help: 'Refused sign-ins and refused credentials, by reason (bad_credentials, locked, token_invalid, api_key_invalid, session_revoked, ...).',
    labelNames: ['reason'],
  }),
  makeCounterProvider({
    name: 'auth_lockouts_total',
    help: 'Times an account became locked after repeated failed sign-ins.',
  }),
  makeCounterProvider({
    name: 'authz_denials_total',
    help: 'Requests refused 403 for a missing permission, by method and route template.',
    labelNames: ['method', 'route'],
  }),
  makeHistogramProvider({
    name: 'audit_write_duration_seconds',
    help: 'Time of one audit INSERT, by mode (grouped: a multi-row INSERT outside a transaction; in_transaction).',
    labelNames: ['mode'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  }),
  makeCounterProvider({
    name: 'audit_write_failures_total',
    help: 'Audit events that could not be written (the action failed closed with AUDIT_UNAVAILABLE), by mode.',
    labelNames: ['mode'],
  }),
  makeGaugeProvider({
    name: 'audit_unsealed_events',
    help: 'Committed audit events not yet sealed into the hash chain (whole table), as counted after the last sealer pass of this replica.',
  }),
  makeCounterProvider({
    name: 'adapter_requests_total',
    help: 'Upstream adapter calls, by adapter id, adapter type and outcome (success, or the error code).',
    labelNames: ['adapter', 'type', 'outcome'],
  }),
  makeHistogramProvider({
    name: 'adapter_request_duration_seconds',
    help: 'Time of upstream adapter calls, successful or not, by adapter id and adapter type.',
    labelNames: ['adapter', 'type'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }),
  makeGaugeProvider({
    name: 'redis_connected',
    help: "1 while this replica's shared Redis connection is ready, 0 while it is away (limits, cache and MCP sessions then per replica); absent without REDIS_URL.",
  }),
  makeGaugeProvider({
    name: 'db_pool_connections',
    help: "Connections of this process's database pool, by state (in_use, idle, waiting: requests queued for one).",
    labelNames: ['state'],
    collect(this: Gauge) {
      collectDbPool(this);
    },
  }),
  makeCounterProvider({
    name: 'pipeline_items_total',
    help: 'Pipeline items this replica finished, by task and status (succeeded, failed).',
    labelNames: ['task', 'status'],
  }),
  makeHistogramProvider({
    name: 'pipeline_run_duration_seconds',
    help: 'Time from start to end of pipeline runs ended by this replica, by task and final status.',
    labelNames: ['task', 'status'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400],
  }),
];

function collectDbPool(gauge: Gauge): void {
  const all = [...dbPoolSources].map((source) => source()).filter((stats) => stats !== undefined);
  gauge.reset();
  if (all.length === 0) return;
  const sum = (pick: (stats: DbPoolStats) => number) => all.reduce((total, stats) => total + pick(stats), 0);
  gauge.set(
    { state: 'in_use' },
    sum((stats) => stats.inUse),
  );
  gauge.set(
    { state: 'idle' },
    sum((stats) => stats.idle),
  );
  gauge.set(
    { state: 'waiting' },
    sum((stats) => stats.waiting),
  );
}

/** The only place business code reaches Prometheus through: every metric is defined and updated here. */
@Injectable()
export class MetricsService {
  private readonly llmModels = new BoundedLabel(MAX_LLM_MODEL_LABELS);
  private readonly adapterIds = new BoundedLabel(MAX_ADAPTER_LABELS);
  private readonly adapterOutcomes = new BoundedLabel(MAX_ADAPTER_OUTCOME_LABELS);

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
    @InjectMetric('auth_failures_total') private readonly authFailures: Counter<'reason'>,
    @InjectMetric('auth_lockouts_total') private readonly authLockouts: Counter,
    @InjectMetric('authz_denials_total') private readonly authzDenials: Counter<'method' | 'route'>,
    @InjectMetric('audit_write_duration_seconds') private readonly auditWriteDuration: Histogram<'mode'>,
    @InjectMetric('audit_write_failures_total') private readonly auditWriteFailures: Counter<'mode'>,
    @InjectMetric('audit_unsealed_events') private readonly auditUnsealed: Gauge,
    @InjectMetric('adapter_requests_total')
    private readonly adapterRequests: Counter<'adapter' | 'type' | 'outcome'>,
    @InjectMetric('adapter_request_duration_seconds')
    private readonly adapterDuration: Histogram<'adapter' | 'type'>,
    @InjectMetric('pipeline_items_total') private readonly pipelineItems: Counter<'task' | 'status'>,
    @InjectMetric('pipeline_run_duration_seconds')
    private readonly pipelineRunDuration: Histogram<'task' | 'status'>,
    @InjectMetric('redis_connected') private readonly redisConnected: Gauge,
  ) {}

  /** `route` is the matched route template (`/api/v1/products/:id`), or undefined when none matched. */
  observeHttpRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    const labels = {
      method: methodLabel(method),
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

  observeAuthFailure(reason: AuthFailureReason): void {
    this.authFailures.inc({ reason });
  }

  /** Credentials refused while identifying a caller, by the code of the refusal. */
  observeRefusedCredentials(code: string): void {
    this.observeAuthFailure(REFUSED_CREDENTIAL_REASONS[code] ?? 'token_invalid');
  }

  observeAuthLockout(): void {
    this.authLockouts.inc();
  }

  /** `route` is the matched route template; permission checks only run on matched routes. */
  observeAuthzDenial(method: string, route: string | undefined): void {
    this.authzDenials.inc({ method: methodLabel(method), route: route ?? 'unmatched' });
  }

  observeAuditWrite(mode: AuditWriteMode, seconds: number): void {
    this.auditWriteDuration.observe({ mode }, seconds);
  }

  observeAuditWriteFailure(mode: AuditWriteMode): void {
    this.auditWriteFailures.inc({ mode });
  }

  setAuditUnsealed(count: number): void {
    this.auditUnsealed.set(count);
  }

  /** `outcome` is `success` or an UPPER_SNAKE error code; anything else counts as INTERNAL_ERROR. */
  observeAdapterRequest(adapterId: string, type: string, outcome: string, seconds: number): void {
    const adapter = this.adapterIds.of(adapterId);
    const bounded =
      outcome === 'success' || ERROR_CODE.test(outcome) ? this.adapterOutcomes.of(outcome) : 'INTERNAL_ERROR';
    this.adapterRequests.inc({ adapter, type, outcome: bounded });
    this.adapterDuration.observe({ adapter, type }, seconds);
  }

  setRedisConnected(connected: boolean): void {
    this.redisConnected.set(connected ? 1 : 0);
  }

  /**
   * Reports a database pool in `db_pool_connections` until the returned function is called (when
   * the pool closes). The counts are read on each scrape, so nothing polls the pool.
   */
  registerDbPool(source: DbPoolSource): () => void {
    dbPoolSources.add(source);
    return () => {
      dbPoolSources.delete(source);
    };
  }

  /** `task` must be a known task name (or `unknown`); `status` the item's final status. */
  observePipelineItem(task: string, status: 'succeeded' | 'failed'): void {
    this.pipelineItems.inc({ task, status });
  }

  observePipelineRun(task: string, status: string, seconds: number): void {
    this.pipelineRunDuration.observe({ task, status }, seconds);
  }

  private llmModelLabel(model: string): string {
    return this.llmModels.of(model);
  }
}

function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}
