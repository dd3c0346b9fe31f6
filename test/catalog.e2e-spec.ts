import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { bearer, signIn } from './support/auth';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const SAMPLE = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'sample_product.json'), 'utf8')) as Record<
  string,
  unknown
>;

function product(id: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    title: `Oak Dining Table ${id}`,
    handle: `oak-dining-table-${id}`,
    body_html: `<p>Solid oak table number ${id}</p>`,
    vendor: 'Woodworks',
    product_type: 'Furniture/Tables',
    tags: ['Material: Oak', 'Dining'],
    variants: [{ id: id * 10 + 1, title: 'Default', price: '499.00', sku: `OAK-${id}` }],
    images: [{ id: id * 10 + 2, src: `https://cdn.example.com/${id}.jpg`, position: 1 }],
    options: [{ name: 'Title', position: 1, values: ['Default'] }],
    ...overrides,
  };
}

describe('Catalogue, imports and change review', () => {
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let auth: { Authorization: string };

  const http = () => request(app.getHttpServer());

  async function importAndWait(
    body: unknown,
    headers: Record<string, string> = {},
    type = 'application/json',
  ) {
    const started = await http()
      .post('/api/v1/catalog/imports')
      .set(auth)
      .set(headers)
      .set('content-type', type)
      .send(typeof body === 'string' ? body : JSON.stringify(body))
      .expect(202);
    expect(started.headers.location).toBe(`/api/v1/catalog/imports/${started.body.id}`);
    for (let attempt = 0; attempt < 200; attempt++) {
      const status = await http().get(started.headers.location).set(auth).expect(200);
      if (!['queued', 'running'].includes(status.body.status as string)) return status.body as ImportStatus;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('import did not finish');
  }

  interface ImportStatus {
    id: string;
    status: string;
    total: number;
    processed: number;
    summary: { created: number; updated: number; unchanged: number; rejected: number };
    rejections: Array<{ position: number; id: number | null; reasons: string[] }>;
  }

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

  describe('import', () => {
    it('imports the sample product, then reports it unchanged', async () => {
      const first = await importAndWait({ products: [SAMPLE] });
      expect(first).toMatchObject({ status: 'completed', total: 1, processed: 1 });
      expect(first.summary).toEqual({ created: 1, updated: 0, unchanged: 0, rejected: 0 });
      const again = await importAndWait({ products: [SAMPLE] });
      expect(again.summary).toEqual({ created: 0, updated: 0, unchanged: 1, rejected: 0 });

      const detail = await http().get('/api/v1/products/1059061125').set(auth).expect(200);
      expect(detail.headers.etag).toBe('"v1"');
      expect(detail.body).toMatchObject({
        id: 1059061125,
        handle: 'task-floor-lamp',
        title: 'Task Floor Lamp',
        vendor: 'MyStore',
        productType: 'Lighting/Lamps/Floor Lamps/Reading Floor Lamps',
        version: 1,
      });
      expect(detail.body.variants).toHaveLength(8);
      expect(detail.body.images).toHaveLength(13);
      expect(detail.body.options).toEqual([
        expect.objectContaining({ name: 'Finish', values: expect.arrayContaining(['Black', 'Cream']) }),
      ]);
      expect(detail.body.tags).toContain('Primary: Floor Lamp');
      expect(detail.body.variants[0]).toMatchObject({
        id: 3290425605,
        price: '959.40',
        imageId: 27928674500653,
      });
      expect(detail.body.normalizedCategory).toMatch(/Lighting/);
    });

    it('accepts NDJSON, reports malformed and invalid products and writes the rest', async () => {
      const lines = [
        JSON.stringify(product(501)),
        '{"id": 502, "title": ',
        JSON.stringify(product(503, { title: '' })),
        JSON.stringify(product(504, { handle: 'oak-dining-table-501' })),
        JSON.stringify(product(505)),
      ].join('\n');
      const result = await importAndWait(lines, {}, 'application/x-ndjson');
      expect(result.status).toBe('completed_with_errors');
      expect(result.summary).toEqual({ created: 2, updated: 0, unchanged: 0, rejected: 3 });
      expect(result.rejections.map((r) => r.position)).toEqual([2, 3, 4]);
      expect(result.rejections[0].reasons[0]).toMatch(/line 2: not valid JSON/);
      expect(result.rejections[1].reasons).toEqual(['title: is required']);
      expect(result.rejections[2].reasons).toEqual(['handle: already used by product 501']);
      await http().get('/api/v1/products/503').set(auth).expect(404);
      await http().get('/api/v1/products/505').set(auth).expect(200);
    });

    it('records the fields an import changes as changes with source import, and keeps local edits', async () => {
      await importAndWait({ products: [product(601)] });
      const before = await http().get('/api/v1/products/601').set(auth).expect(200);
      await http()
        .patch('/api/v1/products/601')
        .set(auth)
        .set('if-match', before.headers.etag)
        .send({ seoTitle: 'Oak table', title: 'Edited here' })
        .expect(200);
      const result = await importAndWait({
        products: [product(601, { vendor: 'Oak & Co', body_html: '<p>New</p>' })],
      });
      expect(result.summary).toEqual({ created: 0, updated: 1, unchanged: 0, rejected: 0 });
      const after = await http().get('/api/v1/products/601').set(auth).expect(200);
      expect(after.body).toMatchObject({
        vendor: 'Oak & Co',
        bodyHtml: '<p>New</p>',
        title: 'Edited here',
        seoTitle: 'Oak table',
      });
      const changes = await http().get('/api/v1/changes?productId=601&source=import').set(auth).expect(200);
      expect(changes.body.items.map((c: { field: string }) => c.field).sort()).toEqual([
        'bodyHtml',
        'vendor',
      ]);
      expect(changes.body.items[0]).toMatchObject({ status: 'applied', source: 'import' });
    });

    it('honours Idempotency-Key', async () => {
      const body = JSON.stringify({ products: [product(701)] });
      const send = (payload: string) =>
        http()
          .post('/api/v1/catalog/imports')
          .set(auth)
          .set('idempotency-key', 'key-701')
          .set('content-type', 'application/json')
          .send(payload);
      const first = await send(body).expect(202);
      const second = await send(body).expect(202);
      expect(second.body).toEqual(first.body);
      expect(second.headers.location).toBe(first.headers.location);
      const reused = await send(JSON.stringify({ products: [product(702)] })).expect(409);
      expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    });

    it('refuses empty and malformed import bodies', async () => {
      expect(
        (await http().post('/api/v1/catalog/imports').set(auth).send({ products: [] }).expect(400)).body.error
          .code,
      ).toBe('IMPORT_EMPTY');
      expect(
        (await http().post('/api/v1/catalog/imports').set(auth).send({ items: [] }).expect(400)).body.error
          .code,
      ).toBe('VALIDATION_FAILED');
      await http()
        .post('/api/v1/auth/login')
        .set('content-type', 'application/x-ndjson')
        .send('{"email":"a"}')
        .expect(415);
    });
  });

  describe('list and search', () => {
    beforeAll(async () => {
      await importAndWait({
        products: [
          product(801, { title: 'Walnut Bookshelf', vendor: 'Shelfmakers', tags: ['Walnut'] }),
          product(802, { title: "Kids' Bunk Bed", vendor: 'Shelfmakers', product_type: 'Beds' }),
          product(803, { title: '100% Cotton Sheets', vendor: 'Linen Co', product_type: 'Bedding' }),
        ],
      });
    });

    it('pages with totals, filters and sorts', async () => {
      const page = await http().get('/api/v1/products?limit=2&page=1&sort=id').set(auth).expect(200);
      expect(page.body).toMatchObject({ page: 1, limit: 2 });
      expect(page.body.items).toHaveLength(2);
      expect(page.body.total).toBeGreaterThanOrEqual(8);
      const byVendor = await http()
        .get('/api/v1/products?vendor=Shelfmakers&sort=title&order=desc')
        .set(auth)
        .expect(200);
      expect(byVendor.body.items.map((p: { id: number }) => p.id)).toEqual([801, 802]);
      const byTag = await http().get('/api/v1/products?tag=Walnut').set(auth).expect(200);
      expect(byTag.body.items.map((p: { id: number }) => p.id)).toEqual([801]);
      await http().get('/api/v1/products?limit=201').set(auth).expect(400);
      await http().get('/api/v1/products?minConfidence=2').set(auth).expect(400);
    });

    it('searches full text, safely with quotes, %, apostrophes and semicolons', async () => {
      const bookshelf = await http().get('/api/v1/products?q=bookshelf').set(auth).expect(200);
      expect(bookshelf.body.items.map((p: { id: number }) => p.id)).toEqual([801]);
      for (const q of ['"bunk bed"', '100%', "kids'", "'; DROP TABLE products; --", 'a -b or "c']) {
        const res = await http().get('/api/v1/products').query({ q }).set(auth).expect(200);
        expect(Array.isArray(res.body.items)).toBe(true);
      }
      const phrase = await http().get('/api/v1/products').query({ q: '"bunk bed"' }).set(auth).expect(200);
      expect(phrase.body.items.map((p: { id: number }) => p.id)).toEqual([802]);
    });

    it('walks keyset pages without gaps or repeats', async () => {
      const all = await http().get('/api/v1/products?limit=200&sort=title').set(auth).expect(200);
      const seen: number[] = [];
      let cursor = '';
      for (let i = 0; i < 50; i++) {
        const res = await http()
          .get('/api/v1/products')
          .query({ cursor, limit: 3, sort: 'title' })
          .set(auth)
          .expect(200);
        seen.push(...res.body.items.map((p: { id: number }) => p.id));
        if (res.body.nextCursor === null) break;
        cursor = res.body.nextCursor as string;
      }
      expect(seen).toEqual(all.body.items.map((p: { id: number }) => p.id));
      const bad = await http().get('/api/v1/products?cursor=abc').set(auth).expect(400);
      expect(bad.body.error.code).toBe('INVALID_CURSOR');
    });
  });

  describe('edits', () => {
    beforeAll(async () => {
      await importAndWait({ products: [product(901), product(902)] });
    });

    it('needs If-Match (428), refuses a stale one (412), sanitises HTML, records changes and audit in one go', async () => {
      const missing = await http().patch('/api/v1/products/901').set(auth).send({ title: 'X' }).expect(428);
      expect(missing.body.error.code).toBe('IF_MATCH_REQUIRED');
      const stale = await http()
        .patch('/api/v1/products/901')
        .set(auth)
        .set('if-match', '"v7"')
        .send({ title: 'X' })
        .expect(412);
      expect(stale.body.error.code).toBe('VERSION_MISMATCH');

      const res = await http()
        .patch('/api/v1/products/901')
        .set(auth)
        .set('if-match', '"v1"')
        .send({
          bodyHtml: '<p>Safe</p><script>alert(1)</script><img src=x onerror=alert(1)>',
          tags: ['New', 'new', ' Other '],
        })
        .expect(200);
      expect(res.headers.etag).toBe('"v2"');
      expect(res.body.bodyHtml).toBe('<p>Safe</p><img src="x" />');
      expect(res.body.tags).toEqual(['New', 'Other']);

      const changes = await http().get('/api/v1/changes?productId=901&source=user').set(auth).expect(200);
      expect(changes.body.items.map((c: { field: string }) => c.field).sort()).toEqual(['bodyHtml', 'tags']);
      expect(changes.body.items.every((c: { status: string }) => c.status === 'applied')).toBe(true);
      const requestId = res.headers['x-request-id'];
      const events = await app
        .get(DataSource)
        .query<Array<{ action: string; details: { fields: string[] } }>>(
          `SELECT action, details FROM audit_events WHERE request_id = $1`,
          [requestId],
        );
      expect(events).toEqual([{ action: 'product.update', details: { fields: ['bodyHtml', 'tags'] } }]);
      expect(changes.body.items.every((c: { requestId: string }) => c.requestId === requestId)).toBe(true);
    });

    it('refuses unknown and read-only fields and bad values with 400', async () => {
      for (const body of [
        { colour: 'red' },
        { id: 5 },
        { version: 3 },
        { handle: 'x' },
        { title: '' },
        { tags: 'a' },
        {},
        { category: 'Not > A > Path' },
      ]) {
        const res = await http()
          .patch('/api/v1/products/902')
          .set(auth)
          .set('if-match', '"v1"')
          .send(body)
          .expect(400);
        expect(res.body.error.code).toMatch(/VALIDATION_FAILED|NO_FIELDS|UNKNOWN_CATEGORY/);
      }
      await http()
        .patch('/api/v1/products/999999')
        .set(auth)
        .set('if-match', '"v1"')
        .send({ title: 'X' })
        .expect(404);
    });
  });

  describe('review', () => {
    beforeAll(async () => {
      await importAndWait({ products: [product(1001), product(1002)] });
    });

    async function propose(id: number, changes: Record<string, unknown>, confidence?: number) {
      const res = await http()
        .post(`/api/v1/products/${id}/proposals`)
        .set(auth)
        .send({ changes, ...(confidence === undefined ? {} : { confidence }) })
        .expect(201);
      return res.body.items as Array<{ id: string; field: string; status: string }>;
    }

    it('proposals stay off the live product until approved; approve applies, reject closes, revert restores', async () => {
      const [seo] = await propose(1001, { seoTitle: 'Oak Dining Table | Solid Wood' }, 0.4);
      const [title] = await propose(1001, { title: 'Solid Oak Dining Table' }, 0.9);
      let live = await http().get('/api/v1/products/1001').set(auth).expect(200);
      expect(live.body.seoTitle).toBeNull();
      expect(live.body.pendingProposals).toHaveLength(2);

      const queue = await http().get('/api/v1/review-queue').set(auth).expect(200);
      expect(queue.body.items[0]).toMatchObject({ productId: 1001, proposals: 2, minConfidence: 0.4 });

      const approved = await http().post(`/api/v1/changes/${seo.id}/approve`).set(auth).expect(200);
      expect(approved.body).toMatchObject({ status: 'applied', reviewer: { label: TEST_ADMIN.email } });
      const rejected = await http()
        .post(`/api/v1/changes/${title.id}/reject`)
        .set(auth)
        .send({ comment: 'too long' })
        .expect(200);
      expect(rejected.body).toMatchObject({ status: 'rejected', comment: 'too long' });
      await http().post(`/api/v1/changes/${title.id}/approve`).set(auth).expect(409);
      live = await http().get('/api/v1/products/1001').set(auth).expect(200);
      expect(live.body).toMatchObject({
        seoTitle: 'Oak Dining Table | Solid Wood',
        title: 'Oak Dining Table 1001',
        version: 2,
      });

      const reverted = await http().post(`/api/v1/changes/${seo.id}/revert`).set(auth).expect(200);
      expect(reverted.body).toMatchObject({ status: 'applied', revertsChangeId: seo.id, newValue: null });
      const original = await http().get(`/api/v1/changes/${seo.id}`).set(auth).expect(200);
      expect(original.body.status).toBe('reverted');
      live = await http().get('/api/v1/products/1001').set(auth).expect(200);
      expect(live.body.seoTitle).toBeNull();

      const events = await app
        .get(DataSource)
        .query<Array<{ action: string }>>(
          `SELECT action FROM audit_events WHERE resource_id = ANY($1) ORDER BY id`,
          [[seo.id, title.id]],
        );
      expect(events.map((e) => e.action)).toEqual([
        'change.approve',
        'change.reject',
        'change.approve',
        'change.revert',
      ]);
    });

    it('approving a proposal whose field moved on is a 409 and changes nothing', async () => {
      const [proposal] = await propose(1002, { vendor: 'Proposed Vendor' });
      const current = await http().get('/api/v1/products/1002').set(auth).expect(200);
      await http()
        .patch('/api/v1/products/1002')
        .set(auth)
        .set('if-match', current.headers.etag)
        .send({ vendor: 'Edited Vendor' })
        .expect(200);
      const conflict = await http().post(`/api/v1/changes/${proposal.id}/approve`).set(auth).expect(409);
      expect(conflict.body.error.code).toBe('CHANGE_CONFLICT');
      const after = await http().get('/api/v1/products/1002').set(auth).expect(200);
      expect(after.body.vendor).toBe('Edited Vendor');
      expect((await http().get(`/api/v1/changes/${proposal.id}`).set(auth).expect(200)).body.status).toBe(
        'proposed',
      );
    });

    it('bulk-approves with a result per change', async () => {
      const [a] = await propose(1002, { seoDescription: 'A fine table' });
      const [b] = await propose(1002, { seoKeywords: ['oak', 'table'] });
      const res = await http()
        .post('/api/v1/changes/bulk')
        .set(auth)
        .send({ action: 'approve', ids: [a.id, b.id, '00000000-0000-4000-8000-000000000000'] })
        .expect(200);
      expect(res.body).toMatchObject({ succeeded: 2, failed: 1 });
      expect(res.body.items[2]).toMatchObject({ ok: false, error: { code: 'CHANGE_NOT_FOUND' } });
      await http().post('/api/v1/changes/bulk').set(auth).send({ action: 'approve' }).expect(400);
    });
  });

  it('rebuilds the search column for another CATALOG_FTS_CONFIG at the next start', async () => {
    await t.close();
    t = await startTestApp(db, { CATALOG_FTS_CONFIG: 'simple' });
    app = t.app;
    const [{ expr }] = await app.get(DataSource).query<Array<{ expr: string }>>(
      `SELECT pg_get_expr(d.adbin, d.adrelid) AS expr FROM pg_attrdef d
          JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
          WHERE d.adrelid = 'products'::regclass AND a.attname = 'search'`,
    );
    expect(expr).toContain("'simple'::regconfig");
    auth = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
    // 'simple' does not stem: the plural no longer finds the singular.
    const plural = await http().get('/api/v1/products').query({ q: 'bookshelves' }).set(auth).expect(200);
    expect(plural.body.items).toEqual([]);
    const exact = await http().get('/api/v1/products').query({ q: 'bookshelf' }).set(auth).expect(200);
    expect(exact.body.items.map((p: { id: number }) => p.id)).toEqual([801]);
  });
});
