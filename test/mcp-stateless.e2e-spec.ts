import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import request from 'supertest';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

/** MCP_STATELESS, per-tool rate limits, idle expiry and shutdown: settings that need an app of their own. */
describe('MCP server: stateless mode, tool limits, session lifetime', () => {
  let db: TestDatabase;
  let t: TestApp | undefined;
  let admin: Record<string, string>;

  beforeAll(async () => {
    db = await provisionTestDatabase();
    t = await startTestApp(
      db,
      {
        MCP_STATELESS: 'true',
        TOOLS_RATE_LIMIT_MAX: '3',
        MCP_SESSION_IDLE_SECONDS: '10',
        // Longer than the test's timeout: open streams must end because sessions close, not because
        // the grace period ran out.
        SHUTDOWN_GRACE_MS: '60000',
      },
      { listen: true },
    );
    const user = await createUser(t.app, ['admin']);
    admin = bearer((await signIn(t.app, user.email, user.password)).accessToken);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  /**
   * A legacy SSE stream read with fetch (an EventSource would reconnect by itself): resolves with the
   * text received once the server ends the stream.
   */
  async function openLegacyStream(): Promise<{ sessionId: string; ended: Promise<string> }> {
    const res = await fetch(`${t!.baseUrl}/mcp/sse`, { headers: admin });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('sessionId=')) text += decoder.decode((await reader.read()).value);
    const sessionId = /sessionId=([0-9a-f-]+)/.exec(text)![1];
    const ended = (async () => {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return text;
        text += decoder.decode(chunk.value);
      }
    })();
    return { sessionId, ended };
  }

  async function postMessage(sessionId: string, message: Record<string, unknown>): Promise<number> {
    const res = await request(t!.app.getHttpServer())
      .post(`/mcp/messages?sessionId=${sessionId}`)
      .set(admin)
      .send(message);
    return res.status;
  }

  it('serves Streamable HTTP without sessions: POST only', async () => {
    const client = new Client({ name: 'stateless', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${t!.baseUrl}/mcp`), {
      requestInit: { headers: admin },
    });
    await client.connect(transport);
    expect(transport.sessionId).toBeUndefined();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain('search_products');
    await client.close();
    const res = await request(t!.app.getHttpServer()).get('/mcp').set(admin).expect(405);
    expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { data: { code: 'METHOD_NOT_ALLOWED' } } });
  });

  it('limits calls per principal and tool, with Retry-After, leaving other tools callable', async () => {
    const call = (tool: string, args: Record<string, unknown>) =>
      request(t!.app.getHttpServer())
        .post(`/api/v1/tools/${tool}/execute`)
        .set(admin)
        .send({ arguments: args });
    for (let i = 0; i < 3; i += 1)
      expect((await call('search_taxonomy', { query: 'lamp' })).status).toBe(200);
    const limited = await call('search_taxonomy', { query: 'lamp' });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await call('list_pipeline_runs', {})).status).toBe(200);
  });

  it('closes a legacy session left idle for MCP_SESSION_IDLE_SECONDS', async () => {
    const { sessionId, ended } = await openLegacyStream();
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    };
    expect(await postMessage(sessionId, initialize)).toBe(202);
    expect(await ended).toContain('"result"');
    expect(await postMessage(sessionId, { jsonrpc: '2.0', id: 2, method: 'ping' })).toBe(404);
  }, 30_000);

  it('ends open streams when the service shuts down', async () => {
    const { ended } = await openLegacyStream();
    const app = t!;
    t = undefined;
    await Promise.all([app.close(), ended]);
  }, 30_000);
});
