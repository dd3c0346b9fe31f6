import { createHash } from 'node:crypto';
import type { StoredAuditEvent } from './audit-event';

/** The hash the first row of a never-pruned chain links to (also the anchor's initial hash). */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted (by UTF-16 code units, like RFC 8785) at every depth and no
 * whitespace; strings and numbers are written as ECMAScript's JSON.stringify writes them. Values
 * that JSON cannot hold (undefined, functions) are left out of objects and become null in arrays,
 * as JSON.stringify does, so the text is the same whether it is computed here or by any RFC 8785
 * implementation over the stored JSON.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((item: unknown) => canonicalJson(item)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    members.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
  }
  return `{${members.join(',')}}`;
}

/** The part of a row the hash covers: its content and its place in the chain, never the hashes. */
export type ChainedContent = Pick<
  StoredAuditEvent,
  | 'id'
  | 'occurredAt'
  | 'requestId'
  | 'actorType'
  | 'actorId'
  | 'actorLabel'
  | 'action'
  | 'resourceType'
  | 'resourceId'
  | 'outcome'
  | 'httpStatus'
  | 'ip'
  | 'userAgent'
  | 'details'
>;

/** The canonical text of a row at chain position `chainSeq` (docs/AUDIT.md, "Canonical form"). */
export function canonicalEventJson(row: ChainedContent, chainSeq: number): string {
  return canonicalJson({
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
    chainSeq,
  });
}

/** hash = hex(sha256(prev_hash || canonical JSON)), both as UTF-8. */
export function chainHash(prevHash: string, row: ChainedContent, chainSeq: number): string {
  return createHash('sha256')
    .update(prevHash, 'utf8')
    .update(canonicalEventJson(row, chainSeq), 'utf8')
    .digest('hex');
}
