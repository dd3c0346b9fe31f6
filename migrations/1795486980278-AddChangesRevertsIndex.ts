import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * changes.reverts_change_id references changes (id) without an index. Deleting a change makes
 * PostgreSQL look for rows still referencing it, which without this index is a scan of the whole
 * table per deleted row; retention (CHANGES_RETENTION_DAYS) deletes them by the thousand.
 */
export class AddChangesRevertsIndex1795486980278 implements MigrationInterface {
  name = 'AddChangesRevertsIndex1795486980278';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE INDEX changes_reverts_idx ON changes (reverts_change_id) WHERE reverts_change_id IS NOT NULL',
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX changes_reverts_idx');
  }
}
