import { AppError, UpstreamError, UpstreamTimeoutError } from '../common/app-error';

/** `query_canceled`: raised by `statement_timeout` (and by an explicit cancel request). */
export const SQLSTATE_QUERY_CANCELED = '57014';
/** `insufficient_privilege`. */
export const SQLSTATE_INSUFFICIENT_PRIVILEGE = '42501';

/**
 * The SQLSTATE of a PostgreSQL error as thrown by `pg` (`code`) or wrapped by TypeORM
 * (`driverError.code`); undefined for anything else (Node socket errors carry `ECONN...` codes,
 * which are not five-character SQLSTATEs).
 */
export function sqlStateOf(error: unknown): string | undefined {
  for (const candidate of [error, (error as { driverError?: unknown } | null)?.driverError]) {
    const code = (candidate as { code?: unknown } | null | undefined)?.code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * Turns a failed introspection query into the API's answer: a statement timeout is a 504, a
 * missing privilege a 502 that says so (without the SQL). Anything else is returned unchanged, so
 * that the global filter answers connection failures with 503 and the rest as unexpected.
 */
export function toSchemaQueryError(error: unknown, schema: string): unknown {
  if (error instanceof AppError) return error;
  const state = sqlStateOf(error);
  if (state === SQLSTATE_QUERY_CANCELED) {
    return new UpstreamTimeoutError(
      'SCHEMA_QUERY_TIMEOUT',
      `Reading the catalog of schema "${schema}" took longer than the statement timeout.`,
    );
  }
  if (state === SQLSTATE_INSUFFICIENT_PRIVILEGE) return schemaPermissionDenied(schema);
  return error;
}

export function schemaPermissionDenied(schema: string): UpstreamError {
  return new UpstreamError(
    'SCHEMA_PERMISSION_DENIED',
    `The database role is not allowed to read schema "${schema}" or its catalog; ` +
      'grant it USAGE on the schema and read access to the system catalogs.',
  );
}
