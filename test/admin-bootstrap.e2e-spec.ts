import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { bearer, loginOverHttp } from './support/auth';
import { startTestApp } from './support/test-app';
import { provisionTestDatabase } from './support/test-database';

// Its own file: nestjs-pino keeps one root logger per module registry, and this test reads the
// boot-time log lines of the first app it starts.
describe('first start without ADMIN_EMAIL / ADMIN_PASSWORD (outside production)', () => {
  it('writes a generated password to an owner-only file and requires a change at first sign-in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-admin-bootstrap-'));
    const database = await provisionTestDatabase();
    const testApp = await startTestApp(database, {
      ADMIN_EMAIL: '',
      ADMIN_PASSWORD: '',
      PGLITE_DATA_DIR: join(dir, 'pglite'),
    });
    try {
      const file = join(dir, 'initial-admin-password');
      expect(existsSync(file)).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const [email, password] = readFileSync(file, 'utf8').trim().split('\n');
      expect(JSON.stringify(testApp.logs)).not.toContain(password);
      expect(JSON.stringify(testApp.logs)).toContain(file);

      const server = testApp.app.getHttpServer();
      const tokens = await loginOverHttp(testApp.app, email, password);
      const me = await request(server).get('/api/v1/auth/me').set(bearer(tokens.accessToken)).expect(200);
      expect(me.body.user.mustChangePassword).toBe(true);
      const blocked = await request(server).get('/api/v1/users').set(bearer(tokens.accessToken)).expect(403);
      expect(blocked.body.error.code).toBe('PASSWORD_CHANGE_REQUIRED');
      await request(server)
        .post('/api/v1/auth/me/password')
        .set(bearer(tokens.accessToken))
        .send({ currentPassword: password, newPassword: 'the-new-admin-password' })
        .expect(204);
      await request(server).get('/api/v1/users').set(bearer(tokens.accessToken)).expect(200);
    } finally {
      await testApp.close();
      await database.drop();
    }
  });

  it('refuses to start in production without them', async () => {
    const database = await provisionTestDatabase();
    try {
      await expect(
        startTestApp(database, { NODE_ENV: 'production', ADMIN_EMAIL: '', ADMIN_PASSWORD: '' }),
      ).rejects.toThrow(/ADMIN_EMAIL and ADMIN_PASSWORD/);
    } finally {
      await database.drop();
    }
  });
});
