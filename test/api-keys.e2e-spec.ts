import { DataSource } from 'typeorm';
import request from 'supertest';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

describe('API keys', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let server: ReturnType<TestApp['app']['getHttpServer']>;
  let admin: { accessToken: string };

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database);
    server = testApp.app.getHttpServer();
    admin = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  it('shows the key once, stores only its hash, and accepts it as Bearer or X-API-Key', async () => {
    const user = await createUser(testApp.app, ['viewer']);
    const tokens = await signIn(testApp.app, user.email, user.password);
    const created = await request(server)
      .post('/api/v1/api-keys')
      .set(bearer(tokens.accessToken))
      .send({ name: 'reader', permissions: ['products:read'] })
      .expect(201);
    expect(created.body).toEqual(
      expect.objectContaining({
        id: expect.any(String),
        name: 'reader',
        permissions: ['products:read'],
        expiresAt: null,
      }),
    );
    const key = created.body.key as string;
    expect(key).toMatch(/^mcpa_[A-Za-z0-9_-]{40,}$/);
    expect(key.startsWith(created.body.prefix)).toBe(true);

    const stored = await testApp.app
      .get(DataSource)
      .query('SELECT key_hash FROM api_keys WHERE id = $1', [created.body.id]);
    expect(stored[0].key_hash).not.toContain(key);

    const list = await request(server).get('/api/v1/api-keys').set(bearer(key)).expect(200);
    expect(list.body).toHaveLength(1);
    expect(list.body[0].key).toBeUndefined();
    expect(list.body[0].lastUsedAt).not.toBeNull();
    await request(server).get('/api/v1/api-keys').set('X-API-Key', key).expect(200);
    await request(server).get('/api/v1/api-keys').set('X-API-Key', `${key}x`).expect(401);
  });

  it('refuses permissions the creator does not hold, and acts with the intersection of key and owner', async () => {
    const user = await createUser(testApp.app, ['viewer']);
    const tokens = await signIn(testApp.app, user.email, user.password);
    const refused = await request(server)
      .post('/api/v1/api-keys')
      .set(bearer(tokens.accessToken))
      .send({ name: 'too-much', permissions: ['users:read'] })
      .expect(403);
    expect(refused.body.error.code).toBe('PERMISSION_NOT_HELD');

    const operator = await createUser(testApp.app, ['admin']);
    const operatorTokens = await signIn(testApp.app, operator.email, operator.password);
    const key = (
      await request(server)
        .post('/api/v1/api-keys')
        .set(bearer(operatorTokens.accessToken))
        .send({ name: 'users-reader', permissions: ['users:read'] })
        .expect(201)
    ).body.key as string;
    await request(server).get('/api/v1/users').set('X-API-Key', key).expect(200);
    await request(server).get('/api/v1/roles').set('X-API-Key', key).expect(403);
    // the owner loses the permission: so does the key
    await request(server)
      .put(`/api/v1/users/${operator.id}/roles`)
      .set(bearer(admin.accessToken))
      .send({ roles: ['viewer'] })
      .expect(200);
    await request(server).get('/api/v1/users').set('X-API-Key', key).expect(403);
  });

  it("lists other users' keys only with api-keys:admin, and hides them from everyone else", async () => {
    const alice = await createUser(testApp.app, ['operator']);
    const bob = await createUser(testApp.app, ['operator']);
    const aliceTokens = await signIn(testApp.app, alice.email, alice.password);
    const bobTokens = await signIn(testApp.app, bob.email, bob.password);
    const aliceKey = (
      await request(server)
        .post('/api/v1/api-keys')
        .set(bearer(aliceTokens.accessToken))
        .send({ name: 'a', permissions: [] })
        .expect(201)
    ).body as { id: string };

    await request(server)
      .get(`/api/v1/api-keys?userId=${alice.id}`)
      .set(bearer(bobTokens.accessToken))
      .expect(403);
    await request(server).get('/api/v1/api-keys?all=true').set(bearer(bobTokens.accessToken)).expect(403);
    const asAdmin = await request(server)
      .get(`/api/v1/api-keys?userId=${alice.id}`)
      .set(bearer(admin.accessToken))
      .expect(200);
    expect(asAdmin.body.map((k: { id: string }) => k.id)).toEqual([aliceKey.id]);

    await request(server)
      .delete(`/api/v1/api-keys/${aliceKey.id}`)
      .set(bearer(bobTokens.accessToken))
      .expect(404);
    await request(server)
      .delete(`/api/v1/api-keys/${aliceKey.id}`)
      .set(bearer(aliceTokens.accessToken))
      .expect(204);
    await request(server)
      .delete(`/api/v1/api-keys/${aliceKey.id}`)
      .set(bearer(aliceTokens.accessToken))
      .expect(404);
  });

  it('refuses an expired key and an expiry in the past', async () => {
    const tokens = await signIn(testApp.app, TEST_ADMIN.email, TEST_ADMIN.password);
    await request(server)
      .post('/api/v1/api-keys')
      .set(bearer(tokens.accessToken))
      .send({ name: 'old', permissions: [], expiresAt: '2000-01-01T00:00:00Z' })
      .expect(400);
    const created = await request(server)
      .post('/api/v1/api-keys')
      .set(bearer(tokens.accessToken))
      .send({ name: 'soon', permissions: [], expiresAt: new Date(Date.now() + 60_000).toISOString() })
      .expect(201);
    await testApp.app
      .get(DataSource)
      .query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [created.body.id]);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await request(server).get('/api/v1/auth/me').set('X-API-Key', created.body.key).expect(401);
  });
});
