import { Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';

export interface JwtKeys {
  readonly algorithm: 'HS256' | 'RS256' | 'ES256';
  readonly signKey: string;
  readonly verifyKey: string;
}

export const JWT_KEYS = Symbol('JWT_KEYS');

/**
 * The key material of the one pinned algorithm. Without JWT_SECRET (refused in production) a
 * secret is generated once and kept in the database, so that tokens survive restarts and every
 * replica of a development setup agrees on it.
 */
export async function resolveJwtKeys(config: AppConfig, dataSource: DataSource): Promise<JwtKeys> {
  const { algorithm, secret, privateKeyFile, publicKeyFile } = config.jwt;
  if (algorithm !== 'HS256') {
    return {
      algorithm,
      signKey: readFileSync(privateKeyFile ?? '', 'utf8'),
      verifyKey: readFileSync(publicKeyFile ?? '', 'utf8'),
    };
  }
  if (secret !== undefined) return { algorithm, signKey: secret, verifyKey: secret };
  await dataSource.query(
    `INSERT INTO system_info (key, value) VALUES ('development_jwt_secret', to_jsonb($1::text)) ON CONFLICT (key) DO NOTHING`,
    [randomBytes(48).toString('base64url')],
  );
  const [row] = await dataSource.query<Array<{ value: string }>>(
    "SELECT value #>> '{}' AS value FROM system_info WHERE key = 'development_jwt_secret'",
  );
  new Logger('Auth').warn(
    'JWT_SECRET is not set: using a generated secret kept in the database (not allowed in production)',
  );
  return { algorithm, signKey: row.value, verifyKey: row.value };
}
