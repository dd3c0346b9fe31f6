import type { AppConfig } from '../config/app-config';
import type { MetricsService } from '../observability/metrics.service';
import { LlmError } from './llm-errors';
import { LlmService } from './llm.service';
import type { LlmProvider, ProviderChatRequest, ProviderChatResult } from './llm.types';

type ChatImpl = (request: ProviderChatRequest, signal: AbortSignal) => Promise<ProviderChatResult>;

const ok = (content = '{"ok":true}'): ProviderChatResult => ({
  content,
  tokensIn: 12,
  tokensOut: 5,
  finishReason: 'stop',
});

function setup(chat: ChatImpl, llm: Partial<AppConfig['llm']> = {}) {
  const calls: string[] = [];
  const provider = {
    name: 'ollama',
    chat: (request: ProviderChatRequest, signal: AbortSignal) => {
      calls.push(request.model);
      return chat(request, signal);
    },
  } as unknown as LlmProvider;
  const observed: Array<{ model: string; outcome: string; seconds?: number; tokens?: unknown }> = [];
  const metrics = {
    observeLlmRequest: (_p: string, model: string, outcome: string, seconds?: number, tokens?: unknown) =>
      observed.push({ model, outcome, seconds, tokens }),
    setLlmLoad: () => undefined,
  } as unknown as MetricsService;
  const config = {
    llm: { provider: 'ollama', ollamaUrl: 'http://x', maxConcurrency: 8, ...llm },
    pipelines: { itemTimeoutMs: 5_000 },
  } as unknown as AppConfig;
  return { service: new LlmService(config, provider, metrics), calls, observed };
}

const request = { task: 'meta_optimization', system: 's', user: 'u', jsonSchema: { type: 'object' } };
const missing = (model: string) => new LlmError('LLM_MODEL_NOT_FOUND', `${model} missing`);

describe('LlmService.chat', () => {
  it('falls back to the next routed model only when a model is missing', async () => {
    const { service, calls, observed } = setup(
      ({ model }) => (model === 'a:1' ? Promise.reject(missing(model)) : Promise.resolve(ok())),
      { modelRoutes: { meta_optimization: ['a:1', 'b:1', 'c:1'] } },
    );
    const result = await service.chat(request);
    expect(result).toMatchObject({ model: 'b:1', provider: 'ollama', tokensIn: 12, tokensOut: 5 });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(calls).toEqual(['a:1', 'b:1']);
    expect(observed.map((o) => `${o.model}:${o.outcome}`)).toEqual(['a:1:model_not_found', 'b:1:success']);
    expect(observed[1].tokens).toEqual({ in: 12, out: 5 });
  });

  it('does not fall back on other failures', async () => {
    const { service, calls } = setup(() => Promise.reject(new LlmError('LLM_PROVIDER_ERROR', '500')), {
      modelRoutes: { meta_optimization: ['a:1', 'b:1'] },
    });
    await expect(service.chat(request)).rejects.toMatchObject({
      code: 'LLM_PROVIDER_ERROR',
      transient: true,
    });
    expect(calls).toEqual(['a:1']);
  });

  it('names every missing model when none of them exists, and uses an explicit model alone', async () => {
    const { service, calls } = setup(({ model }) => Promise.reject(missing(model)), {
      modelRoutes: { meta_optimization: ['a:1', 'b:1'] },
      defaultModel: 'd:1',
    });
    await expect(service.chat(request)).rejects.toMatchObject({
      code: 'LLM_MODEL_NOT_FOUND',
      transient: false,
      details: [
        { field: 'model', issue: 'a:1 not found' },
        { field: 'model', issue: 'b:1 not found' },
      ],
    });
    await expect(service.chat({ ...request, model: 'x:1' })).rejects.toMatchObject({
      code: 'LLM_MODEL_NOT_FOUND',
    });
    expect(calls).toEqual(['a:1', 'b:1', 'x:1']);
  });

  it('opens the circuit after five provider failures and then refuses without calling', async () => {
    let fail = true;
    const { service, calls } = setup(
      () => (fail ? Promise.reject(new LlmError('LLM_PROVIDER_UNAVAILABLE', 'down')) : Promise.resolve(ok())),
      { defaultModel: 'a:1' },
    );
    for (let i = 0; i < 5; i++)
      await expect(service.chat(request)).rejects.toMatchObject({ code: 'LLM_PROVIDER_UNAVAILABLE' });
    fail = false;
    const refused = await service.chat(request).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'LLM_CIRCUIT_OPEN', status: 503, transient: true });
    expect((refused as LlmError).retryAfterSeconds).toBeGreaterThan(0);
    expect(calls).toHaveLength(5);
  });

  it('does not count missing models, rejected requests or caller aborts against the provider', async () => {
    const errors = [
      missing('a:1'),
      new LlmError('LLM_REQUEST_REJECTED', '400'),
      new LlmError('LLM_RATE_LIMITED', '429'),
    ];
    let index = 0;
    const { service, calls } = setup(() => Promise.reject(errors[index++ % errors.length]), {
      defaultModel: 'a:1',
    });
    for (let i = 0; i < 9; i++) await expect(service.chat(request)).rejects.toBeInstanceOf(LlmError);
    expect(calls).toHaveLength(9);
  });

  it('keeps at most LLM_MAX_CONCURRENCY calls in flight; a queued call honours its deadline', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const releases: Array<() => void> = [];
    const { service, calls, observed } = setup(
      () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise<ProviderChatResult>((resolve) =>
          releases.push(() => {
            inFlight--;
            resolve(ok());
          }),
        );
      },
      { defaultModel: 'a:1', maxConcurrency: 2 },
    );
    const running = [service.chat(request), service.chat(request), service.chat(request)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(service.load).toEqual({ inFlight: 2, queued: 1, capacity: 2 });
    const late = await service.chat({ ...request, timeoutMs: 30 }).catch((error: unknown) => error);
    expect(late).toMatchObject({ code: 'LLM_TIMEOUT', transient: true });
    expect((late as Error).message).toMatch(/free slot/);
    while (releases.length > 0 || calls.length < 3) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(running);
    expect(maxInFlight).toBe(2);
    expect(calls).toHaveLength(3);
    expect(observed.filter((o) => o.outcome === 'timeout')).toEqual([
      { model: 'a:1', outcome: 'timeout', seconds: undefined, tokens: undefined },
    ]);
  });

  it('ends with LLM_CALL_ABORTED when the caller aborts, LLM_TIMEOUT when the deadline passes', async () => {
    const hang: ChatImpl = (_request, signal) =>
      new Promise((_resolve, reject) => {
        const fail = () =>
          reject(
            (signal.reason as Error).name === 'TimeoutError'
              ? new LlmError('LLM_TIMEOUT', 't')
              : new LlmError('LLM_CALL_ABORTED', 'a'),
          );
        if (signal.aborted) fail();
        else signal.addEventListener('abort', fail);
      });
    const { service } = setup(hang, { defaultModel: 'a:1' });
    const controller = new AbortController();
    const aborted = service.chat({ ...request, signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'LLM_CALL_ABORTED', transient: false });
    await expect(service.chat({ ...request, timeoutMs: 20 })).rejects.toMatchObject({ code: 'LLM_TIMEOUT' });
  });

  it('refuses malformed LLM_MODEL_ROUTES and LLM_DEFAULT_MODEL at construction', () => {
    expect(() => setup(() => Promise.resolve(ok()), { modelRoutes: { x: [1] } })).toThrow(/LLM_MODEL_ROUTES/);
    expect(() => setup(() => Promise.resolve(ok()), { defaultModel: 'bad name' })).toThrow(
      /LLM_DEFAULT_MODEL/,
    );
  });
});
