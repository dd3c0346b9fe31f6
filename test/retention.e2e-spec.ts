import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { CatalogImporter } from '../src/catalog/import/catalog-importer';
import { RequestContext } from '../src/common/request-context';
import { PipelineRunsRepository } from '../src/pipelines/pipeline-runs.repository';
import { RetentionService } from '../src/retention/retention.service';
import { bearer, signIn } from './support/auth';
import { StubOllama } from './support/stub-ollama';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const DAY_MS = 24 * 60 * 60 * 1000;

interface RunView {
  id: string;
  status: string;
  total: number;
  counts: { pending: number; running: number; succeeded: number; failed: number; cancelled: number };
  tokens: { in: number; out: number };
}

/**
 * Retention against a real database: the same old rows are first left alone by a service without
 * retention settings, then pruned by one with CHANGES_ and PIPELINE_ITEMS_RETENTION_DAYS=30.
 */
describe('retention (CHANGES_RETENTION_DAYS, PIPELINE_ITEMS_RETENTION_DAYS)', () => {
  let db: TestDatabase;
  let stub: StubOllama;
  let t: TestApp | undefined;
  let app: NestFastifyApplication;
  let admin: { Authorization: string };

  const http = () => request(app.getHttpServer());
  const sql = <T = unknown>(text: string, params: unknown[] = []) =>
    app.get(DataSource).query<T>(text, params);

  async function boot(env: Record<string, string>): Promise<void> {
    await t?.close();
    t = await startTestApp(db, {
      OLLAMA_URL: stub.url,
      LLM_DEFAULT_MODEL: 'stub-small:latest',
      PIPELINE_ITEM_TIMEOUT_MS: '5000',
      ...env,
    });
    app = t.app;
    admin = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
  }

  const productIds = Array.from({ length: 12 }, (_, i) => 70_000 + i);
  const ids = {
    runOld1: '',
    runOld2: '',
    runRecent: '',
    runActive: '',
  };
  const changes: Record<string, string> = {};

  async function seedProducts(): Promise<void> {
    await app.get(RequestContext).run(() =>
      app.get(CatalogImporter).importBatch(
        productIds.map((id, index) => ({
          position: index + 1,
          value: {
            id,
            title: `Oak Side Table ${id}`,
            handle: `oak-side-table-${id}`,
            body_html: '<p>A table.</p>',
            vendor: 'Grain',
            product_type: 'Furniture/Tables',
            tags: ['Oak'],
          },
        })),
      ),
    );
  }

  async function runToEnd(task: string, products: number[]): Promise<string> {
    const res = await http()
      .post('/api/v1/pipeline-runs')
      .set(admin)
      .send({ task, selection: { productIds: products }, concurrency: 2 })
      .expect(202);
    const id = res.body.id as string;
    const until = Date.now() + 60_000;
    for (;;) {
      const run = (await http().get(`/api/v1/pipeline-runs/${id}`).set(admin).expect(200)).body as RunView;
      if (run.status !== 'queued' && run.status !== 'running' && run.counts.running === 0) return id;
      if (Date.now() > until) throw new Error(`run ${id} did not finish: ${JSON.stringify(run)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Moves a finished run into the past, as if it had started and finished `daysAgo` days ago. */
  async function backdateRun(id: string, daysAgo: number): Promise<void> {
    await sql(
      `UPDATE pipeline_runs SET created_at = created_at - make_interval(days => $2),
          started_at = started_at - make_interval(days => $2), finished_at = finished_at - make_interval(days => $2)
        WHERE id = $1`,
      [id, daysAgo],
    );
  }

  async function insertChange(change: {
    status: 'proposed' | 'applied' | 'rejected' | 'reverted';
    createdDaysAgo: number;
    decidedDaysAgo?: number;
    revertsChangeId?: string;
    productId?: number;
  }): Promise<string> {
    const [row] = await sql<Array<{ id: string }>>(
      `INSERT INTO changes (product_id, field, old_value, new_value, source, status, actor_type, reviewer_id,
          reviewed_at, reverts_change_id, created_at)
        VALUES ($1, 'title', '"Old title"', '"New title"', 'user', $2, 'user', $3,
          CASE WHEN $4::int IS NULL THEN NULL ELSE now() - make_interval(days => $4::int) END, $5,
          now() - make_interval(days => $6))
        RETURNING id`,
      [
        change.productId ?? productIds[11],
        change.status,
        change.decidedDaysAgo === undefined ? null : 'reviewer',
        change.decidedDaysAgo ?? null,
        change.revertsChangeId ?? null,
        change.createdDaysAgo,
      ],
    );
    return row.id;
  }

  async function existingChanges(): Promise<string[]> {
    const wanted = Object.values(changes);
    const rows = await sql<Array<{ id: string }>>('SELECT id FROM changes WHERE id = ANY($1::uuid[])', [
      wanted,
    ]);
    const present = new Set(rows.map((row) => row.id));
    return Object.entries(changes)
      .filter(([, id]) => present.has(id))
      .map(([name]) => name)
      .sort();
  }

  async function itemCount(runId: string): Promise<number> {
    const [{ count }] = await sql<Array<{ count: number }>>(
      'SELECT count(*)::int AS count FROM pipeline_items WHERE run_id = $1',
      [runId],
    );
    return count;
  }

  async function runView(id: string): Promise<RunView> {
    return (await http().get(`/api/v1/pipeline-runs/${id}`).set(admin).expect(200)).body as RunView;
  }

  async function pruneEvents(): Promise<
    Array<{ outcome: string; actorType: string; actorId: string; details: Record<string, unknown> }>
  > {
    return sql(
      `SELECT outcome, actor_type AS "actorType", actor_id AS "actorId", details FROM audit_events
        WHERE action = 'retention.prune' ORDER BY id`,
    );
  }

  beforeAll(async () => {
    stub = await StubOllama.start();
    db = await provisionTestDatabase();
    await boot({});
    await seedProducts();

    // One schema-violating answer per run gives each old run a failed item to (not) retry.
    stub.onChat = (call) => (call.index === 1 ? 'schema-violating' : undefined);
    ids.runOld1 = await runToEnd('meta_optimization', productIds.slice(0, 4));
    stub.reset();
    stub.onChat = (call) => (call.index === 0 ? 'schema-violating' : undefined);
    ids.runOld2 = await runToEnd('tag_optimization', productIds.slice(4, 7));
    stub.reset();
    ids.runRecent = await runToEnd('meta_optimization', productIds.slice(7, 9));
    await backdateRun(ids.runOld1, 200);
    await backdateRun(ids.runOld2, 100);

    // A run still going after 100 days (its pending item has no worker): never pruned.
    const [active] = await sql<Array<{ id: string }>>(
      `INSERT INTO pipeline_runs (task, status, selection, concurrency, total, actor_type, created_at, started_at)
        VALUES ('meta_optimization', 'running', '{"productIds":[]}', 1, 2, 'system',
          now() - interval '100 days', now() - interval '100 days')
        RETURNING id`,
    );
    ids.runActive = active.id;
    await sql(
      `INSERT INTO pipeline_items (run_id, product_id, position, status, tokens_in, tokens_out, finished_at)
        VALUES ($1, $2, 1, 'succeeded', 120, 40, now() - interval '100 days'), ($1, $3, 2, 'pending', 0, 0, NULL)`,
      [ids.runActive, productIds[9], productIds[10]],
    );

    changes.oldApplied = await insertChange({ status: 'applied', createdDaysAgo: 100, decidedDaysAgo: 100 });
    changes.oldRejected = await insertChange({ status: 'rejected', createdDaysAgo: 120, decidedDaysAgo: 95 });
    // An old revert pair: the revert points at the change it undid; both go.
    changes.oldReverted = await insertChange({ status: 'reverted', createdDaysAgo: 300, decidedDaysAgo: 90 });
    changes.oldRevert = await insertChange({
      status: 'applied',
      createdDaysAgo: 90,
      decidedDaysAgo: 90,
      revertsChangeId: changes.oldReverted,
    });
    // A chain whose last revert is recent: the old head stays because a kept row points at it.
    changes.chainHead = await insertChange({ status: 'reverted', createdDaysAgo: 300, decidedDaysAgo: 200 });
    changes.chainMiddle = await insertChange({
      status: 'reverted',
      createdDaysAgo: 200,
      decidedDaysAgo: 3,
      revertsChangeId: changes.chainHead,
    });
    changes.chainTail = await insertChange({
      status: 'applied',
      createdDaysAgo: 3,
      decidedDaysAgo: 3,
      revertsChangeId: changes.chainMiddle,
    });
    changes.oldProposed = await insertChange({ status: 'proposed', createdDaysAgo: 400 });
    changes.lateDecision = await insertChange({ status: 'rejected', createdDaysAgo: 100, decidedDaysAgo: 5 });
    changes.recentApplied = await insertChange({ status: 'applied', createdDaysAgo: 2, decidedDaysAgo: 2 });
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await stub?.stop();
  });

  it('removes nothing and records nothing when neither setting is set', async () => {
    const before = {
      changes: await existingChanges(),
      items: await sql<Array<{ count: number }>>('SELECT count(*)::int AS count FROM pipeline_items'),
      allChanges: await sql<Array<{ count: number }>>('SELECT count(*)::int AS count FROM changes'),
    };
    expect(before.changes).toHaveLength(Object.keys(changes).length);
    expect(await itemCount(ids.runOld1)).toBe(4);

    await expect(app.get(RetentionService).prune({ batchSize: 2 })).resolves.toEqual({});

    expect(await existingChanges()).toEqual(before.changes);
    expect(await sql('SELECT count(*)::int AS count FROM pipeline_items')).toEqual(before.items);
    expect(await sql('SELECT count(*)::int AS count FROM changes')).toEqual(before.allChanges);
    expect(await sql('SELECT 1 FROM pipeline_runs WHERE items_pruned_at IS NOT NULL')).toEqual([]);
    expect(await pruneEvents()).toEqual([]);
    // The daily job is scheduled all the same; it finds nothing to do.
    expect(await sql(`SELECT cron, timezone FROM pgboss.schedule WHERE name = 'retention-prune'`)).toEqual([
      { cron: '30 3 * * *', timezone: 'UTC' },
    ]);
  });

  it('prunes old decided changes and the items of long-finished runs, keeping run counts and tokens', async () => {
    await boot({
      CHANGES_RETENTION_DAYS: '30',
      PIPELINE_ITEMS_RETENTION_DAYS: '30',
      JOBS_ARCHIVE_RETENTION_DAYS: '30',
    });
    const before = {
      runOld1: await runView(ids.runOld1),
      runOld2: await runView(ids.runOld2),
      runRecent: await runView(ids.runRecent),
      runActive: await runView(ids.runActive),
    };
    expect(before.runOld1.counts).toMatchObject({ succeeded: 3, failed: 1 });
    expect(before.runOld1.tokens.in).toBeGreaterThan(0);
    expect(before.runOld2.counts).toMatchObject({ succeeded: 2, failed: 1 });
    expect(before.runActive.counts).toMatchObject({ succeeded: 1, pending: 1 });
    expect(before.runActive.tokens).toEqual({ in: 120, out: 40 });
    const recentItems = await itemCount(ids.runRecent);
    const [{ runs: runRows }] = await sql<Array<{ runs: number }>>(
      'SELECT count(*)::int AS runs FROM pipeline_runs',
    );

    // A prune cut short after marking the oldest run: its stored finals already answer for it, and
    // it can no longer be retried although its failed item is still there.
    const cutoff = new Date(Date.now() - 30 * DAY_MS);
    expect(await app.get(PipelineRunsRepository).markFinishedForItemPruning(cutoff, 1)).toEqual([
      ids.runOld1,
    ]);
    expect(await itemCount(ids.runOld1)).toBe(4);
    expect(await runView(ids.runOld1)).toEqual(before.runOld1);
    const retry = await http().post(`/api/v1/pipeline-runs/${ids.runOld1}/retry`).set(admin).expect(409);
    expect(retry.body.error.code).toBe('NO_FAILED_ITEMS');

    const report = await app.get(RetentionService).prune({ batchSize: 2 });

    expect(report).toEqual({
      changes: { retentionDays: 30, cutoff: expect.any(String), deleted: 4 },
      pipelineItems: { retentionDays: 30, cutoff: expect.any(String), runs: 1, deleted: 7 },
    });
    expect(Date.parse(report.changes!.cutoff)).toBeGreaterThanOrEqual(cutoff.getTime());
    expect(Date.parse(report.changes!.cutoff)).toBeLessThan(cutoff.getTime() + 60_000);

    expect(await existingChanges()).toEqual(
      ['chainHead', 'chainMiddle', 'chainTail', 'oldProposed', 'lateDecision', 'recentApplied'].sort(),
    );
    // The runs' own proposals are pending review: untouched.
    const [{ proposals }] = await sql<Array<{ proposals: number }>>(
      `SELECT count(*)::int AS proposals FROM changes WHERE run_id = $1 AND status = 'proposed'`,
      [ids.runOld1],
    );
    expect(proposals).toBe(9);

    expect(await itemCount(ids.runOld1)).toBe(0);
    expect(await itemCount(ids.runOld2)).toBe(0);
    expect(await itemCount(ids.runRecent)).toBe(recentItems);
    expect(await itemCount(ids.runActive)).toBe(2);
    expect(await sql('SELECT count(*)::int AS runs FROM pipeline_runs')).toEqual([{ runs: runRows }]);
    expect(await runView(ids.runOld1)).toEqual(before.runOld1);
    expect(await runView(ids.runOld2)).toEqual(before.runOld2);
    expect(await runView(ids.runRecent)).toEqual(before.runRecent);
    expect(await runView(ids.runActive)).toEqual({ ...before.runActive, durationMs: expect.any(Number) });
    const list = await http().get('/api/v1/pipeline-runs?limit=100').set(admin).expect(200);
    expect((list.body.items as RunView[]).find((run) => run.id === ids.runOld2)).toEqual(before.runOld2);
    const items = await http().get(`/api/v1/pipeline-runs/${ids.runOld2}/items`).set(admin).expect(200);
    expect(items.body).toMatchObject({ items: [], total: 0 });

    expect(await pruneEvents()).toEqual([
      { outcome: 'success', actorType: 'system', actorId: 'retention', details: report },
    ]);
  });

  it('finds nothing more on the next run, and still records it', async () => {
    const report = await app.get(RetentionService).prune();
    expect(report).toMatchObject({ changes: { deleted: 0 }, pipelineItems: { runs: 0, deleted: 0 } });
    expect(await existingChanges()).toHaveLength(6);
    const events = await pruneEvents();
    expect(events).toHaveLength(2);
    expect(events[1].details).toEqual(report);
  });

  it('has pg-boss delete archived jobs after JOBS_ARCHIVE_RETENTION_DAYS (30 here, not the default 7)', async () => {
    const archived = async (daysAgo: number): Promise<string> => {
      // The archive table copies the job table without its defaults: every required column is given.
      const [row] = await sql<Array<{ id: string }>>(
        `INSERT INTO pgboss.archive (id, name, priority, state, retry_limit, retry_count, retry_delay,
            retry_backoff, start_after, expire_in, created_on, completed_on, keep_until, archived_on)
          VALUES (gen_random_uuid(), 'retention-prune', 0, 'completed', 0, 0, 0, false, now(), interval '1 hour',
            now() - make_interval(days => $1), now() - make_interval(days => $1), now(), now() - make_interval(days => $1))
          RETURNING id`,
        [daysAgo],
      );
      return row.id;
    };
    const within = await archived(20);
    const beyond = await archived(40);
    const present = async (id: string) =>
      (await sql<unknown[]>('SELECT 1 FROM pgboss.archive WHERE id = $1', [id])).length === 1;
    // pg-boss maintains every 15 s (once across instances); give it two chances.
    const until = Date.now() + 40_000;
    while (await present(beyond)) {
      if (Date.now() > until) throw new Error('pg-boss did not delete the job archived 40 days ago');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(await present(within)).toBe(true);
  }, 60_000);
});
