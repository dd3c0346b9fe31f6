import { Cluster } from './support/cluster';
import { call } from './support/http';
import { ProductEdits } from './support/product-edits';
import { sleep, waitFor } from './support/processes';
import { report } from './support/report';

/**
 * Redis stops and comes back: the service keeps serving with per-replica limits (readiness says
 * so), and once Redis is back the limits are shared across replicas again.
 */
describe('Redis outage', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    // A per-tool limit of 10 per minute, counted in Redis when it is there.
    cluster = await Cluster.start('redis-outage', { env: { TOOLS_RATE_LIMIT_MAX: '10' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** 20 tool calls by a new principal, alternating between the replicas: how many were allowed. */
  async function allowedOfTwenty(): Promise<{ allowed: number; statuses: number[] }> {
    const token = await cluster.userToken(['viewer']);
    const statuses: number[] = [];
    for (let n = 0; n < 20; n++) {
      const answer = await call(cluster.urls[n % 2], 'POST', '/api/v1/tools/search_products/execute', {
        token,
        body: { arguments: { q: 'lamp' } },
      });
      statuses.push(answer.status);
    }
    return { allowed: statuses.filter((status) => status === 200).length, statuses };
  }

  /** Whether every replica's readiness reports Redis as shared (true) or not (false). */
  async function sharedEverywhere(shared: boolean): Promise<boolean> {
    for (const replica of cluster.replicas) {
      const answer = await call(replica.baseUrl, 'GET', '/health/ready');
      const body = answer.body as { info?: { redis?: { shared?: boolean } } };
      if (answer.status !== 200 || body.info?.redis?.shared !== shared) return false;
    }
    return true;
  }

  it('keeps serving with per-replica limits while Redis is away and shares them again after', async () => {
    const products = await cluster.importProducts(2_000, 4);
    const edits = new ProductEdits(() => cluster.urls, cluster.adminToken, products, 50);
    edits.start();

    const withRedis = await allowedOfTwenty();

    await cluster.redis.stopServer();
    await waitFor('readiness to report Redis away', () => sharedEverywhere(false), 30_000);
    await sleep(2_000);
    const withoutRedis = await allowedOfTwenty();

    await cluster.redis.startServer();
    await waitFor('readiness to report Redis shared again', () => sharedEverywhere(true), 60_000);
    const restored = await allowedOfTwenty();
    await sleep(2_000);
    await edits.stop();

    const figures = {
      allowedOfTwenty: {
        withRedis: withRedis.allowed,
        withoutRedis: withoutRedis.allowed,
        restored: restored.allowed,
      },
      edits: edits.statusCounts(),
    };
    report('Redis outage', figures);

    // Shared: 10 per minute across both replicas, not 10 on each.
    expect(withRedis.allowed).toBe(10);
    expect(withRedis.statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    // Away: each replica counts on its own, so both allow their 10; nothing fails.
    expect(withoutRedis.allowed).toBe(20);
    expect(restored.allowed).toBe(10);
    // The edits went on throughout with no error at all.
    expect(Object.keys(edits.statusCounts())).toEqual(['200']);
    expect(edits.edits.length).toBeGreaterThan(50);
  });
});
