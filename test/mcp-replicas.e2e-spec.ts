import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, type TestApp } from './support/test-app';
import {
  provisionTestDatabase,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  type TestDatabase,
} from './support/test-database';

type Fetch = typeof fetch;

/**
 * Two replicas on one database and one Redis, behind a client that alternates between them like a
 * round-robin load balancer without stickiness: sessions never go missing.
 */
(TEST_DATABASE_URL && TEST_REDIS_URL ? describe : describe.skip)(
  'MCP sessions across replicas (TEST_DATABASE_URL, TEST_REDIS_URL)',
  () => {
    let db: TestDatabase;
    const replicas: TestApp[] = [];
    let headers: Record<string, string>;
    let other: Record<string, string>;

    /** Sends each request to the next replica in turn, whatever URL the client meant. */
    function roundRobin(): { fetch: Fetch; served: string[] } {
      let next = 0;
      const served: string[] = [];
      const rotating: Fetch = (input, init) => {
        const url = new URL(input instanceof Request ? input.url : input.toString());
        const target = new URL(replicas[next % replicas.length].baseUrl);
        next += 1;
        url.host = target.host;
        served.push(`${init?.method ?? 'GET'} ${url.pathname} -> ${target.port}`);
        return fetch(url, init);
      };
      return { fetch: rotating, served };
    }

    beforeAll(async () => {
      db = await provisionTestDatabase();
      const env = {
        REDIS_URL: TEST_REDIS_URL ?? '',
        REDIS_KEY_PREFIX: `mcp-replicas-${randomUUID().slice(0, 8)}:`,
      };
      replicas.push(await startTestApp(db, env, { listen: true }));
      replicas.push(await startTestApp(db, env, { listen: true }));
      const user = await createUser(replicas[0].app, ['agent']);
      headers = bearer((await signIn(replicas[0].app, user.email, user.password)).accessToken);
      const second = await createUser(replicas[0].app, ['agent']);
      other = bearer((await signIn(replicas[0].app, second.email, second.password)).accessToken);
    });

    afterAll(async () => {
      for (const replica of replicas.reverse()) await replica.close();
      await db?.drop();
    });

    it('serves a Streamable HTTP session on whichever replica a request lands', async () => {
      const { fetch: rotating, served } = roundRobin();
      const client = new Client({ name: 'round-robin', version: '1' });
      const transport = new StreamableHTTPClientTransport(new URL(`${replicas[0].baseUrl}/mcp`), {
        requestInit: { headers },
        fetch: rotating,
      });
      await client.connect(transport);
      for (let i = 0; i < 4; i += 1) {
        const { tools } = await client.listTools();
        expect(tools.map((tool) => tool.name)).toContain('search_products');
        const result = await client.callTool({ name: 'search_taxonomy', arguments: { query: 'lamp' } });
        expect(result.isError).toBeFalsy();
      }
      const ports = new Set(served.map((line) => line.split(' -> ')[1]));
      expect(ports.size).toBe(2);
      // Someone else presenting the id is refused on either replica.
      for (const replica of replicas) {
        await request(replica.app.getHttpServer())
          .post('/mcp')
          .set({
            ...other,
            accept: 'application/json, text/event-stream',
            'mcp-session-id': transport.sessionId!,
          })
          .send({ jsonrpc: '2.0', id: 9, method: 'tools/list' })
          .expect(404);
      }
      // Ended on one replica, the session is gone on both.
      await transport.terminateSession();
      for (const replica of replicas) {
        await request(replica.app.getHttpServer())
          .post('/mcp')
          .set({
            ...headers,
            accept: 'application/json, text/event-stream',
            'mcp-session-id': transport.sessionId ?? '',
          })
          .send({ jsonrpc: '2.0', id: 10, method: 'tools/list' })
          .expect(404);
      }
      await client.close();
    });

    it('relays legacy SSE messages to the replica that holds the stream', async () => {
      const { fetch: rotating, served } = roundRobin();
      const client = new Client({ name: 'sse-round-robin', version: '1' });
      await client.connect(
        new SSEClientTransport(new URL(`${replicas[0].baseUrl}/mcp/sse`), {
          requestInit: { headers },
          fetch: rotating,
          eventSourceInit: {
            fetch: (url, init) =>
              fetch(url, { ...init, headers: { ...(init?.headers as object), ...headers } }),
          },
        }),
      );
      // 100 tool calls whose POSTs alternate between the replicas: none fails.
      const failures: unknown[] = [];
      for (let i = 0; i < 100; i += 1) {
        const result = await client.callTool({ name: 'search_taxonomy', arguments: { query: 'chair' } });
        if (result.isError) failures.push(result.content);
      }
      expect(failures).toEqual([]);
      const posts = served.filter((line) => line.startsWith('POST /mcp/messages'));
      expect(posts.length).toBeGreaterThanOrEqual(100);
      expect(new Set(posts.map((line) => line.split(' -> ')[1])).size).toBe(2);
      await client.close();
    });
  },
);
