import { existsSync, readFileSync } from 'node:fs';
import type { AppConfig } from './app-config';
import { type Env, SECRET_VARIABLES, envSchema } from './env.schema';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Values that show a secret was copied from an example rather than generated. */
const PLACEHOLDER_PATTERN =
  /change[-_ ]?me|changeme|replace[-_ ]?me|example|secret{1,2}$|^password|^x+$|^0+$/i;
const MIN_JWT_SECRET_BYTES = 32;

/**
 * Reads, validates and types the configuration. Reports every problem at once and never echoes a
 * secret value in an error message.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const raw = resolveSecretFiles(source, problems);
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  const env = parsed.data;
  const corsOrigins = parseOrigins('CORS_ORIGINS', env.CORS_ORIGINS, true, problems);
  const mcpAllowedOrigins = parseOrigins('MCP_ALLOWED_ORIGINS', env.MCP_ALLOWED_ORIGINS, false, problems);
  const secretsKey = decodeKey('SECRETS_KEY', env.SECRETS_KEY, problems);
  const previousKey = decodeKey('SECRETS_KEY_PREVIOUS', env.SECRETS_KEY_PREVIOUS, problems);
  checkJwt(env, problems);
  if (env.NODE_ENV === 'production') checkProduction(env, corsOrigins, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const publicBaseUrl = (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  return {
    nodeEnv: env.NODE_ENV,
    isProduction: env.NODE_ENV === 'production',
    http: {
      port: env.PORT,
      host: env.HOST,
      publicBaseUrl,
      trustProxy: env.TRUST_PROXY,
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      importBodyLimitBytes: env.IMPORT_BODY_LIMIT_BYTES,
      corsOrigins,
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    },
    log: { level: env.LOG_LEVEL },
    database: {
      url: env.DATABASE_URL,
      pgliteDataDir: env.PGLITE_DATA_DIR,
      migrationsRun: env.DB_MIGRATIONS_RUN,
      poolSize: env.DB_POOL_SIZE,
    },
    redis: { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX },
    cache: { l1MaxEntries: env.CACHE_L1_MAX_ENTRIES, l1MaxBytes: env.CACHE_L1_MAX_BYTES },
    rateLimit: {
      enabled: env.RATE_LIMIT_ENABLED,
      ttlSeconds: env.RATE_LIMIT_TTL_SECONDS,
      max: env.RATE_LIMIT_MAX,
      toolsMax: env.TOOLS_RATE_LIMIT_MAX,
    },
    metrics: { token: env.METRICS_TOKEN },
    jwt: {
      secret: env.JWT_SECRET,
      algorithm: env.JWT_ALGORITHM,
      privateKeyFile: env.JWT_PRIVATE_KEY_FILE,
      publicKeyFile: env.JWT_PUBLIC_KEY_FILE,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTtlSeconds: env.JWT_ACCESS_TTL_SECONDS,
      refreshTtlSeconds: env.JWT_REFRESH_TTL_SECONDS,
    },
    admin: { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD },
    secrets: { key: secretsKey, previousKey },
    retention: {
      auditDays: env.AUDIT_RETENTION_DAYS,
      changesDays: env.CHANGES_RETENTION_DAYS,
      pipelineItemsDays: env.PIPELINE_ITEMS_RETENTION_DAYS,
      jobsArchiveDays: env.JOBS_ARCHIVE_RETENTION_DAYS,
    },
    llm: {
      provider: env.LLM_PROVIDER,
      ollamaUrl: env.OLLAMA_URL,
      openaiBaseUrl: env.OPENAI_BASE_URL,
      openaiApiKey: env.OPENAI_API_KEY,
      defaultModel: env.LLM_DEFAULT_MODEL,
      maxConcurrency: env.LLM_MAX_CONCURRENCY,
      modelRoutes: env.LLM_MODEL_ROUTES,
    },
    catalog: { ftsConfig: env.CATALOG_FTS_CONFIG },
    pipelines: {
      defaultConcurrency: env.PIPELINE_DEFAULT_CONCURRENCY,
      itemTimeoutMs: env.PIPELINE_ITEM_TIMEOUT_MS,
      autoApproveThreshold: env.PIPELINE_AUTO_APPROVE_THRESHOLD,
    },
    tools: {
      fsRoot: env.TOOLS_FS_ROOT,
      fsMaxFileBytes: env.TOOLS_FS_MAX_FILE_BYTES,
      shellEnabled: env.TOOLS_SHELL_ENABLED,
      shellAllowlist: env.TOOLS_SHELL_ALLOWLIST,
    },
    mcp: {
      allowedOrigins: mcpAllowedOrigins === '*' ? [] : mcpAllowedOrigins,
      allowedHosts: parseList(env.MCP_ALLOWED_HOSTS) ?? [
        new URL(publicBaseUrl).host,
        'localhost',
        '127.0.0.1',
      ],
      stateless: env.MCP_STATELESS,
      sessionIdleSeconds: env.MCP_SESSION_IDLE_SECONDS,
    },
    oauth: { accessTtlSeconds: env.OAUTH_ACCESS_TTL_SECONDS, tokensForRest: env.OAUTH_TOKENS_FOR_REST },
    otel: { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT },
  };
}

/** `<NAME>_FILE` supplies `<NAME>` from a file (Docker and Kubernetes secrets); giving both is an error. */
function resolveSecretFiles(
  source: NodeJS.ProcessEnv,
  problems: string[],
): Record<string, string | undefined> {
  const resolved: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(source)) resolved[key] = value === '' ? undefined : value;
  for (const name of SECRET_VARIABLES) {
    const file = resolved[`${name}_FILE`];
    if (file === undefined) continue;
    if (resolved[name] !== undefined) {
      problems.push(`${name}: set either ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      resolved[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      problems.push(`${name}_FILE: cannot read ${file} (${code})`);
    }
  }
  return resolved;
}

function parseList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  return items.length > 0 ? items : undefined;
}

function parseOrigins(
  name: string,
  value: string,
  allowWildcard: boolean,
  problems: string[],
): string[] | '*' {
  const items = parseList(value) ?? [];
  if (items.includes('*')) {
    if (!allowWildcard || items.length > 1) problems.push(`${name}: '*' must stand alone`);
    return '*';
  }
  for (const origin of items) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      problems.push(
        `${name}: '${origin}' is not an origin (scheme://host[:port], no path or trailing slash)`,
      );
    }
  }
  return items;
}

function decodeKey(name: string, value: string | undefined, problems: string[]): Buffer | undefined {
  if (value === undefined) return undefined;
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32 || key.toString('base64') !== value.replace(/\s/g, '')) {
    problems.push(`${name}: must be the base64 encoding of exactly 32 bytes (openssl rand -base64 32)`);
    return undefined;
  }
  return key;
}

function checkJwt(env: Env, problems: string[]): void {
  if (env.JWT_ALGORITHM === 'HS256') {
    if (env.JWT_SECRET !== undefined && Buffer.byteLength(env.JWT_SECRET) < MIN_JWT_SECRET_BYTES) {
      problems.push(`JWT_SECRET: must be at least ${MIN_JWT_SECRET_BYTES} bytes`);
    }
  } else if (env.JWT_PRIVATE_KEY_FILE === undefined || env.JWT_PUBLIC_KEY_FILE === undefined) {
    problems.push(
      `JWT_ALGORITHM ${env.JWT_ALGORITHM}: JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE are required`,
    );
  }
}

function isWeakSecret(value: string | undefined, minBytes: number): boolean {
  return value === undefined || Buffer.byteLength(value) < minBytes || PLACEHOLDER_PATTERN.test(value);
}

/** In production the service refuses settings that are only acceptable on a developer's machine. */
function checkProduction(env: Env, corsOrigins: string[] | '*', problems: string[]): void {
  if (corsOrigins === '*') problems.push('CORS_ORIGINS: a wildcard is not allowed in production');
  if (env.JWT_ALGORITHM === 'HS256' && isWeakSecret(env.JWT_SECRET, MIN_JWT_SECRET_BYTES)) {
    problems.push(
      'JWT_SECRET: production needs a random secret of at least 32 bytes (openssl rand -base64 48)',
    );
  }
  if (env.METRICS_TOKEN !== undefined && isWeakSecret(env.METRICS_TOKEN, 16)) {
    problems.push('METRICS_TOKEN: production needs a random token of at least 16 bytes');
  }
}

/** Reads `.env` from the working directory when there is one; variables already set win. */
export function loadDotEnvFile(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}
