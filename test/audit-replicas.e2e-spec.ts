import { Test, type TestingModule } from '@nestjs/testing';
import { Client } from 'pg';
import { AuditSealer } from '../src/audit/audit-sealer.service';
import { AuditVerifier } from '../src/audit/audit-verifier.service';
import { AuditModule } from '../src/audit/audit.module';
import { AUDIT_OPTIONS, DEFAULT_AUDIT_OPTIONS } from '../src/audit/audit.options';
import { AUDIT_CHAIN_LOCK_KEY } from '../src/audit/audit.repository';
import { AuditService } from '../src/audit/audit.service';
import { RequestContext } from '../src/common/request-context';
import { RequestContextModule } from '../src/common/request-context.module';
import { ConfigModule } from '../src/config/config.module';
import { loadConfig } from '../src/config/load-config';
import { DatabaseModule } from '../src/database/database.module';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

interface Replica {
  readonly moduleRef: TestingModule;
  readonly audit: AuditService;
  readonly sealer: AuditSealer;
  readonly verifier: AuditVerifier;
  readonly context: RequestContext;
}

async function startReplica(url: string): Promise<Replica> {
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, DB_POOL_SIZE: '4' });
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), DatabaseModule, RequestContextModule, AuditModule],
  })
    .overrideProvider(AUDIT_OPTIONS)
    // Small batches so that two sealers interleave many transactions.
    .useValue({ ...DEFAULT_AUDIT_OPTIONS, sealIntervalMs: 0, retentionFirstRunDelayMs: 0, sealBatchSize: 7 })
    .compile();
  await moduleRef.init();
  return {
    moduleRef,
    audit: moduleRef.get(AuditService),
    sealer: moduleRef.get(AuditSealer),
    verifier: moduleRef.get(AuditVerifier),
    context: moduleRef.get(RequestContext),
  };
}

// Several processes on one database, and transactions that overlap, need a PostgreSQL server: the
// embedded database serves one process and runs one transaction at a time.
(TEST_DATABASE_URL ? describe : describe.skip)('audit chain with two replicas (TEST_DATABASE_URL)', () => {
  let database: TestDatabase;
  let a: Replica;
  let b: Replica;
  let client: Client;

  const sealed = async (): Promise<number[]> =>
    (
      await client.query<{ chain_seq: string }>(
        'SELECT chain_seq FROM audit_events WHERE chain_seq IS NOT NULL ORDER BY chain_seq',
      )
    ).rows.map((row) => Number(row.chain_seq));

  beforeAll(async () => {
    database = await provisionTestDatabase();
    a = await startReplica(database.url);
    b = await startReplica(database.url);
    client = new Client({ connectionString: database.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await a?.moduleRef.close();
    await b?.moduleRef.close();
    await database?.drop();
  });

  it('two sealers running while both replicas write produce one gapless chain, each row sealed once', async () => {
    let writing = true;
    const sealedCounts: number[] = [];
    const sealing = (async () => {
      while (writing) {
        sealedCounts.push(...(await Promise.all([a.sealer.sealPending(), b.sealer.sealPending()])));
      }
    })();
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const replica = i % 2 === 0 ? a : b;
        return replica.context.run(() =>
          replica.audit.record({ action: 'replica.write', outcome: 'success', details: { i } }),
        );
      }),
    );
    writing = false;
    await sealing;
    for (let round = 0; round < 100; round++) {
      const [fromA, fromB] = await Promise.all([a.sealer.sealPending(), b.sealer.sealPending()]);
      sealedCounts.push(fromA, fromB);
      if (fromA + fromB === 0 && (await sealed()).length === 200) break;
    }

    expect(sealedCounts.reduce((sum, n) => sum + n, 0)).toBe(200);
    expect(await sealed()).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(await a.verifier.verify()).toEqual({ ok: true, checked: 200, unsealed: 0 });
    expect(await b.verifier.verify()).toEqual({ ok: true, checked: 200, unsealed: 0 });
  });

  it('skips its round while another holds the chain lock, and seals once it is free', async () => {
    await a.audit.record({ action: 'replica.locked', outcome: 'success' });
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [AUDIT_CHAIN_LOCK_KEY]);
      expect(await a.sealer.sealPending()).toBe(0);
      expect(await b.sealer.sealPending()).toBe(0);
    } finally {
      await client.query('COMMIT');
    }
    expect(await a.sealer.sealPending()).toBe(1);
    expect(await a.verifier.verify()).toEqual({ ok: true, checked: 201, unsealed: 0 });
  });

  it('seals a row that commits after rows with higher ids were sealed (a real late commit)', async () => {
    await client.query('BEGIN');
    let lateId: number;
    try {
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO audit_events (actor_type, action, outcome) VALUES ('system', 'replica.late', 'success') RETURNING id`,
      );
      lateId = Number(inserted.rows[0].id);
      for (let i = 0; i < 3; i++) await b.audit.record({ action: 'replica.early', outcome: 'success' });
      // The late row is not visible yet: the sealer cannot skip past it, it just does not see it.
      expect(await a.sealer.sealPending()).toBe(3);
      expect(await a.verifier.verify()).toEqual({ ok: true, checked: 204, unsealed: 0 });
    } finally {
      await client.query('COMMIT');
    }
    expect(await a.verifier.verify()).toEqual({ ok: true, checked: 204, unsealed: 1 });
    expect(await b.sealer.sealPending()).toBe(1);
    const { rows } = await client.query<{ id: string; chain_seq: string }>(
      `SELECT id, chain_seq FROM audit_events ORDER BY chain_seq DESC LIMIT 4`,
    );
    expect(Number(rows[0].id)).toBe(lateId);
    expect(rows.slice(1).every((row) => Number(row.id) > lateId)).toBe(true);
    expect(await a.verifier.verify()).toEqual({ ok: true, checked: 205, unsealed: 0 });
  });
});
