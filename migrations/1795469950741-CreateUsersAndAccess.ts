import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateUsersAndAccess1795469950741 implements MigrationInterface {
  name = 'CreateUsersAndAccess1795469950741';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
        display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
        password_hash text NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        must_change_password boolean NOT NULL DEFAULT false,
        failed_login_count integer NOT NULL DEFAULT 0,
        locked_until timestamptz,
        last_login_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query('CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))');
    await queryRunner.query('CREATE INDEX users_created_at_idx ON users (created_at, id)');

    await queryRunner.query(`
      CREATE TABLE roles (
        name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{1,39}$'),
        description text NOT NULL DEFAULT '',
        built_in boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`
      CREATE TABLE role_permissions (
        role_name text NOT NULL REFERENCES roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
        permission text NOT NULL,
        PRIMARY KEY (role_name, permission)
      )`);
    await queryRunner.query(`
      CREATE TABLE user_roles (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role_name text NOT NULL REFERENCES roles (name) ON DELETE RESTRICT ON UPDATE CASCADE,
        PRIMARY KEY (user_id, role_name)
      )`);
    await queryRunner.query('CREATE INDEX user_roles_role_name_idx ON user_roles (role_name)');

    await queryRunner.query(`
      CREATE TABLE auth_sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_reason text,
        ip text,
        user_agent text
      )`);
    await queryRunner.query(
      'CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id, created_at DESC)',
    );
    await queryRunner.query(`
      CREATE TABLE auth_refresh_tokens (
        token_hash text PRIMARY KEY,
        session_id uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz
      )`);
    await queryRunner.query(
      'CREATE INDEX auth_refresh_tokens_session_id_idx ON auth_refresh_tokens (session_id)',
    );

    await queryRunner.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        prefix text NOT NULL,
        key_hash text NOT NULL UNIQUE,
        permissions text[] NOT NULL,
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        last_used_ip text,
        revoked_at timestamptz
      )`);
    await queryRunner.query('CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, created_at DESC)');
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'api_keys',
      'auth_refresh_tokens',
      'auth_sessions',
      'user_roles',
      'role_permissions',
      'roles',
      'users',
    ]) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
