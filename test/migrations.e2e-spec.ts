import { Client } from 'pg';
import { loadConfig } from '../src/config/load-config';
import { DatabaseConnection } from '../src/database/database-connection';
import { pendingMigrationNames, revertLastMigrationLocked } from '../src/database/migration-runner';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

// Replicas starting together need a PostgreSQL server: the embedded database serves one process.
(TEST_DATABASE_URL ? describe : describe.skip)(
  'migrations on a PostgreSQL server (TEST_DATABASE_URL)',
  () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await provisionTestDatabase();
    });

    afterAll(async () => {
      await database?.drop();
    });

    async function appliedMigrations(): Promise<string[]> {
      const client = new Client({ connectionString: database.url });
      await client.connect();
      try {
        const result = await client.query<{ name: string }>(
          'SELECT name FROM typeorm_migrations ORDER BY id',
        );
        return result.rows.map((row) => row.name);
      } finally {
        await client.end();
      }
    }

    it('migrates once when four replicas start together', async () => {
      const config = loadConfig({ DATABASE_URL: database.url, DB_POOL_SIZE: '2' });
      const replicas = await Promise.all(
        Array.from({ length: 4 }, () => DatabaseConnection.open(config, { runMigrations: true })),
      );
      try {
        const applied = await appliedMigrations();
        expect(applied.length).toBeGreaterThan(0);
        expect(new Set(applied).size).toBe(applied.length);
        for (const replica of replicas) expect(await pendingMigrationNames(replica.dataSource)).toEqual([]);
      } finally {
        await Promise.all(replicas.map((replica) => replica.close()));
      }
    });

    it('reverts the last migration and applies it again', async () => {
      const config = loadConfig({ DATABASE_URL: database.url });
      const connection = await DatabaseConnection.open(config, { runMigrations: false });
      try {
        const before = await appliedMigrations();
        await revertLastMigrationLocked(connection.dataSource);
        expect(await appliedMigrations()).toEqual(before.slice(0, -1));
        expect(await pendingMigrationNames(connection.dataSource)).toEqual([before[before.length - 1]]);
      } finally {
        await connection.close();
      }
      const again = await DatabaseConnection.open(config, { runMigrations: true });
      await again.close();
      expect((await appliedMigrations()).length).toBeGreaterThan(0);
    });
  },
);
