import { Logger } from '@nestjs/common';
import { type Attributes, diag, type DiagLogger, DiagLogLevel } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_FULL,
  ATTR_URL_QUERY,
} from '@opentelemetry/semantic-conventions';
import type { RequestOptions } from 'node:http';
import { isIPv6 } from 'node:net';
import { PACKAGE_VERSION } from '../common/package-version';
import { isSecretKey, REDACTED } from '../common/redact';

/**
 * The OpenTelemetry SDK setup. Loaded only through `startTracing` (tracing.ts) when tracing is on,
 * so that the default path never loads the SDK.
 */

/** One export request to the collector; the SDK retries within it. */
export const EXPORT_TIMEOUT_MS = 10_000;
/** Finished spans waiting for export; past it new spans are dropped (and counted in a warning). */
export const MAX_QUEUE_SIZE = 2048;
export const MAX_EXPORT_BATCH_SIZE = 512;
/** How long the final flush may hold up the exit. */
export const SHUTDOWN_TIMEOUT_MS = 5_000;
/** A dead collector fails every export: its complaints are logged at most this often. */
export const DIAG_LOG_INTERVAL_MS = 60_000;
const DIAG_MESSAGE_MAX_CHARS = 1_000;
const DEFAULT_SERVICE_NAME = 'mcp-admin';
/** Inside URLs, the instrumentation's own marker (brackets would be percent-encoded). */
const URL_REDACTED = 'REDACTED';

/** Query parameters the instrumentation redacts by default (signed cloud URLs), kept when ours apply. */
const SIGNED_URL_PARAMETERS = new Set([
  'sig',
  'signature',
  'awsaccesskeyid',
  'x-goog-signature',
  'x-amz-signature',
  'x-amz-credential',
]);
const PROBE_PATH = /^\/(health\/[^?]*|metrics)(\?|$)/;

export interface TracingSummary {
  /** Where spans go, without credentials or query. */
  readonly exportUrl: string;
  readonly serviceName: string;
}

export interface RunningTracing {
  readonly summary: TracingSummary;
  shutdown(): Promise<void>;
}

export function startTracingSdk(endpoint: string, env: NodeJS.ProcessEnv = process.env): RunningTracing {
  const logger = new Logger('Tracing');
  const mask = credentialMasker(endpoint, env);
  diag.setLogger(new ThrottledDiagLogger(logger, mask), {
    logLevel: DiagLogLevel.WARN,
    suppressOverrideMessage: true,
  });

  const url = tracesUrl(endpoint);
  const serviceName = env.OTEL_SERVICE_NAME || DEFAULT_SERVICE_NAME;
  const provider = new NodeTracerProvider({
    // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (through the env detector) win over ours.
    resource: defaultResource()
      .merge(
        resourceFromAttributes({
          [ATTR_SERVICE_NAME]: DEFAULT_SERVICE_NAME,
          [ATTR_SERVICE_VERSION]: PACKAGE_VERSION,
        }),
      )
      .merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: [
      // The batch delay stays the SDK's (OTEL_BSP_SCHEDULE_DELAY, 5 s by default); the bounds are ours.
      new BatchSpanProcessor(
        // Headers (OTEL_EXPORTER_OTLP_HEADERS) and compression still come from the SDK's variables.
        new OTLPTraceExporter({ url: url.href, timeoutMillis: EXPORT_TIMEOUT_MS }),
        {
          maxQueueSize: MAX_QUEUE_SIZE,
          maxExportBatchSize: MAX_EXPORT_BATCH_SIZE,
          exportTimeoutMillis: EXPORT_TIMEOUT_MS,
        },
      ),
    ],
  });
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes arrive every few seconds and would drown the traces worth reading.
        ignoreIncomingRequestHook: (request) => PROBE_PATH.test(request.url ?? '/'),
        startIncomingSpanHook: (request) => incomingQueryAttributes(request.url),
        startOutgoingSpanHook: (options) => ({ [ATTR_URL_FULL]: outgoingUrl(options) }),
        // Outgoing calls, queries and Redis commands are traced inside a traced request only:
        // background polling (job queue, sealer) would otherwise start a trace every few seconds.
        requireParentforOutgoingSpans: true,
      }),
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });

  return {
    summary: { exportUrl: `${url.protocol}//${url.host}${url.pathname}`, serviceName },
    shutdown: () => shutdownWithin(provider, SHUTDOWN_TIMEOUT_MS, logger, mask),
  };
}

/** OTLP/HTTP's rule for OTEL_EXPORTER_OTLP_ENDPOINT: the signal's path is appended to the base. */
export function tracesUrl(endpoint: string): URL {
  const url = new URL(endpoint);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url;
}

/**
 * The incoming query with the values of secret-named parameters (`access_token`, `api_key`, ...)
 * replaced, so that a credential sent in a URL never reaches the collector.
 */
export function incomingQueryAttributes(requestUrl: string | undefined): Attributes {
  const start = requestUrl?.indexOf('?') ?? -1;
  if (requestUrl === undefined || start < 0) return {};
  const params = new URLSearchParams(requestUrl.slice(start + 1));
  for (const key of new Set(params.keys())) {
    if (isSecretKey(key) || SIGNED_URL_PARAMETERS.has(key.toLowerCase())) params.set(key, URL_REDACTED);
  }
  return { [ATTR_URL_QUERY]: params.toString() };
}

/**
 * The outgoing URL without userinfo, query or fragment: adapters may carry an API key in a query
 * parameter of any name, so no query is recorded at all.
 */
export function outgoingUrl(options: RequestOptions): string {
  const protocol = options.protocol ?? 'http:';
  const authority =
    typeof options.hostname === 'string'
      ? isIPv6(options.hostname)
        ? `[${options.hostname}]`
        : options.hostname
      : (options.host ?? 'localhost');
  try {
    const url = new URL(`${protocol}//${authority}`);
    if (typeof options.hostname === 'string' && options.port != null && options.port !== '') {
      url.port = String(options.port);
    }
    url.pathname = (options.path ?? '/').split(/[?#]/)[0];
    return url.href;
  } catch {
    return `${protocol}//${URL_REDACTED}`;
  }
}

/**
 * Replaces the endpoint's userinfo and the OTLP header values (both may hold collector credentials)
 * wherever they appear in a message: raw, percent-decoded, and the userinfo as Basic credentials.
 */
export function credentialMasker(endpoint: string, env: NodeJS.ProcessEnv): (text: string) => string {
  const url = new URL(endpoint);
  const secrets = new Set<string>();
  const add = (value: string): void => {
    for (const form of [value, safeDecode(value)]) if (form.length > 0) secrets.add(form);
  };
  add(url.username);
  add(url.password);
  if (url.username !== '' || url.password !== '') {
    // The form the userinfo travels in: an `Authorization: Basic` header.
    const userinfo = `${safeDecode(url.username)}:${safeDecode(url.password)}`;
    secrets.add(Buffer.from(userinfo).toString('base64'));
  }
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    for (const pair of (env[name] ?? '').split(',')) {
      const at = pair.indexOf('=');
      if (at >= 0) add(pair.slice(at + 1).trim());
    }
  }
  // Longest first, so that a secret containing another is replaced whole.
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((masked, secret) => masked.split(secret).join(REDACTED), text);
}

/**
 * The SDK's own diagnostics (export failures, dropped spans, instrumentation warnings) in the
 * application log: masked, truncated, and at most one line per interval with a count of the rest.
 */
export class ThrottledDiagLogger implements DiagLogger {
  private lastLoggedAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly logger: Pick<Logger, 'error' | 'warn'>,
    private readonly mask: (text: string) => string,
    private readonly intervalMs = DIAG_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  error = (message: string, ...args: unknown[]): void => this.write('error', message, args);
  warn = (message: string, ...args: unknown[]): void => this.write('warn', message, args);
  info = (): void => undefined;
  debug = (): void => undefined;
  verbose = (): void => undefined;

  private write(level: 'error' | 'warn', message: string, args: unknown[]): void {
    const now = this.now();
    if (now - this.lastLoggedAt < this.intervalMs) {
      this.suppressed += 1;
      return;
    }
    const text = [message, ...args.map(describe)].join(' ').slice(0, DIAG_MESSAGE_MAX_CHARS);
    const note = this.suppressed > 0 ? ` (${this.suppressed} more since the last one)` : '';
    this.lastLoggedAt = now;
    this.suppressed = 0;
    this.logger[level](this.mask(`${text}${note}`));
  }
}

async function shutdownWithin(
  provider: NodeTracerProvider,
  timeoutMs: number,
  logger: Pick<Logger, 'warn'>,
  mask: (text: string) => string,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref();
  });
  try {
    const outcome = await Promise.race([provider.shutdown().then(() => 'done' as const), deadline]);
    if (outcome === 'timeout') logger.warn(`Spans not exported within ${timeoutMs} ms of shutdown: dropped`);
  } catch (error) {
    logger.warn(mask(`Exporting the last spans failed: ${describe(error)}`.slice(0, DIAG_MESSAGE_MAX_CHARS)));
  } finally {
    clearTimeout(timer);
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
