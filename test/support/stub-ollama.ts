import { createHash } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 that speaks enough of Ollama's API (/api/chat, /api/tags,
 * /api/show, /api/pull, /api/delete, /api/ps, /api/version) and of the OpenAI API
 * (/v1/chat/completions, /v1/models) for the LLM layer and the pipelines to be tested end to end.
 * Tests steer it per call: latency, failures (500, 429 with Retry-After, any status), malformed
 * or schema-violating content, and read back what it received and how many calls were in flight.
 *
 *   const stub = await StubOllama.start({ models: ['stub-small:latest'] });
 *   stub.latencyMs = 50;
 *   stub.queueChat({ status: 429, retryAfter: '7' }, 'malformed');
 *   stub.onChat = (call) => (call.index % 10 === 0 ? { status: 500 } : undefined);
 */

export interface StubModel {
  readonly name: string;
  readonly size: number;
  readonly family: string;
  readonly modifiedAt: string;
}

/** What one chat call answers. A string picks a content kind; an object can fail or tune the answer. */
export type StubChatReply =
  | 'valid'
  | 'malformed'
  | 'schema-violating'
  | {
      /** An error status: 429, 500, 503, 400... (body in the API's error shape). */
      readonly status?: number;
      readonly retryAfter?: string;
      readonly message?: string;
      /** The message content to return (with status 200). */
      readonly content?: string;
      /** A raw response body instead of the API envelope (a broken proxy, say). */
      readonly rawBody?: string;
      /** Latency of this call instead of `latencyMs`. */
      readonly delayMs?: number;
      readonly doneReason?: string;
    };

export interface StubChatCall {
  readonly api: 'ollama' | 'openai';
  /** 0-based position among all chat calls since start or reset. */
  readonly index: number;
  readonly model: string;
  readonly system: string;
  readonly user: string;
  /** Ollama `format` or OpenAI `response_format.json_schema.schema`. */
  readonly schema: unknown;
  readonly body: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
}

export interface StubCall {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

export interface StubOptions {
  /** Models present at start (default: `stub-small:latest`, `stub-large:latest`). */
  readonly models?: readonly string[];
  /** When set, /v1 routes require `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  readonly port?: number;
}

const DEFAULT_MODELS = ['stub-small:latest', 'stub-large:latest'];

export class StubOllama {
  /** Added to every chat call (other routes answer at once). */
  latencyMs = 0;
  /** The answer of chat calls when the queue is empty and `onChat` returns undefined. */
  chatReply: StubChatReply = 'valid';
  /** Decides one call's answer; undefined falls through to the queue, then `chatReply`. */
  onChat: ((call: StubChatCall) => StubChatReply | undefined) | undefined;
  /** Pulls report this many progress steps per layer, this far apart. */
  pullSteps = 5;
  pullStepDelayMs = 20;
  /** Pulls of these models fail with Ollama's "file does not exist" error line. */
  readonly unpullable = new Set<string>(['missing-upstream:latest']);

  readonly calls: StubCall[] = [];
  readonly chatCalls: StubChatCall[] = [];
  /** Chat calls whose client went away before the answer. */
  abortedChats = 0;
  inFlight = 0;
  maxInFlight = 0;

  private readonly models = new Map<string, StubModel>();
  private readonly loaded = new Set<string>();
  private readonly queue: StubChatReply[] = [];
  private server: Server;
  private portNumber = 0;

  private constructor(private readonly options: StubOptions) {
    for (const name of options.models ?? DEFAULT_MODELS) this.addModel(name);
    this.server = this.createServer();
  }

  static async start(options: StubOptions = {}): Promise<StubOllama> {
    const stub = new StubOllama(options);
    await stub.listen(options.port ?? 0);
    return stub;
  }

  get port(): number {
    return this.portNumber;
  }

  /** For OLLAMA_URL. */
  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** For OPENAI_BASE_URL. */
  get openaiBaseUrl(): string {
    return `${this.url}/v1`;
  }

  /** The next chat calls answer these, in order, before `chatReply` applies again. */
  queueChat(...replies: StubChatReply[]): void {
    this.queue.push(...replies);
  }

  addModel(name: string, size = 1_000_000 + name.length): void {
    this.models.set(name, {
      name,
      size,
      family: name.split(/[:/]/)[0] ?? name,
      modifiedAt: new Date(Date.UTC(2025, 0, 2, 3, 4, 5)).toISOString(),
    });
  }

  removeModel(name: string): void {
    this.models.delete(name);
    this.loaded.delete(name);
  }

  hasModel(name: string): boolean {
    return this.models.has(name);
  }

  modelNames(): string[] {
    return [...this.models.keys()];
  }

  /** Calls to one path (`/api/chat`, `/v1/chat/completions`...). */
  callsTo(path: string): StubCall[] {
    return this.calls.filter((call) => call.path === path);
  }

  /** Back to defaults: behaviour, queue and counters (models stay). */
  reset(): void {
    this.latencyMs = 0;
    this.chatReply = 'valid';
    this.onChat = undefined;
    this.pullSteps = 5;
    this.pullStepDelayMs = 20;
    this.queue.length = 0;
    this.calls.length = 0;
    this.chatCalls.length = 0;
    this.abortedChats = 0;
    this.maxInFlight = this.inFlight;
  }

  /** Stops listening and drops open connections: the provider is down. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Listens again on the same port after `stop`. */
  async restart(): Promise<void> {
    this.server = this.createServer();
    await this.listen(this.portNumber);
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.portNumber = (this.server.address() as AddressInfo).port;
  }

  private createServer(): Server {
    return createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = undefined;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = text;
        }
        const path = new URL(req.url ?? '/', 'http://stub').pathname;
        this.calls.push({ method: req.method ?? '', path, body });
        void this.route(req, res, path, record(body)).catch(() => {
          if (!res.headersSent) json(res, 500, { error: 'stub failure' });
          else res.destroy();
        });
      });
    });
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    body: Record<string, unknown>,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const model =
      typeof body.model === 'string' ? body.model : typeof body.name === 'string' ? body.name : '';
    switch (`${method} ${path}`) {
      case 'GET /api/version':
        return json(res, 200, { version: '0.9.0-stub' });
      case 'GET /api/tags':
        return json(res, 200, { models: [...this.models.values()].map(ollamaModel) });
      case 'GET /api/ps':
        return json(res, 200, {
          models: [...this.loaded]
            .filter((name) => this.models.has(name))
            .map((name) => ({
              ...ollamaModel(this.models.get(name)!),
              size_vram: this.models.get(name)!.size,
              expires_at: new Date(Date.now() + 300_000).toISOString(),
            })),
        });
      case 'POST /api/show': {
        const found = this.models.get(model);
        if (found === undefined) return json(res, 404, { error: `model '${model}' not found` });
        return json(res, 200, {
          modelfile: '# stub',
          parameters: 'temperature 0.1',
          template: '{{ .Prompt }}',
          details: ollamaModel(found).details,
          model_info: { 'stub.context_length': 8192 },
          capabilities: ['completion'],
        });
      }
      case 'DELETE /api/delete':
        if (!this.models.has(model)) return json(res, 404, { error: `model '${model}' not found` });
        this.removeModel(model);
        res.writeHead(200).end();
        return;
      case 'POST /api/pull':
        return this.pull(res, model, body.stream !== false);
      case 'POST /api/chat':
        return this.chat(req, res, 'ollama', model, body);
      case 'POST /v1/chat/completions':
        if (!this.authorised(req, res)) return;
        return this.chat(req, res, 'openai', model, body);
      case 'GET /v1/models':
        if (!this.authorised(req, res)) return;
        return json(res, 200, {
          object: 'list',
          data: [...this.models.values()].map((m) => ({
            id: m.name,
            object: 'model',
            created: 1_735_787_045,
            owned_by: 'stub',
          })),
        });
      default: {
        const modelPath = /^\/v1\/models\/(.+)$/.exec(path);
        if (method === 'GET' && modelPath !== null) {
          if (!this.authorised(req, res)) return;
          const name = decodeURIComponent(modelPath[1]);
          if (!this.models.has(name))
            return openAiError(res, 404, `The model '${name}' does not exist`, 'model_not_found');
          return json(res, 200, { id: name, object: 'model', created: 1_735_787_045, owned_by: 'stub' });
        }
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
      }
    }
  }

  private authorised(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.options.apiKey === undefined || req.headers.authorization === `Bearer ${this.options.apiKey}`)
      return true;
    openAiError(res, 401, 'Incorrect API key provided.', 'invalid_api_key');
    return false;
  }

  private async chat(
    req: IncomingMessage,
    res: ServerResponse,
    api: 'ollama' | 'openai',
    model: string,
    body: Record<string, unknown>,
  ): Promise<void> {
    const messages = Array.isArray(body.messages) ? body.messages.map(record) : [];
    const text = (role: string) =>
      messages
        .filter((m) => m.role === role)
        .map((m) => String(m.content))
        .join('\n');
    const schema = api === 'ollama' ? body.format : record(record(body.response_format).json_schema).schema;
    const call: StubChatCall = {
      api,
      index: this.chatCalls.length,
      model,
      system: text('system'),
      user: text('user'),
      schema,
      body,
      headers: req.headers,
    };
    this.chatCalls.push(call);
    const reply = this.onChat?.(call) ?? this.queue.shift() ?? this.chatReply;
    const options = typeof reply === 'string' ? {} : reply;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let gone: boolean;
    try {
      gone = await waitOrGone(options.delayMs ?? this.latencyMs, res);
    } finally {
      this.inFlight--;
    }
    if (gone) {
      this.abortedChats++;
      return;
    }
    if (options.rawBody !== undefined) {
      res.writeHead(options.status ?? 200, { 'content-type': 'application/json' }).end(options.rawBody);
      return;
    }
    if (options.status !== undefined && options.status >= 400) {
      const headers: Record<string, string> =
        options.retryAfter === undefined ? {} : { 'retry-after': options.retryAfter };
      const message = options.message ?? (options.status === 429 ? 'too many requests' : 'stub failure');
      if (api === 'ollama') return json(res, options.status, { error: message }, headers);
      return openAiError(
        res,
        options.status,
        message,
        options.status === 429 ? 'rate_limit_exceeded' : 'server_error',
        headers,
      );
    }
    if (!this.models.has(model)) {
      if (api === 'ollama')
        return json(res, 404, { error: `model "${model}" not found, try pulling it first` });
      return openAiError(res, 404, `The model '${model}' does not exist`, 'model_not_found');
    }
    this.loaded.add(model);
    const content =
      options.content ??
      (reply === 'malformed'
        ? '{"result": "this is not finished'
        : JSON.stringify(reply === 'schema-violating' ? violating(schema) : exampleOf(schema)));
    const tokensIn = Math.ceil((call.system.length + call.user.length) / 4);
    const tokensOut = Math.ceil(content.length / 4);
    if (api === 'ollama') {
      return json(res, 200, {
        model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content },
        done: true,
        done_reason: options.doneReason ?? 'stop',
        total_duration: 1_000_000,
        prompt_eval_count: tokensIn,
        eval_count: tokensOut,
      });
    }
    return json(res, 200, {
      id: `chatcmpl-${call.index}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [
        { index: 0, message: { role: 'assistant', content }, finish_reason: options.doneReason ?? 'stop' },
      ],
      usage: { prompt_tokens: tokensIn, completion_tokens: tokensOut, total_tokens: tokensIn + tokensOut },
    });
  }

  private async pull(res: ServerResponse, model: string, stream: boolean): Promise<void> {
    if (!stream) {
      if (this.unpullable.has(model))
        return json(res, 500, { error: 'pull model manifest: file does not exist' });
      this.addModel(model);
      return json(res, 200, { status: 'success' });
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const line = (value: unknown) => res.write(`${JSON.stringify(value)}\n`);
    line({ status: 'pulling manifest' });
    if (this.unpullable.has(model)) {
      res.end(`${JSON.stringify({ error: 'pull model manifest: file does not exist' })}\n`);
      return;
    }
    const digest = `sha256:${createHash('sha256').update(model).digest('hex')}`;
    const total = 1_000_000;
    for (let step = 1; step <= this.pullSteps; step++) {
      if (await waitOrGone(this.pullStepDelayMs, res)) return;
      line({
        status: `pulling ${digest.slice(7, 19)}`,
        digest,
        total,
        completed: Math.round((total * step) / this.pullSteps),
      });
    }
    line({ status: 'verifying sha256 digest' });
    line({ status: 'writing manifest' });
    this.addModel(model);
    res.end(`${JSON.stringify({ status: 'success' })}\n`);
  }
}

function ollamaModel(model: StubModel): Record<string, unknown> {
  return {
    name: model.name,
    model: model.name,
    modified_at: model.modifiedAt,
    size: model.size,
    digest: createHash('sha256').update(model.name).digest('hex'),
    details: {
      parent_model: '',
      format: 'gguf',
      family: model.family,
      families: [model.family],
      parameter_size: '1B',
      quantization_level: 'Q4_K_M',
    },
  };
}

function json(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(value));
}

function openAiError(
  res: ServerResponse,
  status: number,
  message: string,
  code: string,
  headers: Record<string, string> = {},
): void {
  json(res, status, { error: { message, type: 'invalid_request_error', param: null, code } }, headers);
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Waits `ms`, or until the client goes away (then resolves true). */
function waitOrGone(ms: number, res: ServerResponse): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onClose = () => {
      if (res.writableFinished) return;
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(false);
    }, ms);
    res.once('close', onClose);
  });
}

/**
 * A value that satisfies a JSON schema of the common shapes (objects, arrays, strings with length
 * bounds, numbers with bounds, enums, const, anyOf/oneOf): what a well-behaved model returns.
 */
export function exampleOf(schema: unknown, seed = 0): unknown {
  const s = record(schema);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const alternatives = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(alternatives) && alternatives.length > 0) return exampleOf(alternatives[0], seed);
  const type = Array.isArray(s.type) ? (s.type as unknown[]).find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const properties = record(s.properties);
      return Object.fromEntries(
        Object.entries(properties).map(([key, value]) => [key, exampleOf(value, seed)]),
      );
    }
    case 'array': {
      const min = typeof s.minItems === 'number' ? s.minItems : 1;
      const max = typeof s.maxItems === 'number' ? s.maxItems : Math.max(min, 1);
      return Array.from({ length: Math.min(Math.max(min, 1), max) }, (_, i) =>
        exampleOf(s.items, seed * 31 + i + 1),
      );
    }
    case 'string': {
      const min = typeof s.minLength === 'number' ? s.minLength : 1;
      const max = typeof s.maxLength === 'number' ? s.maxLength : Math.max(min, 24);
      const length = Math.min(max, Math.max(min, 24));
      const text = `stub text ${seed} `.repeat(Math.ceil(length / 10) + 1).slice(0, length);
      return text.endsWith(' ') ? `${text.slice(0, -1)}x` : text;
    }
    case 'integer':
    case 'number': {
      const min = typeof s.minimum === 'number' ? s.minimum : 0;
      const max = typeof s.maximum === 'number' ? s.maximum : min + 1;
      return type === 'integer' ? Math.ceil(min) : Math.min(max, min + (max - min) / 2);
    }
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return {};
  }
}

/** Valid JSON that breaks the schema: the required fields are missing, an unknown one is present. */
export function violating(schema: unknown): unknown {
  const s = record(schema);
  if (s.type === 'object') return { unexpectedField: 'the model ignored the schema' };
  return { value: 'the model ignored the schema' };
}
