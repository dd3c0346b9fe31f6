import type { AuditActorType, AuditOutcome } from './audit.types';

/** One audit_events row as read from the database (ids and chain positions below 2^53). */
export interface StoredAuditEvent {
  readonly id: number;
  readonly occurredAt: Date;
  readonly requestId: string | null;
  readonly actorType: AuditActorType;
  readonly actorId: string | null;
  readonly actorLabel: string | null;
  readonly action: string;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  readonly outcome: AuditOutcome;
  readonly httpStatus: number | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly details: Record<string, unknown>;
  readonly chainSeq: number | null;
  readonly sealedAt: Date | null;
  readonly prevHash: string | null;
  readonly hash: string | null;
}

/** A row about to be inserted: everything the database does not fill in itself (details already redacted and capped). */
export type NewAuditEvent = Omit<
  StoredAuditEvent,
  'id' | 'occurredAt' | 'chainSeq' | 'sealedAt' | 'prevHash' | 'hash'
>;

/** What the API answers for one event: camelCase, ISO-8601 UTC timestamps, nulls explicit. */
export type AuditEventView = Omit<StoredAuditEvent, 'occurredAt' | 'sealedAt'> & {
  readonly occurredAt: string;
  readonly sealedAt: string | null;
};

export interface AuditEventPage {
  readonly items: AuditEventView[];
  readonly nextCursor: string | null;
}

/** Query filters, already parsed. `action` is a prefix; `from` is inclusive and `to` exclusive. */
export interface AuditEventFilters {
  readonly actorId?: string;
  readonly action?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly outcome?: AuditOutcome;
  readonly requestId?: string;
  readonly from?: Date;
  readonly to?: Date;
}

export interface AuditVerifyResult {
  readonly ok: boolean;
  /** Sealed rows whose hash and link were checked and found intact. */
  readonly checked: number;
  /** Rows (in the id range, when one is given) not sealed yet, so not covered by the chain. */
  readonly unsealed: number;
  /** The first row, in chain order, whose hash or link to its predecessor does not match. */
  readonly firstBrokenId?: number;
}

export function toAuditEventView(row: StoredAuditEvent): AuditEventView {
  return {
    id: row.id,
    occurredAt: row.occurredAt.toISOString(),
    requestId: row.requestId,
    actorType: row.actorType,
    actorId: row.actorId,
    actorLabel: row.actorLabel,
    action: row.action,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    outcome: row.outcome,
    httpStatus: row.httpStatus,
    ip: row.ip,
    userAgent: row.userAgent,
    details: row.details,
    chainSeq: row.chainSeq,
    sealedAt: row.sealedAt === null ? null : row.sealedAt.toISOString(),
    prevHash: row.prevHash,
    hash: row.hash,
  };
}
