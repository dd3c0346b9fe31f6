/** The provider kinds LLM_PROVIDER selects between. */
export type LlmProviderName = 'ollama' | 'openai';

/** One structured-output call: the model must answer JSON that matches `jsonSchema`. */
export interface ChatRequest {
  /** The pipeline task (routing key of LLM_MODEL_ROUTES), e.g. `meta_optimization`. */
  readonly task: string;
  /** An explicit model: overrides routing, and no fallback is tried. */
  readonly model?: string;
  readonly system: string;
  readonly user: string;
  /** The task's output JSON schema, sent as Ollama's `format` or OpenAI's `response_format`. */
  readonly jsonSchema: object;
  /** Upper bound of generated tokens (Ollama `num_predict`, OpenAI `max_tokens`). */
  readonly maxTokens?: number;
  /** Overall deadline, queueing for a slot included. Default: PIPELINE_ITEM_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Aborting it ends the call (or its wait for a slot) with LLM_CALL_ABORTED. */
  readonly signal?: AbortSignal;
}

/** Why generation stopped: `length` means the output hit `maxTokens` and is probably cut short. */
export type FinishReason = 'stop' | 'length' | 'other';

export interface ChatResult {
  /** The raw text the model returned; not parsed or validated here. */
  readonly content: string;
  /** The model that answered (after routing and any fallback). */
  readonly model: string;
  readonly provider: LlmProviderName;
  readonly tokensIn: number;
  readonly tokensOut: number;
  /** Wall time of the successful provider call (queueing and failed fallbacks excluded). */
  readonly latencyMs: number;
  readonly finishReason: FinishReason;
}

/** What a provider client returns for one chat call; LlmService adds model, provider and latency. */
export interface ProviderChatResult {
  readonly content: string;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly finishReason: FinishReason;
}

export interface ProviderChatRequest {
  readonly model: string;
  readonly system: string;
  readonly user: string;
  readonly jsonSchema: object;
  readonly maxTokens?: number;
}

/** A model the provider offers. `size` and `modifiedAt` are null where the provider does not say. */
export interface LlmModelInfo {
  readonly name: string;
  readonly size: number | null;
  readonly modifiedAt: string | null;
  readonly digest?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface LlmModelDetail {
  readonly name: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly capabilities?: readonly string[];
  readonly parameters?: string;
  readonly template?: string;
  readonly contextLength?: number;
}

/** A model currently loaded in the provider's memory (Ollama `/api/ps`). */
export interface LoadedModel {
  readonly name: string;
  readonly size: number | null;
  readonly sizeVram: number | null;
  readonly expiresAt: string | null;
}

/** One step of a model download, as the provider reports it; byte counts summed over layers. */
export interface PullProgress {
  /** The provider's phase, e.g. `pulling manifest`, `pulling 8eeb52dfb3bb`, `verifying sha256 digest`. */
  readonly status: string;
  readonly completed: number;
  readonly total: number;
}

/**
 * One LLM backend over HTTP. Every method honours `signal` (deadline or caller abort) and throws
 * LlmError (src/llm/llm-errors.ts) for every failure.
 */
export interface LlmProvider {
  readonly name: LlmProviderName;
  chat(request: ProviderChatRequest, signal: AbortSignal): Promise<ProviderChatResult>;
  listModels(signal: AbortSignal): Promise<LlmModelInfo[]>;
  showModel(name: string, signal: AbortSignal): Promise<LlmModelDetail>;
  /** The provider's version, or null when its API does not say. */
  version(signal: AbortSignal): Promise<string | null>;
  /** Models loaded in memory, or undefined when the provider has no such notion. */
  loadedModels(signal: AbortSignal): Promise<LoadedModel[] | undefined>;
  /** Resolves when the model is fully downloaded; `onProgress` is called for every progress line. */
  pull(name: string, onProgress: (progress: PullProgress) => void, signal: AbortSignal): Promise<void>;
  deleteModel(name: string, signal: AbortSignal): Promise<void>;
}
