import request from 'supertest';
import { auditMetadataOf } from '../src/audit/audited.decorator';
import { BUILT_IN_ROLE_NAMES, BUILT_IN_ROLES } from '../src/authz/permissions';
import { bearer, createUser, signIn } from './support/auth';
import { listRoutes, type RegisteredRoute } from './support/routes';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const SAMPLE_PARAMS: Record<string, string> = {
  id: '00000000-0000-4000-8000-000000000000',
  name: 'no-such-role',
  file: 'no-such-file.js',
};

/** Routes that answer with an endless stream: only their status is read, then the stream is dropped. */
const STREAMING_ROUTES = new Set(['GET /mcp/sse']);

/** The status of a streaming route, read from its headers (the body never ends). */
async function streamStatus(baseUrl: string, path: string, headers: Record<string, string>): Promise<number> {
  const abort = new AbortController();
  const res = await fetch(`${baseUrl}${path}`, { headers, signal: abort.signal });
  abort.abort();
  return res.status;
}

/** Public form posts refused by their CSRF safeguard (403) for every caller that brings no token. */
const CSRF_FORMS = new Set(['POST /oauth/authorize', 'POST /oauth/consent']);

interface Caller {
  name: string;
  permissions: ReadonlySet<string>;
  /** Headers for one request; a fresh session for routes that end it. */
  headers(route: RegisteredRoute): Promise<Record<string, string>>;
}

describe('access control on every route', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let routes: RegisteredRoute[];
  const callers: Caller[] = [];

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database, {}, { probe: false, listen: true });
    routes = listRoutes(testApp.app);
    const app = testApp.app;

    callers.push({ name: 'anonymous', permissions: new Set(), headers: () => Promise.resolve({}) });
    for (const role of BUILT_IN_ROLE_NAMES) {
      const user = await createUser(app, [role]);
      const shared = await signIn(app, user.email, user.password);
      callers.push({
        name: role,
        permissions: new Set(BUILT_IN_ROLES[role].permissions),
        headers: async (route) =>
          bearer(
            route.path === '/api/v1/auth/logout'
              ? (await signIn(app, user.email, user.password)).accessToken
              : shared.accessToken,
          ),
      });
    }
    const owner = await createUser(app, ['operator']);
    const ownerTokens = await signIn(app, owner.email, owner.password);
    const created = await request(app.getHttpServer())
      .post('/api/v1/api-keys')
      .set(bearer(ownerTokens.accessToken))
      .send({ name: 'matrix', permissions: ['products:read'] })
      .expect(201);
    callers.push({
      name: 'api key (products:read)',
      permissions: new Set(['products:read']),
      headers: () => Promise.resolve({ 'X-API-Key': created.body.key as string }),
    });
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  it('classifies every registered route as public, authenticated or permission-guarded', () => {
    expect(routes.length).toBeGreaterThan(20);
    const unclassified = routes
      .filter((route) => route.access === undefined)
      .map((r) => `${r.method} ${r.path}`);
    expect(unclassified).toEqual([]);
  });

  it('says how every state-changing route is audited', () => {
    const unaudited = routes
      .filter((route) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method))
      .filter((route) => auditMetadataOf(route.handler, route.controller) === undefined)
      .map((route) => `${route.method} ${route.path}`);
    expect(unaudited).toEqual([]);
  });

  it('answers every route for every caller as its class says', async () => {
    const server = testApp.app.getHttpServer();
    const mismatches: string[] = [];
    for (const route of routes) {
      const url = route.path.replace(/:(\w+)/g, (_, name: string) => SAMPLE_PARAMS[name] ?? 'x');
      for (const caller of callers) {
        const expected = CSRF_FORMS.has(`${route.method} ${route.path}`) ? 403 : expectation(route, caller);
        if (STREAMING_ROUTES.has(`${route.method} ${route.path}`)) {
          const status = await streamStatus(testApp.baseUrl, url, await caller.headers(route));
          const ok = expected === 'allowed' ? ![401, 403].includes(status) : status === expected;
          if (!ok)
            mismatches.push(
              `${route.method} ${route.path} as ${caller.name}: expected ${expected}, got ${status}`,
            );
          continue;
        }
        const call = request(server)
          [route.method.toLowerCase() as 'get'](url)
          .set(await caller.headers(route));
        const res = ['POST', 'PUT', 'PATCH'].includes(route.method) ? await call.send({}) : await call;
        const ok = expected === 'allowed' ? ![401, 403].includes(res.status) : res.status === expected;
        if (!ok)
          mismatches.push(
            `${route.method} ${route.path} as ${caller.name}: expected ${expected}, got ${res.status}`,
          );
      }
    }
    expect(mismatches).toEqual([]);
  });
});

function expectation(route: RegisteredRoute, caller: Caller): 'allowed' | 401 | 403 {
  const access = route.access;
  if (access === undefined) return 403;
  if (access.kind === 'public') return 'allowed';
  if (caller.name === 'anonymous') return 401;
  if (access.kind === 'authenticated') return 'allowed';
  return access.permissions.every((permission) => caller.permissions.has(permission)) ? 'allowed' : 403;
}
