import request from 'supertest';
import { DataSource } from 'typeorm';
import { closeGracefully, ShutdownService } from '../src/observability/shutdown.service';
import { TcpProxy } from './support/tcp-proxy';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

/** The app reaches its database through a proxy the test can cut. */
async function proxied(database: TestDatabase): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(database.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  const port = await proxy.start();
  target.port = String(port);
  return { proxy, url: target.toString() };
}

describe('health and shutdown', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await provisionTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  describe('readiness', () => {
    let testApp: TestApp;
    let proxy: TcpProxy;

    beforeAll(async () => {
      const route = await proxied(database);
      proxy = route.proxy;
      testApp = await startTestApp({ url: route.url, poolSize: database.poolSize });
    });

    afterAll(async () => {
      await testApp?.close();
      await proxy?.cut();
    });

    it('is ready when the database answers and every migration is applied', async () => {
      const res = await request(testApp.app.getHttpServer()).get('/health/ready').expect(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.details).toEqual({
        lifecycle: { status: 'up' },
        database: { status: 'up' },
        migrations: { status: 'up' },
      });
    });

    it('answers 503 naming the database check when the database is unreachable, while liveness stays 200', async () => {
      await proxy.cut();
      const res = await request(testApp.app.getHttpServer()).get('/health/ready').expect(503);
      expect(res.body.status).toBe('error');
      expect(res.body.error.database).toEqual({ status: 'down', message: 'database unreachable' });
      await request(testApp.app.getHttpServer()).get('/health/live').expect(200);
    });
  });

  it('reports pending migrations as not ready when DB_MIGRATIONS_RUN=false on a fresh database', async () => {
    const fresh = await provisionTestDatabase();
    const testApp = await startTestApp(fresh, { DB_MIGRATIONS_RUN: 'false' });
    try {
      const res = await request(testApp.app.getHttpServer()).get('/health/ready').expect(503);
      expect(res.body.error.migrations).toEqual({
        status: 'down',
        message: 'migrations pending',
        pending: expect.arrayContaining([expect.stringMatching(/^CreateSystemInfo\d+$/)]),
      });
    } finally {
      await testApp.close();
      await fresh.drop();
    }
  });

  it('on shutdown turns readiness 503 at once, lets in-flight requests finish, then closes the database', async () => {
    const testApp = await startTestApp(database, { SHUTDOWN_GRACE_MS: '5000' }, { listen: true });
    const dataSource = testApp.app.get(DataSource);
    const inFlight = fetch(`${testApp.baseUrl}/api/v1/probe/slow?ms=700`);
    await new Promise((resolve) => setTimeout(resolve, 150));

    const closing = closeGracefully(testApp.app);
    expect(testApp.app.get(ShutdownService).isShuttingDown).toBe(true);
    // Our readiness check answers 503, or the closing server already refuses the connection.
    const ready = await fetch(`${testApp.baseUrl}/health/ready`).then(
      (res) => res.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(ready);

    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(await finished.json()).toEqual({ waited: 700 });
    await closing;
    expect(dataSource.isInitialized).toBe(false);
  });

  it('cuts off requests still running when the grace period ends', async () => {
    const testApp = await startTestApp(database, { SHUTDOWN_GRACE_MS: '200' }, { listen: true });
    const stuck = fetch(`${testApp.baseUrl}/api/v1/probe/slow?ms=2500`).then(
      (res) => res.status,
      () => 'connection closed',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await testApp.close();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await stuck).toBe('connection closed');
  });
});
