import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { EmbeddedPostgres } from '../../src/database/embedded-postgres';

export interface TestDatabase {
  readonly url: string;
  /** The embedded server accepts one connection, so the app's pool must have exactly one. */
  readonly poolSize: number;
  readonly kind: 'postgres' | 'embedded';
  /** Runs SQL outside the app (for assertions); not available while the app holds the embedded connection. */
  drop(): Promise<void>;
}

/** Set when CI (or a developer) provides a PostgreSQL server; otherwise tests run on embedded PGlite. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

/**
 * A database of its own for one test file: a fresh database on TEST_DATABASE_URL's server, or an
 * in-memory PGlite served on a loopback TCP port.
 */
export async function provisionTestDatabase(): Promise<TestDatabase> {
  if (TEST_DATABASE_URL === undefined) {
    const embedded = await EmbeddedPostgres.start({ tcp: true });
    return { url: embedded.url, poolSize: 1, kind: 'embedded', drop: () => embedded.stop() };
  }
  const name = `mcp_admin_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdminClient((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    poolSize: 4,
    kind: 'postgres',
    drop: async () => {
      await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withAdminClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
