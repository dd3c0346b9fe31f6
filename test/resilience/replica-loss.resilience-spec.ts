import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Cluster, product } from './support/cluster';
import { EventStream } from './support/event-stream';
import { checkImportExactlyOnce, checkRunExactlyOnce } from './support/exactly-once';
import { call, expectStatus } from './support/http';
import { waitFor } from './support/processes';
import type { Replica } from './support/replica';
import { report } from './support/report';

const RUN_SIZE = 200;
const IMPORT_SIZE = 20_000;

/**
 * A replica goes away in the middle of work: stopped for a rolling update (SIGTERM) or killed
 * (SIGKILL). Work it held is finished by the other replica, each pipeline item and each imported
 * product recorded exactly once; clients of its streams and MCP sessions carry on elsewhere.
 */
describe('losing a replica mid-work', () => {
  let cluster: Cluster;
  let runProducts: number[];

  beforeAll(async () => {
    cluster = await Cluster.start('replica-loss');
    runProducts = await cluster.importProducts(3_000, 2 * RUN_SIZE);
    // Each LLM call takes a while, so that runs are still going when a replica goes.
    cluster.ollama.latencyMs = 200;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  // Each scenario starts with both replicas up.
  afterEach(async () => {
    for (const replica of cluster.replicas) if (!replica.running) await replica.start();
  });

  /** Starts a pipeline run and an import, both sent to `replica` (whose workers are woken first). */
  async function startWork(replica: Replica, productIds: number[], importFrom: number) {
    const token = cluster.adminToken;
    const run = await expectStatus<{ id: string }>(202, replica.baseUrl, 'POST', '/api/v1/pipeline-runs', {
      token,
      body: { task: 'meta_optimization', selection: { productIds }, concurrency: 2 },
    });
    const importIds = Array.from({ length: IMPORT_SIZE }, (_, index) => importFrom + index);
    const started = await expectStatus<{ id: string }>(
      202,
      replica.baseUrl,
      'POST',
      '/api/v1/catalog/imports',
      {
        token,
        body: { products: importIds.map(product) },
        timeoutMs: 60_000,
      },
    );
    return { runId: run.body.id, importId: started.body.id, importIds };
  }

  async function runStatus(runId: string): Promise<{ status: string; counts: Record<string, number> }> {
    const { body } = await expectStatus<{ status: string; counts: Record<string, number> }>(
      200,
      cluster.urls[0],
      'GET',
      `/api/v1/pipeline-runs/${runId}`,
      { token: cluster.adminToken },
    );
    return body;
  }

  async function waitForRun(
    runId: string,
    timeoutMs: number,
  ): Promise<{ status: string; counts: Record<string, number> }> {
    let last = await runStatus(runId);
    await waitFor(
      `run ${runId} to finish`,
      async () => {
        last = await runStatus(runId);
        return !['queued', 'running'].includes(last.status);
      },
      timeoutMs,
    );
    return last;
  }

  function mcpHeaders(): Record<string, string> {
    return { authorization: `Bearer ${cluster.adminToken}` };
  }

  /** A legacy SSE client transport on one replica, the bearer token on both the stream and the POSTs. */
  function legacySseTransport(replica: Replica): SSEClientTransport {
    return new SSEClientTransport(new URL(`${replica.baseUrl}/mcp/sse`), {
      requestInit: { headers: mcpHeaders() },
      eventSourceInit: {
        fetch: (url, init) =>
          fetch(url, { ...init, headers: { ...(init?.headers as object), ...mcpHeaders() } }),
      },
    });
  }

  it('SIGTERM: streams end cleanly, clients reconnect to the other replica, run and import finish exactly once', async () => {
    const [leaving, staying] = cluster.replicas;
    const work = await startWork(leaving, runProducts.slice(0, RUN_SIZE), 100_000);

    // Clients holding streams and sessions on the replica that will leave.
    const events = new EventStream(
      `${leaving.baseUrl}/api/v1/pipeline-runs/${work.runId}/events`,
      cluster.adminToken,
    );
    const sse = new Client({ name: 'legacy-sse', version: '1' });
    // The SDK's legacy SSE transport reports its stream ending as an error (EventSource then retries).
    let sseEnded = false;
    sse.onerror = () => (sseEnded = true);
    await sse.connect(legacySseTransport(leaving));
    expect((await sse.callTool({ name: 'search_products', arguments: { q: 'lamp' } })).isError).toBeFalsy();
    // A Streamable HTTP client behind the balancer, its session opened while both replicas run.
    const streamable = new Client({ name: 'streamable', version: '1' });
    const streamableTransport = new StreamableHTTPClientTransport(new URL(`${cluster.balancer.url}/mcp`), {
      requestInit: { headers: mcpHeaders() },
    });
    await streamable.connect(streamableTransport);
    const sessionId = streamableTransport.sessionId;
    for (let n = 0; n < 4; n++) {
      expect(
        (await streamable.callTool({ name: 'search_products', arguments: { q: 'lamp' } })).isError,
      ).toBeFalsy();
    }

    await waitFor(
      'the run to make progress',
      async () => ((await runStatus(work.runId)).counts.succeeded ?? 0) >= 20,
      60_000,
    );
    const stopStarted = Date.now();
    const exitCode = await leaving.stop('SIGTERM');
    const stopMs = Date.now() - stopStarted;
    await events.finished;

    // The streams on the leaving replica ended cleanly.
    expect(exitCode).toBe(0);
    expect(events.ended).toBe('end');
    expect(events.has('snapshot')).toBe(true);
    await waitFor('the legacy SSE client to see its stream end', () => Promise.resolve(sseEnded), 10_000);
    await sse.close();

    // Clients carry on with the other replica: the Streamable HTTP session is taken up there,
    // the legacy SSE client opens a new stream, the event stream resumes after its last event.
    for (let n = 0; n < 4; n++) {
      expect(
        (await streamable.callTool({ name: 'search_products', arguments: { q: 'lamp' } })).isError,
      ).toBeFalsy();
    }
    expect(streamableTransport.sessionId).toBe(sessionId);
    const again = new Client({ name: 'legacy-sse-again', version: '1' });
    await again.connect(legacySseTransport(staying));
    expect((await again.callTool({ name: 'search_products', arguments: { q: 'lamp' } })).isError).toBeFalsy();
    const resumed = new EventStream(
      `${staying.baseUrl}/api/v1/pipeline-runs/${work.runId}/events`,
      cluster.adminToken,
      events.lastId,
    );

    const run = await waitForRun(work.runId, 180_000);
    await resumed.finished;
    const imported = await cluster.waitForImport(work.importId, 180_000);
    const runCheck = await checkRunExactlyOnce(cluster.postgres, work.runId, runProducts.slice(0, RUN_SIZE));
    const importProblems = await checkImportExactlyOnce(cluster.postgres, imported, work.importIds);
    await Promise.all([streamable.close(), again.close()]);
    report('SIGTERM a replica mid-work', {
      stopMs,
      exitCode,
      run: { status: run.status, counts: run.counts, ...runCheck, problems: runCheck.problems.length },
      eventsBeforeStop: events.events.length,
      eventsAfterReconnect: resumed.events.length,
      import: { status: imported.status, processed: imported.processed, summary: imported.summary },
    });

    expect(resumed.has('done')).toBe(true);
    expect(run.status).toBe('completed');
    expect(runCheck.problems).toEqual([]);
    expect(importProblems).toEqual([]);
  });

  it('SIGKILL mid-run: the other replica takes the work over, every item and product recorded once', async () => {
    const [crashing] = cluster.replicas;
    const productIds = runProducts.slice(RUN_SIZE);
    const work = await startWork(crashing, productIds, 200_000);
    await waitFor(
      'the run to make progress',
      async () => ((await runStatus(work.runId)).counts.succeeded ?? 0) >= 20,
      60_000,
    );
    const killedAt = Date.now();
    await crashing.stop('SIGKILL');

    const run = await waitForRun(work.runId, 240_000);
    const runDoneMs = Date.now() - killedAt;
    const imported = await cluster.waitForImport(work.importId, 240_000);
    const importDoneMs = Date.now() - killedAt;
    const runCheck = await checkRunExactlyOnce(cluster.postgres, work.runId, productIds);
    const importProblems = await checkImportExactlyOnce(cluster.postgres, imported, work.importIds);
    const chain = await cluster.verifyAuditChain();
    report('SIGKILL a replica mid-work', {
      run: { status: run.status, counts: run.counts, ...runCheck, problems: runCheck.problems.length },
      runFinishedAfterKillMs: runDoneMs,
      import: { status: imported.status, processed: imported.processed, summary: imported.summary },
      importFinishedAfterKillMs: importDoneMs,
      chain,
    });

    expect(run.status).toBe('completed');
    expect(runCheck.problems).toEqual([]);
    expect(importProblems).toEqual([]);
    expect(chain.ok).toBe(true);
    // The survivor still answers.
    expect((await call(cluster.urls[0], 'GET', '/health/ready')).status).toBe(200);
  });
});
