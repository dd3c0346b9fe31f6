import { Cluster } from './support/cluster';
import { joinWithAudit, ProductEdits } from './support/product-edits';
import { sleep, waitFor } from './support/processes';
import { report } from './support/report';

/**
 * PostgreSQL restarts under load: readiness goes 503 while it is away and recovers, and the audit
 * trail matches what was answered, request by request.
 */
describe('PostgreSQL restart under load', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start('database-restart');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers 503 while the database is away, recovers, and audits exactly what committed', async () => {
    const products = await cluster.importProducts(1_000, 8);
    const edits = new ProductEdits(() => cluster.urls, cluster.adminToken, products);
    const readiness = cluster.replicas.map(() => new Set<number>());
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const statuses = await Promise.all(cluster.replicas.map((replica) => replica.readiness()));
        statuses.forEach((status, index) => readiness[index].add(status));
        await sleep(250);
      }
    })();

    edits.start();
    await sleep(5_000);
    const before = edits.edits.filter((edit) => edit.status === 200).length;
    const stoppedAt = Date.now();
    await cluster.postgres.stopServer('fast');
    await sleep(6_000);
    await cluster.postgres.startServer();
    await waitFor(
      'both replicas ready again',
      async () => (await Promise.all(cluster.replicas.map((r) => r.readiness()))).every((s) => s === 200),
      60_000,
    );
    const recoveredAt = Date.now();
    await sleep(5_000);
    await edits.stop();
    polling = false;
    await poller;
    await sleep(2_000); // audit events written after the answer (none expected here) get their chance

    const after = edits.edits.filter((edit) => edit.at >= recoveredAt && edit.status === 200).length;
    const join = await joinWithAudit(cluster.postgres, edits.edits);
    const chain = await cluster.verifyAuditChain();
    const figures = {
      edits: edits.edits.length,
      statuses: edits.statusCounts(),
      succeededBefore: before,
      fromStopToRecovery: edits.statusCounts(stoppedAt, recoveredAt),
      reads: edits.reads.length,
      succeededAfterRecovery: after,
      auditJoined: join.checked,
      chain,
      readinessSeen: readiness.map((set) => [...set].sort()),
    };
    report('PostgreSQL restart', figures);

    expect(join.problems).toEqual([]);
    expect(chain.ok).toBe(true);
    expect(before).toBeGreaterThan(20);
    expect(after).toBeGreaterThan(20);
    for (const seen of readiness) expect([...seen]).toEqual(expect.arrayContaining([200, 503]));
    // While the database is away the service refuses with 503, never a 500.
    const unexpected = edits.edits.filter((edit) => edit.status >= 500 && edit.status !== 503);
    // With the replicas' error lines for them, so that a failure says what went wrong.
    expect({ unexpected, logs: cluster.errorLogLines(unexpected.map((edit) => edit.requestId)) }).toEqual({
      unexpected: [],
      logs: [],
    });
    expect(edits.reads.filter((status) => status >= 500 && status !== 503)).toEqual([]);
  });
});
