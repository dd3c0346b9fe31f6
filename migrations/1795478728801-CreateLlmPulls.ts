import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Model downloads started over the API. The replica running a pull writes its progress here (at
 * most twice a second) and a heartbeat; any replica's event stream reads it. `seq` grows with every
 * write and is the event id of the stream. One pull per model is active at a time.
 */
export class CreateLlmPulls1795478728801 implements MigrationInterface {
  name = 'CreateLlmPulls1795478728801';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE llm_pulls (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider text NOT NULL,
        model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
        status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        phase text,
        completed bigint NOT NULL DEFAULT 0 CHECK (completed >= 0),
        total bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
        error text,
        seq integer NOT NULL DEFAULT 1,
        actor_type text NOT NULL,
        actor_id text,
        actor_label text,
        request_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        heartbeat_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX llm_pulls_active_model_idx ON llm_pulls (provider, model)
        WHERE status IN ('queued', 'running')`,
    );
    await queryRunner.query('CREATE INDEX llm_pulls_created_at_idx ON llm_pulls (created_at)');
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE llm_pulls');
  }
}
