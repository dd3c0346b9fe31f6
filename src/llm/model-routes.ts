import { LlmError } from './llm-errors';

/** Model names as Ollama and OpenAI-compatible servers spell them: `llama3.1:8b`, `hf.co/org/model:Q4_K_M`. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
/** The LLM_MODEL_ROUTES key whose list applies to every task without a list of its own. */
export const ANY_TASK = '*';
const MAX_MODELS_PER_ROUTE = 10;

/** Task → ordered model list: the first model is used, later ones only when an earlier one is missing. */
export type ModelRoutes = ReadonlyMap<string, readonly string[]>;

/**
 * Reads LLM_MODEL_ROUTES (`{"meta_optimization": ["qwen2.5:14b", "llama3.1:8b"], "*": ["llama3.1:8b"]}`;
 * a single string stands for a one-model list). Every problem is reported at once, at boot.
 */
export function parseModelRoutes(raw: Readonly<Record<string, unknown>> | undefined): ModelRoutes {
  const routes = new Map<string, string[]>();
  const problems: string[] = [];
  for (const [task, value] of Object.entries(raw ?? {})) {
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_MODELS_PER_ROUTE) {
      problems.push(`${task}: must be a model name or a list of 1-${MAX_MODELS_PER_ROUTE} model names`);
      continue;
    }
    const bad = list.filter((model) => typeof model !== 'string' || !MODEL_NAME_PATTERN.test(model));
    if (bad.length > 0) {
      problems.push(`${task}: ${bad.map((model) => JSON.stringify(model)).join(', ')} is not a model name`);
      continue;
    }
    routes.set(task, [...new Set(list as string[])]);
  }
  if (problems.length > 0) throw new Error(`LLM_MODEL_ROUTES is invalid: ${problems.join('; ')}`);
  return routes;
}

/**
 * The models to try for a task, in order: the requested model alone (an explicit choice is not
 * second-guessed), else the task's route, else the `*` route, else LLM_DEFAULT_MODEL.
 */
export function routeModels(
  routes: ModelRoutes,
  defaultModel: string | undefined,
  task: string,
  requested?: string,
): string[] {
  if (requested !== undefined) {
    if (!MODEL_NAME_PATTERN.test(requested)) {
      throw new LlmError('LLM_MODEL_NAME_INVALID', 'The model name is not valid.', {
        details: [{ field: 'model', issue: `must match ${MODEL_NAME_PATTERN.source}` }],
      });
    }
    return [requested];
  }
  const routed = routes.get(task) ?? routes.get(ANY_TASK);
  if (routed !== undefined) return [...routed];
  if (defaultModel !== undefined) return [defaultModel];
  throw new LlmError(
    'LLM_MODEL_NOT_CONFIGURED',
    `No model is configured for the task ${task}: pass a model, or set LLM_MODEL_ROUTES or LLM_DEFAULT_MODEL.`,
    { details: [{ field: 'model', issue: 'no model given and none configured for this task' }] },
  );
}
