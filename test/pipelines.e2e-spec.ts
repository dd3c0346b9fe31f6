import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { get as httpGet } from 'node:http';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { CatalogImporter } from '../src/catalog/import/catalog-importer';
import { RequestContext } from '../src/common/request-context';
import { bearer, createUser, signIn } from './support/auth';
import { StubOllama } from './support/stub-ollama';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

/** The acceptance run is 500 products on a PostgreSQL server, fewer on the embedded database. */
const LARGE_RUN = TEST_DATABASE_URL ? 500 : 60;

interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

interface RunView {
  id: string;
  status: string;
  stopReason: string | null;
  total: number;
  counts: { pending: number; running: number; succeeded: number; failed: number; cancelled: number };
  tokens: { in: number; out: number };
}

describe('pipeline runs', () => {
  let db: TestDatabase;
  let stub: StubOllama;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: { Authorization: string };
  let token: string;
  const http = () => request(app.getHttpServer());

  async function seed(count: number, offset: number): Promise<number[]> {
    const ids = Array.from({ length: count }, (_, i) => 90_000 + offset + i);
    await app.get(RequestContext).run(async () => {
      for (let start = 0; start < ids.length; start += 250) {
        await app.get(CatalogImporter).importBatch(
          ids.slice(start, start + 250).map((id, index) => ({
            position: start + index + 1,
            value: {
              id,
              title: `Walnut Floor Lamp ${id}`,
              handle: `walnut-floor-lamp-${id}`,
              body_html: '<p>A lamp.</p>',
              vendor: 'Lumen',
              product_type: 'Lighting/Lamps/Floor Lamps',
              tags: ['Lamp', 'Walnut'],
            },
          })),
        );
      }
    });
    return ids;
  }

  async function startRun(body: Record<string, unknown>): Promise<string> {
    const res = await http().post('/api/v1/pipeline-runs').set(admin).send(body).expect(202);
    expect(res.body).toMatchObject({ status: 'queued' });
    expect(res.headers.location).toBe(`/api/v1/pipeline-runs/${res.body.id}`);
    return res.body.id as string;
  }

  async function waitFor(id: string, done: (run: RunView) => boolean, timeoutMs = 120_000): Promise<RunView> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const run = (await http().get(`/api/v1/pipeline-runs/${id}`).set(admin).expect(200)).body as RunView;
      const { pending, running, succeeded, failed, cancelled } = run.counts;
      expect(pending + running + succeeded + failed + cancelled).toBe(run.total);
      if (done(run)) return run;
      if (Date.now() > until)
        throw new Error(`run ${id} is still ${run.status}: ${JSON.stringify(run.counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const finished = (run: RunView) =>
    ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(run.status) &&
    run.counts.running === 0;

  /** Reads the run's event stream until `done` (or `stopAfter` events), with an optional Last-Event-ID. */
  function readEvents(id: string, lastEventId?: string, stopAfter = Infinity): Promise<SseEvent[]> {
    return new Promise((resolve, reject) => {
      const events: SseEvent[] = [];
      const req = httpGet(
        `${t.baseUrl}/api/v1/pipeline-runs/${id}/events`,
        {
          headers: {
            authorization: `Bearer ${token}`,
            ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
          },
        },
        (res) => {
          expect(res.statusCode).toBe(200);
          expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) !== -1) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              // Comments (heartbeats) and the reconnection delay (`retry:`) dispatch no event.
              if (block.startsWith(':') || block.startsWith('retry:')) continue;
              const event: SseEvent = { event: 'message', data: {} };
              for (const line of block.split('\n')) {
                const [field, ...rest] = line.split(': ');
                const value = rest.join(': ');
                if (field === 'id') event.id = value;
                else if (field === 'event') event.event = value;
                else if (field === 'data') event.data = JSON.parse(value) as Record<string, unknown>;
              }
              events.push(event);
              if (event.event === 'done' || events.length >= stopAfter) {
                req.destroy();
                resolve(events);
                return;
              }
            }
          });
          res.on('end', () => resolve(events));
        },
      );
      req.on('error', (error) => (events.length > 0 ? resolve(events) : reject(error)));
    });
  }

  beforeAll(async () => {
    stub = await StubOllama.start();
    db = await provisionTestDatabase();
    t = await startTestApp(
      db,
      {
        OLLAMA_URL: stub.url,
        LLM_DEFAULT_MODEL: 'stub-small:latest',
        PIPELINE_ITEM_TIMEOUT_MS: '5000',
        PIPELINE_DEFAULT_CONCURRENCY: '8',
      },
      { listen: true },
    );
    app = t.app;
    token = (await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken;
    admin = bearer(token);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await stub?.stop();
  });

  it(`runs ${LARGE_RUN} products with 10% failures to completed_with_errors, with exact counts and reasons`, async () => {
    const ids = await seed(LARGE_RUN, 0);
    stub.reset();
    stub.onChat = (call) => (call.index % 10 === 3 ? 'schema-violating' : undefined);
    const id = await startRun({ task: 'meta_optimization', selection: { productIds: ids }, concurrency: 16 });
    const run = await waitFor(id, finished);
    expect(run.status).toBe('completed_with_errors');
    expect(run.counts).toEqual({
      pending: 0,
      running: 0,
      succeeded: LARGE_RUN * 0.9,
      failed: LARGE_RUN * 0.1,
      cancelled: 0,
    });
    expect(run.tokens.in).toBeGreaterThan(0);
    const failed = await http()
      .get(`/api/v1/pipeline-runs/${id}/items?status=failed&limit=500`)
      .set(admin)
      .expect(200);
    expect(failed.body.total).toBe(LARGE_RUN * 0.1);
    for (const item of failed.body.items as Array<{ error: string; changeIds: string[] }>) {
      expect(item.error).toMatch(/^invalid_output: /);
      expect(item.changeIds).toEqual([]);
    }
    const proposals = await http().get(`/api/v1/changes?runId=${id}&limit=1`).set(admin).expect(200);
    expect(proposals.body.total).toBe(LARGE_RUN * 0.9 * 3);
    // Every succeeded item recorded once, with one set of proposals.
    const [{ duplicates }] = await app.get(DataSource).query<Array<{ duplicates: number }>>(
      `SELECT count(*)::int AS duplicates FROM (SELECT item_id, field FROM changes WHERE run_id = $1
          GROUP BY item_id, field HAVING count(*) > 1) d`,
      [id],
    );
    expect(duplicates).toBe(0);
    // The live products are untouched until a reviewer approves.
    const product = await http().get(`/api/v1/products/${ids[0]}`).set(admin).expect(200);
    expect(product.body.seoTitle).toBeNull();
  }, 180_000);

  it('streams progress over SSE: non-decreasing finished counts, a final done, and gapless resume', async () => {
    const ids = await seed(20, 10_000);
    stub.reset();
    stub.latencyMs = 30;
    const id = await startRun({ task: 'tag_optimization', selection: { productIds: ids }, concurrency: 2 });
    const events = await readEvents(id);
    stub.latencyMs = 0;
    expect(events[0].event).toBe('snapshot');
    expect(events.at(-1)?.event).toBe('done');
    let finishedCount = -1;
    for (const event of events.filter((e) => e.event === 'progress')) {
      const counts = event.data.counts as RunView['counts'];
      const now = counts.succeeded + counts.failed + counts.cancelled;
      expect(now).toBeGreaterThanOrEqual(finishedCount);
      finishedCount = now;
    }
    const itemIds = events.filter((e) => e.event === 'item').map((e) => e.id as string);
    expect(new Set(itemIds).size).toBe(itemIds.length);
    // Resume after the fifth item event: every item change after it, each once, in order, and
    // nothing at or before it. (Events carry an item's state when sent, so an item that changed
    // again later shows up once more, with its newer state.)
    const cursor = itemIds[4];
    const resumed = await readEvents(id, cursor);
    const resumedItems = resumed.filter((e) => e.event === 'item');
    const resumedIds = resumedItems.map((e) => BigInt(e.id as string));
    expect(resumedIds.every((value) => value > BigInt(cursor))).toBe(true);
    expect([...resumedIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(resumedIds);
    const changedAfter = await app
      .get(DataSource)
      .query<Array<{ id: string }>>(
        'SELECT id FROM pipeline_items WHERE run_id = $1 AND event_seq > $2 ORDER BY event_seq',
        [id, cursor],
      );
    expect(resumedItems.map((e) => e.data.id)).toEqual(changedAfter.map((row) => row.id));
    expect(resumedItems.every((e) => e.data.status === 'succeeded')).toBe(true);
    expect(resumed.at(-1)?.event).toBe('done');
  }, 120_000);

  it('cancels: no item starts afterwards and the counts add up; a finished run cannot be cancelled', async () => {
    const ids = await seed(30, 20_000);
    stub.reset();
    stub.latencyMs = 150;
    const id = await startRun({ task: 'keyword_analysis', selection: { productIds: ids }, concurrency: 2 });
    await waitFor(id, (run) => run.counts.succeeded >= 2);
    const cancelled = await http().post(`/api/v1/pipeline-runs/${id}/cancel`).set(admin).expect(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', stopReason: 'cancelled_by_user' });
    const run = await waitFor(id, finished);
    stub.latencyMs = 0;
    expect(run.counts.cancelled).toBeGreaterThan(0);
    expect(run.counts.succeeded + run.counts.cancelled).toBe(30);
    const [{ late }] = await app.get(DataSource).query<Array<{ late: number }>>(
      `SELECT count(*)::int AS late FROM pipeline_items i JOIN pipeline_runs r ON r.id = i.run_id
          WHERE r.id = $1 AND i.started_at > r.finished_at`,
      [id],
    );
    expect(late).toBe(0);
    expect(
      (await http().post(`/api/v1/pipeline-runs/${id}/cancel`).set(admin).expect(409)).body.error.code,
    ).toBe('RUN_FINISHED');
  }, 120_000);

  it('retries failed items on the same run, which ends again', async () => {
    const ids = await seed(10, 30_000);
    stub.reset();
    stub.chatReply = 'malformed';
    const id = await startRun({ task: 'meta_optimization', selection: { productIds: ids } });
    expect((await waitFor(id, finished)).status).toBe('failed');
    stub.chatReply = 'valid';
    const retried = await http().post(`/api/v1/pipeline-runs/${id}/retry`).set(admin).expect(202);
    expect(retried.body).toEqual({ id, status: 'running', retried: 10 });
    const run = await waitFor(id, finished);
    expect(run.status).toBe('completed');
    expect(run.counts.succeeded).toBe(10);
    await http().post(`/api/v1/pipeline-runs/${id}/retry`).set(admin).expect(409);
  }, 120_000);

  it('proposes categories deterministically, and honours dryRun and Idempotency-Key', async () => {
    const ids = await seed(5, 40_000);
    const dry = await http()
      .post('/api/v1/pipeline-runs')
      .set(admin)
      .send({ task: 'category_normalization', selection: { productIds: ids }, dryRun: true })
      .expect(200);
    expect(dry.body).toEqual({ total: 5, model: null, estimatedCalls: 0 });
    const body = { task: 'category_normalization', selection: { productIds: ids } };
    const first = await http()
      .post('/api/v1/pipeline-runs')
      .set(admin)
      .set('idempotency-key', 'cat-1')
      .send(body)
      .expect(202);
    const again = await http()
      .post('/api/v1/pipeline-runs')
      .set(admin)
      .set('idempotency-key', 'cat-1')
      .send(body)
      .expect(202);
    expect(again.body).toEqual(first.body);
    const run = await waitFor(first.body.id as string, finished);
    expect(run.status).toBe('completed');
    const changes = await http().get(`/api/v1/changes?runId=${first.body.id}`).set(admin).expect(200);
    expect(changes.body.total).toBe(5);
    expect(changes.body.items[0]).toMatchObject({
      field: 'category',
      source: 'pipeline',
      status: 'proposed',
    });
    expect(changes.body.items[0].newValue).toMatch(/Lamps/);
  }, 60_000);

  it('retries transient provider failures within the item, and fails invalid output at once', async () => {
    const ids = await seed(2, 60_000);
    stub.reset();
    stub.queueChat({ status: 500 }, { status: 429, retryAfter: '0' }, 'valid', 'malformed');
    const id = await startRun({ task: 'meta_optimization', selection: { productIds: ids }, concurrency: 1 });
    const run = await waitFor(id, finished);
    expect(run.counts).toMatchObject({ succeeded: 1, failed: 1 });
    expect(stub.chatCalls.length).toBe(4);
    const items = await http().get(`/api/v1/pipeline-runs/${id}/items`).set(admin).expect(200);
    const failed = (items.body.items as Array<{ status: string; error: string }>).find(
      (item) => item.status === 'failed',
    );
    expect(failed?.error).toMatch(/^invalid_output: the model did not answer with JSON/);
  });

  it('selects by filter and skips products already processed by the task', async () => {
    const ids = await seed(3, 70_000);
    stub.reset();
    const first = await startRun({ task: 'schema_analysis', selection: { productIds: [ids[0]] } });
    expect((await waitFor(first, finished)).status).toBe('completed');
    const dry = await http()
      .post('/api/v1/pipeline-runs')
      .set(admin)
      .send({ task: 'schema_analysis', selection: { filter: { q: 'lamp', tag: 'Walnut' } }, dryRun: true })
      .expect(200);
    expect(dry.body.total).toBeGreaterThanOrEqual(3);
    const unprocessed = await http()
      .post('/api/v1/pipeline-runs')
      .set(admin)
      .send({ task: 'schema_analysis', selection: { unprocessed: true }, dryRun: true })
      .expect(200);
    expect(unprocessed.body.total).toBe(dry.body.total - 1);
    expect(unprocessed.body.model).toBe('stub-small:latest');
  });

  it('stops a run whose token budget is used up', async () => {
    const ids = await seed(12, 80_000);
    stub.reset();
    stub.latencyMs = 50;
    const id = await startRun({
      task: 'tag_optimization',
      selection: { productIds: ids },
      concurrency: 1,
      maxTokens: 1,
    });
    const run = await waitFor(id, finished);
    stub.latencyMs = 0;
    expect(run).toMatchObject({ status: 'cancelled', stopReason: 'token_budget_exhausted' });
    expect(run.counts.succeeded).toBeGreaterThanOrEqual(1);
    expect(run.counts.cancelled).toBeGreaterThan(0);
    expect(run.counts.succeeded + run.counts.cancelled).toBe(12);
    expect(run.tokens.in + run.tokens.out).toBeGreaterThan(0);
  });

  it('refuses bad input with 400 and details, and needs pipelines:run', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ task: 'world_domination', selection: { all: true } }, 'VALIDATION_FAILED'],
      [{ task: 'meta_optimization', selection: { filter: { vendor: 'No Such Vendor' } } }, 'EMPTY_SELECTION'],
      [{ task: 'meta_optimization', selection: { all: true }, concurrency: 0 }, 'VALIDATION_FAILED'],
      [{ task: 'meta_optimization', selection: { all: true }, concurrency: 10_000 }, 'VALIDATION_FAILED'],
      [{ task: 'meta_optimization', selection: { productIds: [1, 2] } }, 'UNKNOWN_PRODUCTS'],
      [{ task: 'meta_optimization', selection: { all: true, unprocessed: true } }, 'VALIDATION_FAILED'],
      [{ task: 'meta_optimization', selection: {} }, 'VALIDATION_FAILED'],
    ];
    for (const [body, code] of cases) {
      const res = await http().post('/api/v1/pipeline-runs').set(admin).send(body).expect(400);
      expect({ body, code: res.body.error.code }).toEqual({ body, code });
      expect(Array.isArray(res.body.error.details)).toBe(true);
    }
    const viewer = await createUser(app, ['viewer']);
    const viewerAuth = bearer((await signIn(app, viewer.email, viewer.password)).accessToken);
    await http()
      .post('/api/v1/pipeline-runs')
      .set(viewerAuth)
      .send({ task: 'meta_optimization', selection: { all: true } })
      .expect(403);
    await http().get('/api/v1/pipeline-runs').set(viewerAuth).expect(200);
  });

  (TEST_DATABASE_URL ? it : it.skip)(
    'shares a run between two instances on one database, recording every item once',
    async () => {
      const second = await startTestApp(db, {
        OLLAMA_URL: stub.url,
        LLM_DEFAULT_MODEL: 'stub-small:latest',
        PIPELINE_ITEM_TIMEOUT_MS: '5000',
      });
      try {
        const ids = await seed(120, 50_000);
        stub.reset();
        stub.latencyMs = 20;
        const seen = new Map<string, number>();
        stub.onChat = (call) => {
          const product = /walnut-floor-lamp-(\d+)|Walnut Floor Lamp (\d+)/.exec(call.user);
          const key = product?.[1] ?? product?.[2] ?? call.user;
          seen.set(key, (seen.get(key) ?? 0) + 1);
          return undefined;
        };
        const id = await startRun({
          task: 'meta_optimization',
          selection: { productIds: ids },
          concurrency: 4,
        });
        const run = await waitFor(id, finished);
        stub.latencyMs = 0;
        expect(run).toMatchObject({ status: 'completed', counts: { succeeded: 120, failed: 0 } });
        const [{ items, proposals }] = await app
          .get(DataSource)
          .query<Array<{ items: number; proposals: number }>>(
            `SELECT count(DISTINCT item_id)::int AS items, count(*)::int AS proposals FROM changes WHERE run_id = $1`,
            [id],
          );
        expect({ items, proposals }).toEqual({ items: 120, proposals: 360 });
        expect(stub.chatCalls.length).toBe(120);
        expect([...seen.values()].every((count) => count === 1)).toBe(true);
      } finally {
        await second.close();
      }
    },
    120_000,
  );

  (TEST_DATABASE_URL ? it : it.skip)(
    'finishes a run after the instance working on it dies, recording every item once',
    async () => {
      const own = await provisionTestDatabase();
      const env = {
        OLLAMA_URL: stub.url,
        LLM_DEFAULT_MODEL: 'stub-small:latest',
        PIPELINE_ITEM_TIMEOUT_MS: '20000',
      };
      let first: TestApp | undefined = await startTestApp(own, env);
      let second: TestApp | undefined;
      try {
        const firstAuth = bearer(
          (await signIn(first.app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken,
        );
        const ids = Array.from({ length: 12 }, (_, i) => 95_000 + i);
        await first.app.get(RequestContext).run(() =>
          first!.app.get(CatalogImporter).importBatch(
            ids.map((id, index) => ({
              position: index + 1,
              value: { id, title: `Oak Shelf ${id}`, handle: `oak-shelf-${id}`, tags: ['Oak'] },
            })),
          ),
        );
        stub.reset();
        // The first instance's calls hang: it dies with four items in flight.
        stub.latencyMs = 60_000;
        const started = await request(first.app.getHttpServer())
          .post('/api/v1/pipeline-runs')
          .set(firstAuth)
          .send({ task: 'meta_optimization', selection: { productIds: ids }, concurrency: 4 })
          .expect(202);
        const runId = started.body.id as string;
        const dataSource = first.app.get(DataSource);
        for (let i = 0; i < 100; i++) {
          const [{ running }] = await dataSource.query<Array<{ running: number }>>(
            `SELECT count(*)::int AS running FROM pipeline_items WHERE run_id = $1 AND status = 'running'`,
            [runId],
          );
          if (running === 4) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await first.close();
        first = undefined;
        stub.latencyMs = 0;

        second = await startTestApp(own, env);
        const secondAuth = bearer(
          (await signIn(second.app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken,
        );
        let run: RunView | undefined;
        for (let i = 0; i < 900; i++) {
          run = (
            await request(second.app.getHttpServer())
              .get(`/api/v1/pipeline-runs/${runId}`)
              .set(secondAuth)
              .expect(200)
          ).body as RunView;
          if (finished(run)) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(run).toMatchObject({
          status: 'completed',
          counts: { succeeded: 12, failed: 0, cancelled: 0 },
        });
        const rows = await second.app.get(DataSource).query<Array<{ attempts: number; proposals: number }>>(
          `SELECT i.attempts, (SELECT count(*)::int FROM changes c WHERE c.item_id = i.id) AS proposals
              FROM pipeline_items i WHERE i.run_id = $1`,
          [runId],
        );
        expect(rows.every((row) => row.proposals === 3)).toBe(true);
        expect(rows.filter((row) => row.attempts === 2)).toHaveLength(4);
      } finally {
        await first?.close();
        await second?.close();
        await own.drop();
      }
    },
    180_000,
  );
});
