import { join } from 'node:path';

/**
 * Compiled, this file is dist/database/*.js and migrations are compiled to dist/migrations; under
 * ts-jest it is src/database/*.ts and migrations are the sources in ./migrations.
 */
const compiled = __filename.endsWith('.js');

export const ENTITY_GLOBS = [join(__dirname, '..', '**', `*.entity.${compiled ? 'js' : 'ts'}`)];
export const MIGRATION_GLOBS = [
  compiled ? join(__dirname, '..', 'migrations', '*.js') : join(__dirname, '..', '..', 'migrations', '*.ts'),
];
export const MIGRATIONS_SOURCE_DIR = join(__dirname, '..', '..', 'migrations');
