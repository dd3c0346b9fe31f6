import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { CreateAuditEvents1795470304969 } from '../migrations/1795470304969-CreateAuditEvents';
import { AuditQueryService } from '../src/audit/audit-query.service';
import { AuditRetention } from '../src/audit/audit-retention.service';
import { AuditSealer } from '../src/audit/audit-sealer.service';
import { AuditVerifier } from '../src/audit/audit-verifier.service';
import { AuditModule } from '../src/audit/audit.module';
import { AUDIT_OPTIONS, DEFAULT_AUDIT_OPTIONS, type AuditOptions } from '../src/audit/audit.options';
import { AuditRepository } from '../src/audit/audit.repository';
import { AuditService } from '../src/audit/audit.service';
import { REDACTED } from '../src/common/redact';
import { RequestContext, type Principal } from '../src/common/request-context';
import { RequestContextModule } from '../src/common/request-context.module';
import { ConfigModule } from '../src/config/config.module';
import { loadConfig } from '../src/config/load-config';
import { DatabaseModule } from '../src/database/database.module';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const OPTIONS: AuditOptions = {
  ...DEFAULT_AUDIT_OPTIONS,
  // Tests seal explicitly; a small read batch makes verification and export cross batch boundaries.
  sealIntervalMs: 0,
  retentionFirstRunDelayMs: 0,
  readBatchSize: 50,
};

const ADA: Principal = {
  kind: 'user',
  id: 'user-ada',
  label: 'ada@example.com',
  permissions: new Set(['audit:read']),
};

describe('audit trail (service level, real database)', () => {
  let database: TestDatabase;
  let moduleRef: TestingModule;
  let audit: AuditService;
  let sealer: AuditSealer;
  let verifier: AuditVerifier;
  let queries: AuditQueryService;
  let retention: AuditRetention;
  let context: RequestContext;
  let txHost: TransactionHost<TransactionalAdapterTypeOrm>;
  let dataSource: DataSource;

  const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> =>
    dataSource.query(text, params);
  const count = async (where: string, params: unknown[] = []): Promise<number> =>
    (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE ${where}`, params))[0].n;
  /** Runs `work` in a transaction that is always rolled back, returning what it returned. */
  const inRolledBackTransaction = async <T>(work: () => Promise<T>): Promise<T> => {
    let result: T | undefined;
    await expect(
      context.run(() =>
        txHost.withTransaction(async () => {
          result = await work();
          throw new Error('roll back');
        }),
      ),
    ).rejects.toThrow('roll back');
    return result as T;
  };

  beforeAll(async () => {
    database = await provisionTestDatabase();
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: database.url,
      DB_POOL_SIZE: String(database.poolSize),
      AUDIT_RETENTION_DAYS: '30',
    });
    moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), DatabaseModule, RequestContextModule, AuditModule],
    })
      .overrideProvider(AUDIT_OPTIONS)
      .useValue(OPTIONS)
      .compile();
    await moduleRef.init();
    audit = moduleRef.get(AuditService);
    sealer = moduleRef.get(AuditSealer);
    verifier = moduleRef.get(AuditVerifier);
    queries = moduleRef.get(AuditQueryService);
    retention = moduleRef.get(AuditRetention);
    context = moduleRef.get(RequestContext);
    txHost = moduleRef.get<TransactionHost<TransactionalAdapterTypeOrm>>(TransactionHost);
    dataSource = moduleRef.get(DataSource);
    await sql('CREATE TABLE audit_probe_things (id serial PRIMARY KEY, name text NOT NULL)');
  });

  afterAll(async () => {
    await moduleRef?.close();
    await database?.drop();
  });

  it('migrates down and up again', async () => {
    const migration = new CreateAuditEvents1795470304969();
    const runner = dataSource.createQueryRunner();
    try {
      await migration.down(runner);
      // Through the runner: on the embedded database it holds the only connection.
      expect(await runner.query(`SELECT to_regclass('audit_events') AS t`)).toEqual([{ t: null }]);
      await migration.up(runner);
    } finally {
      await runner.release();
    }
    expect(await sql('SELECT chain_seq, hash FROM audit_chain_anchor')).toEqual([
      { chain_seq: '0', hash: '0'.repeat(64) },
    ]);
  });

  describe('200 concurrent writers, then sealing and verification', () => {
    it('records exactly 200 rows, each with its own request id', async () => {
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          context.run(() => audit.record({ action: 'load.test', outcome: 'success', details: { i } }), {
            requestId: `load-${i}`,
            principal: ADA,
          }),
        ),
      );
      expect(await count(`action = 'load.test'`)).toBe(200);
      expect(
        (await sql<{ n: number }>(`SELECT count(DISTINCT request_id)::int AS n FROM audit_events`))[0].n,
      ).toBe(200);
      expect(await verifier.verify()).toEqual({ ok: true, checked: 0, unsealed: 200 });
    });

    it('seals them into one chain that verifies', async () => {
      expect(await sealer.sealPending()).toBe(200);
      expect(await sealer.sealPending()).toBe(0);
      expect(await verifier.verify()).toEqual({ ok: true, checked: 200, unsealed: 0 });
      const seqs = await sql<{ chain_seq: string }>('SELECT chain_seq FROM audit_events ORDER BY chain_seq');
      expect(seqs.map((r) => Number(r.chain_seq))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      const first = await sql<{ prev_hash: string }>(
        'SELECT prev_hash FROM audit_events WHERE chain_seq = 1',
      );
      expect(first[0].prev_hash).toBe('0'.repeat(64));
    });

    it('verifies an id range from the hash just before it, and refuses a reversed range', async () => {
      const ids = (await sql<{ id: string }>('SELECT id FROM audit_events ORDER BY chain_seq')).map((r) =>
        Number(r.id),
      );
      expect(await verifier.verify({ fromId: ids[10], toId: ids[20] })).toEqual({
        ok: true,
        checked: 11,
        unsealed: 0,
      });
      expect(await verifier.verify({ fromId: ids[199] + 1000 })).toEqual({
        ok: true,
        checked: 0,
        unsealed: 0,
      });
      await expect(verifier.verify({ fromId: 5, toId: 4 })).rejects.toMatchObject({ code: 'INVALID_RANGE' });
    });
  });

  describe('tampering', () => {
    it('reports the row whose details were changed behind the triggers', async () => {
      const [target] = await sql<{ id: string }>('SELECT id FROM audit_events WHERE chain_seq = 57');
      const result = await inRolledBackTransaction(async () => {
        // What a superuser can do: replica mode skips the append-only triggers.
        await txHost.tx.query('SET LOCAL session_replication_role = replica');
        await txHost.tx.query(`UPDATE audit_events SET details = '{"i": -1}' WHERE id = $1`, [target.id]);
        return verifier.verify();
      });
      expect(result).toEqual({ ok: false, checked: 56, unsealed: 0, firstBrokenId: Number(target.id) });
      // The range check sees it too, and the rolled-back tampering leaves an intact chain.
      expect(await verifier.verify()).toEqual({ ok: true, checked: 200, unsealed: 0 });
    });

    it('reports the row after one that was deleted, and a range that starts after the gap', async () => {
      const rows = await sql<{ id: string }>(
        'SELECT id FROM audit_events WHERE chain_seq IN (99, 100) ORDER BY chain_seq',
      );
      const [deleted, next] = rows.map((r) => Number(r.id));
      const [full, range] = await inRolledBackTransaction(async () => {
        await txHost.tx.query('SET LOCAL session_replication_role = replica');
        await txHost.tx.query('DELETE FROM audit_events WHERE id = $1', [deleted]);
        return [await verifier.verify(), await verifier.verify({ fromId: next, toId: next })];
      });
      expect(full).toEqual({ ok: false, checked: 98, unsealed: 0, firstBrokenId: next });
      expect(range).toEqual({ ok: false, checked: 0, unsealed: 0, firstBrokenId: next });
    });

    it('refuses a plain UPDATE, a re-seal, a DELETE and a TRUNCATE', async () => {
      const [row] = await sql<{ id: string }>('SELECT id FROM audit_events WHERE chain_seq = 1');
      await expect(sql(`UPDATE audit_events SET details = '{}' WHERE id = $1`, [row.id])).rejects.toThrow(
        /audit_events is append-only: row \d+ cannot be changed/,
      );
      await expect(
        sql(`UPDATE audit_events SET hash = repeat('a', 64) WHERE id = $1`, [row.id]),
      ).rejects.toThrow(/append-only/);
      await expect(sql('DELETE FROM audit_events WHERE id = $1', [row.id])).rejects.toThrow(
        /audit_events is append-only: row \d+ cannot be deleted/,
      );
      await expect(sql('TRUNCATE audit_events')).rejects.toThrow(/cannot be truncated/);
      await expect(sql(`UPDATE audit_chain_anchor SET chain_seq = 5`)).rejects.toThrow(/audit_prune/);
      expect(await verifier.verify()).toEqual({ ok: true, checked: 200, unsealed: 0 });
    });

    it('does not let the prune licence delete an unsealed row', async () => {
      await audit.record({ action: 'probe.unsealed', outcome: 'success' });
      await expect(
        context.run(() =>
          txHost.withTransaction(async () => {
            await txHost.tx.query(`SET LOCAL mcp_admin.audit_prune = 'on'`);
            await txHost.tx.query(`DELETE FROM audit_events WHERE action = 'probe.unsealed'`);
          }),
        ),
      ).rejects.toThrow(/cannot be deleted/);
      expect(await count(`action = 'probe.unsealed'`)).toBe(1);
      await sealer.sealPending();
    });
  });

  describe('writing', () => {
    it('groups concurrent writes outside a transaction, and one bad event fails alone', async () => {
      const writes = Array.from({ length: 30 }, (_, i) =>
        context.run(() =>
          audit.record({
            // Not <resource>.<verb>: the database's CHECK refuses this one event.
            action: i === 7 ? 'Not A Valid Action' : 'group.write',
            outcome: 'success',
            resourceType: 'group',
            resourceId: `grouped-${i}`,
          }),
        ),
      );
      const results = await Promise.allSettled(writes);
      expect(results.filter((r) => r.status === 'rejected')).toEqual([
        { status: 'rejected', reason: expect.objectContaining({ code: 'AUDIT_UNAVAILABLE' }) },
      ]);
      expect(results[7].status).toBe('rejected');
      expect(await count(`resource_id LIKE 'grouped-%'`)).toBe(29);
    });

    it('joins the caller’s transaction: rolled back together, committed together', async () => {
      const write = (name: string, fail: boolean) =>
        context.run(
          () =>
            txHost.withTransaction(async () => {
              context.setClient({ ip: '203.0.113.9', userAgent: 'jest/1' });
              await txHost.tx.query('INSERT INTO audit_probe_things (name) VALUES ($1)', [name]);
              await audit.record({
                action: 'thing.create',
                outcome: 'success',
                resourceType: 'thing',
                resourceId: name,
              });
              if (fail) throw new Error('the change failed after its event was written');
            }),
          { requestId: `req-${name}`, principal: ADA },
        );
      await expect(write('rolled-back', true)).rejects.toThrow('the change failed');
      expect(await count(`resource_id = 'rolled-back'`)).toBe(0);
      await write('kept', false);
      const [event] = await sql(`SELECT * FROM audit_events WHERE resource_id = 'kept'`);
      expect(event).toMatchObject({
        request_id: 'req-kept',
        actor_type: 'user',
        actor_id: 'user-ada',
        actor_label: 'ada@example.com',
        action: 'thing.create',
        outcome: 'success',
        ip: '203.0.113.9',
        user_agent: 'jest/1',
        details: {},
        chain_seq: null,
      });
    });

    it('records an anonymous actor without a principal, and an explicit actor when given', async () => {
      await context.run(() => audit.record({ action: 'probe.anonymous', outcome: 'denied' }));
      await context.run(
        () =>
          audit.record({
            action: 'probe.system',
            outcome: 'success',
            actor: { type: 'system', id: 'retention', label: 'retention job' },
          }),
        { principal: ADA },
      );
      const rows = await sql(
        `SELECT action, actor_type, actor_id, actor_label FROM audit_events WHERE action LIKE 'probe.%' AND action <> 'probe.unsealed' ORDER BY id`,
      );
      expect(rows).toEqual([
        { action: 'probe.anonymous', actor_type: 'anonymous', actor_id: null, actor_label: null },
        { action: 'probe.system', actor_type: 'system', actor_id: 'retention', actor_label: 'retention job' },
      ]);
    });

    it('recordIndependently survives the rollback of the work it reports', async () => {
      // The pattern of the interceptor and the guards: the work rolls back, then the failure is recorded.
      await context.run(async () => {
        await expect(
          txHost.withTransaction(async () => {
            await txHost.tx.query(`INSERT INTO audit_probe_things (name) VALUES ('failed-work')`);
            throw new Error('work failed');
          }),
        ).rejects.toThrow('work failed');
        await audit.recordIndependently({
          action: 'thing.create',
          outcome: 'failure',
          resourceId: 'failed-work',
        });
      });
      expect(await sql(`SELECT * FROM audit_probe_things WHERE name = 'failed-work'`)).toEqual([]);
      expect(await count(`resource_id = 'failed-work' AND outcome = 'failure'`)).toBe(1);

      const inside = context.run(() =>
        txHost.withTransaction(async () => {
          await txHost.tx.query(`INSERT INTO audit_probe_things (name) VALUES ('denied-work')`);
          await audit.recordIndependently({
            action: 'authz.denied',
            outcome: 'denied',
            resourceId: 'denied-work',
          });
          throw new Error('caller rolls back');
        }),
      );
      if (database.kind === 'postgres') {
        // A second connection commits the event while the caller's transaction is still open.
        await expect(inside).rejects.toThrow('caller rolls back');
        expect(await count(`resource_id = 'denied-work' AND outcome = 'denied'`)).toBe(1);
      } else {
        // One connection: refused at once (documented) instead of waiting for a connection that cannot come.
        await expect(inside).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', status: 503 });
        expect(await count(`resource_id = 'denied-work'`)).toBe(0);
      }
      expect(await sql(`SELECT * FROM audit_probe_things WHERE name = 'denied-work'`)).toEqual([]);
    });

    it('fails closed: an event the database refuses is a 503 and takes the change down with it', async () => {
      await expect(audit.record({ action: 'Not An Action', outcome: 'success' })).rejects.toMatchObject({
        code: 'AUDIT_UNAVAILABLE',
        status: 503,
        message: 'The audit trail cannot be written; the action was not performed.',
      });
      await expect(
        context.run(() =>
          txHost.withTransaction(async () => {
            await txHost.tx.query(`INSERT INTO audit_probe_things (name) VALUES ('closed')`);
            await audit.record({
              action: 'thing.create',
              outcome: 'success',
              httpStatus: 201,
              details: { n: 1 },
            });
            await audit.record({ action: 'bad', outcome: 'success' });
          }),
        ),
      ).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
      expect(await sql(`SELECT * FROM audit_probe_things WHERE name = 'closed'`)).toEqual([]);
    });

    it('redacts secrets by key name and by value before storing details', async () => {
      const jwt =
        'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLWFkYSIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWc';
      await audit.record({
        action: 'secret.probe',
        outcome: 'success',
        details: {
          password: 'hunter2',
          nested: { apiKey: 'k', headers: { authorization: `Bearer ${jwt}` } },
          note: `called with Bearer ${jwt} and mcpa_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo`,
          target: 'postgres://app:s3cr3t@db.internal/main',
          harmless: 'product 42 renamed',
        },
      });
      const [{ details }] = await sql<{ details: unknown }>(
        `SELECT details FROM audit_events WHERE action = 'secret.probe'`,
      );
      expect(details).toEqual({
        password: REDACTED,
        nested: { apiKey: REDACTED, headers: { authorization: REDACTED } },
        note: `called with Bearer ${REDACTED} and mcpa_${REDACTED}`,
        target: `postgres://app:${REDACTED}@db.internal/main`,
        harmless: 'product 42 renamed',
      });
      expect(JSON.stringify(details)).not.toMatch(/hunter2|s3cr3t|eyJ/);
    });
  });

  describe('the late-commit problem', () => {
    it('seals a row with a lower id that commits after higher ids were sealed, in the next round', async () => {
      await sealer.sealPending();
      // Take an id now, commit the row later: what a slow transaction does.
      const [{ id: lateId }] = await sql<{ id: string }>(`SELECT nextval('audit_events_id_seq') AS id`);
      for (let i = 0; i < 3; i++) await audit.record({ action: 'late.neighbour', outcome: 'success' });
      expect(await sealer.sealPending()).toBe(3);
      await sql(
        `INSERT INTO audit_events (id, actor_type, action, outcome) VALUES ($1, 'system', 'late.commit', 'success')`,
        [lateId],
      );
      expect(await sealer.sealPending()).toBe(1);
      const rows = await sql<{ id: string; chain_seq: string }>(
        `SELECT id, chain_seq FROM audit_events WHERE action IN ('late.neighbour', 'late.commit') ORDER BY chain_seq`,
      );
      expect(Number(rows[3].id)).toBe(Number(lateId));
      expect(Number(rows[3].id)).toBeLessThan(Number(rows[0].id));
      expect(await verifier.verify()).toMatchObject({ ok: true, unsealed: 0 });
    });
  });

  describe('the background sealer', () => {
    it('seals on its timer, survives a failing round, and stops on shutdown', async () => {
      const repository = moduleRef.get(AuditRepository);
      const timed = new AuditSealer(repository, txHost, { ...OPTIONS, sealIntervalMs: 20 });
      const failOnce = jest
        .spyOn(repository, 'tryLockChain')
        .mockRejectedValueOnce(new Error('connection lost (simulated)'));
      try {
        await audit.record({ action: 'timer.probe', outcome: 'success' });
        timed.onApplicationBootstrap();
        const deadline = Date.now() + 10_000;
        while ((await count(`action = 'timer.probe' AND chain_seq IS NULL`)) > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(failOnce).toHaveBeenCalled();
        expect(await count(`action = 'timer.probe' AND chain_seq IS NOT NULL`)).toBe(1);
      } finally {
        await timed.onApplicationShutdown();
        failOnce.mockRestore();
      }
      await audit.record({ action: 'timer.after_stop', outcome: 'success' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await count(`action = 'timer.after_stop' AND chain_seq IS NULL`)).toBe(1);
      await sealer.sealPending();
    });
  });

  describe('queries', () => {
    const ids: Record<string, number> = {};

    beforeAll(async () => {
      const write = (key: string, requestId: string, event: Parameters<AuditService['record']>[0]) =>
        context.run(
          async () => {
            await audit.record(event);
            const [{ id }] = await sql<{ id: string }>('SELECT max(id) AS id FROM audit_events');
            ids[key] = Number(id);
          },
          { requestId, principal: ADA },
        );
      for (let i = 1; i <= 5; i++) {
        await write(`page${i}`, `page-req-${i}`, {
          action: 'page.test',
          outcome: 'success',
          resourceType: 'page',
          resourceId: `p${i}`,
        });
      }
      await write('wDelete', 'w-req', {
        action: 'widget.delete',
        outcome: 'failure',
        resourceType: 'widget',
        resourceId: 'w-1',
      });
      await write('axb', 'axb-req', { action: 'axb.create', outcome: 'success' });
      await write('other', 'other-req', {
        action: 'auth.login',
        outcome: 'success',
        actor: { type: 'user', id: 'user-bob', label: '=HYPERLINK("http://evil","x")' },
      });
    });

    it('pages newest first with an opaque cursor until nextCursor is null', async () => {
      const seen: number[] = [];
      let cursor: string | undefined;
      const sizes: number[] = [];
      do {
        const page = await queries.list({ action: 'page.test', limit: 2, cursor });
        sizes.push(page.items.length);
        seen.push(...page.items.map((item) => item.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual([ids.page5, ids.page4, ids.page3, ids.page2, ids.page1]);
      const exact = await queries.list({ action: 'page.test', limit: 5 });
      expect(exact.items).toHaveLength(5);
      expect(exact.nextCursor).toBeNull();
      await expect(queries.list({ cursor: 'bm90LWFuLWlk' })).rejects.toMatchObject({
        code: 'INVALID_CURSOR',
        status: 400,
      });
    });

    it('filters by action prefix (wildcards literal), actor, resource, outcome and request id', async () => {
      const idsOf = async (params: Parameters<AuditQueryService['list']>[0]) =>
        (await queries.list({ limit: 500, ...params })).items.map((item) => item.id);
      expect(await idsOf({ action: 'page.' })).toHaveLength(5);
      expect(await idsOf({ action: 'widget' })).toEqual([ids.wDelete]);
      expect(await idsOf({ action: 'a_b' })).toEqual([]);
      expect(await idsOf({ action: 'axb.' })).toEqual([ids.axb]);
      expect(await idsOf({ actorId: 'user-bob' })).toEqual([ids.other]);
      expect(await idsOf({ resourceType: 'page', resourceId: 'p3' })).toEqual([ids.page3]);
      expect(await idsOf({ outcome: 'failure', resourceType: 'widget' })).toEqual([ids.wDelete]);
      expect(await idsOf({ requestId: 'page-req-2' })).toEqual([ids.page2]);
    });

    it('takes from as inclusive and to as exclusive', async () => {
      const middle = await queries.get(ids.page3);
      const from = await queries.list({ action: 'page.test', from: middle.occurredAt, limit: 500 });
      expect(from.items.map((i) => i.id)).toContain(ids.page3);
      const to = await queries.list({ action: 'page.test', to: middle.occurredAt, limit: 500 });
      expect(to.items.map((i) => i.id)).not.toContain(ids.page3);
      expect(from.items.length + to.items.length).toBe(5);
    });

    it('returns one event as a plain camelCase object, or AUDIT_EVENT_NOT_FOUND', async () => {
      const event = await queries.get(ids.page1);
      expect(event).toEqual({
        id: ids.page1,
        occurredAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
        requestId: 'page-req-1',
        actorType: 'user',
        actorId: 'user-ada',
        actorLabel: 'ada@example.com',
        action: 'page.test',
        resourceType: 'page',
        resourceId: 'p1',
        outcome: 'success',
        httpStatus: null,
        ip: null,
        userAgent: null,
        details: {},
        chainSeq: null,
        sealedAt: null,
        prevHash: null,
        hash: null,
      });
      await expect(queries.get(99_999_999)).rejects.toMatchObject({
        code: 'AUDIT_EVENT_NOT_FOUND',
        status: 404,
      });
    });

    it('exports NDJSON across read batches, and records the export', async () => {
      const total = await count('true');
      const exported = await queries.export({}, 'ndjson');
      expect(exported.contentType).toBe('application/x-ndjson; charset=utf-8');
      expect(exported.filename).toMatch(/^audit-events-.*\.ndjson$/);
      const lines = (await readAll(exported.stream)).split('\n').filter((line) => line !== '');
      // Everything up to the newest event at the start; the export's own audit.export event comes after.
      expect(lines).toHaveLength(total);
      const parsed = lines.map((line) => JSON.parse(line) as { id: number; action: string });
      expect(parsed.map((e) => e.id)).toEqual([...parsed.map((e) => e.id)].sort((a, b) => a - b));
      expect(parsed.some((e) => e.action === 'audit.export')).toBe(false);
      expect(await count(`action = 'audit.export'`)).toBe(1);
    });

    it('exports CSV with a header, the filters applied and formula cells neutralised', async () => {
      const exported = await queries.export({ action: 'auth.' }, 'csv');
      expect(exported.contentType).toBe('text/csv; charset=utf-8');
      const text = await readAll(exported.stream);
      const records = text.split('\r\n');
      expect(records[0]).toMatch(/^id,occurredAt,requestId,actorType,actorId,actorLabel,action,/);
      expect(records).toHaveLength(3);
      expect(records[1]).toContain(`"'=HYPERLINK(""http://evil"",""x"")"`);
      expect(records[2]).toBe('');
      const [exportEvent] = await sql<{ details: unknown }>(
        `SELECT details FROM audit_events WHERE action = 'audit.export' ORDER BY id DESC LIMIT 1`,
      );
      expect(exportEvent.details).toEqual({ format: 'csv', filters: { action: 'auth.' } });
    });
  });

  describe('retention', () => {
    const oldRow = () =>
      sql(
        `INSERT INTO audit_events (occurred_at, actor_type, action, outcome)
         VALUES (date_trunc('milliseconds', now() - interval '40 days'), 'system', 'retention.old', 'success')`,
      );

    it('prunes the whole sealed chain, moves the anchor, and the chain still verifies and grows', async () => {
      await sealer.sealPending();
      const sealed = await count('chain_seq IS NOT NULL');
      expect(await count('chain_seq IS NULL')).toBe(0);
      const [head] = await sql<{ chain_seq: string; hash: string }>(
        'SELECT chain_seq, hash FROM audit_events ORDER BY chain_seq DESC NULLS LAST LIMIT 1',
      );
      expect(await retention.pruneOlderThan(new Date(Date.now() + 60_000))).toBe(sealed);
      expect(await count('true')).toBe(0);
      expect(await sql('SELECT chain_seq, hash FROM audit_chain_anchor')).toEqual([head]);
      expect(await verifier.verify()).toEqual({ ok: true, checked: 0, unsealed: 0 });

      await audit.record({ action: 'retention.after', outcome: 'success' });
      expect(await sealer.sealPending()).toBe(1);
      const [first] = await sql<{ chain_seq: string; prev_hash: string }>(
        'SELECT chain_seq, prev_hash FROM audit_events',
      );
      expect(first).toEqual({ chain_seq: String(Number(head.chain_seq) + 1), prev_hash: head.hash });
      expect(await verifier.verify()).toEqual({ ok: true, checked: 1, unsealed: 0 });
    });

    it('prunes by AUDIT_RETENTION_DAYS only a prefix of the chain, so what remains still verifies', async () => {
      await retention.pruneOlderThan(new Date(Date.now() + 60_000));
      for (let i = 0; i < 3; i++) await oldRow();
      await audit.record({ action: 'retention.recent', outcome: 'success' });
      await audit.record({ action: 'retention.recent', outcome: 'success' });
      // Old but sealed after recent rows (a late commit): it must wait for them.
      await oldRow();
      expect(await sealer.sealPending()).toBe(6);

      expect(retention.retentionDays).toBe(30);
      expect(await retention.pruneExpired()).toBe(3);
      expect(await count(`action = 'retention.old'`)).toBe(1);
      expect(await verifier.verify()).toEqual({ ok: true, checked: 3, unsealed: 0 });
      expect(await retention.pruneExpired()).toBe(0);
    });
  });
});

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream)
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}
