import jwt from 'jsonwebtoken';
import request from 'supertest';
import { bearer, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('access tokens that must be refused', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let claims: { sub: string; sid: string; jti: string };

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database);
    const tokens = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
    const decoded = jwt.decode(tokens.accessToken) as { sub: string; sid: string; jti: string };
    claims = { sub: decoded.sub, sid: decoded.sid, jti: decoded.jti };
    await request(testApp.app.getHttpServer())
      .get('/api/v1/auth/me')
      .set(bearer(tokens.accessToken))
      .expect(200);
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const valid = () => ({ ...claims, iss: 'mcp-admin', aud: 'mcp-admin-api', iat: now(), exp: now() + 600 });
  const sign = (payload: object, secret = TEST_JWT_SECRET, algorithm: jwt.Algorithm = 'HS256') =>
    jwt.sign(payload, secret, { algorithm });

  it('accepts a correctly signed token for a live session (control)', async () => {
    await request(testApp.app.getHttpServer())
      .get('/api/v1/auth/me')
      .set(bearer(sign(valid())))
      .expect(200);
  });

  it.each([
    ['alg: none', () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(valid())}.`],
    ['HS512 while HS256 is pinned', () => sign(valid(), TEST_JWT_SECRET, 'HS512')],
    ['signed with another secret', () => sign(valid(), 'another-secret-of-sufficient-length-0123456789')],
    ['expired', () => sign({ ...valid(), iat: now() - 1200, exp: now() - 600 })],
    ['not valid yet (nbf in the future)', () => sign({ ...valid(), nbf: now() + 600 })],
    ['wrong issuer', () => sign({ ...valid(), iss: 'someone-else' })],
    ['wrong audience', () => sign({ ...valid(), aud: 'another-api' })],
    [
      'tampered payload',
      () => {
        const [header, , signature] = sign(valid()).split('.');
        return `${header}.${base64url({ ...valid(), sub: '00000000-0000-4000-8000-000000000000' })}.${signature}`;
      },
    ],
    ['missing session id', () => sign({ ...valid(), sid: undefined })],
    ['garbage', () => 'not.a.jwt'],
  ])('refuses %s with 401 and the error envelope', async (_name, token) => {
    const res = await request(testApp.app.getHttpServer())
      .get('/api/v1/auth/me')
      .set(bearer(token()))
      .expect(401);
    expect(res.body.error.code).toMatch(/^(TOKEN_INVALID|SESSION_REVOKED)$/);
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it('refuses a token of a session that has logged out', async () => {
    const tokens = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
    const server = testApp.app.getHttpServer();
    await request(server).post('/api/v1/auth/logout').set(bearer(tokens.accessToken)).send({}).expect(204);
    const replay = sign({ ...(jwt.decode(tokens.accessToken) as object) });
    await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(401);
    await request(server).get('/api/v1/auth/me').set(bearer(replay)).expect(401);
  });
});
