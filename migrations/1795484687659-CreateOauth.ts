import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The OAuth 2.1 authorization server for MCP clients. Clients are registered dynamically (RFC 7591)
 * or identified by a metadata document URL; authorization codes are stored hashed, single-use and
 * short-lived; a grant is a login session (auth_sessions) with the client and the granted scopes,
 * so its refresh tokens rotate like any session's and it is listed and revoked with the user's
 * sessions.
 */
export class CreateOauth1795484687659 implements MigrationInterface {
  name = 'CreateOauth1795484687659';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE oauth_clients (
        client_id text PRIMARY KEY CHECK (length(client_id) BETWEEN 1 AND 2048),
        kind text NOT NULL CHECK (kind IN ('registered', 'metadata_document')),
        client_name text NOT NULL CHECK (length(client_name) BETWEEN 1 AND 200),
        redirect_uris text[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10),
        client_uri text,
        created_ip text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await queryRunner.query(`
      CREATE TABLE oauth_codes (
        code_hash text PRIMARY KEY,
        client_id text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        redirect_uri text NOT NULL,
        code_challenge text NOT NULL,
        scopes text[] NOT NULL,
        resource text NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        session_id uuid REFERENCES auth_sessions (id) ON DELETE SET NULL
      )`);
    await queryRunner.query('CREATE INDEX oauth_codes_expires_at_idx ON oauth_codes (expires_at)');
    await queryRunner.query(`
      ALTER TABLE auth_sessions
        ADD COLUMN oauth_client_id text REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
        ADD COLUMN scopes text[],
        ADD CONSTRAINT auth_sessions_oauth_scopes CHECK ((oauth_client_id IS NULL) = (scopes IS NULL))`);
    await queryRunner.query(
      'CREATE INDEX auth_sessions_oauth_client_idx ON auth_sessions (oauth_client_id) WHERE oauth_client_id IS NOT NULL',
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX auth_sessions_oauth_client_idx');
    await queryRunner.query(
      'ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_oauth_scopes, DROP COLUMN scopes, DROP COLUMN oauth_client_id',
    );
    await queryRunner.query('DROP TABLE oauth_codes');
    await queryRunner.query('DROP TABLE oauth_clients');
  }
}
