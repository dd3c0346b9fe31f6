/** Per-query options every executor honours. */
export interface QueryOptions {
  /**
   * Upper bound for this one statement, in milliseconds, enforced by the database server
   * (`statement_timeout`), so that a cancelled statement frees its backend instead of running on.
   */
  readonly timeoutMs: number;
}

/**
 * Runs one read-only, parameterised statement against some PostgreSQL database and answers its rows.
 * The schema introspector talks only to this, so the application database and every Postgres adapter
 * can be introspected by the same code: each brings an executor over its own connection.
 *
 * Executors throw the driver's errors unchanged (a PostgreSQL error carries its SQLSTATE in `code`,
 * or in `driverError.code` when wrapped by TypeORM); `toSchemaQueryError` turns them into API errors.
 */
export interface QueryExecutor {
  query<T extends object>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<T[]>;
}
