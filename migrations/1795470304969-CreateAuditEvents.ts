import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The append-only, hash-chained audit trail (docs/AUDIT.md).
 *
 * Rows are inserted unsealed; the sealer (src/audit/audit-sealer.service.ts) later fills chain_seq,
 * prev_hash, hash and sealed_at exactly once. Triggers refuse every other UPDATE and every DELETE
 * except through audit_prune(), which removes a prefix of the chain and records where it stopped in
 * audit_chain_anchor so that verification can start from there.
 *
 * The advisory lock key 5160781926480393373 is AUDIT_CHAIN_LOCK_KEY in src/audit/audit.repository.ts:
 * pruning waits for a sealer that is extending the chain, and the other way round.
 */
export class CreateAuditEvents1795470304969 implements MigrationInterface {
  name = 'CreateAuditEvents1795470304969';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // occurred_at is kept to the millisecond because the hash covers it as an ISO string with
    // milliseconds: a finer stored value would be a part of the row the chain does not protect.
    await queryRunner.query(`
      CREATE TABLE audit_events (
        id bigserial PRIMARY KEY,
        occurred_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
        request_id text,
        actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system', 'anonymous')),
        actor_id text,
        actor_label text,
        action text NOT NULL CHECK (action ~ '^[a-z_]+\\.[a-z_]+$'),
        resource_type text,
        resource_id text,
        outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
        http_status integer CHECK (http_status BETWEEN 100 AND 599),
        ip text,
        user_agent text,
        details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
        chain_seq bigint UNIQUE CHECK (chain_seq > 0),
        sealed_at timestamptz,
        prev_hash text CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        hash text CHECK (hash ~ '^[0-9a-f]{64}$'),
        CONSTRAINT audit_events_sealed_together CHECK (
          (chain_seq IS NULL AND sealed_at IS NULL AND prev_hash IS NULL AND hash IS NULL)
          OR (chain_seq IS NOT NULL AND sealed_at IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)
        )
      )`);
    // The list is keyset-paginated newest first by id: the equality filters carry id so that a
    // filtered page is one index range scan.
    await queryRunner.query('CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at)');
    await queryRunner.query('CREATE INDEX audit_events_action_idx ON audit_events (action text_pattern_ops)');
    await queryRunner.query('CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id)');
    await queryRunner.query(
      'CREATE INDEX audit_events_resource_idx ON audit_events (resource_type, resource_id, id)',
    );
    await queryRunner.query('CREATE INDEX audit_events_request_idx ON audit_events (request_id)');
    await queryRunner.query('CREATE INDEX audit_events_outcome_idx ON audit_events (outcome, id)');
    await queryRunner.query(
      'CREATE INDEX audit_events_unsealed_idx ON audit_events (id) WHERE chain_seq IS NULL',
    );

    // One row: the chain position and hash the remaining chain starts from. Genesis is (0, 64 zeros).
    await queryRunner.query(`
      CREATE TABLE audit_chain_anchor (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        chain_seq bigint NOT NULL CHECK (chain_seq >= 0),
        hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
        pruned_rows bigint NOT NULL DEFAULT 0,
        pruned_at timestamptz
      )`);
    await queryRunner.query(`INSERT INTO audit_chain_anchor (chain_seq, hash) VALUES (0, repeat('0', 64))`);

    await queryRunner.query(`
      CREATE FUNCTION audit_events_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- The only permitted change: sealing an unsealed row, once, without touching its content.
        IF OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL
           AND (to_jsonb(NEW) - ARRAY['chain_seq', 'sealed_at', 'prev_hash', 'hash'])
             = (to_jsonb(OLD) - ARRAY['chain_seq', 'sealed_at', 'prev_hash', 'hash']) THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: row % cannot be changed', OLD.id
          USING HINT = 'Only the sealer may fill chain_seq, sealed_at, prev_hash and hash, once.';
      END
      $$`);
    await queryRunner.query(`
      CREATE FUNCTION audit_events_guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('mcp_admin.audit_prune', true) = 'on' AND OLD.chain_seq IS NOT NULL THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: row % cannot be deleted', OLD.id
          USING HINT = 'Rows are removed only by the retention function audit_prune(before).';
      END
      $$`);
    await queryRunner.query(`
      CREATE FUNCTION audit_events_guard_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: it cannot be truncated';
      END
      $$`);
    await queryRunner.query(`
      CREATE FUNCTION audit_chain_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND current_setting('mcp_admin.audit_prune', true) = 'on'
           AND NEW.chain_seq >= OLD.chain_seq THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_chain_anchor is moved only by audit_prune(before)';
      END
      $$`);
    await queryRunner.query(`
      CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_guard_update()`);
    await queryRunner.query(`
      CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_guard_delete()`);
    await queryRunner.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard_truncate()`);
    await queryRunner.query(`
      CREATE TRIGGER audit_chain_anchor_guard BEFORE UPDATE OR DELETE ON audit_chain_anchor
        FOR EACH ROW EXECUTE FUNCTION audit_chain_anchor_guard()`);
    await queryRunner.query(`
      CREATE TRIGGER audit_chain_anchor_no_truncate BEFORE TRUNCATE ON audit_chain_anchor
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard_truncate()`);

    // Removes the longest prefix of the chain whose rows all occurred before the cutoff, so that what
    // remains is still one unbroken chain starting at the anchor. A row sealed late (an old row that
    // committed after newer ones) stays until everything before it in the chain is old enough too.
    await queryRunner.query(`
      CREATE FUNCTION audit_prune(before timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
      DECLARE
        stop_seq bigint;
        last_seq bigint;
        last_hash text;
        pruned bigint;
      BEGIN
        PERFORM pg_advisory_xact_lock(5160781926480393373);
        SELECT min(e.chain_seq) INTO stop_seq FROM audit_events e
         WHERE e.chain_seq IS NOT NULL AND e.occurred_at >= audit_prune.before;
        SELECT e.chain_seq, e.hash INTO last_seq, last_hash FROM audit_events e
         WHERE e.chain_seq IS NOT NULL AND (stop_seq IS NULL OR e.chain_seq < stop_seq)
         ORDER BY e.chain_seq DESC LIMIT 1;
        IF last_seq IS NULL THEN
          RETURN 0;
        END IF;
        PERFORM set_config('mcp_admin.audit_prune', 'on', true);
        DELETE FROM audit_events e WHERE e.chain_seq IS NOT NULL AND e.chain_seq <= last_seq;
        GET DIAGNOSTICS pruned = ROW_COUNT;
        UPDATE audit_chain_anchor
           SET chain_seq = last_seq, hash = last_hash, pruned_rows = pruned_rows + pruned, pruned_at = now();
        -- The rest of the caller's transaction gets no licence to delete.
        PERFORM set_config('mcp_admin.audit_prune', 'off', true);
        RETURN pruned;
      END
      $$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP FUNCTION audit_prune(timestamptz)');
    await queryRunner.query('DROP TABLE audit_chain_anchor');
    await queryRunner.query('DROP TABLE audit_events');
    await queryRunner.query('DROP FUNCTION audit_chain_anchor_guard()');
    await queryRunner.query('DROP FUNCTION audit_events_guard_truncate()');
    await queryRunner.query('DROP FUNCTION audit_events_guard_delete()');
    await queryRunner.query('DROP FUNCTION audit_events_guard_update()');
  }
}
