import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { UpstreamError } from '../common/app-error';
import { LlmService } from '../llm/llm.service';
import { type ToolDefinition, defineTool } from './tool.types';

/** The routing key in LLM_MODEL_ROUTES for this tool's calls. */
export const CODEGEN_TASK = 'code_generation';

const SYSTEM_PROMPT =
  'You are a careful senior software engineer. Write the code the user asks for in the language named. ' +
  'Answer with JSON only: {"code": "<the complete code>", "explanation": "<two or three sentences>"}. ' +
  'Do not wrap the code in Markdown fences. Never include credentials, and do not invent APIs.';

const answerSchema = z.object({ code: z.string().min(1), explanation: z.string().default('') });

const output = z.object({
  language: z.string(),
  code: z.string(),
  explanation: z.string(),
  model: z.string(),
  provider: z.string(),
  tokens: z.object({ in: z.number(), out: z.number() }),
  truncated: z.boolean(),
});

/** `generate_code`: one LLM call through the same providers, routing and limits as pipelines. */
@Injectable()
export class CodegenTool {
  constructor(private readonly llm: LlmService) {}

  definition(): ToolDefinition {
    return defineTool({
      name: 'generate_code',
      title: 'Generate code',
      description:
        'Writes code from instructions with the configured LLM: name the `language`, describe what the code must ' +
        'do in `instructions`, and give any existing code or interfaces it must fit in `context`. The code is ' +
        'returned, never run.',
      input: z.strictObject({
        language: z.string().min(1).max(40),
        instructions: z.string().min(1).max(20_000),
        context: z.string().max(100_000).optional(),
        model: z.string().min(1).max(200).optional(),
        maxTokens: z.number().int().min(64).max(32_000).default(4_000),
      }),
      output,
      permission: 'tools:codegen',
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      auditArguments: ({ language, instructions, context, model, maxTokens }) => ({
        language,
        instructions: instructions.length,
        context: context?.length ?? 0,
        model,
        maxTokens,
      }),
      handler: async ({ language, instructions, context, model, maxTokens }, call) => {
        const result = await this.llm.chat({
          task: CODEGEN_TASK,
          model,
          system: SYSTEM_PROMPT,
          user:
            `Language: ${language}\n\nInstructions:\n${instructions}` +
            (context === undefined ? '' : `\n\nContext:\n${context}`),
          jsonSchema: z.toJSONSchema(answerSchema, { target: 'draft-7' }),
          maxTokens,
          signal: call.signal,
        });
        const answer = parseAnswer(result.content);
        return {
          language,
          code: answer.code,
          explanation: answer.explanation,
          model: result.model,
          provider: result.provider,
          tokens: { in: result.tokensIn, out: result.tokensOut },
          truncated: result.finishReason === 'length',
        };
      },
    });
  }
}

function parseAnswer(content: string): z.infer<typeof answerSchema> {
  try {
    const parsed = answerSchema.safeParse(JSON.parse(content));
    if (parsed.success) return parsed.data;
  } catch {
    // Not JSON: reported below.
  }
  throw new UpstreamError(
    'LLM_OUTPUT_INVALID',
    'The model did not answer with the code in the expected form.',
  );
}
