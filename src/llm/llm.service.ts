import { Inject, Injectable, Logger } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { CircuitBreakers } from '../adapters/circuit-breaker';
import { ServiceUnavailableError } from '../common/app-error';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../observability/metrics.service';
import { LlmError, type LlmErrorCode, outcomeOf } from './llm-errors';
import { abortError, isTimeoutReason } from './llm-http';
import type {
  ChatRequest,
  ChatResult,
  LlmModelDetail,
  LlmModelInfo,
  LlmProvider,
  LlmProviderName,
  LoadedModel,
  PullProgress,
} from './llm.types';
import { MODEL_NAME_PATTERN, type ModelRoutes, parseModelRoutes, routeModels } from './model-routes';
import { Semaphore } from './semaphore';

/** The provider client LlmModule builds from LLM_PROVIDER. */
export const LLM_PROVIDER_CLIENT = Symbol('LLM_PROVIDER_CLIENT');

/** Deadline of model listing, details and delete. */
const ADMIN_TIMEOUT_MS = 10_000;
/** Deadline of the health probe. */
const HEALTH_TIMEOUT_MS = 5_000;
/** Consecutive provider failures (unreachable, 5xx, timeout) that pause chat calls. */
const CIRCUIT_FAILURES = 5;
/** How long chat calls stay paused before one trial call. */
const CIRCUIT_OPEN_MS = 30_000;
/** Failures that say the provider is in trouble; a missing model, a 4xx or a 429 do not. */
const PROVIDER_FAILURES: ReadonlySet<LlmErrorCode> = new Set([
  'LLM_PROVIDER_UNAVAILABLE',
  'LLM_PROVIDER_ERROR',
  'LLM_TIMEOUT',
]);

export interface LlmModelList {
  readonly items: LlmModelInfo[];
  readonly provider: LlmProviderName;
}

export interface LlmHealth {
  readonly provider: LlmProviderName;
  readonly status: 'up';
  readonly version: string | null;
  readonly latencyMs: number;
  readonly loaded?: LoadedModel[];
}

/**
 * The one door to the LLM provider: structured-output chat with per-task model routing and
 * fallback, a per-replica cap of LLM_MAX_CONCURRENCY calls in flight, deadlines, a circuit breaker,
 * and metrics per call; plus model administration.
 */
@Injectable()
export class LlmService {
  private readonly logger = new Logger(LlmService.name);
  private readonly routes: ModelRoutes;
  private readonly slots: Semaphore;
  private readonly breakers = new CircuitBreakers({
    failureThreshold: CIRCUIT_FAILURES,
    openMs: CIRCUIT_OPEN_MS,
  });
  private readonly defaultModel: string | undefined;
  private readonly defaultTimeoutMs: number;

  constructor(
    @InjectConfig() config: AppConfig,
    @Inject(LLM_PROVIDER_CLIENT) private readonly client: LlmProvider,
    private readonly metrics: MetricsService,
  ) {
    this.routes = parseModelRoutes(config.llm.modelRoutes);
    if (config.llm.defaultModel !== undefined && !MODEL_NAME_PATTERN.test(config.llm.defaultModel)) {
      throw new Error(`LLM_DEFAULT_MODEL is not a model name: ${JSON.stringify(config.llm.defaultModel)}`);
    }
    this.defaultModel = config.llm.defaultModel;
    this.defaultTimeoutMs = config.pipelines.itemTimeoutMs;
    this.slots = new Semaphore(config.llm.maxConcurrency);
  }

  get provider(): LlmProviderName {
    return this.client.name;
  }

  /**
   * The models a call for `task` tries, in order: `[requested]`, else LLM_MODEL_ROUTES[task] (or
   * `*`), else `[LLM_DEFAULT_MODEL]`. Throws LLM_MODEL_NOT_CONFIGURED (400) when that is empty and
   * LLM_MODEL_NAME_INVALID (400) for a malformed requested name.
   */
  modelsFor(task: string, requested?: string): string[] {
    return routeModels(this.routes, this.defaultModel, task, requested);
  }

  /**
   * One structured-output call. The routed models are tried in order, moving to the next only when
   * the provider says a model does not exist; any other failure ends the call. Throws LlmError.
   */
  async chat(request: ChatRequest): Promise<ChatResult> {
    const models = this.modelsFor(request.task, request.model);
    const deadline = AbortSignal.timeout(request.timeoutMs ?? this.defaultTimeoutMs);
    const signal = request.signal === undefined ? deadline : AbortSignal.any([deadline, request.signal]);
    const missing: string[] = [];
    for (const [index, model] of models.entries()) {
      try {
        return await this.chatWith(model, request, signal);
      } catch (error) {
        if (!(error instanceof LlmError) || error.code !== 'LLM_MODEL_NOT_FOUND') throw error;
        missing.push(model);
        if (index === models.length - 1) {
          if (missing.length === 1) throw error;
          throw new LlmError(
            'LLM_MODEL_NOT_FOUND',
            `None of the models for the task ${request.task} is available on ${this.provider}: ${missing.join(', ')}.`,
            { details: missing.map((name) => ({ field: 'model', issue: `${name} not found` })) },
          );
        }
        this.logger.warn(`Model ${model} is not available on ${this.provider}; trying ${models[index + 1]}`);
      }
    }
    // routeModels never returns an empty list.
    throw new LlmError('LLM_MODEL_NOT_CONFIGURED', `No model is configured for the task ${request.task}.`);
  }

  async listModels(): Promise<LlmModelList> {
    const items = await this.admin('list models', (signal) => this.client.listModels(signal));
    return { items, provider: this.provider };
  }

  async showModel(name: string): Promise<LlmModelDetail> {
    return this.admin('show the model', (signal) => this.client.showModel(name, signal));
  }

  /** 200 with the version and loaded models, or LLM_PROVIDER_UNAVAILABLE (503) saying what failed. */
  async health(): Promise<LlmHealth> {
    const started = performance.now();
    const signal = AbortSignal.timeout(HEALTH_TIMEOUT_MS);
    try {
      const version = await this.client.version(signal);
      const latencyMs = Math.round(performance.now() - started);
      const loaded = await this.client.loadedModels(signal).catch(() => undefined);
      return {
        provider: this.provider,
        status: 'up',
        version,
        latencyMs,
        ...(loaded === undefined ? {} : { loaded }),
      };
    } catch (error) {
      if (error instanceof LlmError && error.code === 'LLM_PROVIDER_UNAVAILABLE') throw error;
      const reason = error instanceof LlmError ? error.message : 'the health check failed unexpectedly';
      throw new LlmError(
        'LLM_PROVIDER_UNAVAILABLE',
        `The LLM provider (${this.provider}) is not healthy: ${reason}`,
      );
    }
  }

  async deleteModel(name: string): Promise<void> {
    await this.admin('delete the model', (signal) => this.client.deleteModel(name, signal));
  }

  /** Fails fast (503) when the provider is down, before a pull is recorded. */
  async ensureReachable(): Promise<void> {
    await this.admin('reach the provider', (signal) => this.client.version(signal));
  }

  /** Pulls without a deadline (models are gigabytes); `signal` aborts it. */
  pull(name: string, onProgress: (progress: PullProgress) => void, signal: AbortSignal): Promise<void> {
    return this.client.pull(name, onProgress, signal);
  }

  /** Calls in flight and waiting on this replica, for tests and diagnostics. */
  get load(): { readonly inFlight: number; readonly queued: number; readonly capacity: number } {
    return { inFlight: this.slots.inFlight, queued: this.slots.queued, capacity: this.slots.capacity };
  }

  private async chatWith(model: string, request: ChatRequest, signal: AbortSignal): Promise<ChatResult> {
    let release: () => void;
    try {
      const acquiring = this.slots.acquire(signal);
      this.reportLoad();
      release = await acquiring;
    } catch (reason) {
      const cause = abortError(
        { label: providerLabel(this.provider), baseUrl: '' },
        signal.aborted ? signal.reason : reason,
      );
      const error =
        cause.code === 'LLM_TIMEOUT'
          ? new LlmError(
              'LLM_TIMEOUT',
              `The deadline passed while waiting for a free slot (${this.slots.capacity} LLM calls in flight on this replica).`,
            )
          : cause;
      this.reportLoad();
      this.metrics.observeLlmRequest(this.provider, model, outcomeOf(error));
      throw error;
    }
    this.reportLoad();
    let reachedAt: number | undefined;
    try {
      const result = await this.breakers.run(
        this.provider,
        ({ error }) =>
          error instanceof LlmError && PROVIDER_FAILURES.has(error.code) && !callerAborted(signal),
        () => {
          reachedAt = performance.now();
          return this.client.chat(
            {
              model,
              system: request.system,
              user: request.user,
              jsonSchema: request.jsonSchema,
              ...(request.maxTokens === undefined ? {} : { maxTokens: request.maxTokens }),
            },
            signal,
          );
        },
      );
      const latencyMs = Math.round(performance.now() - (reachedAt ?? performance.now()));
      this.metrics.observeLlmRequest(this.provider, model, 'success', latencyMs / 1000, {
        in: result.tokensIn,
        out: result.tokensOut,
      });
      return { ...result, model, provider: this.provider, latencyMs };
    } catch (raw) {
      const error = this.circuitError(raw);
      const seconds = reachedAt === undefined ? undefined : (performance.now() - reachedAt) / 1000;
      this.metrics.observeLlmRequest(this.provider, model, outcomeOf(error), seconds);
      throw error;
    } finally {
      release();
      this.reportLoad();
    }
  }

  /** CircuitBreakers speaks for adapters; here an open circuit is an LLM error the engine understands. */
  private circuitError(error: unknown): unknown {
    if (!(error instanceof ServiceUnavailableError) || error.code !== 'ADAPTER_CIRCUIT_OPEN') return error;
    const retryAfterSeconds = Number(error.headers?.['Retry-After'] ?? CIRCUIT_OPEN_MS / 1000);
    return new LlmError(
      'LLM_CIRCUIT_OPEN',
      `Calls to the LLM provider (${this.provider}) are paused for ${retryAfterSeconds} s after repeated failures.`,
      { retryAfterSeconds },
    );
  }

  private async admin<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await call(AbortSignal.timeout(ADMIN_TIMEOUT_MS));
    } catch (error) {
      if (error instanceof LlmError && error.code === 'LLM_PROVIDER_UNAVAILABLE') {
        this.logger.warn(`Could not ${what}: ${error.message}`);
      }
      throw error;
    }
  }

  private reportLoad(): void {
    this.metrics.setLlmLoad(this.provider, this.slots.inFlight, this.slots.queued);
  }
}

export function providerLabel(provider: LlmProviderName): string {
  return provider === 'ollama' ? 'Ollama' : 'The OpenAI-compatible provider';
}

/** The deadline is ours to judge the provider by; the caller cancelling (or its own timeout) is not. */
function callerAborted(signal: AbortSignal): boolean {
  return signal.aborted && !isTimeoutReason(signal.reason);
}
