/**
 * The pipeline tasks that call an LLM, each with one prompt. `category_normalization` is also a
 * pipeline task but is deterministic, so it has no prompt and is not listed here.
 */
export const PROMPT_TASKS = [
  'meta_optimization',
  'content_rewriting',
  'keyword_analysis',
  'tag_optimization',
  'schema_analysis',
] as const;

export type PromptTask = (typeof PROMPT_TASKS)[number];

export function isPromptTask(value: string): value is PromptTask {
  return (PROMPT_TASKS as readonly string[]).includes(value);
}

/** Prompt names: also the CHECK in the prompts table and the default prompt of each task (its task name). */
export const PROMPT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
