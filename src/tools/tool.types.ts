import type { z } from 'zod';
import type { Permission } from '../authz/permissions';

/** How a call reached the tool: audited with the call and used as a metric label. */
export type ToolTransport = 'rest' | 'streamable-http' | 'sse';

/** MCP tool annotations (hints to clients; never trusted by the server). */
export interface ToolAnnotations {
  readonly readOnlyHint: boolean;
  readonly destructiveHint: boolean;
  readonly idempotentHint: boolean;
  readonly openWorldHint: boolean;
}

export interface ToolProgress {
  readonly progress: number;
  readonly total?: number;
  readonly message?: string;
}

/** What a handler gets besides its validated arguments. */
export interface ToolCallContext {
  /** Aborted when the client cancels the call, its connection closes, or the service shuts down. */
  readonly signal: AbortSignal;
  readonly transport: ToolTransport;
  /** Sends an MCP progress notification when the caller asked for progress; a no-op otherwise. */
  progress(update: ToolProgress): Promise<void>;
}

/**
 * One tool: what MCP clients and REST callers see, the permission a caller must hold, and a handler
 * that calls the same service the REST controllers use. Handlers return a JSON object (the
 * structured result) and throw AppError subclasses for refusals and failures.
 */
export interface ToolDefinition<I extends z.ZodType = z.ZodType, O = unknown> {
  /** `^[a-z][a-z0-9_]{0,63}$` */
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** A strict object schema: unknown properties are refused. */
  readonly input: I;
  /** When given, every successful result conforms to it (clients validate structuredContent). */
  readonly output?: z.ZodType<O>;
  readonly permission: Permission;
  readonly annotations: ToolAnnotations;
  /**
   * The arguments as they are recorded in the audit event (after secret redaction). Default: the
   * arguments with long strings replaced by their length. File contents and SQL parameters are
   * summarised this way.
   */
  readonly auditArguments?: (input: z.infer<I>) => Record<string, unknown>;
  readonly handler: (input: z.infer<I>, context: ToolCallContext) => Promise<O>;
}

/** Annotation presets: most tools are one of these. */
export const READ_ONLY: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

/** Creates new records without touching existing ones (proposals, runs, new files). */
export const ADDITIVE: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: false,
};

/** Defines a tool with its handler typed from its input schema. */
export function defineTool<I extends z.ZodType, O>(definition: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return definition;
}
