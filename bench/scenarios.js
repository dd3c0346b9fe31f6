'use strict';

/**
 * The scenarios bench/run.js measures, in order. Each one:
 *
 *   name       shown in the table and the JSON
 *   target     'baseline' (bare Fastify, bench/baseline-server.js) or 'service' (node dist/main.js)
 *   method     default GET
 *   path       request path on the target
 *   headers    optional, sent with every request
 *   body       optional; an object is sent as JSON
 *   needs      optional, e.g. ['redis']: skipped, with the reason printed, unless BENCH_REDIS_URL is set
 *   minRatio   optional: req/s must reach this share of the baseline's; reported, not enforced
 *   compareTo  optional: the baseline scenario for the ratio (default: the first baseline scenario)
 *   setup      optional async (ctx) => ({ headers?, body?, path? }), run once before warm-up. ctx has:
 *                ctx.serviceUrl, ctx.baselineUrl    e.g. http://127.0.0.1:41234
 *                ctx.request(url, { method, headers, body })  -> { status, headers, body }
 *                ctx.startStubServer((req, res) => ...)       -> { url, port, close } (closed at the end)
 *                ctx.onCleanup(async () => ...)               run after all scenarios, even on failure
 *                ctx.redisUrl                                 BENCH_REDIS_URL, when given
 *                ctx.admin                                    { email, password } of the first administrator
 *              What it returns is merged into the scenario (a bearer token after logging in, say).
 *
 * Every request must answer 2xx: any error, timeout or non-2xx response fails the run.
 *
 * A later scenario that logs in first would look like:
 *
 *   {
 *     name: 'products list (authenticated)',
 *     target: 'service',
 *     path: '/api/v1/products?limit=20',
 *     setup: async (ctx) => {
 *       const res = await ctx.request(`${ctx.serviceUrl}/api/v1/auth/login`, {
 *         method: 'POST',
 *         body: { email: ctx.admin.email, password: ctx.admin.password },
 *       });
 *       if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status}`);
 *       return { headers: { authorization: `Bearer ${res.body.accessToken}` } };
 *     },
 *   }
 */
const { products } = require('./generate-catalog');

/** Products the catalogue scenarios run over (a generated, deterministic catalogue). */
const CATALOG_SIZE = 10_000;
let catalog;

/**
 * Logs in and imports the generated catalogue over HTTP once (NDJSON, waiting for the import job),
 * for every catalogue scenario; answers the bearer header.
 */
function loadCatalog(ctx) {
  catalog ??= (async () => {
    const login = await ctx.request(`${ctx.serviceUrl}/api/v1/auth/login`, {
      method: 'POST',
      body: { email: ctx.admin.email, password: ctx.admin.password },
    });
    if (login.status !== 200) throw new Error(`login failed: HTTP ${login.status}`);
    const headers = { authorization: `Bearer ${login.body.accessToken}` };
    const started = await ctx.request(`${ctx.serviceUrl}/api/v1/catalog/imports`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-ndjson' },
      body: [...products(CATALOG_SIZE, 42)].join(''),
      timeoutMs: 300_000,
    });
    if (started.status !== 202) throw new Error(`catalogue import failed: HTTP ${started.status}`);
    const began = Date.now();
    for (;;) {
      const status = await ctx.request(`${ctx.serviceUrl}${started.headers.location}`, { headers });
      if (status.body.status === 'completed') break;
      if (status.body.status !== 'queued' && status.body.status !== 'running') {
        throw new Error(`catalogue import ended ${status.body.status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    process.stdout.write(
      `  (imported ${CATALOG_SIZE} products over HTTP in ${((Date.now() - began) / 1000).toFixed(1)} s)\n`,
    );
    return headers;
  })();
  return catalog;
}

let adapters;

/**
 * A loopback upstream answering after 20 ms, and two adapters on it: one caching for 60 s, one not.
 * Answers the bearer header and the adapter ids.
 */
function loadAdapters(ctx) {
  adapters ??= (async () => {
    const headers = await login(ctx);
    const upstream = await ctx.startStubServer((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
        res.end(JSON.stringify({ ok: true, path: req.url }));
      }, 20);
    });
    const create = async (name, cache) => {
      const res = await ctx.request(`${ctx.serviceUrl}/api/v1/adapters`, {
        method: 'POST',
        headers,
        body: {
          name,
          type: 'rest',
          config: {
            baseUrl: upstream.url,
            allowedCidrs: ['127.0.0.1/32'],
            ...(cache ? { cache: { ttlSeconds: 60 } } : {}),
          },
        },
      });
      if (res.status !== 201) throw new Error(`adapter creation failed: HTTP ${res.status}`);
      return res.body.id;
    };
    return {
      headers,
      cached: await create('bench_cached', true),
      uncached: await create('bench_uncached', false),
    };
  })();
  return adapters;
}

async function login(ctx) {
  const res = await ctx.request(`${ctx.serviceUrl}/api/v1/auth/login`, {
    method: 'POST',
    body: { email: ctx.admin.email, password: ctx.admin.password },
  });
  if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status}`);
  return { authorization: `Bearer ${res.body.accessToken}` };
}

module.exports = [
  {
    name: 'baseline: bare Fastify GET /',
    target: 'baseline',
    method: 'GET',
    path: '/',
  },
  {
    name: 'service: GET /health/live',
    target: 'service',
    method: 'GET',
    path: '/health/live',
    minRatio: 0.7,
  },
  {
    name: 'service: GET /api/v1/auth/me (bearer)',
    target: 'service',
    method: 'GET',
    path: '/api/v1/auth/me',
    // The whole authenticated pipeline (JWT, session and permission lookup through the 2 s
    // principal cache, guards, request context), against the cheapest route of the same service.
    compareTo: 'service: GET /health/live',
    minRatio: 0.6,
    setup: async (ctx) => {
      const res = await ctx.request(`${ctx.serviceUrl}/api/v1/auth/login`, {
        method: 'POST',
        body: { email: ctx.admin.email, password: ctx.admin.password },
      });
      if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status}`);
      return { headers: { authorization: `Bearer ${res.body.accessToken}` } };
    },
  },
  {
    name: 'service: GET /api/v1/products?limit=50 (10k catalogue)',
    target: 'service',
    path: '/api/v1/products?limit=50',
    compareTo: 'service: GET /health/live',
    setup: async (ctx) => ({ headers: await loadCatalog(ctx) }),
  },
  {
    name: 'service: GET /api/v1/products?q=oak+lamp&limit=50 (10k catalogue)',
    target: 'service',
    path: '/api/v1/products?q=oak+lamp&limit=50',
    compareTo: 'service: GET /health/live',
    setup: async (ctx) => ({ headers: await loadCatalog(ctx) }),
  },
  {
    name: 'service: POST /api/v1/adapters/:id/execute (cache hit)',
    target: 'service',
    method: 'POST',
    // A cache hit should cost about what an authenticated no-op costs.
    compareTo: 'service: GET /api/v1/auth/me (bearer)',
    minRatio: 0.8,
    setup: async (ctx) => {
      const { headers, cached } = await loadAdapters(ctx);
      return { path: `/api/v1/adapters/${cached}/execute`, headers, body: { method: 'GET', path: '/items' } };
    },
  },
  {
    name: 'service: POST /api/v1/adapters/:id/execute (upstream, 20 ms)',
    target: 'service',
    method: 'POST',
    compareTo: 'service: GET /api/v1/auth/me (bearer)',
    setup: async (ctx) => {
      const { headers, uncached } = await loadAdapters(ctx);
      return {
        path: `/api/v1/adapters/${uncached}/execute`,
        headers,
        body: { method: 'GET', path: '/items' },
      };
    },
  },
];
