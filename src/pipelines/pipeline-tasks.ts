import { z } from 'zod';
import type { EditableValues } from '../catalog/product-fields';
import type { PromptTask } from '../prompts/prompt-tasks';

export const PIPELINE_TASKS = [
  'meta_optimization',
  'content_rewriting',
  'keyword_analysis',
  'tag_optimization',
  'schema_analysis',
  'category_normalization',
] as const;
export type PipelineTask = (typeof PIPELINE_TASKS)[number];

export function isPipelineTask(value: string): value is PipelineTask {
  return (PIPELINE_TASKS as readonly string[]).includes(value);
}

/** The model's own estimate of how sure it is (required: strict structured outputs want every field); orders the review queue. */
const confidence = z.number().min(0).max(1);
const phrase = (max: number) => z.string().trim().min(1).max(max);

const OUTPUTS = {
  meta_optimization: z.strictObject({
    seoTitle: z.string().trim().min(30).max(60),
    seoDescription: z.string().trim().min(120).max(160),
    seoKeywords: z.array(phrase(100)).min(5).max(8),
    confidence,
  }),
  content_rewriting: z.strictObject({
    title: phrase(255),
    bodyHtml: z.string().trim().min(1).max(100_000),
    contentScore: z.number().min(0).max(1),
    improvements: z.array(phrase(500)).max(20),
  }),
  keyword_analysis: z.strictObject({
    primary: z.array(phrase(100)).min(1).max(10),
    longTail: z.array(phrase(200)).max(20),
    competitorTerms: z.array(phrase(100)).max(20),
    difficulty: z.enum(['low', 'medium', 'high']),
    confidence,
  }),
  tag_optimization: z.strictObject({
    tags: z.array(phrase(255)).min(1).max(250),
    added: z.array(phrase(255)).max(250),
    removed: z.array(phrase(255)).max(250),
    rationale: z.string().trim().max(2000),
    confidence,
  }),
  schema_analysis: z.strictObject({
    compliant: z.boolean(),
    issues: z.array(phrase(1000)).max(50),
  }),
} as const;

export type LlmTask = Exclude<PipelineTask, 'category_normalization'>;

/** What an item's output proposes: new field values and the confidence the proposals carry. */
export interface TaskProposal {
  changes: Partial<EditableValues>;
  confidence: number | null;
}

export interface LlmTaskDefinition {
  readonly kind: 'llm';
  readonly task: LlmTask & PromptTask;
  readonly output: z.ZodType;
  /** The JSON schema the provider constrains its answer to. */
  readonly jsonSchema: Record<string, unknown>;
  /** Turns validated output into proposals (none for report-only tasks). */
  propose(output: unknown): TaskProposal;
}

function llmTask<K extends LlmTask>(
  task: K,
  propose: (output: z.infer<(typeof OUTPUTS)[K]>) => TaskProposal,
): LlmTaskDefinition {
  const output = OUTPUTS[task];
  const jsonSchema = { ...(z.toJSONSchema(output) as Record<string, unknown>) };
  delete jsonSchema.$schema;
  return {
    kind: 'llm',
    task,
    output,
    jsonSchema,
    propose: (value) => propose(value as z.infer<(typeof OUTPUTS)[K]>),
  };
}

export const LLM_TASKS: Readonly<Record<LlmTask, LlmTaskDefinition>> = {
  meta_optimization: llmTask('meta_optimization', (o) => ({
    changes: { seoTitle: o.seoTitle, seoDescription: o.seoDescription, seoKeywords: o.seoKeywords },
    confidence: o.confidence,
  })),
  content_rewriting: llmTask('content_rewriting', (o) => ({
    changes: { title: o.title, bodyHtml: o.bodyHtml },
    confidence: o.contentScore,
  })),
  keyword_analysis: llmTask('keyword_analysis', (o) => ({
    changes: { seoKeywords: o.primary.slice(0, 8) },
    confidence: o.confidence,
  })),
  tag_optimization: llmTask('tag_optimization', (o) => ({
    changes: { tags: o.tags },
    confidence: o.confidence,
  })),
  schema_analysis: llmTask('schema_analysis', () => ({ changes: {}, confidence: null })),
};

/** Output that breaks the task's schema fails the item with the reasons; nothing is proposed. */
export function validateOutput(
  definition: LlmTaskDefinition,
  content: string,
): { ok: true; output: unknown } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return { ok: false, reason: 'invalid_output: the model did not answer with JSON' };
  }
  const result = definition.output.safeParse(parsed);
  if (result.success) return { ok: true, output: result.data };
  const issues = result.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || 'output'}: ${issue.message}`)
    .join('; ');
  return { ok: false, reason: `invalid_output: ${issues}` };
}
