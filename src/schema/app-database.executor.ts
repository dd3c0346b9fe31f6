import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { QueryExecutor, QueryOptions } from './query-executor';

/**
 * Runs read-only statements on the application database, each on a pooled connection of its own
 * and in its own read-only transaction with `statement_timeout` set for that transaction only, so
 * the limit never leaks to the next user of the connection.
 *
 * Deliberately outside the request's transaction (TransactionHost): the timeout must not apply to,
 * nor a cancelled statement abort, the caller's work. The connection goes back to the pool before
 * this returns; with the embedded database the pool holds one connection, so holding it while
 * waiting for anything else would stall every other query.
 *
 * The embedded database (PGlite) accepts `statement_timeout` but does not enforce it.
 */
@Injectable()
export class AppDatabaseExecutor implements QueryExecutor {
  constructor(private readonly dataSource: DataSource) {}

  async query<T extends object>(
    sql: string,
    params: readonly unknown[],
    options: QueryOptions,
  ): Promise<T[]> {
    const timeoutMs = Math.trunc(options.timeoutMs);
    if (!(timeoutMs > 0))
      throw new RangeError(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.connect();
      await runner.startTransaction();
      await runner.query('SET TRANSACTION READ ONLY');
      await runner.query(`SELECT pg_catalog.set_config('statement_timeout', $1, true)`, [String(timeoutMs)]);
      const rows = (await runner.query(sql, [...params])) as T[];
      await runner.commitTransaction();
      return rows;
    } catch (error) {
      if (runner.isTransactionActive) {
        // A broken connection fails the rollback too; the statement's own error is the one to report.
        await runner.rollbackTransaction().catch(() => undefined);
      }
      throw error;
    } finally {
      await runner.release();
    }
  }
}
