import 'reflect-metadata';
import { type CliOutput, runAsMain, stdio } from './cli-io';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../config/load-config';
import { DatabaseConnection } from '../database/database-connection';
import { MIGRATIONS_SOURCE_DIR } from '../database/database-paths';
import { EmbeddedDatabaseInUseError } from '../database/embedded-postgres';
import {
  pendingMigrationNames,
  revertLastMigrationLocked,
  runMigrationsLocked,
} from '../database/migration-runner';

const USAGE = 'usage: migrations <run | revert | show | generate <PascalCaseName>>';

/** `npm run migration:<command>`: runs against DATABASE_URL, or the embedded database when it is unset. */
export async function runMigrationCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliOutput = stdio,
): Promise<number> {
  const [command, name] = argv;
  if (!['run', 'revert', 'show', 'generate'].includes(command ?? '')) {
    io.err(USAGE);
    return 2;
  }
  if (command === 'generate' && !/^[A-Z][A-Za-z0-9]{2,80}$/.test(name ?? '')) {
    io.err('generate needs a PascalCase name that says what the migration does, e.g. CreateProducts');
    return 2;
  }
  let connection: DatabaseConnection;
  try {
    connection = await DatabaseConnection.open(loadConfig(env), { runMigrations: false });
  } catch (error) {
    if (error instanceof EmbeddedDatabaseInUseError || error instanceof ConfigError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
  try {
    const dataSource = connection.dataSource;
    switch (command) {
      case 'run': {
        const applied = await runMigrationsLocked(dataSource);
        io.out(
          applied.length === 0
            ? 'No pending migrations.'
            : `Applied: ${applied.map((m) => m.name).join(', ')}`,
        );
        return 0;
      }
      case 'revert':
        await revertLastMigrationLocked(dataSource);
        io.out('Reverted the last applied migration.');
        return 0;
      case 'show': {
        const pending = await pendingMigrationNames(dataSource);
        io.out(pending.length === 0 ? 'All migrations are applied.' : `Pending: ${pending.join(', ')}`);
        return 0;
      }
      default:
        return await generate(dataSource, name ?? '', io);
    }
  } finally {
    await connection.close();
  }
}

/** Writes a migration with the SQL that brings the database's schema to the entities' (after pending ones). */
async function generate(dataSource: DataSource, name: string, io: CliOutput): Promise<number> {
  const pending = await pendingMigrationNames(dataSource);
  if (pending.length > 0) {
    io.err(`Apply the pending migrations first (npm run migration:run): ${pending.join(', ')}`);
    return 1;
  }
  const sql = await dataSource.driver.createSchemaBuilder().log();
  if (sql.upQueries.length === 0) {
    io.out('The schema matches the entities: nothing to generate.');
    return 0;
  }
  const timestamp = Date.now();
  const statements = (queries: typeof sql.upQueries) =>
    queries
      .map(
        (q) =>
          `    await queryRunner.query(\`${q.query.replace(/[`\\]/g, '\\$&').replace(/\$\{/g, '\\${')}\`);`,
      )
      .join('\n');
  const source = `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${name}${timestamp} implements MigrationInterface {
  name = '${name}${timestamp}';

  public async up(queryRunner: QueryRunner): Promise<void> {
${statements(sql.upQueries)}
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
${statements([...sql.downQueries].reverse())}
  }
}
`;
  const file = join(MIGRATIONS_SOURCE_DIR, `${timestamp}-${name}.ts`);
  writeFileSync(file, source, { flag: 'wx' });
  io.out(`Wrote ${file}; review it before committing.`);
  return 0;
}

if (require.main === module) runAsMain(() => runMigrationCli(process.argv.slice(2)));
