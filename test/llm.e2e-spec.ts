import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { get as httpGet, type IncomingHttpHeaders } from 'node:http';
import request from 'supertest';
import { LlmError } from '../src/llm/llm-errors';
import { LlmPullsService } from '../src/llm/llm-pulls.service';
import { LlmService } from '../src/llm/llm.service';
import { OpenAiProvider } from '../src/llm/openai.provider';
import { bearer, createUser, signIn } from './support/auth';
import { StubOllama } from './support/stub-ollama';
import { startTestApp, TEST_ADMIN, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

const SCHEMA = {
  type: 'object',
  properties: {
    seoTitle: { type: 'string', minLength: 30, maxLength: 60 },
    seoKeywords: { type: 'array', items: { type: 'string' }, minItems: 5, maxItems: 8 },
  },
  required: ['seoTitle', 'seoKeywords'],
  additionalProperties: false,
};

const chatRequest = (overrides: Record<string, unknown> = {}) => ({
  task: 'schema_analysis',
  system: 'You write SEO metadata. Answer JSON only.',
  user: '<product>Oak dining table</product>',
  jsonSchema: SCHEMA,
  ...overrides,
});

interface SseEvent {
  event: string;
  id?: string;
  data: unknown;
}

interface SseResult {
  status: number;
  headers: IncomingHttpHeaders;
  events: SseEvent[];
  raw: string;
}

/**
 * Reads a server-sent-events response over a raw HTTP request until it ends, or until `until`
 * says enough has arrived (then the client hangs up).
 */
function readSse(
  url: string,
  headers: Record<string, string>,
  until: (events: SseEvent[]) => boolean = () => false,
  timeoutMs = 20_000,
): Promise<SseResult> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    let raw = '';
    const req = httpGet(url, { headers }, (res) => {
      const finish = () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, events, raw });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        let end: number;
        while ((end = raw.indexOf('\n\n')) >= 0) {
          const block = raw.slice(0, end);
          raw = raw.slice(end + 2);
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((line) => line !== '' && !line.startsWith(':'))
              .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
          ) as Record<string, string>;
          if (fields.event === undefined) continue;
          events.push({ event: fields.event, id: fields.id, data: JSON.parse(fields.data ?? 'null') });
        }
        if (until(events)) {
          req.destroy();
          finish();
        }
      });
      res.on('end', finish);
      res.on('error', () => undefined);
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`SSE stream did not finish in ${timeoutMs} ms; got ${JSON.stringify(events)}`));
    }, timeoutMs);
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
  });
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('LLM provider: Ollama', () => {
  let stub: StubOllama;
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let llm: LlmService;
  let admin: { Authorization: string };
  let viewer: { Authorization: string };
  let operator: { Authorization: string };
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    stub = await StubOllama.start();
    db = await provisionTestDatabase();
    t = await startTestApp(
      db,
      {
        OLLAMA_URL: stub.url,
        LLM_DEFAULT_MODEL: 'stub-small:latest',
        LLM_MODEL_ROUTES: JSON.stringify({
          meta_optimization: ['missing-model:latest', 'stub-small:latest'],
        }),
        LLM_MAX_CONCURRENCY: '2',
      },
      { listen: true },
    );
    app = t.app;
    llm = app.get(LlmService);
    admin = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
    const viewerUser = await createUser(app, ['viewer']);
    viewer = bearer((await signIn(app, viewerUser.email, viewerUser.password)).accessToken);
    const operatorUser = await createUser(app, ['operator']);
    operator = bearer((await signIn(app, operatorUser.email, operatorUser.password)).accessToken);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await stub?.stop();
  });

  beforeEach(() => stub.reset());

  describe('model administration', () => {
    it('lists the models the provider has, for llm:read', async () => {
      const res = await http().get('/api/v1/llm/models').set(viewer).expect(200);
      expect(res.body.provider).toBe('ollama');
      expect(res.body.items.map((m: { name: string }) => m.name).sort()).toEqual(stub.modelNames().sort());
      expect(res.body.items[0]).toMatchObject({
        size: expect.any(Number),
        modifiedAt: '2025-01-02T03:04:05.000Z',
        digest: expect.stringMatching(/^[0-9a-f]{64}$/),
        details: { family: 'stub-small', quantizationLevel: 'Q4_K_M', parameterSize: '1B' },
      });
      await http().get('/api/v1/llm/models').expect(401);
    });

    it('shows one model, and 404 for a model the provider does not have', async () => {
      const res = await http().get('/api/v1/llm/models/stub-small:latest').set(viewer).expect(200);
      expect(res.body).toMatchObject({
        name: 'stub-small:latest',
        contextLength: 8192,
        capabilities: ['completion'],
      });
      const missing = await http().get('/api/v1/llm/models/nope:latest').set(viewer).expect(404);
      expect(missing.body.error.code).toBe('LLM_MODEL_NOT_FOUND');
    });

    it('reports the provider healthy with its version, latency and loaded models', async () => {
      await llm.chat(chatRequest());
      const res = await http().get('/api/v1/llm/health').set(viewer).expect(200);
      expect(res.body).toMatchObject({
        provider: 'ollama',
        status: 'up',
        version: '0.9.0-stub',
        latencyMs: expect.any(Number),
        loaded: [expect.objectContaining({ name: 'stub-small:latest', expiresAt: expect.any(String) })],
      });
    });

    it('validates model names', async () => {
      const res = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .send({ model: '../etc/passwd' })
        .expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      await http().post('/api/v1/llm/models/pull').set(admin).send({ model: 'ok:1', extra: 1 }).expect(400);
      await http().delete('/api/v1/llm/models/bad%20name').set(admin).expect(400);
      expect(stub.calls).toEqual([]);
    });

    it('keeps pulls and deletes for llm:admin', async () => {
      await http().post('/api/v1/llm/models/pull').set(viewer).send({ model: 'x:1' }).expect(403);
      await http().post('/api/v1/llm/models/pull').set(operator).send({ model: 'x:1' }).expect(403);
      await http().delete('/api/v1/llm/models/stub-small:latest').set(operator).expect(403);
      const id = '00000000-0000-4000-8000-000000000000';
      await http().get(`/api/v1/llm/pulls/${id}`).set(viewer).expect(403);
      await http().get(`/api/v1/llm/pulls/${id}/events`).set(viewer).expect(403);
      await http().get(`/api/v1/llm/pulls/${id}/events`).set(admin).expect(404);
      expect(stub.calls).toEqual([]);
      expect(stub.hasModel('stub-small:latest')).toBe(true);
    });

    it('pulls a model with progress over server-sent events, to done', async () => {
      stub.pullSteps = 10;
      stub.pullStepDelayMs = 200;
      const started = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .set('Idempotency-Key', 'pull-new-1')
        .send({ model: 'stub-new:latest' })
        .expect(202);
      expect(started.body).toEqual({ id: expect.any(String), status: 'queued', model: 'stub-new:latest' });
      expect(started.headers.location).toBe(`/api/v1/llm/pulls/${started.body.id}`);

      const sse = await readSse(`${t.baseUrl}${started.headers.location}/events`, {
        ...admin,
        'x-request-id': 'sse-test-1',
      });
      expect(sse.status).toBe(200);
      expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(sse.headers['cache-control']).toBe('no-cache, no-transform');
      expect(sse.headers['x-request-id']).toBe('sse-test-1');
      expect(sse.headers['x-content-type-options']).toBe('nosniff');
      const names = sse.events.map((e) => e.event);
      expect(names[0]).toBe('snapshot');
      expect(names.at(-1)).toBe('done');
      expect(names.filter((n) => n === 'done')).toHaveLength(1);
      expect(names).toContain('progress');
      const progress = sse.events
        .filter((e) => e.event === 'progress')
        .map((e) => e.data as { completed: number });
      for (let i = 1; i < progress.length; i++) {
        expect(progress[i].completed).toBeGreaterThanOrEqual(progress[i - 1].completed);
      }
      const ids = sse.events.map((e) => Number(e.id));
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(new Set(ids).size).toBe(ids.length);
      expect(sse.events.at(-1)!.data).toEqual({
        status: 'succeeded',
        completed: 1_000_000,
        total: 1_000_000,
      });

      const status = await http().get(started.headers.location).set(admin).expect(200);
      expect(status.body).toMatchObject({
        id: started.body.id,
        model: 'stub-new:latest',
        provider: 'ollama',
        status: 'succeeded',
        progress: { status: 'success', completed: 1_000_000, total: 1_000_000, percent: 100 },
        error: null,
        createdBy: { type: 'user', label: TEST_ADMIN.email },
        finishedAt: expect.any(String),
      });
      const models = await http().get('/api/v1/llm/models').set(viewer).expect(200);
      expect(models.body.items.map((m: { name: string }) => m.name)).toContain('stub-new:latest');

      // The client saw `done`: reconnecting with its id is told to stop (204).
      const again = await readSse(`${t.baseUrl}${started.headers.location}/events`, {
        ...admin,
        'last-event-id': sse.events.at(-1)!.id!,
      });
      expect(again.status).toBe(204);
      // Without it, a finished pull replays its snapshot and done.
      const replay = await readSse(`${t.baseUrl}${started.headers.location}/events`, admin);
      expect(replay.events.map((e) => e.event)).toEqual(['snapshot', 'done']);

      // The same Idempotency-Key and body answer the first response without pulling again.
      const replayed = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .set('Idempotency-Key', 'pull-new-1')
        .send({ model: 'stub-new:latest' })
        .expect(202);
      expect(replayed.body).toEqual(started.body);
      expect(replayed.headers.location).toBe(started.headers.location);
      expect(stub.callsTo('/api/pull')).toHaveLength(1);
      const reused = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .set('Idempotency-Key', 'pull-new-1')
        .send({ model: 'other:latest' })
        .expect(409);
      expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    });

    it('joins a pull of the same model that is under way instead of starting another', async () => {
      stub.pullSteps = 10;
      stub.pullStepDelayMs = 100;
      const first = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .send({ model: 'stub-join:latest' });
      const second = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .send({ model: 'stub-join:latest' });
      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      expect(second.body.id).toBe(first.body.id);
      const sse = await readSse(`${t.baseUrl}/api/v1/llm/pulls/${first.body.id}/events`, admin);
      expect(sse.events.at(-1)).toMatchObject({ event: 'done', data: { status: 'succeeded' } });
      expect(stub.callsTo('/api/pull')).toHaveLength(1);
    });

    it('ends a pull the provider refuses with done: failed and the reason', async () => {
      const started = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .send({ model: 'missing-upstream:latest' })
        .expect(202);
      const sse = await readSse(`${t.baseUrl}/api/v1/llm/pulls/${started.body.id}/events`, admin);
      expect(sse.events.at(-1)).toEqual({
        event: 'done',
        id: expect.any(String),
        data: {
          status: 'failed',
          error: expect.stringContaining('file does not exist'),
          completed: 0,
          total: 0,
        },
      });
      expect(stub.hasModel('missing-upstream:latest')).toBe(false);
    });

    it('stops reading the pull when the client closes the stream', async () => {
      stub.pullSteps = 100;
      stub.pullStepDelayMs = 50;
      const started = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .send({ model: 'stub-slow:latest' });
      const pulls = app.get(LlmPullsService);
      const partial = await readSse(
        `${t.baseUrl}/api/v1/llm/pulls/${started.body.id}/events`,
        admin,
        (events) => events.some((e) => e.event === 'progress'),
      );
      expect(partial.events[0].event).toBe('snapshot');
      await eventually(() => pulls.openStreams === 0, 2_000);
      // The stream went with its client, not because the pull ended.
      const status = await http().get(`/api/v1/llm/pulls/${started.body.id}`).set(admin).expect(200);
      expect(status.body.status).toBe('running');
      stub.pullStepDelayMs = 1;
      const finished = await readSse(`${t.baseUrl}/api/v1/llm/pulls/${started.body.id}/events`, admin);
      expect(finished.events.at(-1)).toMatchObject({ event: 'done', data: { status: 'succeeded' } });
      expect(pulls.openStreams).toBe(0);
    });

    it('deletes a model (204), then 404; both audited', async () => {
      await http().delete('/api/v1/llm/models/stub-large%3Alatest').set(admin).expect(204);
      expect(stub.hasModel('stub-large:latest')).toBe(false);
      const again = await http().delete('/api/v1/llm/models/stub-large:latest').set(admin).expect(404);
      expect(again.body.error.code).toBe('LLM_MODEL_NOT_FOUND');
      stub.addModel('hf.co/org/model:Q4');
      await http()
        .delete(`/api/v1/llm/models/${encodeURIComponent('hf.co/org/model:Q4')}`)
        .set(admin)
        .expect(204);
      expect(stub.hasModel('hf.co/org/model:Q4')).toBe(false);

      const audit = await http().get('/api/v1/audit/events?action=llm.&limit=100').set(admin).expect(200);
      const events = (audit.body.items as Array<Record<string, unknown>>).map((e) => ({
        action: e.action,
        outcome: e.outcome,
        resourceId: e.resourceId,
        httpStatus: e.httpStatus,
      }));
      expect(events).toEqual(
        expect.arrayContaining([
          { action: 'llm.delete', outcome: 'success', resourceId: 'stub-large:latest', httpStatus: 204 },
          { action: 'llm.delete', outcome: 'failure', resourceId: 'stub-large:latest', httpStatus: 404 },
          { action: 'llm.delete', outcome: 'success', resourceId: 'hf.co/org/model:Q4', httpStatus: 204 },
          { action: 'llm.pull', outcome: 'success', resourceId: 'stub-new:latest', httpStatus: 202 },
        ]),
      );
      // The idempotent replay started nothing and recorded nothing.
      expect(
        events.filter((e) => e.action === 'llm.pull' && e.resourceId === 'stub-new:latest'),
      ).toHaveLength(1);
      stub.addModel('stub-large:latest');
    });
  });

  describe('chat', () => {
    it('sends the schema as format and returns content, tokens and latency', async () => {
      stub.latencyMs = 60;
      const result = await llm.chat(chatRequest({ maxTokens: 256 }));
      const [call] = stub.chatCalls;
      expect(call.body).toEqual({
        model: 'stub-small:latest',
        messages: [
          { role: 'system', content: 'You write SEO metadata. Answer JSON only.' },
          { role: 'user', content: '<product>Oak dining table</product>' },
        ],
        format: SCHEMA,
        stream: false,
        options: { num_predict: 256 },
      });
      const output = JSON.parse(result.content) as { seoTitle: string; seoKeywords: string[] };
      expect(output.seoTitle.length).toBeGreaterThanOrEqual(30);
      expect(output.seoKeywords).toHaveLength(5);
      expect(result).toMatchObject({
        model: 'stub-small:latest',
        provider: 'ollama',
        tokensIn: Math.ceil((call.system.length + call.user.length) / 4),
        tokensOut: Math.ceil(result.content.length / 4),
        finishReason: 'stop',
      });
      expect(result.tokensIn).toBeGreaterThan(0);
      expect(result.latencyMs).toBeGreaterThanOrEqual(55);
    });

    it('returns malformed and schema-violating content as it came: judging it is the caller’s job', async () => {
      stub.queueChat('malformed', 'schema-violating', { content: 'x', doneReason: 'length' });
      const malformed = await llm.chat(chatRequest());
      expect(() => JSON.parse(malformed.content) as unknown).toThrow();
      const violating = await llm.chat(chatRequest());
      expect(JSON.parse(violating.content)).not.toHaveProperty('seoTitle');
      const cut = await llm.chat(chatRequest());
      expect(cut).toMatchObject({ content: 'x', finishReason: 'length' });
    });

    it('falls back to the next routed model when the first is missing, and only then', async () => {
      const result = await llm.chat(chatRequest({ task: 'meta_optimization' }));
      expect(result.model).toBe('stub-small:latest');
      expect(stub.chatCalls.map((c) => c.model)).toEqual(['missing-model:latest', 'stub-small:latest']);
      expect(llm.modelsFor('meta_optimization')).toEqual(['missing-model:latest', 'stub-small:latest']);
      expect(llm.modelsFor('meta_optimization', 'stub-large:latest')).toEqual(['stub-large:latest']);

      stub.reset();
      const explicit = await llm.chat(chatRequest({ model: 'nope:latest' })).catch((e: unknown) => e);
      expect(explicit).toMatchObject({ code: 'LLM_MODEL_NOT_FOUND', status: 404, transient: false });
      expect(stub.chatCalls).toHaveLength(1);

      stub.reset();
      stub.queueChat({ status: 500 });
      await expect(llm.chat(chatRequest({ task: 'meta_optimization' }))).rejects.toMatchObject({
        code: 'LLM_PROVIDER_ERROR',
      });
      expect(stub.chatCalls).toHaveLength(1);
    });

    it('classifies 429 (with Retry-After), 5xx and 4xx for retries', async () => {
      stub.queueChat(
        { status: 429, retryAfter: '7' },
        { status: 500 },
        { status: 503 },
        { status: 400, message: 'bad schema' },
      );
      const limited = await llm.chat(chatRequest()).catch((e: unknown) => e);
      expect(limited).toBeInstanceOf(LlmError);
      expect(limited).toMatchObject({ code: 'LLM_RATE_LIMITED', transient: true, retryAfterSeconds: 7 });
      await expect(llm.chat(chatRequest())).rejects.toMatchObject({
        code: 'LLM_PROVIDER_ERROR',
        transient: true,
      });
      await expect(llm.chat(chatRequest())).rejects.toMatchObject({
        code: 'LLM_PROVIDER_ERROR',
        transient: true,
      });
      const rejected = await llm.chat(chatRequest()).catch((e: unknown) => e);
      expect(rejected).toMatchObject({ code: 'LLM_REQUEST_REJECTED', transient: false });
      expect((rejected as Error).message).toContain('bad schema');
      stub.queueChat({ rawBody: '<html>proxy error</html>' });
      await expect(llm.chat(chatRequest())).rejects.toMatchObject({ code: 'LLM_INVALID_RESPONSE' });
    });

    it('times out a slow call (transient) and hangs up on the provider', async () => {
      stub.latencyMs = 3_000;
      const started = Date.now();
      const error = await llm.chat(chatRequest({ timeoutMs: 200 })).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'LLM_TIMEOUT', status: 504, transient: true });
      expect(Date.now() - started).toBeLessThan(2_000);
      await eventually(() => stub.abortedChats === 1);

      const controller = new AbortController();
      const pending = llm.chat(chatRequest({ signal: controller.signal }));
      await eventually(() => stub.inFlight === 1);
      controller.abort();
      await expect(pending).rejects.toMatchObject({ code: 'LLM_CALL_ABORTED', transient: false });
      await eventually(() => stub.abortedChats === 2);
    });

    it('keeps at most LLM_MAX_CONCURRENCY calls in flight at the provider', async () => {
      stub.latencyMs = 150;
      const results = await Promise.all(Array.from({ length: 7 }, () => llm.chat(chatRequest())));
      expect(results).toHaveLength(7);
      expect(stub.chatCalls).toHaveLength(7);
      expect(stub.maxInFlight).toBe(2);

      // A call that cannot get a slot before its deadline never reaches the provider.
      stub.reset();
      stub.latencyMs = 500;
      const busy = [llm.chat(chatRequest()), llm.chat(chatRequest())];
      const queued = await llm.chat(chatRequest({ timeoutMs: 100 })).catch((e: unknown) => e);
      expect(queued).toMatchObject({ code: 'LLM_TIMEOUT' });
      await Promise.all(busy);
      expect(stub.chatCalls).toHaveLength(2);
    });

    it('exports calls, latency and tokens as metrics by provider and model', async () => {
      await llm.chat(chatRequest());
      const res = await http().get('/metrics').expect(200);
      const text = res.text;
      expect(text).toMatch(
        /llm_requests_total\{provider="ollama",model="stub-small:latest",outcome="success"\} \d+/,
      );
      expect(text).toMatch(
        /llm_requests_total\{provider="ollama",model="stub-small:latest",outcome="rate_limited"\} \d+/,
      );
      expect(text).toMatch(
        /llm_tokens_total\{provider="ollama",model="stub-small:latest",direction="in"\} \d+/,
      );
      expect(text).toMatch(
        /llm_tokens_total\{provider="ollama",model="stub-small:latest",direction="out"\} \d+/,
      );
      expect(text).toMatch(
        /llm_request_duration_seconds_count\{provider="ollama",model="stub-small:latest"\} \d+/,
      );
    });

    it('pauses calls with LLM_CIRCUIT_OPEN after repeated provider failures', async () => {
      stub.chatReply = { status: 500 };
      for (let i = 0; i < 5; i++)
        await expect(llm.chat(chatRequest())).rejects.toMatchObject({ code: 'LLM_PROVIDER_ERROR' });
      stub.chatReply = 'valid';
      const open = await llm.chat(chatRequest()).catch((e: unknown) => e);
      expect(open).toMatchObject({ code: 'LLM_CIRCUIT_OPEN', status: 503, transient: true });
      expect((open as LlmError).retryAfterSeconds).toBeGreaterThan(0);
      expect(stub.chatCalls).toHaveLength(5);
    });
  });

  describe('with the provider down', () => {
    beforeAll(() => stub.stop());
    afterAll(() => stub.restart());

    it('answers 503 with a clear message, never an empty 200', async () => {
      const health = await http().get('/api/v1/llm/health').set(viewer).expect(503);
      expect(health.body.error).toMatchObject({
        code: 'LLM_PROVIDER_UNAVAILABLE',
        message: expect.stringMatching(/Ollama cannot be reached/),
      });
      const models = await http().get('/api/v1/llm/models').set(viewer).expect(503);
      expect(models.body.error.code).toBe('LLM_PROVIDER_UNAVAILABLE');
      const pull = await http()
        .post('/api/v1/llm/models/pull')
        .set(admin)
        .send({ model: 'later:latest' })
        .expect(503);
      expect(pull.body.error.code).toBe('LLM_PROVIDER_UNAVAILABLE');
      await http().delete('/api/v1/llm/models/stub-small:latest').set(admin).expect(503);
      const audit = await http()
        .get('/api/v1/audit/events?action=llm.pull&outcome=failure')
        .set(admin)
        .expect(200);
      expect(audit.body.items[0]).toMatchObject({ resourceId: 'later:latest', httpStatus: 503 });
    });
  });
});

describe('LLM provider: OpenAI-compatible', () => {
  const API_KEY = 'sk-SECRET-stub-0123456789';
  let stub: StubOllama;
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: { Authorization: string };
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    stub = await StubOllama.start({ apiKey: API_KEY, models: ['gpt-stub', 'gpt-stub-mini'] });
    db = await provisionTestDatabase();
    t = await startTestApp(db, {
      LLM_PROVIDER: 'openai',
      OPENAI_BASE_URL: stub.openaiBaseUrl,
      OPENAI_API_KEY: API_KEY,
      LLM_MODEL_ROUTES: JSON.stringify({ '*': ['gpt-missing', 'gpt-stub-mini'] }),
    });
    app = t.app;
    admin = bearer((await signIn(app, TEST_ADMIN.email, TEST_ADMIN.password)).accessToken);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await stub?.stop();
  });

  beforeEach(() => stub.reset());

  it('chats through chat/completions with a strict json_schema response format', async () => {
    const result = await app.get(LlmService).chat(chatRequest({ maxTokens: 100 }));
    expect(result).toMatchObject({ model: 'gpt-stub-mini', provider: 'openai', finishReason: 'stop' });
    expect(stub.chatCalls.map((c) => c.model)).toEqual(['gpt-missing', 'gpt-stub-mini']);
    const call = stub.chatCalls[1];
    expect(call.api).toBe('openai');
    expect(call.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(call.body).toMatchObject({
      response_format: { type: 'json_schema', json_schema: { name: 'output', schema: SCHEMA, strict: true } },
      max_tokens: 100,
      messages: [{ role: 'system' }, { role: 'user' }],
    });
    expect(result.tokensIn).toBe(Math.ceil((call.system.length + call.user.length) / 4));
    expect(result.tokensOut).toBe(Math.ceil(result.content.length / 4));
    stub.queueChat({ status: 429, retryAfter: '3' });
    await expect(app.get(LlmService).chat(chatRequest({ model: 'gpt-stub' }))).rejects.toMatchObject({
      code: 'LLM_RATE_LIMITED',
      retryAfterSeconds: 3,
    });
  });

  it('lists models from /v1/models and reports health; pull and delete are unsupported', async () => {
    const models = await http().get('/api/v1/llm/models').set(admin).expect(200);
    expect(models.body).toEqual({
      provider: 'openai',
      items: [
        {
          name: 'gpt-stub',
          size: null,
          modifiedAt: '2025-01-02T03:04:05.000Z',
          details: { ownedBy: 'stub' },
        },
        {
          name: 'gpt-stub-mini',
          size: null,
          modifiedAt: '2025-01-02T03:04:05.000Z',
          details: { ownedBy: 'stub' },
        },
      ],
    });
    const health = await http().get('/api/v1/llm/health').set(admin).expect(200);
    expect(health.body).toMatchObject({ provider: 'openai', status: 'up', version: null });
    const pull = await http()
      .post('/api/v1/llm/models/pull')
      .set(admin)
      .send({ model: 'gpt-stub' })
      .expect(400);
    expect(pull.body.error.code).toBe('LLM_OPERATION_UNSUPPORTED');
    const del = await http().delete('/api/v1/llm/models/gpt-stub').set(admin).expect(400);
    expect(del.body.error.code).toBe('LLM_OPERATION_UNSUPPORTED');
    expect(stub.hasModel('gpt-stub')).toBe(true);
  });

  it('says the credentials were refused without repeating them', async () => {
    const wrongKey = 'sk-WRONG-key-9876543210';
    const provider = new OpenAiProvider(stub.openaiBaseUrl, wrongKey);
    const error = await provider
      .chat({ model: 'gpt-stub', system: 's', user: 'u', jsonSchema: SCHEMA }, AbortSignal.timeout(5_000))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LLM_PROVIDER_AUTH_FAILED', transient: false });
    expect(JSON.stringify(error) + (error as Error).message).not.toContain(wrongKey);
    const logs = JSON.stringify(t.logs);
    expect(logs).not.toContain(API_KEY);
  });
});
