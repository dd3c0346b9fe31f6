import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { runSecretsRotateCli } from '../src/cli/secrets-rotate.cli';
import { bearer, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, TEST_JWT_SECRET } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

describe('secrets:rotate', () => {
  let db: TestDatabase;
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');

  beforeAll(async () => {
    db = await provisionTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('re-encrypts adapter secrets under the new key, after which the old key can go', async () => {
    const first = await startTestApp(db, { SECRETS_KEY: oldKey });
    let id: string;
    try {
      const admin = bearer((await signIn(first.app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
      const created = await request(first.app.getHttpServer())
        .post('/api/v1/adapters')
        .set(admin)
        .send({
          name: 'rotated',
          type: 'rest',
          config: { baseUrl: 'https://api.example.com', auth: 'bearer' },
          secrets: { bearerToken: 'tok-rotate-123456' },
        })
        .expect(201);
      id = created.body.id as string;
    } finally {
      await first.close();
    }

    const env = {
      DATABASE_URL: db.url,
      DB_POOL_SIZE: String(db.poolSize),
      NODE_ENV: 'test',
      JWT_SECRET: TEST_JWT_SECRET,
      SECRETS_KEY: newKey,
      SECRETS_KEY_PREVIOUS: oldKey,
    };
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
    expect(await runSecretsRotateCli(env, io)).toBe(0);
    expect(out[0]).toMatch(/Re-encrypted the secrets of 1 adapter\(s\): rotated/);
    expect(await runSecretsRotateCli(env, io)).toBe(0);
    expect(out[1]).toMatch(/already sealed under SECRETS_KEY/);

    // Only the new key now: the adapter still opens (an update re-reads and re-seals its secrets).
    const second = await startTestApp(db, { SECRETS_KEY: newKey });
    try {
      const admin = bearer((await signIn(second.app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
      const updated = await request(second.app.getHttpServer())
        .patch(`/api/v1/adapters/${id}`)
        .set(admin)
        .send({ description: 'after rotation' })
        .expect(200);
      expect(updated.body.secretFields).toEqual(['bearerToken']);
    } finally {
      await second.close();
    }
    expect(err).toEqual([]);
  });
});
