import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('RS256 with key files', () => {
  it('signs and verifies with the key pair, and refuses an HS256 token keyed with the public key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-admin-rs256-'));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateFile = join(dir, 'private.pem');
    const publicFile = join(dir, 'public.pem');
    writeFileSync(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }));
    const database = await provisionTestDatabase();
    const testApp = await startTestApp(database, {
      JWT_ALGORITHM: 'RS256',
      JWT_SECRET: '',
      JWT_PRIVATE_KEY_FILE: privateFile,
      JWT_PUBLIC_KEY_FILE: publicFile,
    });
    try {
      const server = testApp.app.getHttpServer();
      const tokens = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
      expect(jwt.decode(tokens.accessToken, { complete: true })?.header.alg).toBe('RS256');
      await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(200);

      // Algorithm confusion: the public key is public, so an HS256 token "signed" with it must fail.
      const payload = jwt.decode(tokens.accessToken) as object;
      const forged = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url(payload)}`;
      const signature = createHmac('sha256', readFileSync(publicFile)).update(forged).digest('base64url');
      await request(server)
        .get('/api/v1/auth/me')
        .set(bearer(`${forged}.${signature}`))
        .expect(401);
    } finally {
      await testApp.close();
      await database.drop();
    }
  });
});
