import 'reflect-metadata';
import { SecretsCipher, type SealedSecrets } from '../adapters/secrets-cipher';
import { ConfigError, loadConfig } from '../config/load-config';
import { DatabaseConnection } from '../database/database-connection';
import { EmbeddedDatabaseInUseError } from '../database/embedded-postgres';
import { type CliOutput, runAsMain, stdio } from './cli-io';

/**
 * `npm run secrets:rotate`: re-encrypts every adapter secret sealed under another key than
 * SECRETS_KEY (normally SECRETS_KEY_PREVIOUS) in one transaction. Afterwards SECRETS_KEY_PREVIOUS can
 * be removed. Exit codes: 0 done, 1 could not run.
 */
export async function runSecretsRotateCli(
  env: NodeJS.ProcessEnv = process.env,
  io: CliOutput = stdio,
): Promise<number> {
  let connection: DatabaseConnection;
  let cipher: SecretsCipher;
  try {
    const config = loadConfig(env);
    if (config.secrets.key === undefined) {
      io.err('SECRETS_KEY is not set: nothing to rotate to.');
      return 1;
    }
    cipher = new SecretsCipher(config);
    connection = await DatabaseConnection.open(config, { runMigrations: config.database.migrationsRun });
  } catch (error) {
    if (error instanceof EmbeddedDatabaseInUseError || error instanceof ConfigError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
  try {
    const current = cipher.currentKeyId as string;
    const rotated = await connection.dataSource.transaction(async (manager) => {
      const rows = await manager.query<Array<{ id: string; name: string; secrets: SealedSecrets }>>(
        `SELECT id, name, secrets FROM adapters WHERE secrets IS NOT NULL AND secrets->>'kid' <> $1 FOR UPDATE`,
        [current],
      );
      for (const row of rows) {
        // Opening fails (and the transaction rolls back) when a row's key is neither current nor previous.
        const sealed = cipher.seal(cipher.open<object>(row.secrets));
        await manager.query('UPDATE adapters SET secrets = $2::jsonb WHERE id = $1', [
          row.id,
          JSON.stringify(sealed),
        ]);
      }
      return rows.map((row) => row.name);
    });
    io.out(
      rotated.length === 0
        ? 'Every adapter secret is already sealed under SECRETS_KEY.'
        : `Re-encrypted the secrets of ${rotated.length} adapter(s): ${rotated.join(', ')}. SECRETS_KEY_PREVIOUS can now be removed.`,
    );
    return 0;
  } catch (error) {
    io.err(`Rotation failed, nothing was changed: ${(error as Error).message}`);
    return 1;
  } finally {
    await connection.close();
  }
}

if (require.main === module) runAsMain(() => runSecretsRotateCli());
