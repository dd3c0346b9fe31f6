import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import jwt from 'jsonwebtoken';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { bearer, createUser, signIn } from './support/auth';
import { formOf, type Pkce, pkce } from './support/oauth';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const REDIRECT = 'http://127.0.0.1:53682/callback';
/** Where the pages are, for resolving their form actions (only the hidden fields are used here). */
const PAGE = new URL('http://127.0.0.1/oauth/authorize');

function cookieOf(res: request.Response): string {
  const header = res.headers['set-cookie'] as unknown as string[] | undefined;
  return (header ?? []).map((cookie) => cookie.split(';')[0]).join('; ');
}

describe('OAuth 2.1 for MCP clients (HTTP)', () => {
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let user: { email: string; password: string };
  let resource: string;
  const http = () => request(app.getHttpServer());

  async function register(redirectUris = [REDIRECT]): Promise<string> {
    const res = await http()
      .post('/oauth/register')
      .send({ client_name: 'Test Agent', redirect_uris: redirectUris })
      .expect(201);
    expect(res.body).toMatchObject({ token_endpoint_auth_method: 'none', redirect_uris: redirectUris });
    return res.body.client_id as string;
  }

  function authorizeQuery(clientId: string, code: Pkce, extra: Record<string, string | undefined> = {}) {
    const params: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: code.challenge,
      code_challenge_method: 'S256',
      state: 'state-123',
      scope: 'mcp:tools',
      resource,
      ...extra,
    };
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, value);
    return `/oauth/authorize?${query.toString()}`;
  }

  /** Sign-in and consent through the pages; answers the redirect back to the client. */
  async function authorize(
    clientId: string,
    code: Pkce,
    decision = 'approve',
    scope = 'mcp:tools',
  ): Promise<URL> {
    const page = await http()
      .get(authorizeQuery(clientId, code, { scope }))
      .expect(200);
    const cookie = cookieOf(page);
    const consent = await http()
      .post('/oauth/authorize')
      .set('cookie', cookie)
      .type('form')
      .send({ ...formOf(page.text, PAGE).fields, email: user.email, password: user.password })
      .expect(200);
    expect(consent.text).toContain('Test Agent');
    const done = await http()
      .post('/oauth/consent')
      .set('cookie', cookie)
      .type('form')
      .send({ ...formOf(consent.text, PAGE).fields, decision })
      .expect(302);
    return new URL(done.headers.location);
  }

  function exchange(clientId: string, code: string, verifier: string, redirectUri = REDIRECT) {
    return http().post('/oauth/token').type('form').send({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: clientId,
      redirect_uri: redirectUri,
      resource,
    });
  }

  beforeAll(async () => {
    db = await provisionTestDatabase();
    t = await startTestApp(db, {}, { listen: true });
    app = t.app;
    resource = `${t.config.http.publicBaseUrl}/mcp`;
    user = await createUser(app, ['agent']);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('publishes authorization server and protected resource metadata', async () => {
    const as = await http().get('/.well-known/oauth-authorization-server').expect(200);
    expect(as.body).toMatchObject({
      issuer: t.config.http.publicBaseUrl,
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
    });
    expect(as.body.scopes_supported).toContain('mcp:tools');
    const pr = await http().get('/.well-known/oauth-protected-resource/mcp').expect(200);
    expect(pr.body.authorization_servers).toEqual([t.config.http.publicBaseUrl]);
  });

  it('runs the code flow end to end and the token works at /mcp but not on the REST API', async () => {
    const clientId = await register();
    const code = pkce();
    const back = await authorize(clientId, code);
    expect(back.searchParams.get('state')).toBe('state-123');
    const tokens = await exchange(clientId, back.searchParams.get('code')!, code.verifier).expect(200);
    expect(tokens.body).toMatchObject({ token_type: 'Bearer', scope: 'mcp:tools' });
    expect(tokens.headers['cache-control']).toBe('no-store');
    const client = new Client({ name: 'oauth', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${t.baseUrl}/mcp`), {
        requestInit: { headers: bearer(tokens.body.access_token) },
      }),
    );
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('propose_product_change');
    expect(names).not.toContain('generate_code');
    await client.close();
    const rest = await http().get('/api/v1/auth/me').set(bearer(tokens.body.access_token)).expect(401);
    expect(rest.body.error.code).toBe('TOKEN_AUDIENCE_MISMATCH');
    const sessions = await http()
      .get('/api/v1/auth/sessions')
      .set(bearer((await signIn(app, user.email, user.password)).accessToken))
      .expect(200);
    expect(sessions.body).toEqual(
      expect.arrayContaining([expect.objectContaining({ oauthClientId: clientId })]),
    );
  });

  it('narrows the token to finer scopes', async () => {
    const clientId = await register();
    const code = pkce();
    const back = await authorize(clientId, code, 'approve', 'products:read');
    const tokens = await exchange(clientId, back.searchParams.get('code')!, code.verifier).expect(200);
    const client = new Client({ name: 'narrow', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${t.baseUrl}/mcp`), {
        requestInit: { headers: bearer(tokens.body.access_token) },
      }),
    );
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('search_products');
    expect(names).not.toContain('propose_product_change');
    await client.close();
  });

  it('grants only the asked-for permissions the user holds, and refreshes only for our resource', async () => {
    const clientId = await register();
    const code = pkce();
    const back = await authorize(clientId, code, 'approve', 'products:read users:write');
    const tokens = await exchange(clientId, back.searchParams.get('code')!, code.verifier).expect(200);
    expect(tokens.body.scope).toBe('products:read');
    const foreign = await http()
      .post('/oauth/token')
      .type('form')
      .send({
        grant_type: 'refresh_token',
        refresh_token: tokens.body.refresh_token,
        client_id: clientId,
        resource: 'https://other.example/mcp',
      })
      .expect(400);
    expect(foreign.body.error).toBe('invalid_target');
  });

  it('refuses an expired code and a token of another audience at /mcp', async () => {
    const clientId = await register();
    const code = pkce();
    const back = await authorize(clientId, code);
    await app.get(DataSource).query(`UPDATE oauth_codes SET expires_at = now() - interval '1 second'`);
    const expired = await exchange(clientId, back.searchParams.get('code')!, code.verifier).expect(400);
    expect(expired.body).toMatchObject({
      error: 'invalid_grant',
      error_description: 'The code has expired.',
    });
    const foreign = jwt.sign({ sid: randomUUID() }, TEST_JWT_SECRET, {
      subject: randomUUID(),
      jwtid: randomUUID(),
      issuer: t.config.http.publicBaseUrl,
      audience: 'https://elsewhere.example/mcp',
      expiresIn: 60,
    });
    const res = await http().post('/mcp').set(bearer(foreign)).send({}).expect(401);
    expect(res.headers['www-authenticate']).toContain('invalid_token');
  });

  it('refuses a reused code, a wrong verifier, another redirect URI, and revokes on refresh-token reuse', async () => {
    const clientId = await register();
    const code = pkce();
    const back = await authorize(clientId, code);
    const value = back.searchParams.get('code')!;
    const wrong = await exchange(clientId, value, pkce().verifier).expect(400);
    expect(wrong.body.error).toBe('invalid_grant');
    const other = await exchange(clientId, value, code.verifier, 'http://127.0.0.1:53682/callbacc').expect(
      400,
    );
    expect(other.body.error).toBe('invalid_grant');
    const tokens = await exchange(clientId, value, code.verifier).expect(200);
    const reused = await exchange(clientId, value, code.verifier).expect(400);
    expect(reused.body.error).toBe('invalid_grant');
    // The reuse revoked the grant the code produced.
    await http().post('/mcp').set(bearer(tokens.body.access_token)).send({}).expect(401);

    const second = pkce();
    const again = await authorize(clientId, second);
    const pair = await exchange(clientId, again.searchParams.get('code')!, second.verifier).expect(200);
    const refreshed = await http()
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: pair.body.refresh_token, client_id: clientId })
      .expect(200);
    const replay = await http()
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: pair.body.refresh_token, client_id: clientId })
      .expect(400);
    expect(replay.body.error).toBe('invalid_grant');
    await http()
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: refreshed.body.refresh_token, client_id: clientId })
      .expect(400);
    const [event] = await app
      .get(DataSource)
      .query<Array<{ outcome: string }>>(
        `SELECT outcome FROM audit_events WHERE action = 'oauth.token' AND details->>'reason' = 'refresh_token_reuse'`,
      );
    expect(event.outcome).toBe('denied');
  });

  it('revokes grants by token, by client (admin) and keeps OAuth and API refresh tokens apart', async () => {
    const clientId = await register();
    const code = pkce();
    const first = await exchange(
      clientId,
      (await authorize(clientId, code)).searchParams.get('code')!,
      code.verifier,
    ).expect(200);
    const api = await http().post('/api/v1/auth/refresh').send({ refreshToken: first.body.refresh_token });
    expect(api.status).toBe(401);
    await http()
      .post('/oauth/revoke')
      .type('form')
      .send({ token: first.body.access_token, client_id: clientId })
      .expect(200);
    await http().post('/mcp').set(bearer(first.body.access_token)).send({}).expect(401);
    await http()
      .post('/oauth/revoke')
      .type('form')
      .send({ token: 'unknown', client_id: clientId })
      .expect(200);

    const second = pkce();
    const pair = await exchange(
      clientId,
      (await authorize(clientId, second)).searchParams.get('code')!,
      second.verifier,
    ).expect(200);
    const adminUser = await createUser(app, ['admin']);
    const admin = bearer((await signIn(app, adminUser.email, adminUser.password)).accessToken);
    const list = await http().get('/api/v1/oauth/clients').set(admin).expect(200);
    expect(list.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ clientId, clientName: 'Test Agent', activeGrants: 1 }),
      ]),
    );
    await http()
      .get('/api/v1/oauth/clients')
      .set(bearer((await signIn(app, user.email, user.password)).accessToken))
      .expect(403);
    await http().delete(`/api/v1/oauth/clients/${clientId}`).set(admin).expect(204);
    await http().post('/mcp').set(bearer(pair.body.access_token)).send({}).expect(401);
    const refresh = await http()
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: pair.body.refresh_token, client_id: clientId })
      .expect(400);
    expect(refresh.body.error).toBe('invalid_grant');
    const page = await http().get(authorizeQuery(clientId, pkce())).expect(400);
    expect(page.text).toContain('revoked');
  });

  it('sends refusals of the authorization request back to the client with its state', async () => {
    const clientId = await register();
    const code = pkce();
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ resource: undefined }, 'invalid_target'],
      [{ resource: 'https://other.example/mcp' }, 'invalid_target'],
      [{ scope: 'everything' }, 'invalid_scope'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
    ];
    for (const [extra, error] of cases) {
      const res = await http()
        .get(authorizeQuery(clientId, code, extra))
        .expect(302);
      const location = new URL(res.headers.location);
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
      expect(location.searchParams.get('error')).toBe(error);
      expect(location.searchParams.get('state')).toBe('state-123');
      expect(location.searchParams.get('iss')).toBe(t.config.http.publicBaseUrl);
    }
    // Not redirected: an unregistered redirect URI (one character off), an unknown client.
    for (const extra of [
      { redirect_uri: 'http://127.0.0.1:53682/callbacc' },
      { redirect_uri: 'http://127.0.0.2:53682/callback' },
      { client_id: 'mcpc_nope' },
    ]) {
      const res = await http()
        .get(authorizeQuery(clientId, code, extra))
        .expect(400);
      expect(res.headers['content-type']).toMatch(/text\/html/);
    }
    const denied = await authorize(clientId, code, 'deny');
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('state')).toBe('state-123');
  });

  it('protects the sign-in page against framing and CSRF, and applies the lockout', async () => {
    const clientId = await register();
    const page = await http().get(authorizeQuery(clientId, pkce())).expect(200);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const fields = formOf(page.text, PAGE).fields;
    const noCookie = await http()
      .post('/oauth/authorize')
      .type('form')
      .send({ ...fields, email: user.email, password: user.password })
      .expect(403);
    expect(noCookie.text).toContain('CSRF');
    const noToken = await http()
      .post('/oauth/authorize')
      .set('cookie', cookieOf(page))
      .type('form')
      .send({ request: fields.request, email: user.email, password: user.password })
      .expect(403);
    expect(noToken.text).toContain('CSRF');
    const victim = await createUser(app, ['agent']);
    let last: request.Response | undefined;
    for (let attempt = 0; attempt < 6; attempt += 1) {
      last = await http()
        .post('/oauth/authorize')
        .set('cookie', cookieOf(page))
        .type('form')
        .send({ ...fields, email: victim.email, password: 'wrong-password-123' });
    }
    expect(last?.status).toBe(429);
    const locked = await http()
      .post('/oauth/authorize')
      .set('cookie', cookieOf(page))
      .type('form')
      .send({ ...fields, email: victim.email, password: victim.password })
      .expect(429);
    expect(locked.text).toContain('role="alert"');
  });
});
