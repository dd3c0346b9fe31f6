import request from 'supertest';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const ALLOWED_ORIGIN = 'https://admin.example.com';
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('HTTP request pipeline', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let server: ReturnType<TestApp['app']['getHttpServer']>;

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database, {
      CORS_ORIGINS: ALLOWED_ORIGIN,
      METRICS_TOKEN,
      BODY_LIMIT_BYTES: String(1024 * 1024),
    });
    server = testApp.app.getHttpServer();
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  const expectEnvelope = (body: unknown, code: string, requestId: string) => {
    expect(body).toEqual({ error: { code, message: expect.any(String), requestId } });
  };

  describe('request id', () => {
    it('echoes an acceptable X-Request-ID in the header, the body and the context', async () => {
      const res = await request(server)
        .get('/api/v1/probe/items/7')
        .set('X-Request-ID', 'client.id-42')
        .expect(200);
      expect(res.headers['x-request-id']).toBe('client.id-42');
      expect(res.body).toEqual({ id: 7, requestId: 'client.id-42' });
    });

    it('generates a UUID when the header is missing or unacceptable', async () => {
      const missing = await request(server).get('/api/v1/probe/items/1').expect(200);
      expect(missing.headers['x-request-id']).toMatch(UUID);
      expect(missing.body.requestId).toBe(missing.headers['x-request-id']);
      const bad = await request(server).get('/api/v1/probe/items/1').set('X-Request-ID', 'no spaces allowed');
      expect(bad.headers['x-request-id']).toMatch(UUID);
      const long = await request(server).get('/api/v1/probe/items/1').set('X-Request-ID', 'a'.repeat(129));
      expect(long.headers['x-request-id']).toMatch(UUID);
    });

    it('writes one log line per request with method, route template, status, duration and request id', async () => {
      await request(server).get('/api/v1/probe/items/99').set('X-Request-ID', 'log-line-check').expect(200);
      const lines = testApp.logs.filter(
        (line) => line.requestId === 'log-line-check' && line.msg === 'request completed',
      );
      expect(lines).toEqual([
        expect.objectContaining({
          level: 30,
          method: 'GET',
          route: '/api/v1/probe/items/:id',
          path: '/api/v1/probe/items/99',
          statusCode: 200,
          durationMs: expect.any(Number),
        }),
      ]);
    });
  });

  describe('error envelope', () => {
    it('404 for an unknown route', async () => {
      const res = await request(server).get('/nope').expect(404);
      expectEnvelope(res.body, 'NOT_FOUND', res.headers['x-request-id']);
    });

    it('400 with one detail per failed field, nested included', async () => {
      const res = await request(server)
        .post('/api/v1/probe/echo')
        .send({ title: '', count: 11, owner: { name: 5 }, extra: true })
        .expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.requestId).toBe(res.headers['x-request-id']);
      const fields = (res.body.error.details as Array<{ field: string; issue: string }>).map((d) => d.field);
      expect(new Set(fields)).toEqual(new Set(['title', 'count', 'owner.name', 'extra']));
      expect(res.body.error.details).toContainEqual({
        field: 'extra',
        issue: 'property extra should not exist',
      });
    });

    it('accepts and transforms a valid body', async () => {
      const res = await request(server)
        .post('/api/v1/probe/echo')
        .send({ title: 'ok', count: 3 })
        .expect(200);
      expect(res.body).toEqual({ title: 'ok', count: 3 });
    });

    it('400 for malformed JSON, without a stack at error level', async () => {
      const res = await request(server)
        .post('/api/v1/probe/echo')
        .set('content-type', 'application/json')
        .send('{"title": "unterminated')
        .expect(400);
      expectEnvelope(res.body, 'MALFORMED_JSON', res.headers['x-request-id']);
      expectNoErrorLogFor(res.headers['x-request-id']);
    });

    it('413 for a body over the limit, without a stack at error level', async () => {
      const big = JSON.stringify({ title: 'x'.repeat(2 * 1024 * 1024), count: 1 });
      const res = await request(server)
        .post('/api/v1/probe/echo')
        .set('content-type', 'application/json')
        .send(big);
      expect(res.status).toBe(413);
      expectEnvelope(res.body, 'PAYLOAD_TOO_LARGE', res.headers['x-request-id']);
      expectNoErrorLogFor(res.headers['x-request-id']);
    });

    it('415 for a content type the route does not accept', async () => {
      const res = await request(server)
        .post('/api/v1/probe/echo')
        .set('content-type', 'application/xml')
        .send('<title>x</title>')
        .expect(415);
      expectEnvelope(res.body, 'UNSUPPORTED_MEDIA_TYPE', res.headers['x-request-id']);
      const plain = await request(server)
        .post('/api/v1/probe/echo')
        .set('content-type', 'text/plain')
        .send('hi');
      expect(plain.status).toBe(415);
    });

    it('500 without the stack, SQL or paths in the body, and the stack in the log', async () => {
      const res = await request(server).get('/api/v1/probe/boom').expect(500);
      expect(res.body).toEqual({
        error: {
          code: 'INTERNAL_ERROR',
          message: 'An unexpected error occurred.',
          requestId: res.headers['x-request-id'],
        },
      });
      const logged = testApp.logs.find(
        (line) => line.requestId === res.headers['x-request-id'] && line.level === 50 && line.err,
      );
      expect((logged?.err as { stack?: string }).stack).toContain('ProbeController.boom');
    });
  });

  function expectNoErrorLogFor(requestId: string): void {
    const errors = testApp.logs.filter((line) => line.requestId === requestId && Number(line.level) >= 50);
    expect(errors).toEqual([]);
    expect(JSON.stringify(testApp.logs.filter((line) => line.requestId === requestId))).not.toMatch(
      /"stack"/,
    );
  }

  describe('security headers', () => {
    it('answers liveness before the pipeline, with a request id', async () => {
      const res = await request(server).get('/health/live').set('X-Request-ID', 'probe-1').expect(200);
      expect(res.body).toEqual({ status: 'ok' });
      expect(res.headers['x-request-id']).toBe('probe-1');
    });

    it('sets HSTS, nosniff, frame-ancestors none and no-referrer', async () => {
      const res = await request(server).get('/health/ready').expect(200);
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    });
  });

  describe('CORS', () => {
    it('allows a configured origin, with credentials and exposed headers', async () => {
      const res = await request(server)
        .get('/api/v1/probe/items/1')
        .set('Origin', ALLOWED_ORIGIN)
        .expect(200);
      expect(res.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
      expect(res.headers['access-control-allow-credentials']).toBe('true');
      expect(res.headers['access-control-expose-headers']).toContain('X-Request-ID');
    });

    it('answers a preflight from a configured origin', async () => {
      const res = await request(server)
        .options('/api/v1/probe/echo')
        .set('Origin', ALLOWED_ORIGIN)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'content-type,authorization');
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
      expect(res.headers['access-control-allow-methods']).toContain('POST');
    });

    it('gives no CORS grant to any other origin', async () => {
      const res = await request(server)
        .get('/api/v1/probe/items/1')
        .set('Origin', 'https://evil.example')
        .expect(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const preflight = await request(server)
        .options('/api/v1/probe/echo')
        .set('Origin', 'https://evil.example')
        .set('Access-Control-Request-Method', 'POST');
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('metrics', () => {
    it('needs the metrics token when one is configured', async () => {
      const res = await request(server).get('/metrics').expect(401);
      expect(res.body.error.code).toBe('METRICS_TOKEN_INVALID');
      await request(server).get('/metrics').set('Authorization', 'Bearer wrong').expect(401);
    });

    it('labels requests with route templates and status classes, never raw URLs', async () => {
      await request(server).get('/health/live').expect(200);
      await request(server).get('/api/v1/probe/items/123456').expect(200);
      await request(server).get('/no/such/route/987').expect(404);
      const res = await request(server)
        .get('/metrics')
        .set('Authorization', `Bearer ${METRICS_TOKEN}`)
        .expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.text).toMatch(
        /http_request_duration_seconds_bucket\{[^}]*route="\/health\/live"[^}]*status_class="2xx"/,
      );
      expect(res.text).toMatch(
        /http_requests_total\{method="GET",route="\/api\/v1\/probe\/items\/:id",status_class="2xx"\} \d+/,
      );
      expect(res.text).toMatch(/http_requests_total\{method="GET",route="unmatched",status_class="4xx"\}/);
      expect(res.text).toContain('process_resident_memory_bytes');
      expect(res.text).not.toContain('123456');
      expect(res.text).not.toContain('/no/such/route');
    });
  });

  describe('API documentation', () => {
    it('serves the OpenAPI document and the reference page with its own assets', async () => {
      const doc = await request(server).get('/docs/openapi.json').expect(200);
      expect(doc.body.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));
      const page = await request(server).get('/docs').expect(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.text).toContain('/docs/assets/swagger-ui-bundle.js');
      await request(server).get('/docs/assets/swagger-ui-bundle.js').expect(200);
      await request(server).get('/docs/assets/package.json').expect(404);
    });
  });
});
