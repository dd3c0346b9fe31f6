import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Body, Controller, Delete, HttpCode, Module, Param, ParseIntPipe, Post } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { IsString, Length } from 'class-validator';
import { Writable } from 'node:stream';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../src/app.setup';
import { AuditSealer } from '../src/audit/audit-sealer.service';
import { Audited, AuditedManually } from '../src/audit/audited.decorator';
import { RequirePermissions } from '../src/authz/route-access.decorators';
import { API_PREFIX } from '../src/common/api-controller.decorator';
import { ConflictError, NotFoundError } from '../src/common/app-error';
import { loadConfig } from '../src/config/load-config';
import { bearer, createUser, signIn } from './support/auth';
import { TEST_ADMIN, TEST_JWT_SECRET } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

interface Widget {
  id: string;
  name: string;
}

class WidgetDto {
  @IsString()
  @Length(1, 50)
  name!: string;
}

/** Routes that change state the way feature controllers do, to drive the global AuditInterceptor. */
@Controller(`${API_PREFIX}/audit-probe`)
class AuditProbeController {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  @Post('widgets')
  @RequirePermissions('products:write')
  @Audited({ action: 'widget.create', resourceType: 'widget', resourceId: (result) => (result as Widget).id })
  async create(@Body() body: WidgetDto): Promise<Widget> {
    const [widget] = await this.txHost.tx.query<Widget[]>(
      'INSERT INTO audit_probe_widgets (name) VALUES ($1) RETURNING id::text AS id, name',
      [body.name],
    );
    if (body.name === 'taken') throw new ConflictError('WIDGET_TAKEN', 'That name is taken.');
    if (body.name === 'swallowed') {
      // A handler that swallows a failed statement leaves its transaction aborted: the audit
      // insert that follows in the same transaction is refused by the database.
      await this.txHost.tx.query('SELECT 1 / 0').catch(() => undefined);
    }
    return widget;
  }

  @Delete('widgets/:id')
  @HttpCode(204)
  @RequirePermissions('products:write')
  @Audited({
    action: 'widget.delete',
    resourceType: 'widget',
    resourceId: (_result, request) => (request.params as { id: string }).id,
  })
  async remove(@Param('id', ParseIntPipe) id: number): Promise<void> {
    // TypeORM answers [rows, affected] to a DELETE.
    const [, deleted] = await this.txHost.tx.query<[unknown, number]>(
      'DELETE FROM audit_probe_widgets WHERE id = $1',
      [id],
    );
    if (deleted === 0) throw new NotFoundError('WIDGET_NOT_FOUND', 'No such widget.');
  }

  @Post('ping')
  @HttpCode(200)
  @RequirePermissions('products:write')
  @AuditedManually()
  ping(): { ok: true } {
    return { ok: true };
  }
}

@Module({ controllers: [AuditProbeController] })
class AuditProbeModule {}

describe('audit over HTTP: the interceptor and the /api/v1/audit routes', () => {
  let database: TestDatabase;
  let app: NestFastifyApplication;
  let server: ReturnType<NestFastifyApplication['getHttpServer']>;
  let dataSource: DataSource;
  let admin: Record<string, string>;
  let viewer: Record<string, string>;
  let adminId: string;

  const eventsOf = (requestId: string) =>
    dataSource.query<Array<Record<string, unknown>>>(
      'SELECT * FROM audit_events WHERE request_id = $1 ORDER BY id',
      [requestId],
    );
  const widgetNamed = async (name: string) =>
    (await dataSource.query<unknown[]>('SELECT id FROM audit_probe_widgets WHERE name = $1', [name])).length;

  beforeAll(async () => {
    database = await provisionTestDatabase();
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      JWT_SECRET: TEST_JWT_SECRET,
      ADMIN_EMAIL: TEST_ADMIN.email,
      ADMIN_PASSWORD: TEST_ADMIN.password,
      DATABASE_URL: database.url,
      DB_POOL_SIZE: String(database.poolSize),
    });
    const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    // AppModule already imports AuditModule and registers AuditInterceptor globally.
    app = await createApp(config, { imports: [AuditProbeModule], logDestination: discard });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    server = app.getHttpServer();
    dataSource = app.get(DataSource);
    await dataSource.query('CREATE TABLE audit_probe_widgets (id serial PRIMARY KEY, name text NOT NULL)');

    const adminUser = await createUser(app, ['admin']);
    adminId = adminUser.id;
    admin = bearer((await signIn(app, adminUser.email, adminUser.password)).accessToken);
    const viewerUser = await createUser(app, ['viewer']);
    viewer = bearer((await signIn(app, viewerUser.email, viewerUser.password)).accessToken);
  });

  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  describe('AuditInterceptor', () => {
    it('commits the change and its success event together, with the route status and resource id', async () => {
      const res = await request(server)
        .post('/api/v1/audit-probe/widgets')
        .set(admin)
        .set('X-Request-ID', 'widget-ok')
        .set('User-Agent', 'audit-test/1')
        .send({ name: 'first' })
        .expect(201);
      expect(await eventsOf('widget-ok')).toEqual([
        expect.objectContaining({
          action: 'widget.create',
          outcome: 'success',
          http_status: 201,
          resource_type: 'widget',
          resource_id: (res.body as Widget).id,
          actor_type: 'user',
          actor_id: adminId,
          user_agent: 'audit-test/1',
          ip: expect.stringMatching(/127\.0\.0\.1/),
        }),
      ]);
      expect(await widgetNamed('first')).toBe(1);
    });

    it('rolls the change back on failure and then records one failure event with the error code', async () => {
      const res = await request(server)
        .post('/api/v1/audit-probe/widgets')
        .set(admin)
        .set('X-Request-ID', 'widget-taken')
        .send({ name: 'taken' })
        .expect(409);
      expect(res.body.error.code).toBe('WIDGET_TAKEN');
      expect(await widgetNamed('taken')).toBe(0);
      expect(await eventsOf('widget-taken')).toEqual([
        expect.objectContaining({
          action: 'widget.create',
          outcome: 'failure',
          http_status: 409,
          details: { code: 'WIDGET_TAKEN' },
          resource_id: null,
        }),
      ]);
    });

    it('answers 503 AUDIT_UNAVAILABLE and keeps nothing when the success event cannot be written', async () => {
      const res = await request(server)
        .post('/api/v1/audit-probe/widgets')
        .set(admin)
        .set('X-Request-ID', 'widget-swallowed')
        .send({ name: 'swallowed' })
        .expect(503);
      expect(res.body).toEqual({
        error: {
          code: 'AUDIT_UNAVAILABLE',
          message: 'The audit trail cannot be written; the action was not performed.',
          requestId: 'widget-swallowed',
        },
      });
      expect(await widgetNamed('swallowed')).toBe(0);
      expect(await eventsOf('widget-swallowed')).toEqual([]);
    });

    it('uses @HttpCode for the status and the request for the resource id, on success and failure', async () => {
      const [{ id }] = await dataSource.query<Array<{ id: number }>>(
        `SELECT id FROM audit_probe_widgets WHERE name = 'first'`,
      );
      await request(server)
        .delete(`/api/v1/audit-probe/widgets/${id}`)
        .set(admin)
        .set('X-Request-ID', 'del-ok')
        .expect(204);
      expect(await eventsOf('del-ok')).toEqual([
        expect.objectContaining({
          action: 'widget.delete',
          outcome: 'success',
          http_status: 204,
          resource_id: String(id),
        }),
      ]);
      await request(server)
        .delete('/api/v1/audit-probe/widgets/999')
        .set(admin)
        .set('X-Request-ID', 'del-404')
        .expect(404);
      expect(await eventsOf('del-404')).toEqual([
        expect.objectContaining({
          outcome: 'failure',
          http_status: 404,
          resource_id: '999',
          details: { code: 'WIDGET_NOT_FOUND' },
        }),
      ]);
    });

    it('records a refused input as a failure too (validation runs inside the interceptor)', async () => {
      await request(server)
        .post('/api/v1/audit-probe/widgets')
        .set(admin)
        .set('X-Request-ID', 'widget-bad')
        .send({})
        .expect(400);
      expect(await eventsOf('widget-bad')).toEqual([
        expect.objectContaining({
          outcome: 'failure',
          http_status: 400,
          details: { code: 'VALIDATION_FAILED' },
        }),
      ]);
    });

    it('leaves routes without @Audited untouched', async () => {
      await request(server)
        .post('/api/v1/audit-probe/ping')
        .set(admin)
        .set('X-Request-ID', 'ping')
        .expect(200, { ok: true });
      expect(await eventsOf('ping')).toEqual([]);
    });
  });

  describe('GET /api/v1/audit/events', () => {
    it('needs audit:read', async () => {
      await request(server).get('/api/v1/audit/events').expect(401);
      const res = await request(server).get('/api/v1/audit/events').set(viewer).expect(403);
      expect(res.body.error.code).toBe('PERMISSION_DENIED');
    });

    it('answers camelCase items with numeric ids, newest first, and a cursor to follow', async () => {
      const first = await request(server)
        .get('/api/v1/audit/events?action=widget.&limit=2')
        .set(admin)
        .expect(200);
      expect(first.body.items).toHaveLength(2);
      const [newest, older] = first.body.items as Array<{ id: number }>;
      expect(typeof newest.id).toBe('number');
      expect(newest.id).toBeGreaterThan(older.id);
      const item = first.body.items[0] as Record<string, unknown>;
      expect(Object.keys(item).sort()).toEqual(
        [
          'id',
          'occurredAt',
          'requestId',
          'actorType',
          'actorId',
          'actorLabel',
          'action',
          'resourceType',
          'resourceId',
          'outcome',
          'httpStatus',
          'ip',
          'userAgent',
          'details',
          'chainSeq',
          'sealedAt',
          'prevHash',
          'hash',
        ].sort(),
      );
      expect(item).toMatchObject({
        occurredAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
        actorType: 'user',
        actorId: adminId,
        action: expect.stringMatching(/^widget\./),
        resourceType: 'widget',
        httpStatus: expect.any(Number),
        details: expect.any(Object),
      });
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await request(server)
        .get('/api/v1/audit/events')
        .query({ action: 'widget.', limit: 2, cursor: first.body.nextCursor as string })
        .set(admin)
        .expect(200);
      expect((second.body.items as Array<{ id: number }>)[0].id).toBeLessThan(older.id);
      const all = await request(server)
        .get('/api/v1/audit/events?action=widget.&limit=500')
        .set(admin)
        .expect(200);
      expect(all.body.nextCursor).toBeNull();
    });

    it.each([
      ['limit=501', 'VALIDATION_FAILED'],
      ['limit=0', 'VALIDATION_FAILED'],
      ['limit=ten', 'VALIDATION_FAILED'],
      ['unknown=1', 'VALIDATION_FAILED'],
      ['from=2025-01-01T00:00:00', 'VALIDATION_FAILED'],
      ['outcome=maybe', 'VALIDATION_FAILED'],
      ['action=DROP%20TABLE', 'VALIDATION_FAILED'],
      ['cursor=not-a-cursor!', 'INVALID_CURSOR'],
      [`cursor=${Buffer.from('abc').toString('base64url')}`, 'INVALID_CURSOR'],
    ])('answers 400 to %s', async (query, code) => {
      const res = await request(server).get(`/api/v1/audit/events?${query}`).set(admin).expect(400);
      expect(res.body.error.code).toBe(code);
    });
  });

  describe('GET /api/v1/audit/events/:id', () => {
    it('answers one event, 404 for an unknown id and 400 for a malformed one', async () => {
      const [{ id }] = await dataSource.query<Array<{ id: string }>>(
        'SELECT max(id) AS id FROM audit_events',
      );
      const res = await request(server).get(`/api/v1/audit/events/${id}`).set(admin).expect(200);
      expect(res.body.id).toBe(Number(id));
      const missing = await request(server).get('/api/v1/audit/events/99999999').set(admin).expect(404);
      expect(missing.body.error.code).toBe('AUDIT_EVENT_NOT_FOUND');
      for (const bad of ['abc', '0', '-1', '1e3', '12345678901234567890']) {
        await request(server).get(`/api/v1/audit/events/${bad}`).set(admin).expect(400);
      }
    });
  });

  describe('GET /api/v1/audit/export', () => {
    it('streams NDJSON by default, as an attachment', async () => {
      const res = await request(server)
        .get('/api/v1/audit/export?action=widget.')
        .set(admin)
        .buffer(true)
        .expect(200);
      expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="audit-events-.*\.ndjson"$/);
      const lines = res.text.split('\n').filter((line) => line !== '');
      // widget-ok, widget-taken, del-ok, del-404, widget-bad; the swallowed request left nothing.
      expect(lines).toHaveLength(5);
      for (const line of lines) expect((JSON.parse(line) as { action: string }).action).toMatch(/^widget\./);
    });

    it('streams CSV with a header row', async () => {
      const res = await request(server)
        .get('/api/v1/audit/export?format=csv&outcome=failure&action=widget.')
        .set(admin)
        .buffer(true)
        .expect(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="audit-events-.*\.csv"$/);
      const records = res.text.split('\r\n').filter((record) => record !== '');
      expect(records[0].split(',')).toContain('httpStatus');
      expect(records.slice(1).every((record) => record.includes(',failure,'))).toBe(true);
      expect(records.length).toBe(1 + 3);
    });

    it('refuses an unknown format', async () => {
      await request(server).get('/api/v1/audit/export?format=xml').set(admin).expect(400);
    });
  });

  describe('GET /api/v1/audit/verify', () => {
    it('answers the verifier’s result once the events are sealed', async () => {
      await app.get(AuditSealer).sealPending();
      const res = await request(server).get('/api/v1/audit/verify').set(admin).expect(200);
      expect(res.body).toEqual({ ok: true, checked: expect.any(Number), unsealed: 0 });
      expect(res.body.checked).toBeGreaterThan(10);
      const [{ n }] = await dataSource.query<Array<{ n: number }>>(
        'SELECT count(*)::int AS n FROM audit_events WHERE id BETWEEN 1 AND 3',
      );
      const ranged = await request(server).get('/api/v1/audit/verify?fromId=1&toId=3').set(admin).expect(200);
      expect(ranged.body).toEqual({ ok: true, checked: n, unsealed: 0 });
      expect(n).toBeGreaterThan(0);
      expect(
        (await request(server).get('/api/v1/audit/verify?fromId=5&toId=2').set(admin).expect(400)).body.error
          .code,
      ).toBe('INVALID_RANGE');
      await request(server).get('/api/v1/audit/verify?fromId=abc').set(admin).expect(400);
    });
  });

  it('describes the routes in the OpenAPI document', async () => {
    const res = await request(server).get('/docs/openapi.json').expect(200);
    const paths = res.body.paths as Record<
      string,
      Record<string, { summary?: string; parameters?: unknown[] }>
    >;
    expect(paths['/api/v1/audit/events'].get.summary).toBe('Search audit events');
    expect(paths['/api/v1/audit/events'].get.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'limit', schema: expect.objectContaining({ maximum: 500 }) }),
      ]),
    );
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining(['/api/v1/audit/events/{id}', '/api/v1/audit/export', '/api/v1/audit/verify']),
    );
  });
});
