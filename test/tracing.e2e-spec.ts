import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  provisionTestDatabase,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  type TestDatabase,
} from './support/test-database';
import { freePort } from './support/ports';

/*
 * Instrumentation hooks Node's own module loader, which jest's module sandbox bypasses, so this test
 * runs the real compiled service as a child process: compiled here (transpiled without type-checking,
 * as ts-jest does) so that it never depends on a stale dist/. The collector is an OTLP/HTTP receiver
 * on loopback.
 */

const PROJECT = join(__dirname, '..');
const ADMIN = { email: 'admin@example.com', password: 'admin-password-for-tracing-tests' };
const JWT_SECRET = 'tracing-test-jwt-secret-0123456789-abcdefghijklmnop';
const COLLECTOR_USER = 'otel-user';
const COLLECTOR_PASSWORD = 'collector-pass-3f9a1c';
const COLLECTOR_HEADER_SECRET = 'header-secret-7d2e4b';
const COLLECTOR_BASIC = Buffer.from(`${COLLECTOR_USER}:${COLLECTOR_PASSWORD}`).toString('base64');
const QUERY_SECRET = 'query-secret-5b8c0a';
const MAX_OTLP_BODY_BYTES = 8 * 1024 * 1024;
const MAX_OUTPUT_CHARS = 1024 * 1024;
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8')) as { version: string }
).version;

const execFileAsync = promisify(execFile);

// --- an OTLP/HTTP (JSON) receiver ------------------------------------------------------------------

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
}
interface OtlpExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<{
        traceId: string;
        spanId: string;
        name: string;
        kind: number;
        attributes?: OtlpAttribute[];
      }>;
    }>;
  }>;
}

interface ReceivedSpan {
  scope: string;
  name: string;
  kind: number;
  traceId: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

interface ReceivedExport {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

function flatten(attributes: OtlpAttribute[] | undefined): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const { key, value } of attributes ?? []) {
    result[key] = value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;
  }
  return result;
}

function spansOf(received: ReceivedExport[]): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const { body } of received) {
    for (const resourceSpans of (JSON.parse(body) as OtlpExportRequest).resourceSpans ?? []) {
      const resource = flatten(resourceSpans.resource?.attributes);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          spans.push({
            scope: scopeSpans.scope?.name ?? '',
            name: span.name,
            kind: span.kind,
            traceId: span.traceId,
            attributes: flatten(span.attributes),
            resource,
          });
        }
      }
    }
  }
  return spans;
}

/**
 * Records every POST and answers 200 with a partial-success note that echoes the credentials it was
 * sent, as a careless collector might: the SDK logs that note, and the service must mask it.
 */
async function startReceiver(): Promise<{ server: Server; url: string; received: ReceivedExport[] }> {
  const received: ReceivedExport[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OTLP_BODY_BYTES) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_OTLP_BODY_BYTES) return;
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const echoed = `${req.headers.authorization ?? ''} ${String(req.headers['x-collector-token'])}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ partialSuccess: { rejectedSpans: 0, errorMessage: `seen: ${echoed}` } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

// --- the service as a child process ----------------------------------------------------------------

async function compileService(root: string): Promise<string> {
  const tsc = require.resolve('typescript/bin/tsc');
  const transpile = (project: string, outDir: string) =>
    execFileAsync(
      process.execPath,
      [tsc, '-p', project, '--noCheck', '--incremental', 'false', '--sourceMap', 'false', '--outDir', outDir],
      { cwd: PROJECT },
    );
  await Promise.all([
    transpile(join(PROJECT, 'tsconfig.build.json'), join(root, 'dist')),
    transpile(join(PROJECT, 'tsconfig.migrations.json'), join(root, 'dist', 'migrations')),
  ]);
  // The layout of a built checkout: dist/ beside package.json, node_modules and assets.
  for (const entry of ['package.json', 'node_modules', 'assets']) {
    symlinkSync(join(PROJECT, entry), join(root, entry));
  }
  return join(root, 'dist', 'main.js');
}

interface Service {
  readonly baseUrl: string;
  output(): string;
  /** SIGTERM, then the exit code (SIGKILL and null when it does not exit in time). */
  stop(): Promise<number | null>;
}

async function startService(main: string, cwd: string, env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  // Not jest's environment: nothing of it (NODE_OPTIONS, OTEL_*, DATABASE_URL) leaks into the service.
  const child: ChildProcess = spawn(process.execPath, [main], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      JWT_SECRET,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (output.length < MAX_OUTPUT_CHARS) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`The service exited early:\n${output}`);
    const status = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(2_000) }).then(
      (res) => res.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`The service did not become ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  return {
    baseUrl,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

async function signIn(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

// --- the tests --------------------------------------------------------------------------------------

describe('OpenTelemetry tracing (the compiled service as a child process)', () => {
  let root: string;
  let main: string;
  let database: TestDatabase | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let databaseEnv: Record<string, string>;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'mcp-admin-tracing-'));
    [main, receiver] = await Promise.all([compileService(root), startReceiver()]);
    if (TEST_DATABASE_URL === undefined) {
      // The embedded database is served over the wire protocol and reached through `pg` as well.
      databaseEnv = { PGLITE_DATA_DIR: join(root, 'pglite') };
    } else {
      database = await provisionTestDatabase();
      databaseEnv = { DATABASE_URL: database.url, DB_POOL_SIZE: String(database.poolSize) };
    }
    if (TEST_REDIS_URL !== undefined) {
      databaseEnv.REDIS_URL = TEST_REDIS_URL;
      databaseEnv.REDIS_KEY_PREFIX = `tracing-e2e-${process.pid}:`;
    }
  }, 120_000);

  afterAll(async () => {
    if (receiver) await new Promise((resolve) => receiver.server.close(resolve));
    await database?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  beforeEach(() => {
    receiver.received.length = 0;
  });

  it('exports request spans with the route and request id, and flushes them on shutdown', async () => {
    const endpoint = new URL(receiver.url);
    endpoint.username = COLLECTOR_USER;
    endpoint.password = COLLECTOR_PASSWORD;
    const service = await startService(main, root, {
      ...databaseEnv,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint.href,
      OTEL_EXPORTER_OTLP_HEADERS: `x-collector-token=${COLLECTOR_HEADER_SECRET}`,
      // Nothing is exported on a timer during the test: what arrives was flushed by the shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    let exitCode: number | null;
    const requestId = `tracing-e2e-${process.pid}-${Date.now()}`;
    try {
      const token = await signIn(service.baseUrl);
      const products = await fetch(`${service.baseUrl}/api/v1/products`, {
        headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId },
      });
      expect(products.status).toBe(200);
      expect(products.headers.get('x-request-id')).toBe(requestId);
      // A credential in a query string (refused as an unknown parameter, still traced).
      const refused = await fetch(`${service.baseUrl}/api/v1/products?page=1&access_token=${QUERY_SECRET}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(refused.status).toBe(400);
      // Probes (startService also polled /health/ready) and scrapes leave no span.
      expect((await fetch(`${service.baseUrl}/health/live`)).status).toBe(200);
      expect((await fetch(`${service.baseUrl}/metrics`)).status).toBe(200);
      expect(receiver.received).toEqual([]);
    } finally {
      exitCode = await service.stop();
    }
    expect(exitCode).toBe(0);

    expect(receiver.received.length).toBeGreaterThan(0);
    for (const request of receiver.received) {
      expect(request.path).toBe('/v1/traces');
      expect(request.headers['content-type']).toBe('application/json');
      // Userinfo in the endpoint becomes Basic authentication; OTEL_EXPORTER_OTLP_HEADERS is sent too.
      expect(request.headers.authorization).toBe(`Basic ${COLLECTOR_BASIC}`);
      expect(request.headers['x-collector-token']).toBe(COLLECTOR_HEADER_SECRET);
      expect(request.body).not.toContain(QUERY_SECRET);
    }
    const spans = spansOf(receiver.received);

    const server = spans.find(
      (span) => span.kind === SPAN_KIND_SERVER && span.attributes['request.id'] === requestId,
    );
    expect(server).toMatchObject({
      name: 'GET /api/v1/products',
      attributes: expect.objectContaining({
        'http.route': '/api/v1/products',
        'http.response.status_code': 200,
      }) as unknown,
      resource: expect.objectContaining({
        'service.name': 'mcp-admin',
        'service.version': PACKAGE_VERSION,
      }) as unknown,
    });
    const inTrace = spans.filter((span) => span.traceId === server?.traceId);
    expect(inTrace).toContainEqual(
      expect.objectContaining({ scope: '@opentelemetry/instrumentation-pg', kind: SPAN_KIND_CLIENT }),
    );
    if (TEST_REDIS_URL !== undefined) {
      expect(inTrace).toContainEqual(
        expect.objectContaining({ scope: '@opentelemetry/instrumentation-ioredis', kind: SPAN_KIND_CLIENT }),
      );
    }

    const withQuery = spans.filter((span) => span.attributes['url.query'] !== undefined);
    expect(withQuery.map((span) => span.attributes['url.query'])).toEqual(['page=1&access_token=REDACTED']);

    const serverPaths = spans
      .filter((span) => span.kind === SPAN_KIND_SERVER)
      .map((span) => span.attributes['url.path']);
    expect(serverPaths).toContain('/api/v1/auth/login');
    expect(serverPaths.filter((path) => String(path).startsWith('/health/') || path === '/metrics')).toEqual(
      [],
    );
    // Database work outside a traced request (migrations, job polling) starts no trace of its own.
    const traced = new Set(
      spans.filter((span) => span.kind === SPAN_KIND_SERVER).map((span) => span.traceId),
    );
    expect(spans.filter((span) => !traced.has(span.traceId))).toEqual([]);

    // The collector's echo was logged, with the collector credentials masked.
    const output = service.output();
    expect(output).toContain('Received Partial Success response');
    expect(output).toContain('[REDACTED]');
    expect(output).not.toContain(COLLECTOR_PASSWORD);
    expect(output).not.toContain(COLLECTOR_BASIC);
    expect(output).not.toContain(COLLECTOR_HEADER_SECRET);
    expect(output).toContain(`Tracing on: spans of mcp-admin go to ${receiver.url}/v1/traces`);
  }, 90_000);

  it('is off without OTEL_EXPORTER_OTLP_ENDPOINT: the service serves and exports nothing', async () => {
    const service = await startService(main, root, {
      ...databaseEnv,
      // The SDK's own variables alone do not turn tracing on.
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    let exitCode: number | null;
    try {
      const token = await signIn(service.baseUrl);
      const products = await fetch(`${service.baseUrl}/api/v1/products`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(products.status).toBe(200);
    } finally {
      // Were tracing on, the shutdown would flush the spans of the two requests.
      exitCode = await service.stop();
    }
    expect(exitCode).toBe(0);
    expect(receiver.received).toEqual([]);
    expect(service.output()).not.toContain('Tracing on');
  }, 90_000);
});
