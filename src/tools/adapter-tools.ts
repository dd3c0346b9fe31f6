import { z } from 'zod';
import { HTTP_METHODS } from '../adapters/adapter-config';
import type { PostgresAdapterConfig, RestAdapterConfig } from '../adapters/adapter.types';
import type { AdapterView, AdaptersService } from '../adapters/adapters.service';
import { type ToolAnnotations, type ToolDefinition, defineTool } from './tool.types';

/** Every adapter tool shares this metric label, so that adapter names never become label values. */
export function adapterToolKind(name: string): string | undefined {
  if (!name.startsWith('adapter_')) return undefined;
  return name.endsWith('_query') ? 'adapter_query' : 'adapter_request';
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * The tool of an adapter with `exposeAsTool`: `adapter_<name>_request` for REST, `adapter_<name>_query`
 * for PostgreSQL, with an input schema derived from its config (the methods it allows). Calls go through
 * AdaptersService like the REST routes, so the SSRF guard, limits, cache and `adapter.*` events apply.
 */
export function adapterTool(adapter: AdapterView, adapters: AdaptersService): ToolDefinition {
  const about = adapter.description.trim() === '' ? '' : ` ${adapter.description.trim()}`;
  if (adapter.type === 'postgres') {
    const config = adapter.config as PostgresAdapterConfig;
    return defineTool({
      name: `adapter_${adapter.name}_query`,
      title: `Query ${adapter.name}`,
      description:
        `Runs one read-only SQL statement (SELECT, WITH … SELECT, VALUES, EXPLAIN) on the PostgreSQL database ` +
        `"${adapter.name}", with $1, $2… parameters; at most ${config.maxRows ?? 1000} rows come back.${about}`,
      input: z.strictObject({
        sql: z.string().min(1).max(100_000),
        params: z.array(z.unknown()).max(100).default([]),
      }),
      permission: 'adapters:execute',
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      // Parameter values may be personal data or secrets: only their number is recorded.
      auditArguments: ({ sql, params }) => ({ sql: sql.slice(0, 10_000), params: params.length }),
      handler: ({ sql, params }) => adapters.query(adapter.id, sql, params),
    });
  }
  const config = adapter.config as unknown as RestAdapterConfig;
  const methods = (config.allowedMethods ?? ['GET', 'HEAD']).filter((m) =>
    (HTTP_METHODS as readonly string[]).includes(m),
  ) as [string, ...string[]];
  return defineTool({
    name: `adapter_${adapter.name}_request`,
    title: `Call ${adapter.name}`,
    description:
      `Sends an HTTP request to the API "${adapter.name}" (base URL ${config.baseUrl}); \`path\` is relative to ` +
      `it. Allowed methods: ${methods.join(', ')}. The answer is the upstream status, headers and body.${about}`,
    input: z.strictObject({
      method: z.enum(methods).default(methods[0]),
      path: z.string().startsWith('/').max(2048),
      query: z
        .record(z.string().max(256), z.union([z.string().max(2048), z.array(z.string().max(2048)).max(50)]))
        .optional(),
      headers: z.record(z.string().max(256), z.string().max(4096)).optional(),
      body: z.unknown().optional(),
    }),
    permission: 'adapters:execute',
    annotations: restAnnotations(methods),
    auditArguments: ({ method, path }) => ({ method, path: path.slice(0, 2048) }),
    handler: (input) => adapters.execute(adapter.id, input),
  });
}

function restAnnotations(methods: readonly string[]): ToolAnnotations {
  const readOnly = methods.every((method) => SAFE_METHODS.has(method));
  return {
    readOnlyHint: readOnly,
    destructiveHint: methods.some((method) => ['PUT', 'PATCH', 'DELETE'].includes(method)),
    idempotentHint: readOnly,
    openWorldHint: true,
  };
}
