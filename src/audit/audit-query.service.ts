import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { NotFoundError } from '../common/app-error';
import { csvEventRow, csvHeader } from './audit-csv';
import { decodeCursor, encodeCursor } from './audit-cursor';
import {
  type AuditEventFilters,
  type AuditEventPage,
  type AuditEventView,
  type StoredAuditEvent,
  toAuditEventView,
} from './audit-event';
import { AUDIT_OPTIONS, type AuditOptions } from './audit.options';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;
const EXPORT_CHUNK_CHARS = 64 * 1024;

/** Filters as they arrive from the query string (validated by the DTOs): dates as ISO-8601 text. */
export type AuditFilterParams = Omit<AuditEventFilters, 'from' | 'to'> & {
  readonly from?: string;
  readonly to?: string;
};

export type AuditExportFormat = 'ndjson' | 'csv';

export interface AuditExport {
  readonly contentType: string;
  readonly filename: string;
  readonly stream: Readable;
}

export function toFilters(params: AuditFilterParams): AuditEventFilters {
  return {
    actorId: params.actorId,
    action: params.action,
    resourceType: params.resourceType,
    resourceId: params.resourceId,
    outcome: params.outcome,
    requestId: params.requestId,
    from: params.from === undefined ? undefined : new Date(params.from),
    to: params.to === undefined ? undefined : new Date(params.to),
  };
}

const FORMATS: Readonly<
  Record<AuditExportFormat, { contentType: string; line: (e: AuditEventView) => string }>
> = {
  ndjson: { contentType: 'application/x-ndjson; charset=utf-8', line: (e) => `${JSON.stringify(e)}\n` },
  csv: { contentType: 'text/csv; charset=utf-8', line: csvEventRow },
};

/** Reading the trail: filtered keyset pages, single events, and streamed exports. */
@Injectable()
export class AuditQueryService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly audit: AuditService,
    @Inject(AUDIT_OPTIONS) private readonly options: AuditOptions,
  ) {}

  /** Newest first. `cursor` is the nextCursor of the previous page. */
  async list(
    params: AuditFilterParams & { readonly limit?: number; readonly cursor?: string },
  ): Promise<AuditEventPage> {
    const limit = params.limit ?? DEFAULT_PAGE_LIMIT;
    const beforeId = params.cursor === undefined ? undefined : decodeCursor(params.cursor);
    // One row more than asked tells whether another page exists without a count.
    const rows = await this.repository.page(toFilters(params), beforeId, limit + 1);
    const items = rows.slice(0, limit).map(toAuditEventView);
    const nextCursor = rows.length > limit ? encodeCursor(items[items.length - 1].id) : null;
    return { items, nextCursor };
  }

  async get(id: number): Promise<AuditEventView> {
    const row = await this.repository.findById(id);
    if (row === undefined) throw new NotFoundError('AUDIT_EVENT_NOT_FOUND', 'No such audit event.');
    return toAuditEventView(row);
  }

  /**
   * Every matching event, oldest first, as NDJSON or CSV. The export itself is audited
   * (`audit.export`, with its filters): the trail shows who took a copy of it.
   *
   * Rows are read in keyset batches as the client consumes the stream, up to the newest id at the
   * start (later events are not chased). The first batch is read before answering, so that a
   * database failure is still an ordinary error response; a failure later aborts the connection,
   * and the client sees a truncated download rather than a complete-looking file.
   */
  async export(params: AuditFilterParams, format: AuditExportFormat): Promise<AuditExport> {
    const filters = toFilters(params);
    const upToId = await this.repository.maxId();
    const batchSize = this.options.readBatchSize;
    const first = await this.repository.exportBatch(filters, 0, upToId, batchSize);
    // Recorded once the export has really started, and before any byte leaves: no event, no export.
    await this.audit.record({
      action: 'audit.export',
      outcome: 'success',
      details: { format, filters: params },
    });
    const { contentType, line } = FORMATS[format];
    const repository = this.repository;

    async function* lines(): AsyncGenerator<string> {
      let chunk = format === 'csv' ? csvHeader() : '';
      let batch: StoredAuditEvent[] = first;
      for (;;) {
        for (const row of batch) {
          chunk += line(toAuditEventView(row));
          // Chunks of ~64 KiB: few writes, without one string per batch of up to 1000 events.
          if (chunk.length >= EXPORT_CHUNK_CHARS) {
            yield chunk;
            chunk = '';
          }
        }
        if (batch.length < batchSize) break;
        batch = await repository.exportBatch(filters, batch[batch.length - 1].id, upToId, batchSize);
      }
      if (chunk.length > 0) yield chunk;
    }

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    return {
      contentType,
      filename: `audit-events-${stamp}.${format}`,
      stream: Readable.from(lines(), { objectMode: false }),
    };
  }
}
