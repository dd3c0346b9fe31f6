import { BadRequestError, type ErrorDetail } from '../../common/app-error';
import type { PostgresAdapterConfig } from '../adapter.types';

/** Bounds and defaults of a PostgreSQL adapter's configuration (docs/ADAPTERS-POSTGRES.md). */
export const POSTGRES_LIMITS = {
  poolSize: { min: 1, max: 20, default: 2 },
  statementTimeoutMs: { min: 100, max: 60_000, default: 5_000 },
  maxRows: { min: 1, max: 10_000, default: 1_000 },
} as const;

/** Opening a connection (TCP, TLS and authentication), and waiting for a free pooled one. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Idle connections are closed after this; an adapter nobody calls holds no connection. */
export const IDLE_TIMEOUT_MS = 30_000;
/**
 * How long a pool may keep the address its host name resolved to. After this the name is resolved
 * (and checked) again, so a database that moved (failover) is followed and a name that now points
 * somewhere forbidden is refused.
 */
export const POOL_RESOLVE_TTL_MS = 5 * 60_000;
/** Longest lock wait of a query: a read blocked behind DDL fails fast instead of holding a connection. */
export const MAX_LOCK_TIMEOUT_MS = 2_000;
/** Server-side guard against this process stalling inside a transaction, on top of the statement timeout. */
export const IDLE_IN_TRANSACTION_MARGIN_MS = 5_000;
/**
 * Client-side guard on top of the statement timeout: a server that stops answering (network
 * partition) cannot cancel itself, so the client gives up this much later.
 */
export const CLIENT_TIMEOUT_MARGIN_MS = 2_000;
/** Upper bound of the JSON size of the rows one query returns; past it the result is truncated. */
export const MAX_RESULT_BYTES = 10 * 1024 * 1024;
/** Longest SQL text accepted. */
export const MAX_SQL_LENGTH = 100_000;
/** Most `$n` parameters a query may take. */
export const MAX_PARAMS = 100;
/** Longest string parameter, in characters. */
export const MAX_PARAM_LENGTH = 100_000;

export interface ResolvedPostgresConfig {
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  readonly maxRows: number;
  readonly allowedCidrs: readonly string[];
}

/**
 * Applies the defaults and checks the bounds. The registry validates configurations when they are
 * saved; this runs again on every call so that a record stored under older rules can never open an
 * unbounded pool or run without a timeout.
 */
export function resolvePostgresConfig(config: PostgresAdapterConfig): ResolvedPostgresConfig {
  const details: ErrorDetail[] = [];
  const bounded = (field: keyof typeof POSTGRES_LIMITS): number => {
    const limits = POSTGRES_LIMITS[field];
    const value = config[field];
    if (value === undefined || value === null) return limits.default;
    if (!Number.isInteger(value) || value < limits.min || value > limits.max) {
      details.push({
        field: `config.${field}`,
        issue: `must be an integer from ${limits.min} to ${limits.max}`,
      });
    }
    return value;
  };
  const resolved: ResolvedPostgresConfig = {
    poolSize: bounded('poolSize'),
    statementTimeoutMs: bounded('statementTimeoutMs'),
    maxRows: bounded('maxRows'),
    allowedCidrs: config.allowedCidrs ?? [],
  };
  if (details.length > 0) throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', details);
  return resolved;
}

/** The per-transaction limits every statement on an adapter's pool runs under. */
export function transactionLimits(statementTimeoutMs: number): {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionMs: number;
} {
  return {
    statementTimeoutMs,
    lockTimeoutMs: Math.min(statementTimeoutMs, MAX_LOCK_TIMEOUT_MS),
    idleInTransactionMs: statementTimeoutMs + IDLE_IN_TRANSACTION_MARGIN_MS,
  };
}
