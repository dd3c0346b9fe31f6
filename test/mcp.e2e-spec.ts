import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { CatalogImporter } from '../src/catalog/import/catalog-importer';
import { RequestContext } from '../src/common/request-context';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearer, createUser, signIn } from './support/auth';
import { StubOllama } from './support/stub-ollama';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

type Headers = Record<string, string>;

interface ToolResult {
  content: Array<{ type: string; text: string }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

const PRODUCT_ID = 7_100_001;

describe('MCP server', () => {
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let base: string;
  let admin: Headers;
  let viewer: Headers;
  let viewerToken: string;
  let stub: StubOllama;
  let upstream: Server;
  const clients: Client[] = [];
  const http = () => request(app.getHttpServer());

  async function streamable(headers: Headers): Promise<Client> {
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }),
    );
    clients.push(client);
    return client;
  }

  async function legacy(headers: Headers): Promise<Client> {
    const client = new Client({ name: 'test-sse', version: '1.0.0' });
    await client.connect(
      new SSEClientTransport(new URL(`${base}/mcp/sse`), {
        requestInit: { headers },
        eventSourceInit: {
          fetch: (url, init) =>
            fetch(url, { ...init, headers: { ...(init?.headers as Headers), ...headers } }),
        },
      }),
    );
    clients.push(client);
    return client;
  }

  interface EventRow {
    outcome: string;
    request_id: string;
    details: { transport?: string; sessionId?: string; tool?: string };
  }

  function toolEvents(where = "action = 'tool.execute'"): Promise<EventRow[]> {
    return app
      .get(DataSource)
      .query<EventRow[]>(`SELECT outcome, request_id, details FROM audit_events WHERE ${where} ORDER BY id`);
  }

  beforeAll(async () => {
    stub = await StubOllama.start();
    upstream = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url, method: req.method }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    db = await provisionTestDatabase();
    t = await startTestApp(
      db,
      { OLLAMA_URL: stub.url, LLM_DEFAULT_MODEL: 'stub-small:latest' },
      { listen: true },
    );
    app = t.app;
    base = t.baseUrl;
    const adminUser = await createUser(app, ['admin']);
    admin = bearer((await signIn(app, adminUser.email, adminUser.password)).accessToken);
    const viewerUser = await createUser(app, ['viewer']);
    viewerToken = (await signIn(app, viewerUser.email, viewerUser.password)).accessToken;
    viewer = bearer(viewerToken);
    await app.get(RequestContext).run(() =>
      app.get(CatalogImporter).importBatch([
        {
          position: 1,
          value: {
            id: PRODUCT_ID,
            title: 'Walnut Floor Lamp',
            handle: 'walnut-floor-lamp',
            body_html: '<p>A lamp.</p>',
            vendor: 'Lumen',
            product_type: 'Lighting',
            tags: ['Lamp'],
          },
        },
      ]),
    );
  });

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await t?.close();
    await db?.drop();
    await stub?.stop();
    upstream?.close();
  });

  describe('HTTP safeguards', () => {
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    };
    const accept = { Accept: 'application/json, text/event-stream' };

    it('401 without credentials, with the resource metadata challenge and a JSON-RPC body', async () => {
      const res = await http().post('/mcp').set(accept).send(initialize).expect(401);
      expect(res.headers['www-authenticate']).toBe(
        `Bearer resource_metadata="${t.config.http.publicBaseUrl}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`,
      );
      expect(res.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
      expect(res.body.error.data).toMatchObject({
        code: 'UNAUTHENTICATED',
        requestId: res.headers['x-request-id'],
      });
    });

    it('401 with invalid_token for a bad token, and for a token in the query string', async () => {
      const bad = await http()
        .post('/mcp')
        .set(accept)
        .set(bearer('not-a-token'))
        .send(initialize)
        .expect(401);
      expect(bad.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token", resource_metadata=/);
      const query = await http()
        .post(`/mcp?access_token=${viewerToken}`)
        .set(accept)
        .set(viewer)
        .send(initialize)
        .expect(401);
      expect(query.body.error.data.code).toBe('TOKEN_IN_QUERY');
      await http().get(`/mcp/sse?token=${viewerToken}`).expect(401);
    });

    it('serves the protected resource metadata', async () => {
      const res = await http().get('/.well-known/oauth-protected-resource/mcp').expect(200);
      expect(res.body).toMatchObject({
        resource: `${t.config.http.publicBaseUrl}/mcp`,
        bearer_methods_supported: ['header'],
      });
    });

    it('403 for a foreign Origin or Host (DNS rebinding), 413 for an oversized body', async () => {
      const origin = await http()
        .post('/mcp')
        .set(accept)
        .set(viewer)
        .set('Origin', 'https://evil.example')
        .send(initialize)
        .expect(403);
      expect(origin.body.error.data.code).toBe('ORIGIN_NOT_ALLOWED');
      const host = await http()
        .post('/mcp')
        .set(accept)
        .set(viewer)
        .set('Host', 'evil.example')
        .send(initialize)
        .expect(403);
      expect(host.body.error.data.code).toBe('HOST_NOT_ALLOWED');
      const big = await http()
        .post('/mcp')
        .set(accept)
        .set(viewer)
        .set('content-type', 'application/json')
        .send(JSON.stringify({ ...initialize, padding: 'x'.repeat(t.config.http.bodyLimitBytes) }))
        .expect(413);
      expect(big.body).toMatchObject({ jsonrpc: '2.0', error: { data: { code: 'PAYLOAD_TOO_LARGE' } } });
    });
  });

  describe('tools', () => {
    it('lists exactly the tools the principal may call, the same over MCP and REST', async () => {
      const client = await streamable(viewer);
      const { tools } = await client.listTools();
      const names = tools.map((tool) => tool.name);
      expect(names).toContain('search_products');
      expect(names).toContain('get_product');
      expect(names).not.toContain('propose_product_change');
      expect(names).not.toContain('start_pipeline_run');
      const rest = await http().get('/api/v1/tools?limit=200').set(viewer).expect(200);
      expect(rest.body.items.map((tool: { name: string }) => tool.name)).toEqual(names);
      const search = tools.find((tool) => tool.name === 'search_products')!;
      expect(search.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
      expect(search.inputSchema).toMatchObject({ type: 'object', additionalProperties: false });
      await http().get('/api/v1/tools/propose_product_change').set(viewer).expect(404);
      await http().get('/api/v1/tools/search_products').set(viewer).expect(200);
    });

    it('calls a read tool over both transports and REST', async () => {
      for (const client of [await streamable(viewer), await legacy(viewer)]) {
        const result = (await client.callTool({
          name: 'get_product',
          arguments: { id: PRODUCT_ID },
        })) as ToolResult;
        expect(result.isError).toBeFalsy();
        expect(result.structuredContent).toMatchObject({ id: PRODUCT_ID, title: 'Walnut Floor Lamp' });
        expect(JSON.parse(result.content[0].text)).toEqual(result.structuredContent);
      }
      const rest = await http()
        .post('/api/v1/tools/search_products/execute')
        .set(viewer)
        .send({ arguments: { q: 'walnut lamp' } })
        .expect(200);
      expect(rest.body).toMatchObject({ isError: false, structuredContent: { total: 1 } });
      expect(typeof rest.body.durationMs).toBe('number');
    });

    it('refuses a tool the caller may not call the same way over both transports and REST, one denied event each', async () => {
      const before = (await toolEvents("action = 'tool.execute' AND outcome = 'denied'")).length;
      const args = { productId: PRODUCT_ID, changes: { title: 'Hacked' } };
      for (const client of [await streamable(viewer), await legacy(viewer)]) {
        const result = (await client.callTool({
          name: 'propose_product_change',
          arguments: args,
        })) as ToolResult;
        expect(result.isError).toBe(true);
        expect(result.structuredContent).toBeUndefined();
        expect(JSON.parse(result.content[0].text)).toMatchObject({
          error: { code: 'PERMISSION_DENIED', requestId: expect.any(String) },
        });
      }
      const rest = await http()
        .post('/api/v1/tools/propose_product_change/execute')
        .set(viewer)
        .send({ arguments: args })
        .expect(403);
      expect(rest.body.error.code).toBe('PERMISSION_DENIED');
      const denied = await toolEvents("action = 'tool.execute' AND outcome = 'denied'");
      expect(denied.length - before).toBe(3);
      expect(denied.slice(-3).map((e) => e.details.transport)).toEqual(['streamable-http', 'sse', 'rest']);
    });

    it('reports invalid arguments and failures as tool errors, an unknown tool as a protocol error', async () => {
      const client = await streamable(viewer);
      const invalid = (await client.callTool({
        name: 'get_product',
        arguments: { id: PRODUCT_ID, extra: 1 },
      })) as ToolResult;
      expect(invalid.isError).toBe(true);
      expect(JSON.parse(invalid.content[0].text).error.code).toBe('VALIDATION_FAILED');
      const missing = (await client.callTool({ name: 'get_product', arguments: { id: 1 } })) as ToolResult;
      expect(missing.isError).toBe(true);
      expect(JSON.parse(missing.content[0].text).error.code).toBe('PRODUCT_NOT_FOUND');
      await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/no_such_tool/);
      await http().post('/api/v1/tools/no_such_tool/execute').set(viewer).send({}).expect(404);
      await http()
        .post('/api/v1/tools/get_product/execute')
        .set(viewer)
        .send({ arguments: { id: 'x' } })
        .expect(400);
    });

    it('creates a proposal with source mcp, never applying it', async () => {
      const client = await streamable(admin);
      const result = (await client.callTool({
        name: 'propose_product_change',
        arguments: {
          productId: PRODUCT_ID,
          changes: { title: 'Walnut Floor Lamp, 160 cm' },
          confidence: 0.8,
        },
      })) as ToolResult;
      expect(result.isError).toBeFalsy();
      const items = (result.structuredContent as { items: Array<Record<string, unknown>> }).items;
      expect(items).toEqual([expect.objectContaining({ field: 'title', source: 'mcp', status: 'proposed' })]);
      const product = await http().get(`/api/v1/products/${PRODUCT_ID}`).set(admin).expect(200);
      expect(product.body.title).toBe('Walnut Floor Lamp');
      const event = (await toolEvents("action = 'change.propose' AND outcome = 'success'")).at(-1)!;
      const [call] = await toolEvents(
        "action = 'tool.execute' AND details->>'tool' = 'propose_product_change' AND outcome = 'success'",
      );
      expect(event.request_id).toBe(call.request_id);
    });

    it('sends progress notifications while following a pipeline run', async () => {
      const client = await streamable(admin);
      const progress: number[] = [];
      const result = (await client.callTool(
        {
          name: 'start_pipeline_run',
          arguments: { task: 'category_normalization', productIds: [PRODUCT_ID], waitSeconds: 60 },
        },
        undefined,
        { onprogress: (update) => progress.push(update.progress), timeout: 90_000 },
      )) as ToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ status: 'completed', total: 1 });
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.at(-1)).toBe(1);
    });

    it('records exactly one tool.execute per call: 100 concurrent calls from 10 sessions', async () => {
      const sessions = await Promise.all(Array.from({ length: 10 }, () => streamable(viewer)));
      const before = (await toolEvents()).length;
      const results = await Promise.all(
        sessions.flatMap((client) =>
          Array.from({ length: 10 }, () =>
            client.callTool({ name: 'get_product', arguments: { id: PRODUCT_ID } }),
          ),
        ),
      );
      expect(results.every((result) => !result.isError)).toBe(true);
      const events = await toolEvents();
      expect(events.length - before).toBe(100);
      expect(new Set(events.slice(-100).map((e) => e.details.sessionId)).size).toBe(10);
    });
  });

  describe('adapter and code-generation tools', () => {
    it('calls a REST adapter exposed as a tool: tool.execute and adapter.execute share the request id', async () => {
      const port = (upstream.address() as AddressInfo).port;
      await http()
        .post('/api/v1/adapters')
        .set(admin)
        .send({
          name: 'inventory',
          type: 'rest',
          exposeAsTool: true,
          config: { baseUrl: `http://127.0.0.1:${port}`, allowedCidrs: ['127.0.0.0/8'] },
        })
        .expect(201);
      const client = await streamable(admin);
      // Every replica re-reads the adapter tools within 2 s.
      let tool: Awaited<ReturnType<Client['listTools']>>['tools'][number] | undefined;
      for (let attempt = 0; attempt < 50 && tool === undefined; attempt += 1) {
        const { tools } = await client.listTools();
        tool = tools.find((candidate) => candidate.name === 'adapter_inventory_request');
        if (tool === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (tool === undefined) throw new Error('adapter_inventory_request never appeared');
      expect(tool.annotations).toMatchObject({ readOnlyHint: true, openWorldHint: true });
      expect(tool.inputSchema.properties).toHaveProperty('method');
      const result = (await client.callTool({
        name: 'adapter_inventory_request',
        arguments: { path: '/items?x=1' },
      })) as ToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({
        status: 200,
        body: { path: '/items?x=1', method: 'GET' },
      });
      const call = (
        await toolEvents("action = 'tool.execute' AND details->>'tool' = 'adapter_inventory_request'")
      )[0];
      const adapter = await toolEvents("action = 'adapter.execute'");
      expect(adapter.map((event) => event.request_id)).toContain(call.request_id);
      const refused = (await client.callTool({
        name: 'adapter_inventory_request',
        arguments: { method: 'DELETE', path: '/items' },
      })) as ToolResult;
      expect(refused.isError).toBe(true);
    });

    it('generates code through the LLM provider, and reports an unusable answer as a tool error', async () => {
      const client = await streamable(admin);
      stub.chatReply = { content: JSON.stringify({ code: 'print("hi")', explanation: 'Prints hi.' }) };
      const result = (await client.callTool({
        name: 'generate_code',
        arguments: { language: 'python', instructions: 'Print hi.' },
      })) as ToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ code: 'print("hi")', model: 'stub-small:latest' });
      expect(stub.chatCalls.at(-1)?.user).toContain('Print hi.');
      stub.chatReply = 'malformed';
      const broken = (await client.callTool({
        name: 'generate_code',
        arguments: { language: 'python', instructions: 'Print hi.' },
      })) as ToolResult;
      expect(broken.isError).toBe(true);
      expect(JSON.parse(broken.content[0].text).error.code).toBe('LLM_OUTPUT_INVALID');
      stub.chatReply = 'valid';
    });
  });

  it('counts MCP requests, tool calls and sessions in the metrics', async () => {
    const metrics = await http().get('/metrics').expect(200);
    expect(metrics.text).toMatch(
      /http_requests_total\{method="POST",route="\/mcp",status_class="2xx"\} [1-9]/,
    );
    expect(metrics.text).toMatch(
      /tool_calls_total\{tool="get_product",transport="streamable-http",outcome="success"\} [1-9]/,
    );
    expect(metrics.text).toMatch(
      /tool_calls_total\{tool="propose_product_change",transport="sse",outcome="denied"\} 1/,
    );
    expect(metrics.text).toMatch(/mcp_sessions_active\{transport="sse"\} [1-9]/);
  });

  describe('sessions', () => {
    it("answers 404 to another principal presenting a session's id", async () => {
      const client = await streamable(viewer);
      const transport = (client as unknown as { transport: StreamableHTTPClientTransport }).transport;
      const sessionId = transport.sessionId!;
      const res = await http()
        .post('/mcp')
        .set({ ...admin, Accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId })
        .send({ jsonrpc: '2.0', id: 5, method: 'tools/list' })
        .expect(404);
      expect(res.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });
      await client.listTools();
    });

    it('tells connected sessions when an adapter tool appears', async () => {
      const client = await streamable(admin);
      const changed = new Promise<void>((resolve) =>
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()),
      );
      // The server stream (GET) carries notifications that answer no request.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await http()
        .post('/api/v1/adapters')
        .set(admin)
        .send({
          name: 'weather',
          type: 'rest',
          exposeAsTool: true,
          config: { baseUrl: 'https://api.weather.example' },
        })
        .expect(201);
      await changed;
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toContain('adapter_weather_request');
    });
  });

  describe('resources and prompts', () => {
    it('reads products and runs through resource templates', async () => {
      const client = await streamable(viewer);
      const templates = await client.listResourceTemplates();
      expect(templates.resourceTemplates.map((r) => r.uriTemplate)).toEqual([
        'catalog://products/{id}',
        'pipelines://runs/{id}',
      ]);
      const list = await client.listResources();
      expect(list.resources.map((r) => r.uri)).toContain(`catalog://products/${PRODUCT_ID}`);
      const read = await client.readResource({ uri: `catalog://products/${PRODUCT_ID}` });
      expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ id: PRODUCT_ID });
      await expect(client.readResource({ uri: 'catalog://products/1' })).rejects.toThrow(/not found/i);
      const prompts = await client.listPrompts();
      expect(prompts.prompts.length).toBeGreaterThan(0);
      const prompt = await client.getPrompt({
        name: prompts.prompts[0].name,
        arguments: { productId: String(PRODUCT_ID) },
      });
      expect(prompt.messages.length).toBe(2);
    });
  });
});
