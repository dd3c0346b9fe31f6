import type { Env } from './env.schema';

export type NodeEnv = Env['NODE_ENV'];

/** The typed configuration every module reads. Built once at boot by `loadConfig`. */
export interface AppConfig {
  readonly nodeEnv: NodeEnv;
  readonly isProduction: boolean;
  readonly http: {
    readonly port: number;
    readonly host: string;
    readonly publicBaseUrl: string;
    readonly trustProxy: boolean;
    readonly bodyLimitBytes: number;
    readonly importBodyLimitBytes: number;
    /** `'*'` allows any origin (refused in production); an empty list allows none. */
    readonly corsOrigins: readonly string[] | '*';
    readonly shutdownGraceMs: number;
  };
  readonly log: { readonly level: Env['LOG_LEVEL'] };
  readonly database: {
    /** Unset: the embedded PostgreSQL (PGlite) under `pgliteDataDir`. */
    readonly url?: string;
    readonly pgliteDataDir: string;
    readonly migrationsRun: boolean;
    readonly poolSize: number;
  };
  readonly redis: { readonly url?: string; readonly keyPrefix: string };
  /** The in-process (L1) adapter response cache; see docs/CACHE.md. */
  readonly cache: { readonly l1MaxEntries: number; readonly l1MaxBytes: number };
  readonly rateLimit: {
    readonly enabled: boolean;
    readonly ttlSeconds: number;
    readonly max: number;
    readonly toolsMax?: number;
  };
  readonly metrics: { readonly token?: string };
  readonly jwt: {
    readonly secret?: string;
    readonly algorithm: Env['JWT_ALGORITHM'];
    readonly privateKeyFile?: string;
    readonly publicKeyFile?: string;
    readonly issuer: string;
    readonly audience: string;
    readonly accessTtlSeconds: number;
    readonly refreshTtlSeconds: number;
  };
  readonly admin: { readonly email?: string; readonly password?: string };
  readonly secrets: { readonly key?: Buffer; readonly previousKey?: Buffer };
  readonly retention: {
    readonly auditDays?: number;
    readonly changesDays?: number;
    readonly pipelineItemsDays?: number;
    /** Days pg-boss keeps archived (finished) jobs before deleting them. */
    readonly jobsArchiveDays: number;
  };
  readonly llm: {
    readonly provider: Env['LLM_PROVIDER'];
    readonly ollamaUrl: string;
    readonly openaiBaseUrl?: string;
    readonly openaiApiKey?: string;
    readonly defaultModel?: string;
    readonly maxConcurrency: number;
    readonly modelRoutes?: Record<string, unknown>;
  };
  readonly catalog: { readonly ftsConfig: string };
  readonly pipelines: {
    readonly defaultConcurrency: number;
    readonly itemTimeoutMs: number;
    readonly autoApproveThreshold?: number;
  };
  readonly tools: {
    readonly fsRoot: string;
    /** Largest file the file tools read or write in one call. */
    readonly fsMaxFileBytes: number;
    readonly shellEnabled: boolean;
    readonly shellAllowlist?: Record<string, unknown>;
  };
  readonly mcp: {
    readonly allowedOrigins: readonly string[];
    readonly allowedHosts: readonly string[];
    readonly stateless: boolean;
    readonly sessionIdleSeconds: number;
  };
  readonly oauth: { readonly accessTtlSeconds: number; readonly tokensForRest: boolean };
  readonly otel: { readonly endpoint?: string };
}

export const APP_CONFIG = Symbol('APP_CONFIG');
