import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateSystemInfo1795468530859 implements MigrationInterface {
  name = 'CreateSystemInfo1795468530859';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE system_info (
        key text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
        value jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`
      INSERT INTO system_info (key, value) VALUES
        ('instance_id', to_jsonb(gen_random_uuid()::text)),
        ('created_at', to_jsonb(now()))`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE system_info');
  }
}
