'use strict';

// The MCP reference point for bench/mcp-throughput.js: the SDK's stateless Streamable HTTP
// transport on plain node:http, with a new server and transport per request (the shape of the
// SDK's own stateless example), one no-op tool, and no authentication, audit or logging. Run in its
// own process so that it never shares an event loop with the load generator.

const http = require('node:http');
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { z } = require('zod');

/** Bodies are tiny JSON-RPC messages; anything larger is not from the bench. */
const MAX_BODY_BYTES = 64 * 1024;
const NOOP_TEXT = JSON.stringify({ ok: true, items: [] });

// The same argument shape as the service's search_taxonomy, so both sides validate what they are sent.
const noopInput = { query: z.string().min(1).max(200), limit: z.number().int().min(1).max(50).optional() };

function buildServer() {
  const server = new McpServer({ name: 'bench-baseline', version: '0.0.0' });
  server.registerTool(
    'noop',
    { description: 'Does nothing and answers a fixed small JSON text.', inputSchema: noopInput },
    () => ({ content: [{ type: 'text', text: NOOP_TEXT }] }),
  );
  return server;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function handleMcp(req, res) {
  let body;
  try {
    body = await readJson(req);
  } catch {
    answer(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
    return;
  }
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.once('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

const httpServer = http.createServer((req, res) => {
  // GET / only tells the harness that the server is up.
  if (req.method === 'GET' && req.url === '/') return answer(res, 200, { status: 'ok' });
  if (req.method !== 'POST' || req.url !== '/mcp') return answer(res, 405, { error: 'method not allowed' });
  handleMcp(req, res).catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    if (!res.headersSent) {
      answer(res, 500, { jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
    } else if (!res.writableEnded) res.end();
  });
});

const port = Number(process.env.PORT);
const host = process.env.HOST || '127.0.0.1';
httpServer.listen(port, host, () => process.stdout.write(`MCP baseline listening on ${host}:${port}\n`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    httpServer.closeAllConnections();
    httpServer.close(() => process.exit(0));
  });
}
