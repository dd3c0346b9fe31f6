import { context, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerTracingHooks, startTracing, stopTracing } from './tracing';

const mockSdk = { loads: 0, starts: [] as string[], shutdowns: 0 };
jest.mock('./tracing-sdk', () => {
  mockSdk.loads += 1;
  return {
    startTracingSdk: (endpoint: string) => {
      mockSdk.starts.push(endpoint);
      return {
        summary: { exportUrl: `${endpoint}/v1/traces`, serviceName: 'mcp-admin' },
        shutdown: () => {
          mockSdk.shutdowns += 1;
          return Promise.resolve();
        },
      };
    },
  };
});

describe('startTracing / stopTracing', () => {
  it('loads nothing of the SDK without an endpoint', async () => {
    await expect(startTracing(undefined)).resolves.toBeUndefined();
    await stopTracing();
    expect(mockSdk).toEqual({ loads: 0, starts: [], shutdowns: 0 });
  });

  it('starts the SDK once, and stops it once', async () => {
    const summary = await startTracing('http://collector:4318');
    expect(summary).toEqual({ exportUrl: 'http://collector:4318/v1/traces', serviceName: 'mcp-admin' });
    await expect(startTracing('http://collector:4318')).resolves.toBe(summary);
    expect(mockSdk.starts).toEqual(['http://collector:4318']);
    await stopTracing();
    await stopTracing();
    expect(mockSdk.shutdowns).toBe(1);
  });
});

describe('registerTracingHooks', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let fastify: FastifyInstance;

  beforeAll(async () => {
    provider.register();
    fastify = Fastify({ genReqId: (req) => String(req.headers['x-request-id'] ?? 'generated') });
    registerTracingHooks(fastify);
    fastify.get('/api/v1/products/:id', () => ({ ok: true }));
    await fastify.ready();
  });

  afterAll(async () => {
    await fastify.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  beforeEach(() => exporter.reset());

  /** What the http instrumentation does: the request runs inside an active server span. */
  async function injectWithin(url: string, requestId: string): Promise<void> {
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('GET', { kind: SpanKind.SERVER }, async (span) => {
      await fastify.inject({ method: 'GET', url, headers: { 'x-request-id': requestId } });
      span.end();
    });
  }

  it('names the server span after the route template and tags it with the route and request id', async () => {
    await injectWithin('/api/v1/products/42?fields=title', 'req-1');
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe('GET /api/v1/products/:id');
    expect(span.attributes).toEqual({ 'http.route': '/api/v1/products/:id', 'request.id': 'req-1' });
  });

  it('keeps the bare method for an unmatched request, which still carries its request id', async () => {
    await injectWithin('/no/such/route/123', 'req-2');
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe('GET');
    expect(span.attributes).toEqual({ 'request.id': 'req-2' });
  });

  it('does nothing when no span is active (tracing off, or an ignored probe)', async () => {
    const res = await fastify.inject({ method: 'GET', url: '/api/v1/products/1' });
    expect(res.statusCode).toBe(200);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
