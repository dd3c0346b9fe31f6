import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { AuditService } from '../audit/audit.service';
import {
  AppError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
} from '../common/app-error';
import { toErrorResponse } from '../common/error-response';
import { type Principal, RequestContext } from '../common/request-context';
import { MetricsService } from '../observability/metrics.service';
import { adapterToolKind } from './adapter-tools';
import { ToolRateLimiter } from './tool-rate-limiter';
import { ToolRegistry } from './tool-registry';
import type { ToolAnnotations, ToolDefinition, ToolProgress, ToolTransport } from './tool.types';

/** A tool as callers see it (REST and MCP `tools/list` alike). */
export interface ToolInfo {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations: ToolAnnotations;
  permission: string;
}

/** The MCP `CallToolResult` shape, plus the time the call took. */
export interface ToolCallResult {
  content: Array<{ type: 'text'; text: string }>;
  structuredContent?: Record<string, unknown>;
  isError: boolean;
  durationMs: number;
}

export interface ToolInvocation {
  readonly transport: ToolTransport;
  /** The MCP session, for the audit event. */
  readonly sessionId?: string;
  readonly signal?: AbortSignal;
  readonly progress?: (update: ToolProgress) => Promise<void>;
}

/**
 * Thrown before a tool runs: unknown tool (404), permission refused (403), invalid arguments (400)
 * or rate limit (429). REST answers with its status and envelope; MCP turns it into a refused
 * `CallToolResult` (an unknown tool into a protocol error). Already audited when thrown.
 */
export class ToolRefusal extends Error {
  constructor(readonly error: AppError) {
    super(error.message);
  }
}

/** Longest string argument kept whole in the audit event; longer ones are recorded by length. */
const MAX_AUDITED_STRING = 1_000;

/**
 * Lists and runs tools for the principal of the current request context. Every call, whatever
 * becomes of it, leaves exactly one `tool.execute` event (outcome success, failure or denied) with
 * the tool, redacted arguments, duration, transport and session; work the tool does leaves its own
 * events under the same request id.
 */
@Injectable()
export class ToolsService {
  private readonly schemas = new WeakMap<ToolDefinition, Pick<ToolInfo, 'inputSchema' | 'outputSchema'>>();

  constructor(
    private readonly registry: ToolRegistry,
    private readonly limiter: ToolRateLimiter,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
    private readonly metrics: MetricsService,
  ) {}

  /** The tools the current principal may call. */
  async list(): Promise<ToolInfo[]> {
    const principal = this.principal();
    return (await this.registry.all())
      .filter((tool) => principal.permissions.has(tool.permission))
      .map((tool) => this.info(tool));
  }

  /** One tool the current principal may call; 404 for every other name. */
  async describe(name: string): Promise<ToolInfo> {
    const tool = await this.registry.find(name);
    if (tool === undefined || !this.principal().permissions.has(tool.permission)) throw toolNotFound(name);
    return this.info(tool);
  }

  /** Registry changes (adapter tools added, changed or removed), for `notifications/tools/list_changed`. */
  onListChanged(listener: () => void): () => void {
    return this.registry.onListChanged(listener);
  }

  /**
   * Runs a tool. Refusals before it runs throw ToolRefusal; a tool that ran and failed gives
   * `isError: true` with the error envelope as its text and no structured content.
   */
  async execute(name: string, args: unknown, invocation: ToolInvocation): Promise<ToolCallResult> {
    const started = performance.now();
    const principal = this.principal();
    const tool = await this.registry.find(name);
    const label = tool === undefined ? 'unknown' : (adapterToolKind(tool.name) ?? tool.name);
    const refuse = async (error: AppError, auditedArgs: unknown): Promise<never> => {
      await this.record(
        name,
        error.status === 403 ? 'denied' : 'failure',
        error,
        auditedArgs,
        invocation,
        started,
      );
      this.metrics.observeToolCall(label, invocation.transport, error.status === 403 ? 'denied' : 'refused');
      throw new ToolRefusal(error);
    };

    if (tool === undefined) return refuse(toolNotFound(name), summarize(args));
    if (!principal.permissions.has(tool.permission)) {
      return refuse(
        new ForbiddenError('PERMISSION_DENIED', `The tool ${name} needs the permission ${tool.permission}.`, [
          { issue: 'missing_permission', permissions: [tool.permission] },
        ]),
        summarize(args),
      );
    }
    const parsed = tool.input.safeParse(args ?? {});
    if (!parsed.success) return refuse(invalidArguments(parsed.error), summarize(args));
    const input: unknown = parsed.data;
    const auditedArgs = tool.auditArguments?.(input) ?? summarize(input);
    try {
      await this.limiter.take(principal.id, tool.name);
    } catch (error) {
      return refuse(error as AppError, auditedArgs);
    }

    const signal = invocation.signal ?? new AbortController().signal;
    try {
      const output = await tool.handler(input, {
        signal,
        transport: invocation.transport,
        progress: invocation.progress ?? (() => Promise.resolve()),
      });
      await this.record(name, 'success', undefined, auditedArgs, invocation, started);
      this.metrics.observeToolCall(
        label,
        invocation.transport,
        'success',
        (performance.now() - started) / 1000,
      );
      return success(output, started);
    } catch (thrown) {
      // Whatever a cancelled handler throws (an abort error, an LLM or connector error), the cause is the cancel.
      const error = signal.aborted
        ? new ConflictError('TOOL_CALL_CANCELLED', 'The call was cancelled.')
        : thrown;
      const response = toErrorResponse(error);
      await this.record(name, 'failure', error, auditedArgs, invocation, started);
      this.metrics.observeToolCall(
        label,
        invocation.transport,
        'failure',
        (performance.now() - started) / 1000,
      );
      // A failure of the audit store itself is not a tool result: the caller gets the 503.
      if (response.code === 'AUDIT_UNAVAILABLE') throw error;
      return failure(response, this.context.requestId, started);
    }
  }

  private async record(
    tool: string,
    outcome: 'success' | 'failure' | 'denied',
    error: unknown,
    args: unknown,
    invocation: ToolInvocation,
    started: number,
  ): Promise<void> {
    const response = error === undefined ? undefined : toErrorResponse(error);
    await this.audit.recordIndependently({
      action: 'tool.execute',
      outcome,
      resourceType: 'tool',
      resourceId: tool.slice(0, 200),
      httpStatus: response?.status ?? 200,
      details: {
        tool: tool.slice(0, 200),
        arguments: args,
        transport: invocation.transport,
        ...(invocation.sessionId === undefined ? {} : { sessionId: invocation.sessionId }),
        durationMs: Math.round(performance.now() - started),
        ...(response === undefined ? {} : { code: response.code }),
      },
    });
  }

  private info(tool: ToolDefinition): ToolInfo {
    let schemas = this.schemas.get(tool);
    if (schemas === undefined) {
      schemas = {
        inputSchema: jsonSchema(tool.input, 'input'),
        ...(tool.output === undefined ? {} : { outputSchema: jsonSchema(tool.output, 'output') }),
      };
      this.schemas.set(tool, schemas);
    }
    return {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      ...schemas,
      annotations: tool.annotations,
      permission: tool.permission,
    };
  }

  private principal(): Principal {
    const principal = this.context.principal;
    if (principal === undefined)
      throw new UnauthenticatedError('UNAUTHENTICATED', 'Authentication is required.');
    return principal;
  }
}

/** JSON Schema (draft-07, which MCP clients validate with) of a tool's input or output. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, {
    target: 'draft-7',
    io,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

function success(output: unknown, started: number): ToolCallResult {
  const structured = isRecord(output) ? output : { result: output ?? null };
  return {
    content: [{ type: 'text', text: JSON.stringify(structured) }],
    structuredContent: structured,
    isError: false,
    durationMs: Math.round(performance.now() - started),
  };
}

function failure(
  response: ReturnType<typeof toErrorResponse>,
  requestId: string | undefined,
  started: number,
): ToolCallResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(toolErrorBody(response, requestId)) }],
    isError: true,
    durationMs: Math.round(performance.now() - started),
  };
}

/** The error envelope carried by a refused or failed tool result. */
export function toolErrorBody(
  error: Pick<ReturnType<typeof toErrorResponse>, 'code' | 'message' | 'details'>,
  requestId: string | undefined,
): { error: Record<string, unknown> } {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      requestId,
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Arguments as recorded: long strings by their length (contents, documents), the rest as given. */
function summarize(value: unknown, depth = 0): unknown {
  if (typeof value === 'string')
    return value.length > MAX_AUDITED_STRING ? `<${value.length} characters>` : value;
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => summarize(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, 50)
      .map(([key, item]) => [key, summarize(item, depth + 1)]),
  );
}

function toolNotFound(name: string): NotFoundError {
  return new NotFoundError('TOOL_NOT_FOUND', `No tool named ${name.slice(0, 200)}.`);
}

function invalidArguments(error: z.ZodError): BadRequestError {
  return new BadRequestError(
    'VALIDATION_FAILED',
    'The tool arguments are invalid.',
    error.issues.slice(0, 20).map((issue) => ({
      field: ['arguments', ...issue.path.map(String)].join('.'),
      issue: issue.message,
    })),
  );
}
