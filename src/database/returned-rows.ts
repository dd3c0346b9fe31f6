/**
 * The rows of an `UPDATE ... RETURNING` or `DELETE ... RETURNING` run through TypeORM's `query()`.
 * For those two commands TypeORM's PostgreSQL driver answers `[rows, rowCount]` instead of the rows
 * (every other command answers the rows), so reading them directly yields the wrong thing.
 */
export function returnedRows<T>(result: unknown): T[] {
  if (
    Array.isArray(result) &&
    result.length === 2 &&
    Array.isArray(result[0]) &&
    typeof result[1] === 'number'
  ) {
    return result[0] as T[];
  }
  return result as T[];
}
