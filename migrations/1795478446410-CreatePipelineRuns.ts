import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pipeline runs and their items. Every change of an item's status takes the next value of
 * pipeline_event_seq, so the progress stream is derived from stored rows (any replica can serve it,
 * and Last-Event-ID resumes without gaps or repeats). An item's result is recorded only by the worker
 * holding its current lease, which makes recording exactly-once when a job runs twice.
 */
export class CreatePipelineRuns1795478446410 implements MigrationInterface {
  name = 'CreatePipelineRuns1795478446410';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('CREATE SEQUENCE pipeline_event_seq');
    await queryRunner.query(`
      CREATE TABLE pipeline_runs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        task text NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled')),
        stop_reason text,
        selection jsonb NOT NULL,
        model text,
        concurrency integer NOT NULL CHECK (concurrency BETWEEN 1 AND 64),
        max_tokens integer CHECK (max_tokens > 0),
        total integer NOT NULL CHECK (total > 0),
        generation integer NOT NULL DEFAULT 1,
        event_seq bigint NOT NULL DEFAULT nextval('pipeline_event_seq'),
        actor_type text NOT NULL,
        actor_id text,
        actor_label text,
        request_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
      )`);
    await queryRunner.query(
      'CREATE INDEX pipeline_runs_created_at_idx ON pipeline_runs (created_at DESC, id)',
    );
    await queryRunner.query(
      'CREATE INDEX pipeline_runs_status_idx ON pipeline_runs (status, created_at DESC)',
    );
    await queryRunner.query('CREATE INDEX pipeline_runs_task_idx ON pipeline_runs (task, created_at DESC)');
    await queryRunner.query(`
      CREATE TABLE pipeline_items (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        run_id uuid NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
        product_id bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        position integer NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        lease uuid,
        lease_until timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        duration_ms integer,
        tokens_in integer NOT NULL DEFAULT 0,
        tokens_out integer NOT NULL DEFAULT 0,
        model text,
        error text,
        output jsonb,
        change_ids uuid[] NOT NULL DEFAULT '{}',
        event_seq bigint NOT NULL DEFAULT nextval('pipeline_event_seq'),
        UNIQUE (run_id, product_id)
      )`);
    await queryRunner.query('CREATE INDEX pipeline_items_run_status_idx ON pipeline_items (run_id, status)');
    await queryRunner.query(
      'CREATE INDEX pipeline_items_run_event_idx ON pipeline_items (run_id, event_seq)',
    );
    await queryRunner.query(
      'CREATE INDEX pipeline_items_run_position_idx ON pipeline_items (run_id, position)',
    );
    // "Unprocessed" selections look for products with a succeeded item of the task in any run.
    await queryRunner.query(
      "CREATE INDEX pipeline_items_succeeded_idx ON pipeline_items (product_id, run_id) WHERE status = 'succeeded'",
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE pipeline_items');
    await queryRunner.query('DROP TABLE pipeline_runs');
    await queryRunner.query('DROP SEQUENCE pipeline_event_seq');
  }
}
