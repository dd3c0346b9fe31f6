import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a run's items added up to, kept on the run once retention deletes the items
 * (PIPELINE_ITEMS_RETENTION_DAYS), so that the run still reports its counts and tokens.
 * items_pruned_at marks the run whose items are going or gone; the finals are set exactly then.
 */
export class AddRunFinalCounts1795486980200 implements MigrationInterface {
  name = 'AddRunFinalCounts1795486980200';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE pipeline_runs
        ADD COLUMN final_counts jsonb,
        ADD COLUMN final_tokens_in bigint,
        ADD COLUMN final_tokens_out bigint,
        ADD COLUMN items_pruned_at timestamptz,
        ADD CONSTRAINT pipeline_runs_finals_together CHECK (
          (items_pruned_at IS NULL AND final_counts IS NULL AND final_tokens_in IS NULL AND final_tokens_out IS NULL)
          OR (items_pruned_at IS NOT NULL AND jsonb_typeof(final_counts) = 'object'
            AND final_tokens_in IS NOT NULL AND final_tokens_out IS NOT NULL)
        )`);
    // Retention looks for runs whose items are still to be deleted; pruned runs only accumulate.
    await queryRunner.query(
      'CREATE INDEX pipeline_runs_finished_at_idx ON pipeline_runs (finished_at) WHERE items_pruned_at IS NULL',
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX pipeline_runs_finished_at_idx');
    await queryRunner.query(`
      ALTER TABLE pipeline_runs
        DROP CONSTRAINT pipeline_runs_finals_together,
        DROP COLUMN items_pruned_at,
        DROP COLUMN final_tokens_out,
        DROP COLUMN final_tokens_in,
        DROP COLUMN final_counts`);
  }
}
