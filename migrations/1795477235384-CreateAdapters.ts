import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The adapter registry. `config` holds only non-secret settings; `secrets` is an AES-256-GCM
 * envelope under SECRETS_KEY (src/adapters/secrets-cipher.ts) and `secret_fields` names what it
 * holds, so that reads can say which secrets are set without decrypting them.
 */
export class CreateAdapters1795477235384 implements MigrationInterface {
  name = 'CreateAdapters1795477235384';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE adapters (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
        type text NOT NULL CHECK (type IN ('rest', 'postgres')),
        description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
        expose_as_tool boolean NOT NULL DEFAULT false,
        config jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
        secrets jsonb,
        secret_fields text[] NOT NULL DEFAULT '{}',
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        revision integer NOT NULL DEFAULT 1,
        created_by text,
        updated_by text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query('CREATE INDEX adapters_created_at_idx ON adapters (created_at, id)');
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE adapters');
  }
}
