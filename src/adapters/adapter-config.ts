import { z } from 'zod';
import { BadRequestError } from '../common/app-error';
import type {
  AdapterType,
  PostgresAdapterConfig,
  PostgresAdapterSecrets,
  RestAdapterConfig,
  RestAdapterSecrets,
} from './adapter.types';

/** Headers a REST adapter's configuration may not set: they belong to the connection or to auth. */
const RESERVED_HEADERS = new Set([
  'host',
  'authorization',
  'proxy-authorization',
  'cookie',
  'content-length',
  'transfer-encoding',
  'connection',
  'te',
  'upgrade',
  'keep-alive',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
const HEADER_VALUE = /^[^\r\n\0]{0,4000}$/;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

const origin = z
  .url({ protocol: /^https?$/ })
  .refine((value) => new URL(value).pathname === '/' && new URL(value).search === '', 'must be an origin');

const restConfigSchema = z
  .object({
    baseUrl: z
      .url({ protocol: /^https?$/, message: 'must be an http or https URL' })
      .max(2048)
      .refine((value) => {
        const url = new URL(value);
        return url.username === '' && url.password === '' && url.search === '' && url.hash === '';
      }, 'must not carry credentials, a query or a fragment'),
    headers: z
      .record(
        z
          .string()
          .regex(HEADER_NAME)
          .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), 'is reserved'),
        z.string().regex(HEADER_VALUE),
      )
      .refine((headers) => Object.keys(headers).length <= 50, 'at most 50 headers')
      .optional(),
    auth: z.enum(['none', 'bearer', 'basic', 'apiKey']).default('none'),
    timeoutMs: z
      .strictObject({
        connect: z.number().int().min(100).max(30_000).default(5_000),
        total: z.number().int().min(100).max(120_000).default(30_000),
      })
      .default({ connect: 5_000, total: 30_000 }),
    maxResponseBytes: z
      .number()
      .int()
      .min(1)
      .max(50 * 1024 * 1024)
      .default(5 * 1024 * 1024),
    allowedMethods: z.array(z.enum(HTTP_METHODS)).min(1).max(6).default(['GET', 'HEAD']),
    retry: z
      .strictObject({
        attempts: z.number().int().min(0).max(5).default(2),
        backoffMs: z.number().int().min(10).max(10_000).default(200),
      })
      .default({ attempts: 2, backoffMs: 200 }),
    cache: z
      .strictObject({
        ttlSeconds: z.number().int().min(0).max(86_400),
        keyHeaders: z.array(z.string().regex(HEADER_NAME)).max(10).default([]),
        scope: z.enum(['shared', 'principal']).default('shared'),
      })
      .optional(),
    rateLimit: z
      .strictObject({
        max: z.number().int().min(1).max(1_000_000),
        windowSeconds: z.number().int().min(1).max(3_600),
      })
      .optional(),
    allowedCidrs: z.array(z.string().max(64)).max(50).optional(),
    redirectOrigins: z.array(origin).max(10).optional(),
  })
  .strict();

const postgresConfigSchema = z
  .object({
    poolSize: z.number().int().min(1).max(20).default(2),
    statementTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    maxRows: z.number().int().min(1).max(10_000).default(1_000),
    allowedCidrs: z.array(z.string().max(64)).max(50).optional(),
  })
  .strict();

const secretText = z.string().min(1).max(4096);
const restSecretsSchema = z
  .object({
    bearerToken: secretText.optional(),
    basic: z.strictObject({ username: z.string().min(1).max(255), password: secretText }).optional(),
    apiKey: z
      .strictObject({
        in: z.enum(['header', 'query']),
        name: z.string().regex(HEADER_NAME),
        value: secretText,
      })
      .optional(),
  })
  .strict();

const postgresSecretsSchema = z
  .object({
    connectionString: z
      .string()
      .max(4096)
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
  })
  .strict();

function parse<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new BadRequestError(
    'VALIDATION_FAILED',
    'The request is invalid.',
    result.error.issues.slice(0, 20).map((issue) => ({
      field: [field, ...issue.path.map(String)].join('.'),
      // Never the received value: it may be a secret.
      issue: issue.message,
    })),
  );
}

export function parseConfig(type: AdapterType, config: unknown): RestAdapterConfig | PostgresAdapterConfig {
  return type === 'rest'
    ? parse(restConfigSchema, config, 'config')
    : parse(postgresConfigSchema, config, 'config');
}

export function parseSecrets(
  type: AdapterType,
  secrets: unknown,
): RestAdapterSecrets | PostgresAdapterSecrets {
  return type === 'rest'
    ? parse<RestAdapterSecrets>(restSecretsSchema, secrets, 'secrets')
    : parse<PostgresAdapterSecrets>(postgresSecretsSchema, secrets, 'secrets');
}

/** The names of the secret fields that are set (what reads show instead of the values). */
export function secretFieldsOf(secrets: object): string[] {
  return Object.entries(secrets)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([name]) => name)
    .sort();
}

/** A REST adapter's auth mode needs its secret. */
export function assertAuthSecrets(config: RestAdapterConfig, secrets: RestAdapterSecrets): void {
  const needed = { none: undefined, bearer: 'bearerToken', basic: 'basic', apiKey: 'apiKey' } as const;
  const field = needed[config.auth ?? 'none'];
  if (field !== undefined && secrets[field] === undefined) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field: `secrets.${field}`, issue: `auth ${config.auth} needs secrets.${field}` },
    ]);
  }
}
