import { Inject, Injectable } from '@nestjs/common';
import { BadRequestError } from '../common/app-error';
import { chainHash } from './audit-chain';
import type { AuditVerifyResult } from './audit-event';
import { AUDIT_OPTIONS, type AuditOptions } from './audit.options';
import { AuditRepository } from './audit.repository';

export interface AuditVerifyRange {
  /** Inclusive. */
  readonly fromId?: number;
  /** Inclusive. */
  readonly toId?: number;
}

function isId(value: number | undefined): boolean {
  return value === undefined || (Number.isSafeInteger(value) && value >= 1);
}

/**
 * Re-walks the hash chain and recomputes every hash (docs/AUDIT.md, "Verification").
 *
 * Without a range the walk starts at the anchor (genesis, or the last row pruned) and covers every
 * sealed row. With an id range it covers the contiguous stretch of the chain from the first to the
 * last sealed row whose id is in the range: rows of the range are not contiguous in the chain when
 * some committed late, and their links can only be checked through the rows in between, which are
 * therefore checked too. The stretch starts from the hash of the row just before it in the chain
 * (or the anchor), so the first row's link is checked as well.
 *
 * Rows are read in batches by chain position, never all at once, and without a long transaction,
 * so that other work (on the embedded database, all other work) proceeds between batches.
 */
@Injectable()
export class AuditVerifier {
  constructor(
    private readonly repository: AuditRepository,
    @Inject(AUDIT_OPTIONS) private readonly options: AuditOptions,
  ) {}

  async verify(range: AuditVerifyRange = {}): Promise<AuditVerifyResult> {
    const { fromId, toId } = range;
    if (!isId(fromId) || !isId(toId) || (fromId !== undefined && toId !== undefined && fromId > toId)) {
      throw new BadRequestError('INVALID_RANGE', 'fromId and toId must be ids with fromId <= toId.');
    }
    const unsealed = await this.repository.countUnsealed(fromId, toId);

    let afterSeq: number;
    let maxSeq: number | null = null;
    let expectedSeq: number;
    /** Undefined when the predecessor is missing: then the first row cannot link and is reported. */
    let expectedPrev: string | undefined;
    if (fromId === undefined && toId === undefined) {
      const anchor = await this.repository.anchor();
      // From 0, not from the anchor: a sealed row the anchor claims was pruned is itself a break.
      afterSeq = 0;
      expectedSeq = anchor.chainSeq + 1;
      expectedPrev = anchor.hash;
    } else {
      const bounds = await this.repository.chainBounds(fromId ?? 1, toId ?? Number.MAX_SAFE_INTEGER);
      if (bounds === undefined) return { ok: true, checked: 0, unsealed };
      afterSeq = bounds.minSeq - 1;
      maxSeq = bounds.maxSeq;
      expectedSeq = bounds.minSeq;
      expectedPrev = await this.hashBefore(bounds.minSeq);
    }

    let checked = 0;
    const batchSize = this.options.readBatchSize;
    for (;;) {
      const rows = await this.repository.sealedSegment(afterSeq, maxSeq, batchSize);
      for (const row of rows) {
        const seq = row.chainSeq ?? 0;
        if (seq !== expectedSeq) {
          // A gap is legitimate only when pruning ran during this walk and the anchor now sits
          // right before this row; anything else is a removed or re-numbered row.
          const resumed = seq > expectedSeq ? await this.anchorHashBefore(seq) : undefined;
          if (resumed === undefined) return { ok: false, checked, unsealed, firstBrokenId: row.id };
          expectedPrev = resumed;
          expectedSeq = seq;
        }
        if (
          expectedPrev === undefined ||
          row.prevHash !== expectedPrev ||
          chainHash(expectedPrev, row, seq) !== row.hash
        ) {
          return { ok: false, checked, unsealed, firstBrokenId: row.id };
        }
        checked += 1;
        expectedPrev = row.hash;
        expectedSeq = seq + 1;
      }
      if (rows.length < batchSize) break;
      afterSeq = rows[rows.length - 1].chainSeq ?? afterSeq;
    }
    return { ok: true, checked, unsealed };
  }

  /** The hash the row at chain position `seq` must link to. */
  private async hashBefore(seq: number): Promise<string | undefined> {
    return (await this.anchorHashBefore(seq)) ?? (await this.repository.hashAt(seq - 1));
  }

  private async anchorHashBefore(seq: number): Promise<string | undefined> {
    const anchor = await this.repository.anchor();
    return anchor.chainSeq === seq - 1 ? anchor.hash : undefined;
  }
}
