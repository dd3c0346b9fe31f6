import { Injectable } from '@nestjs/common';
import { InjectThrottlerStorage, type ThrottlerStorage } from '@nestjs/throttler';
import { AdapterCache, type CachedResponse } from '../../cache/adapter-cache';
import { AppError, BadRequestError, TooManyRequestsError, UpstreamError } from '../../common/app-error';
import type { AdapterRecord, RestAdapterConfig, RestAdapterSecrets } from '../adapter.types';
import { CircuitBreakers } from '../circuit-breaker';
import { SsrfGuard, targetForbidden } from '../ssrf-guard';
import {
  ConnectionFailedError,
  RETRYABLE_ERROR_CODES,
  requestPinned,
  type UpstreamResponse,
} from './pinned-http';
import { callerHeaders, safeResponseHeaders, upstreamUrl } from './rest-target';

export interface RestRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface RestResult {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON for JSON responses, text for text, base64 (bodyEncoding) for anything else. */
  body: unknown;
  bodyEncoding: 'json' | 'text' | 'base64';
  durationMs: number;
  cache: 'hit' | 'miss' | 'bypass';
}

type RestAdapter = AdapterRecord<RestAdapterConfig, RestAdapterSecrets>;

const MAX_REDIRECTS = 3;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
const RETRY_STATUSES = new Set([502, 503, 504]);
const TEXT_TYPES = /^(text\/|application\/(xml|javascript|x-www-form-urlencoded)|[^;]*\+xml)/i;
const JSON_TYPES = /^(application\/([\w.-]+\+)?json)/i;

/**
 * Calls an upstream REST API for a REST adapter: relative paths only, the adapter's headers and
 * credentials (never the caller's), SSRF-checked targets on every hop, bounded time and size, retries
 * of idempotent calls with backoff and jitter, a circuit breaker and a rate limit per adapter, and
 * the response cache for GET and HEAD.
 */
@Injectable()
export class RestConnector {
  private readonly breakers = new CircuitBreakers({ failureThreshold: 5, openMs: 30_000 });

  constructor(
    private readonly ssrf: SsrfGuard,
    private readonly cache: AdapterCache,
    @InjectThrottlerStorage() private readonly limits: ThrottlerStorage,
  ) {}

  async execute(
    adapter: RestAdapter,
    request: RestRequest,
    principalId: string | undefined,
  ): Promise<RestResult> {
    const started = Date.now();
    const { config } = adapter;
    const method = request.method.toUpperCase();
    if (!(config.allowedMethods ?? ['GET', 'HEAD']).includes(method)) {
      throw new BadRequestError('ADAPTER_METHOD_NOT_ALLOWED', `This adapter does not allow ${method}.`, [
        { field: 'method', issue: `allowed: ${(config.allowedMethods ?? ['GET', 'HEAD']).join(', ')}` },
      ]);
    }
    const url = upstreamUrl(config.baseUrl, request.path, request.query);
    const headers = this.upstreamHeaders(adapter, callerHeaders(request.headers), url);
    let body: Buffer | undefined;
    if (request.body !== undefined && method !== 'GET' && method !== 'HEAD') {
      body =
        typeof request.body === 'string'
          ? Buffer.from(request.body)
          : Buffer.from(JSON.stringify(request.body));
      headers['content-type'] ??=
        typeof request.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    }
    await this.checkRateLimit(adapter);

    const load = async (): Promise<CachedResponse> => {
      const response = await this.breakers.run(
        `${adapter.id}:${adapter.revision}`,
        ({ result, error }) =>
          result !== undefined ? result.status >= 500 : !(error instanceof BadRequestError),
        () => this.withRetries(adapter, method, url, headers, body, started),
      );
      return {
        status: response.status,
        headers: Object.fromEntries(
          Object.entries(response.headers).map(([name, value]) => [
            name,
            Array.isArray(value) ? value.join(', ') : (value ?? ''),
          ]),
        ),
        body: response.body.toString('base64'),
      };
    };
    const { response, cache } = await this.cache.getOrLoad(
      { adapterId: adapter.id, method, url: `${url.origin}${url.pathname}`, query: queryOf(url), headers },
      config.cache === undefined
        ? undefined
        : {
            ttlSeconds: config.cache.ttlSeconds,
            keyHeaders: config.cache.keyHeaders ?? [],
            scope: config.cache.scope ?? 'shared',
          },
      principalId,
      load,
    );
    return {
      ...decodeBody(response),
      status: response.status,
      headers: safeResponseHeaders(response.headers),
      durationMs: Date.now() - started,
      cache,
    };
  }

  /** Connectivity check: one HEAD of the base URL; any answer below 500 counts as reachable. */
  async test(adapter: RestAdapter): Promise<{ ok: boolean; status: number; latencyMs: number }> {
    const started = Date.now();
    const url = new URL(adapter.config.baseUrl);
    const headers = this.upstreamHeaders(adapter, {}, url);
    const response = await this.follow(adapter, 'HEAD', url, headers, undefined, started);
    return { ok: response.status < 500, status: response.status, latencyMs: Date.now() - started };
  }

  /**
   * What goes upstream: the caller's (already filtered) headers, the adapter's own over them, no
   * compression, and the adapter's credentials (in a header, or in the URL for query API keys).
   */
  private upstreamHeaders(
    adapter: RestAdapter,
    caller: Record<string, string>,
    url: URL,
  ): Record<string, string> {
    const headers: Record<string, string> = {
      ...caller,
      ...lowerCaseKeys(adapter.config.headers ?? {}),
      'accept-encoding': 'identity',
    };
    this.applyAuth(adapter, headers, url);
    return headers;
  }

  private applyAuth(adapter: RestAdapter, headers: Record<string, string>, url: URL): void {
    const { secrets, config } = adapter;
    switch (config.auth ?? 'none') {
      case 'bearer':
        headers.authorization = `Bearer ${secrets.bearerToken ?? ''}`;
        break;
      case 'basic':
        headers.authorization = `Basic ${Buffer.from(`${secrets.basic?.username ?? ''}:${secrets.basic?.password ?? ''}`).toString('base64')}`;
        break;
      case 'apiKey':
        if (secrets.apiKey?.in === 'query') url.searchParams.set(secrets.apiKey.name, secrets.apiKey.value);
        else if (secrets.apiKey !== undefined)
          headers[secrets.apiKey.name.toLowerCase()] = secrets.apiKey.value;
        break;
      case 'none':
        break;
    }
  }

  private async checkRateLimit(adapter: RestAdapter): Promise<void> {
    const limit = adapter.config.rateLimit;
    if (limit === undefined) return;
    const windowMs = limit.windowSeconds * 1000;
    const record = await this.limits.increment(
      `adapter:${adapter.id}`,
      windowMs,
      limit.max,
      windowMs,
      'adapter',
    );
    if (record.totalHits > limit.max) {
      const retryAfter = Math.max(1, Math.ceil(record.timeToExpire));
      throw new TooManyRequestsError(
        'ADAPTER_RATE_LIMITED',
        `This adapter allows ${limit.max} calls per ${limit.windowSeconds} s.`,
        undefined,
        { 'Retry-After': String(retryAfter) },
      );
    }
  }

  private async withRetries(
    adapter: RestAdapter,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | undefined,
    started: number,
  ): Promise<UpstreamResponse> {
    const attempts = IDEMPOTENT.has(method) ? 1 + (adapter.config.retry?.attempts ?? 2) : 1;
    const backoffMs = adapter.config.retry?.backoffMs ?? 200;
    const deadline = started + (adapter.config.timeoutMs?.total ?? 30_000);
    for (let attempt = 1; ; attempt++) {
      let retryable: boolean;
      let outcome: UpstreamResponse | AppError;
      try {
        outcome = await this.follow(adapter, method, url, headers, body, started);
        retryable = RETRY_STATUSES.has(outcome.status);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        outcome = error;
        retryable = error instanceof ConnectionFailedError && RETRYABLE_ERROR_CODES.has(error.reason);
      }
      // Exponential backoff with full jitter, and never past the adapter's total timeout.
      const delay = Math.random() * backoffMs * 2 ** (attempt - 1);
      if (!retryable || attempt >= attempts || Date.now() + delay >= deadline) {
        if (outcome instanceof AppError) throw outcome;
        return outcome;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** One call, following up to three redirects, each target checked again. */
  private async follow(
    adapter: RestAdapter,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | undefined,
    started: number,
  ): Promise<UpstreamResponse> {
    const { config } = adapter;
    const base = new URL(config.baseUrl);
    const deadline = started + (config.timeoutMs?.total ?? 30_000);
    let current = url;
    let currentMethod = method;
    let currentBody = body;
    const currentHeaders = { ...headers };
    for (let hop = 0; ; hop++) {
      const target = await this.ssrf.resolve(current.hostname, config.allowedCidrs ?? []);
      const response = await requestPinned(current, target, {
        method: currentMethod,
        headers: currentHeaders,
        body: currentBody,
        connectTimeoutMs: config.timeoutMs?.connect ?? 5_000,
        deadline,
        maxBytes: config.maxResponseBytes ?? 5 * 1024 * 1024,
      });
      const location = response.headers.location;
      if (![301, 302, 303, 307, 308].includes(response.status) || location === undefined) return response;
      if (hop >= MAX_REDIRECTS) {
        throw new UpstreamError(
          'ADAPTER_TOO_MANY_REDIRECTS',
          `The upstream redirected more than ${MAX_REDIRECTS} times.`,
        );
      }
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw targetForbidden('The upstream redirected to a scheme other than http or https.');
      }
      if (next.origin !== base.origin && !(config.redirectOrigins ?? []).includes(next.origin)) {
        throw targetForbidden(
          `The upstream redirected to another origin (${next.origin}), which this adapter does not allow.`,
        );
      }
      if (next.origin !== current.origin) {
        // Credentials configured for the adapter's origin do not travel to another one.
        delete currentHeaders.authorization;
      }
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && currentMethod === 'POST')
      ) {
        currentMethod = 'GET';
        currentBody = undefined;
        delete currentHeaders['content-type'];
      }
      current = next;
    }
  }
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function queryOf(url: URL): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) (query[name] ??= []).push(value);
  return query;
}

function decodeBody(response: CachedResponse): Pick<RestResult, 'body' | 'bodyEncoding'> {
  const raw = Buffer.from(response.body, 'base64');
  const type = response.headers['content-type'] ?? '';
  if (raw.length === 0) return { body: null, bodyEncoding: 'json' };
  if (JSON_TYPES.test(type)) {
    try {
      return { body: JSON.parse(raw.toString('utf8')) as unknown, bodyEncoding: 'json' };
    } catch {
      return { body: raw.toString('utf8'), bodyEncoding: 'text' };
    }
  }
  if (TEXT_TYPES.test(type) || type === '') return { body: raw.toString('utf8'), bodyEncoding: 'text' };
  return { body: raw.toString('base64'), bodyEncoding: 'base64' };
}
