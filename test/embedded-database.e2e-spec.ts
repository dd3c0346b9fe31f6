import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { runMigrationCli } from '../src/cli/migrations.cli';
import { RequestContext } from '../src/common/request-context';
import { SystemInfoRepository } from '../src/database/system-info.repository';
import { EmbeddedDatabaseInUseError, EmbeddedPostgres } from '../src/database/embedded-postgres';
import { startTestApp, type TestApp } from './support/test-app';

function captureCli() {
  const lines = { out: [] as string[], err: [] as string[] };
  return { lines, io: { out: (l: string) => lines.out.push(l), err: (l: string) => lines.err.push(l) } };
}

describe('embedded PostgreSQL (no DATABASE_URL)', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'mcp-admin-embedded-')), 'pglite');
  let testApp: TestApp;
  let firstInstanceId: string;

  beforeAll(async () => {
    testApp = await startTestApp(undefined, { PGLITE_DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await testApp?.close();
    rmSync(join(dataDir, '..'), { recursive: true, force: true });
  });

  it('boots, migrates and is ready on the embedded database', async () => {
    const res = await request(testApp.app.getHttpServer()).get('/health/ready').expect(200);
    expect(res.body.details.migrations).toEqual({ status: 'up' });
    expect(testApp.logs.some((l) => String(l.msg).includes('using the embedded PostgreSQL (PGlite)'))).toBe(
      true,
    );
    const context = testApp.app.get(RequestContext);
    firstInstanceId = await context.run(() => testApp.app.get(SystemInfoRepository).instanceId());
    expect(firstInstanceId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('runs 50 concurrent transactions one at a time: none sees another one’s uncommitted rows', async () => {
    const txHost = testApp.app.get<TransactionHost<TransactionalAdapterTypeOrm>>(TransactionHost);
    const context = testApp.app.get(RequestContext);
    await context.run(() =>
      txHost.tx.query('CREATE TABLE tx_probe (tx int PRIMARY KEY, phase text NOT NULL)'),
    );

    const sightings = await Promise.all(
      Array.from({ length: 50 }, (_, tx) =>
        context.run(() =>
          txHost.withTransaction(async () => {
            await txHost.tx.query("INSERT INTO tx_probe VALUES ($1, 'pending')", [tx]);
            // Yield so that, were transactions interleaved on the one session, others would run now.
            await new Promise((resolve) => setTimeout(resolve, (tx % 5) + 1));
            const pending: Array<{ tx: number }> = await txHost.tx.query(
              "SELECT tx FROM tx_probe WHERE phase = 'pending' ORDER BY tx",
            );
            await txHost.tx.query("UPDATE tx_probe SET phase = 'done' WHERE tx = $1", [tx]);
            return pending.map((row) => row.tx);
          }),
        ),
      ),
    );

    sightings.forEach((seen, tx) => expect(seen).toEqual([tx]));
    const done = await context.run(() =>
      txHost.tx.query("SELECT count(*)::int AS n FROM tx_probe WHERE phase = 'done'"),
    );
    expect(done).toEqual([{ n: 50 }]);
  });

  it('rolls a failed transaction back completely', async () => {
    const txHost = testApp.app.get<TransactionHost<TransactionalAdapterTypeOrm>>(TransactionHost);
    const context = testApp.app.get(RequestContext);
    await expect(
      context.run(() =>
        txHost.withTransaction(async () => {
          await txHost.tx.query("INSERT INTO tx_probe VALUES (1000, 'pending')");
          throw new Error('abort');
        }),
      ),
    ).rejects.toThrow('abort');
    const rows = await context.run(() =>
      txHost.tx.query('SELECT count(*)::int AS n FROM tx_probe WHERE tx = 1000'),
    );
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('refuses a second process on the same data directory, and the CLI says what to do', async () => {
    await expect(EmbeddedPostgres.start({ dataDir })).rejects.toBeInstanceOf(EmbeddedDatabaseInUseError);
    const { lines, io } = captureCli();
    const code = await runMigrationCli(['show'], { PGLITE_DATA_DIR: dataDir }, io);
    expect(code).toBe(1);
    expect(lines.err.join('\n')).toMatch(
      /in use by another process.*Stop the server first, or do this through the HTTP API/s,
    );
  });

  it('keeps its data across a restart, and the CLI works once the server has stopped', async () => {
    await testApp.close();
    const { lines, io } = captureCli();
    expect(await runMigrationCli(['show'], { PGLITE_DATA_DIR: dataDir }, io)).toBe(0);
    expect(lines.out).toEqual(['All migrations are applied.']);

    testApp = await startTestApp(undefined, { PGLITE_DATA_DIR: dataDir });
    const context = testApp.app.get(RequestContext);
    expect(await context.run(() => testApp.app.get(SystemInfoRepository).instanceId())).toBe(firstInstanceId);
    const txHost = testApp.app.get<TransactionHost<TransactionalAdapterTypeOrm>>(TransactionHost);
    expect(await context.run(() => txHost.tx.query('SELECT count(*)::int AS n FROM tx_probe'))).toEqual([
      { n: 50 },
    ]);
  });
});
