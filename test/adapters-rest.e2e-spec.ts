import { Global, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { DNS_RESOLVER, type DnsResolver } from '../src/adapters/ssrf-guard';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

/** Names the tests resolve: a public-looking name that points at loopback, as a rebinding attacker would. */
const resolver: DnsResolver = (hostname) =>
  Promise.resolve(
    hostname === 'api.public-upstream.test'
      ? [{ address: '127.0.0.1', family: 4 }]
      : hostname === 'api.allowed-upstream.test'
        ? [{ address: '127.0.0.2', family: 4 }]
        : Promise.reject(new Error('ENOTFOUND')),
  );

@Global()
@Module({ providers: [{ provide: DNS_RESOLVER, useValue: resolver }], exports: [DNS_RESOLVER] })
class TestResolverModule {}

const SECRET_TOKEN = `tok-SECRET-${randomBytes(6).toString('hex')}`;
const SECRET_PASSWORD = `pw-SECRET-${randomBytes(6).toString('hex')}`;

describe('REST adapters', () => {
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: { Authorization: string };
  let upstream: Server;
  let base: string;
  const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
  let failures = 0;

  const http = () => request(app.getHttpServer());

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'set-cookie': 'upstream=1', ...headers });
      res.end(JSON.stringify(value));
    };
    switch (url.pathname) {
      case '/api/ok':
        return json(
          200,
          { hello: 'world', q: url.searchParams.getAll('q') },
          { 'cache-control': 'max-age=60' },
        );
      case '/api/echo':
        return json(201, { method: req.method, body, contentType: req.headers['content-type'] ?? null });
      case '/api/slow':
        setTimeout(() => json(200, { slow: true }), 2_000);
        return;
      case '/api/huge':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(200_000));
        return;
      case '/api/flaky':
        failures++;
        return json(503, { failures });
      case '/api/teapot':
        return json(418, { short: 'and stout' });
      case '/api/redirect-same':
        res.writeHead(302, { location: '/api/ok' });
        return void res.end();
      case '/api/redirect-loopback':
        res.writeHead(302, {
          location: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api/ok`,
        });
        return void res.end();
      case '/api/redirect-metadata':
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        return void res.end();
      case '/api/redirect-file':
        res.writeHead(302, { location: 'file:///etc/passwd' });
        return void res.end();
      case '/api/redirect-loop':
        res.writeHead(302, { location: '/api/redirect-loop' });
        return void res.end();
      default:
        return json(404, { missing: url.pathname });
    }
  }

  function createAdapter(body: Record<string, unknown>, auth = admin) {
    return http().post('/api/v1/adapters').set(auth).send(body);
  }

  function execute(id: string, body: Record<string, unknown>, auth = admin) {
    return http().post(`/api/v1/adapters/${id}/execute`).set(auth).send(body);
  }

  let upstreamId: string;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => handle(req, res, body));
    });
    // 127.0.0.2: the adapters under test allow exactly this address, so 127.0.0.1 stays forbidden.
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.2', resolve));
    base = `http://127.0.0.2:${(upstream.address() as AddressInfo).port}`;
    db = await provisionTestDatabase();
    t = await startTestApp(
      db,
      { SECRETS_KEY: randomBytes(32).toString('base64') },
      { imports: [TestResolverModule] },
    );
    app = t.app;
    admin = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
    const created = await createAdapter({
      name: 'upstream',
      type: 'rest',
      description: 'test upstream',
      config: {
        baseUrl: `${base}/api`,
        auth: 'bearer',
        allowedMethods: ['GET', 'HEAD', 'POST', 'PUT'],
        allowedCidrs: ['127.0.0.2/32'],
        timeoutMs: { connect: 1_000, total: 800 },
        maxResponseBytes: 100_000,
        retry: { attempts: 2, backoffMs: 10 },
        headers: { 'X-Adapter': 'yes' },
      },
      secrets: { bearerToken: SECRET_TOKEN },
    }).expect(201);
    upstreamId = created.body.id as string;
    expect(created.body).toMatchObject({ name: 'upstream', secretFields: ['bearerToken'] });
    expect(JSON.stringify(created.body)).not.toContain(SECRET_TOKEN);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it("calls the upstream with the adapter credentials, never the caller's, and answers its status", async () => {
    const res = await execute(upstreamId, {
      method: 'GET',
      path: '/ok',
      query: { q: ['a', 'b'] },
      headers: { Authorization: 'Bearer caller-token', Cookie: 'session=caller', 'X-Trace': 't1' },
    }).expect(200);
    expect(res.body).toMatchObject({
      status: 200,
      body: { hello: 'world', q: ['a', 'b'] },
      bodyEncoding: 'json',
      cache: 'bypass',
    });
    expect(res.body.headers['set-cookie']).toBeUndefined();
    const hit = seen.at(-1);
    expect(hit?.headers.authorization).toBe(`Bearer ${SECRET_TOKEN}`);
    expect(hit?.headers.cookie).toBeUndefined();
    expect(hit?.headers['x-trace']).toBe('t1');
    expect(hit?.headers['x-adapter']).toBe('yes');

    const teapot = await execute(upstreamId, { method: 'GET', path: '/teapot' }).expect(200);
    expect(teapot.body).toMatchObject({ status: 418, body: { short: 'and stout' } });
    const posted = await execute(upstreamId, { method: 'POST', path: '/echo', body: { a: 1 } }).expect(200);
    expect(posted.body.body).toEqual({ method: 'POST', body: '{"a":1}', contentType: 'application/json' });
    await execute(upstreamId, { method: 'DELETE', path: '/echo' }).expect(400);
  });

  it('follows same-origin redirects and refuses the rest', async () => {
    expect(
      (await execute(upstreamId, { method: 'GET', path: '/redirect-same' }).expect(200)).body.body,
    ).toMatchObject({ hello: 'world' });
    for (const path of ['/redirect-loopback', '/redirect-metadata', '/redirect-file']) {
      const res = await execute(upstreamId, { method: 'GET', path }).expect(400);
      expect(res.body.error.code).toBe('ADAPTER_TARGET_FORBIDDEN');
    }
    expect(
      (await execute(upstreamId, { method: 'GET', path: '/redirect-loop' }).expect(502)).body.error.code,
    ).toBe('ADAPTER_TOO_MANY_REDIRECTS');
  });

  it('bounds time and size, and retries idempotent calls on 503', async () => {
    expect((await execute(upstreamId, { method: 'GET', path: '/slow' }).expect(504)).body.error.code).toBe(
      'ADAPTER_TIMEOUT',
    );
    expect((await execute(upstreamId, { method: 'GET', path: '/huge' }).expect(502)).body.error.code).toBe(
      'ADAPTER_RESPONSE_TOO_LARGE',
    );
    failures = 0;
    const flaky = await execute(upstreamId, { method: 'GET', path: '/flaky' }).expect(200);
    expect(flaky.body.status).toBe(503);
    expect(failures).toBe(3);
    failures = 0;
    await execute(upstreamId, { method: 'POST', path: '/flaky' }).expect(200);
    expect(failures).toBe(1);
  });

  it('refuses paths that leave the base URL', async () => {
    for (const path of [
      '../secret',
      '/a/../../b',
      '/%2e%2e/b',
      'http://evil.example/',
      '//evil.example/x',
      '/ok\r\nX-Injected: 1',
      '/a\\b',
      '/ok#frag',
    ]) {
      const res = await execute(upstreamId, { method: 'GET', path }).expect(400);
      expect(res.body.error.code).toMatch(/ADAPTER_PATH_INVALID|VALIDATION_FAILED/);
    }
  });

  it('refuses every SSRF target of an adapter without allowedCidrs', async () => {
    const literals = [
      'http://127.0.0.1/',
      'http://localhost/',
      'http://0.0.0.0/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://2130706433/',
      'http://0x7f000001/',
      'http://017700000001/',
      'http://169.254.169.254/',
      'http://10.0.0.1/',
      'http://192.168.1.1/',
      'http://172.16.0.1/',
      'http://100.64.0.1/',
    ];
    for (const [index, baseUrl] of literals.entries()) {
      const res = await createAdapter({ name: `ssrf_${index}`, type: 'rest', config: { baseUrl } });
      // localhost is a name: refused when it is called (it resolves nowhere public).
      if (baseUrl === 'http://localhost/') {
        expect(res.status).toBe(201);
        const call = await execute(res.body.id as string, { method: 'GET', path: '/' }).expect(400);
        expect(call.body.error.code).toMatch(/ADAPTER_TARGET_(FORBIDDEN|UNRESOLVABLE)/);
        continue;
      }
      expect({ baseUrl, status: res.status, code: res.body.error?.code }).toEqual({
        baseUrl,
        status: 400,
        code: 'ADAPTER_TARGET_FORBIDDEN',
      });
    }
    for (const baseUrl of ['file:///etc/passwd', 'gopher://127.0.0.1/']) {
      const res = await createAdapter({ name: 'ssrf_scheme', type: 'rest', config: { baseUrl } }).expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    // A public-looking name that resolves to loopback is refused when called.
    const rebinding = await createAdapter({
      name: 'rebinding',
      type: 'rest',
      config: { baseUrl: `http://api.public-upstream.test:${(upstream.address() as AddressInfo).port}/api` },
    }).expect(201);
    const refused = await execute(rebinding.body.id as string, { method: 'GET', path: '/ok' }).expect(400);
    expect(refused.body.error.code).toBe('ADAPTER_TARGET_FORBIDDEN');
    // The same name reaches the upstream once its address is allowed.
    const allowed = await createAdapter({
      name: 'allowed_by_name',
      type: 'rest',
      config: {
        baseUrl: `http://api.allowed-upstream.test:${(upstream.address() as AddressInfo).port}/api`,
        allowedCidrs: ['127.0.0.2/32'],
      },
    }).expect(201);
    expect(
      (await execute(allowed.body.id as string, { method: 'GET', path: '/ok' }).expect(200)).body.status,
    ).toBe(200);
  });

  it('needs adapters:network for allowedCidrs, and adapters:execute to call', async () => {
    const role = await http()
      .post('/api/v1/roles')
      .set(admin)
      .send({ name: 'adapter-editor', permissions: ['adapters:read', 'adapters:write'] })
      .expect(201);
    expect(role.body.name).toBe('adapter-editor');
    const editor = await createUser(app, ['adapter-editor']);
    const editorAuth = bearer((await signIn(app, editor.email, editor.password)).accessToken);
    const refused = await createAdapter(
      { name: 'editor_net', type: 'rest', config: { baseUrl: base, allowedCidrs: ['127.0.0.2/32'] } },
      editorAuth,
    ).expect(403);
    expect(refused.body.error.code).toBe('ADAPTER_NETWORK_PERMISSION_REQUIRED');
    const plain = await createAdapter(
      { name: 'editor_plain', type: 'rest', config: { baseUrl: 'https://api.example.com' } },
      editorAuth,
    ).expect(201);
    await http()
      .patch(`/api/v1/adapters/${plain.body.id}`)
      .set(editorAuth)
      .send({ config: { baseUrl: base, allowedCidrs: ['127.0.0.0/8'] } })
      .expect(403);
    await execute(upstreamId, { method: 'GET', path: '/ok' }, editorAuth).expect(403);
  });

  it('keeps secrets out of every response, log line and audit row; updates and deletes', async () => {
    const basic = await createAdapter({
      name: 'basic_auth',
      type: 'rest',
      config: { baseUrl: `${base}/api`, auth: 'basic', allowedCidrs: ['127.0.0.2/32'] },
      secrets: { basic: { username: 'svc', password: SECRET_PASSWORD } },
    }).expect(201);
    const id = basic.body.id as string;
    await execute(id, { method: 'GET', path: '/ok' }).expect(200);
    expect(seen.at(-1)?.headers.authorization).toBe(
      `Basic ${Buffer.from(`svc:${SECRET_PASSWORD}`).toString('base64')}`,
    );
    const updated = await http()
      .patch(`/api/v1/adapters/${id}`)
      .set(admin)
      .send({
        description: 'rotated',
        secrets: { basic: null, bearerToken: SECRET_TOKEN },
        config: { baseUrl: `${base}/api`, auth: 'bearer', allowedCidrs: ['127.0.0.2/32'] },
      })
      .expect(200);
    expect(updated.body).toMatchObject({ description: 'rotated', secretFields: ['bearerToken'] });
    const missingSecret = await http()
      .patch(`/api/v1/adapters/${id}`)
      .set(admin)
      .send({ config: { baseUrl: `${base}/api`, auth: 'basic', allowedCidrs: ['127.0.0.2/32'] } })
      .expect(400);
    expect(missingSecret.body.error.details[0].field).toBe('secrets.basic');
    const list = await http().get('/api/v1/adapters').set(admin).expect(200);
    const one = await http().get(`/api/v1/adapters/${id}`).set(admin).expect(200);
    await http().delete(`/api/v1/adapters/${id}`).set(admin).expect(204);
    await http().get(`/api/v1/adapters/${id}`).set(admin).expect(404);

    const audit = await app
      .get(DataSource)
      .query<Array<{ details: unknown }>>('SELECT details FROM audit_events');
    const stored = await app
      .get(DataSource)
      .query<Array<{ row: unknown }>>('SELECT to_jsonb(a) AS row FROM adapters a');
    for (const text of [
      JSON.stringify(list.body),
      JSON.stringify(one.body),
      JSON.stringify(audit),
      JSON.stringify(t.logs),
      JSON.stringify(stored),
    ]) {
      expect(text).not.toContain(SECRET_TOKEN);
      expect(text).not.toContain(SECRET_PASSWORD);
    }
    const events = await app
      .get(DataSource)
      .query<Array<{ action: string; outcome: string; details: Record<string, unknown> }>>(
        `SELECT action, outcome, details FROM audit_events WHERE action LIKE 'adapter.%' ORDER BY id`,
      );
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['adapter.create', 'adapter.execute', 'adapter.update', 'adapter.delete']),
    );
    const executed = events.find((e) => e.action === 'adapter.execute' && e.outcome === 'success');
    expect(executed?.details).toMatchObject({ adapter: 'upstream', method: 'GET', status: 200 });
    expect(
      events.some(
        (e) =>
          e.action === 'adapter.execute' && e.outcome === 'failure' && e.details.code === 'ADAPTER_TIMEOUT',
      ),
    ).toBe(true);
  });

  it('answers GETs from the cache after a miss, per principal when scoped, and purges on change', async () => {
    const cached = await createAdapter({
      name: 'cached',
      type: 'rest',
      config: {
        baseUrl: `${base}/api`,
        allowedCidrs: ['127.0.0.2/32'],
        cache: { ttlSeconds: 30, scope: 'principal' },
      },
    }).expect(201);
    const id = cached.body.id as string;
    const calls = () => seen.filter((s) => s.url.startsWith('/api/ok?q=cache')).length;
    const get = (auth = admin) =>
      execute(id, { method: 'GET', path: '/ok', query: { q: 'cache' } }, auth).expect(200);
    expect((await get()).body.cache).toBe('miss');
    const hit = await get();
    expect(hit.body).toMatchObject({ cache: 'hit', status: 200, body: { hello: 'world' } });
    expect(calls()).toBe(1);
    const operator = await createUser(app, ['operator']);
    const operatorAuth = bearer((await signIn(app, operator.email, operator.password)).accessToken);
    expect((await get(operatorAuth)).body.cache).toBe('miss');
    expect(calls()).toBe(2);
    expect(
      (await execute(id, { method: 'HEAD', path: '/ok', query: { q: 'cache' } }).expect(200)).body.cache,
    ).toBe('miss');
    await http().patch(`/api/v1/adapters/${id}`).set(admin).send({ description: 'changed' }).expect(200);
    expect((await get()).body.cache).toBe('miss');
    const stats = await http().get('/api/v1/cache/stats').set(admin).expect(200);
    expect(stats.body.items.find((item: { adapterId: string }) => item.adapterId === id)).toMatchObject({
      hits: 1,
    });
  });

  it('limits calls per adapter, and opens the circuit after repeated failures', async () => {
    const limited = await createAdapter({
      name: 'limited',
      type: 'rest',
      config: {
        baseUrl: `${base}/api`,
        allowedCidrs: ['127.0.0.2/32'],
        rateLimit: { max: 2, windowSeconds: 60 },
      },
    }).expect(201);
    await execute(limited.body.id as string, { method: 'GET', path: '/ok' }).expect(200);
    await execute(limited.body.id as string, { method: 'GET', path: '/ok' }).expect(200);
    const refused = await execute(limited.body.id as string, { method: 'GET', path: '/ok' }).expect(429);
    expect(refused.body.error.code).toBe('ADAPTER_RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);

    const fragile = await createAdapter({
      name: 'fragile',
      type: 'rest',
      config: {
        baseUrl: `${base}/api`,
        allowedCidrs: ['127.0.0.2/32'],
        retry: { attempts: 0, backoffMs: 10 },
      },
    }).expect(201);
    failures = 0;
    for (let i = 0; i < 5; i++) {
      expect(
        (await execute(fragile.body.id as string, { method: 'GET', path: '/flaky' }).expect(200)).body.status,
      ).toBe(503);
    }
    const open = await execute(fragile.body.id as string, { method: 'GET', path: '/ok' }).expect(503);
    expect(open.body.error.code).toBe('ADAPTER_CIRCUIT_OPEN');
    expect(Number(open.headers['retry-after'])).toBeGreaterThan(0);
    expect(failures).toBe(5);
  });

  it('tests connectivity', async () => {
    const res = await http().post(`/api/v1/adapters/${upstreamId}/test`).set(admin).expect(200);
    expect(res.body).toMatchObject({ ok: true });
    expect(typeof res.body.latencyMs).toBe('number');
  });
});
