import { z } from 'zod';

/**
 * The environment variables the service reads, with their defaults. One schema, validated once at
 * boot; every error is reported at once. Names follow docs/CONFIGURATION.md.
 */

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);
const optionalInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max).optional();

const jsonObject = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === '') return undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
        return z.NEVER;
      }
      return parsed as Record<string, unknown>;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
      return z.NEVER;
    }
  });

const url = z.url({ protocol: /^https?$/ });

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_BASE_URL: url.optional(),
  TRUST_PROXY: bool(false),
  SHUTDOWN_GRACE_MS: int(10_000, 0, 600_000),
  BODY_LIMIT_BYTES: int(1_048_576, 1024, 1_073_741_824),
  IMPORT_BODY_LIMIT_BYTES: int(52_428_800, 1024, 1_073_741_824),
  CORS_ORIGINS: z.string().default(''),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  PGLITE_DATA_DIR: z.string().min(1).default('./data/pglite'),
  DB_MIGRATIONS_RUN: bool(true),
  DB_POOL_SIZE: int(10, 1, 200),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{0,64}$/)
    .default('mcp-admin:'),
  CACHE_L1_MAX_ENTRIES: int(10_000, 1, 10_000_000),
  CACHE_L1_MAX_BYTES: int(67_108_864, 1024, 17_179_869_184),

  RATE_LIMIT_ENABLED: bool(true),
  RATE_LIMIT_TTL_SECONDS: int(60, 1, 86_400),
  RATE_LIMIT_MAX: int(600, 1, 1_000_000),
  METRICS_TOKEN: z.string().min(1).optional(),

  JWT_SECRET: z.string().optional(),
  JWT_ALGORITHM: z.enum(['HS256', 'RS256', 'ES256']).default('HS256'),
  JWT_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  JWT_PUBLIC_KEY_FILE: z.string().min(1).optional(),
  JWT_ISSUER: z.string().min(1).default('mcp-admin'),
  JWT_AUDIENCE: z.string().min(1).default('mcp-admin-api'),
  JWT_ACCESS_TTL_SECONDS: int(900, 30, 86_400),
  JWT_REFRESH_TTL_SECONDS: int(1_209_600, 60, 31_536_000),
  ADMIN_EMAIL: z.email().optional(),
  ADMIN_PASSWORD: z.string().optional(),
  SECRETS_KEY: z.string().optional(),
  SECRETS_KEY_PREVIOUS: z.string().optional(),
  AUDIT_RETENTION_DAYS: optionalInt(1, 36_500),
  CHANGES_RETENTION_DAYS: optionalInt(1, 36_500),
  PIPELINE_ITEMS_RETENTION_DAYS: optionalInt(1, 36_500),
  JOBS_ARCHIVE_RETENTION_DAYS: int(7, 1, 365),

  LLM_PROVIDER: z.enum(['ollama', 'openai']).default('ollama'),
  OLLAMA_URL: url.default('http://127.0.0.1:11434'),
  OPENAI_BASE_URL: url.optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  LLM_DEFAULT_MODEL: z.string().min(1).optional(),
  LLM_MAX_CONCURRENCY: int(8, 1, 256),
  LLM_MODEL_ROUTES: jsonObject,

  CATALOG_FTS_CONFIG: z
    .string()
    .regex(/^[a-z_]{1,63}$/, 'must be a PostgreSQL text search configuration name')
    .default('english'),
  PIPELINE_DEFAULT_CONCURRENCY: int(4, 1, 64),
  PIPELINE_ITEM_TIMEOUT_MS: int(120_000, 1_000, 3_600_000),
  PIPELINE_AUTO_APPROVE_THRESHOLD: z.coerce.number().min(0).max(1).optional(),

  TOOLS_FS_ROOT: z.string().min(1).default('./data/files'),
  TOOLS_FS_MAX_FILE_BYTES: int(1_048_576, 1024, 104_857_600),
  TOOLS_SHELL_ENABLED: bool(false),
  TOOLS_SHELL_ALLOWLIST: jsonObject,
  TOOLS_RATE_LIMIT_MAX: optionalInt(1, 1_000_000),

  MCP_ALLOWED_ORIGINS: z.string().default(''),
  MCP_ALLOWED_HOSTS: z.string().optional(),
  MCP_STATELESS: bool(false),
  MCP_SESSION_IDLE_SECONDS: int(1800, 10, 86_400),

  OAUTH_ACCESS_TTL_SECONDS: int(600, 30, 86_400),
  OAUTH_TOKENS_FOR_REST: bool(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
});

export type Env = z.infer<typeof envSchema>;

/** Variables that hold secrets: each may instead be given as `<NAME>_FILE`, a path to read it from. */
export const SECRET_VARIABLES = [
  'DATABASE_URL',
  'REDIS_URL',
  'METRICS_TOKEN',
  'JWT_SECRET',
  'ADMIN_PASSWORD',
  'SECRETS_KEY',
  'SECRETS_KEY_PREVIOUS',
  'OPENAI_API_KEY',
] as const;
