import { type DataSource, type Migration, MigrationExecutor } from 'typeorm';

/** Any fixed 64-bit number; the same in every replica so that they contend for one lock. */
const MIGRATION_LOCK_KEY = '7262916518421093347';

/**
 * Runs `work` with a migration executor while holding a PostgreSQL advisory lock, so that replicas
 * starting together migrate once: the first runs the migrations, the others wait and then find
 * nothing to do. Everything happens on one connection, which also keeps the embedded database's
 * single connection from deadlocking.
 */
async function withMigrationLock<T>(
  dataSource: DataSource,
  work: (executor: MigrationExecutor) => Promise<T>,
): Promise<T> {
  const queryRunner = dataSource.createQueryRunner();
  try {
    await queryRunner.connect();
    await queryRunner.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      const executor = new MigrationExecutor(dataSource, queryRunner);
      executor.transaction = 'each';
      return await work(executor);
    } finally {
      await queryRunner.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await queryRunner.release();
  }
}

export function runMigrationsLocked(dataSource: DataSource): Promise<Migration[]> {
  return withMigrationLock(dataSource, (executor) => executor.executePendingMigrations());
}

export function revertLastMigrationLocked(dataSource: DataSource): Promise<void> {
  return withMigrationLock(dataSource, (executor) => executor.undoLastMigration());
}

/** Migrations known to the code but not yet applied to the database. */
export async function pendingMigrationNames(dataSource: DataSource): Promise<string[]> {
  const pending = await new MigrationExecutor(dataSource).getPendingMigrations();
  return pending.map((migration) => migration.name);
}
