/** Tuning of the audit trail's background work; tests override AUDIT_OPTIONS. */
export interface AuditOptions {
  /** How often the sealer looks for committed unsealed rows; 0 disables the timer (tests call sealPending). */
  readonly sealIntervalMs: number;
  /** Rows sealed per transaction. */
  readonly sealBatchSize: number;
  /** Rows read per query when verifying or exporting. */
  readonly readBatchSize: number;
  /** Delay before the first retention run after boot; later runs follow every 24 h. 0 disables the timer. */
  readonly retentionFirstRunDelayMs: number;
}

export const AUDIT_OPTIONS = Symbol('AUDIT_OPTIONS');

export const DEFAULT_AUDIT_OPTIONS: AuditOptions = {
  sealIntervalMs: 500,
  sealBatchSize: 1000,
  readBatchSize: 1000,
  retentionFirstRunDelayMs: 60_000,
};
