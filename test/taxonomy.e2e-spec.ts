import request from 'supertest';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

describe('taxonomy over HTTP', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let server: ReturnType<TestApp['app']['getHttpServer']>;
  let viewer: Record<string, string>;
  let nobody: Record<string, string>;

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database);
    server = testApp.app.getHttpServer();
    const reader = await createUser(testApp.app, ['viewer']);
    viewer = bearer((await signIn(testApp.app, reader.email, reader.password)).accessToken);
    const roleless = await createUser(testApp.app, []);
    nobody = bearer((await signIn(testApp.app, roleless.email, roleless.password)).accessToken);
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  const get = (path: string, headers: Record<string, string> = viewer) =>
    request(server).get(path).set(headers);

  it('lists the 21 top-level categories sorted by name, with child counts', async () => {
    const res = await get('/api/v1/taxonomy').expect(200);
    const items = res.body.items as Array<{ id: string; name: string; childCount: number }>;
    expect(items).toHaveLength(21);
    expect(items[0]).toEqual({ id: 'Animals & Pet Supplies', name: 'Animals & Pet Supplies', childCount: 2 });
    const names = items.map((item) => item.name);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b, 'en')));
    expect(items.find((item) => item.name === 'Home & Garden')?.childCount).toBeGreaterThan(10);
  });

  it('answers the tree under a root, expanded to the requested depth', async () => {
    const res = await get('/api/v1/taxonomy/tree')
      .query({ root: 'Home & Garden > Lighting', depth: 1 })
      .expect(200);
    expect(res.body).toMatchObject({ id: 'Home & Garden > Lighting', name: 'Lighting' });
    const children = res.body.children as Array<Record<string, unknown>>;
    expect(res.body.childCount).toBe(children.length);
    expect(children).toContainEqual({ id: 'Home & Garden > Lighting > Lamps', name: 'Lamps', childCount: 0 });
    expect(children).toContainEqual({
      id: 'Home & Garden > Lighting > Light Bulbs',
      name: 'Light Bulbs',
      childCount: 4,
    });
    for (const child of children) expect(child.children).toBeUndefined();

    const deeper = await get('/api/v1/taxonomy/tree')
      .query({ root: 'Home & Garden > Lighting', depth: 2 })
      .expect(200);
    const bulbs = (deeper.body.children as Array<{ name: string; children?: unknown[] }>).find(
      (child) => child.name === 'Light Bulbs',
    );
    expect(bulbs?.children).toHaveLength(4);
  });

  it('answers a virtual root over the top-level categories by default (depth 2)', async () => {
    const res = await get('/api/v1/taxonomy/tree').expect(200);
    expect(res.body).toMatchObject({ id: '', name: '', childCount: 21 });
    const furniture = (
      res.body.children as Array<{ name: string; children: Array<Record<string, unknown>> }>
    ).find((child) => child.name === 'Furniture');
    expect(furniture?.children.length).toBeGreaterThan(5);
    for (const grandchild of furniture!.children) {
      expect(grandchild.children).toBeUndefined();
      expect(typeof grandchild.childCount).toBe('number');
    }
  });

  it('answers 404 TAXONOMY_NODE_NOT_FOUND for an unknown root', async () => {
    const res = await get('/api/v1/taxonomy/tree')
      .query({ root: 'Home & Garden > Flying Carpets' })
      .expect(404);
    expect(res.body.error).toMatchObject({ code: 'TAXONOMY_NODE_NOT_FOUND', requestId: expect.any(String) });
  });

  it('searches best first with scores', async () => {
    const res = await get('/api/v1/taxonomy/search').query({ q: 'Lámps', limit: 5 }).expect(200);
    const items = res.body.items as Array<{ id: string; name: string; score: number }>;
    expect(items).toHaveLength(5);
    expect(items[0]).toEqual({ id: 'Home & Garden > Lighting > Lamps', name: 'Lamps', score: 1 });
    for (let i = 1; i < items.length; i++) expect(items[i - 1].score).toBeGreaterThanOrEqual(items[i].score);
    const defaults = await get('/api/v1/taxonomy/search').query({ q: 'accessories' }).expect(200);
    expect(defaults.body.items).toHaveLength(20);
  });

  it('treats quotes, percent signs and semicolons as plain text', async () => {
    for (const q of [`'; DROP TABLE users; --`, '100% "cotton"', '%', '_%_', '\\', '<script>']) {
      const res = await get('/api/v1/taxonomy/search').query({ q }).expect(200);
      expect(Array.isArray(res.body.items)).toBe(true);
    }
    const punctuation = await get('/api/v1/taxonomy/search').query({ q: `'";%--` }).expect(200);
    expect(punctuation.body.items).toEqual([]);
    const raw = await get('/api/v1/taxonomy/search?q=100%25%3B%22lamp%22').expect(200);
    expect(raw.body.items[0].id).toBe('Home & Garden > Lighting > Lamps');
  });

  it.each([
    ['no q', '/api/v1/taxonomy/search', 'q'],
    ['an empty q', '/api/v1/taxonomy/search?q=', 'q'],
    ['a q of 201 characters', `/api/v1/taxonomy/search?q=${'a'.repeat(201)}`, 'q'],
    ['a repeated q', '/api/v1/taxonomy/search?q=lamp&q=sofa', 'q'],
    ['a limit above the cap', '/api/v1/taxonomy/search?q=lamp&limit=51', 'limit'],
    ['a limit of 0', '/api/v1/taxonomy/search?q=lamp&limit=0', 'limit'],
    ['a limit that is no number', '/api/v1/taxonomy/search?q=lamp&limit=ten', 'limit'],
    ['an unknown search parameter', '/api/v1/taxonomy/search?q=lamp&sort=name', 'sort'],
    ['a depth of 0', '/api/v1/taxonomy/tree?depth=0', 'depth'],
    ['a depth above 10', '/api/v1/taxonomy/tree?depth=11', 'depth'],
    ['a fractional depth', '/api/v1/taxonomy/tree?depth=1.5', 'depth'],
    ['an empty root', '/api/v1/taxonomy/tree?root=', 'root'],
    ['a root of 501 characters', `/api/v1/taxonomy/tree?root=${'x'.repeat(501)}`, 'root'],
  ])('answers 400 VALIDATION_FAILED to %s', async (_label, path, field) => {
    const res = await get(path).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ field }));
  });

  it('reads a malformed percent escape as plain text', async () => {
    const res = await get('/api/v1/taxonomy/search?q=lamps%').expect(200);
    expect(res.body.items[0].id).toBe('Home & Garden > Lighting > Lamps');
  });

  it('requires taxonomy:read on every route', async () => {
    for (const path of ['/api/v1/taxonomy', '/api/v1/taxonomy/tree', '/api/v1/taxonomy/search?q=lamp']) {
      const denied = await get(path, nobody).expect(403);
      expect(denied.body.error.code).toBe('PERMISSION_DENIED');
      await request(server).get(path).expect(401);
    }
  });
});
