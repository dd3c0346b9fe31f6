import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { CatalogImportsService } from '../src/catalog/import/catalog-imports.service';
import { RequestContext } from '../src/common/request-context';
import { bearer, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const SYSTEM = { kind: 'system', id: 'test', label: 'test', permissions: new Set<string>() } as const;

function product(id: number): Record<string, unknown> {
  return {
    id,
    title: `Linen Cushion ${id}`,
    handle: `linen-cushion-${id}`,
    vendor: 'Loom',
    product_type: 'Home/Cushions',
    variants: [{ id: id * 10 + 1, title: 'Default', price: '39.00', sku: `CUSH-${id}` }],
  };
}

/**
 * An import's job may run twice at once (a job retried because its replica looked dead, while the
 * replica was only slow). Each batch commits only if the import's progress is still where the batch
 * starts, so the import counts every product once whoever does the work.
 */
describe('catalog import worked on by several workers at once', () => {
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let auth: { Authorization: string };

  beforeAll(async () => {
    db = await provisionTestDatabase();
    t = await startTestApp(db);
    app = t.app;
    auth = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('counts every product once and completes once', async () => {
    const ids = Array.from({ length: 1_000 }, (_, index) => 50_000 + index);
    const started = await request(app.getHttpServer())
      .post('/api/v1/catalog/imports')
      .set(auth)
      .send({ products: ids.map(product) })
      .expect(202);
    const importId = started.body.id as string;
    // Two more workers besides the queued job, all at once.
    const service = app.get(CatalogImportsService);
    const context = app.get(RequestContext);
    await Promise.all([1, 2].map(() => context.run(() => service.process(importId), { principal: SYSTEM })));

    let status: Record<string, unknown> = {};
    for (let attempt = 0; attempt < 300; attempt++) {
      status = (await request(app.getHttpServer()).get(`/api/v1/catalog/imports/${importId}`).set(auth)).body;
      if (!['queued', 'running'].includes(status.status as string)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toMatchObject({
      status: 'completed',
      total: 1_000,
      processed: 1_000,
      summary: { created: 1_000, updated: 0, unchanged: 0, rejected: 0 },
    });
    const completions = await request(app.getHttpServer())
      .get('/api/v1/audit/events')
      .query({ action: 'import.complete', resourceId: importId })
      .set(auth)
      .expect(200);
    expect(completions.body.items).toHaveLength(1);
  });
});
