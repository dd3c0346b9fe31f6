import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import { BadRequestError, NotFoundError } from '../../common/app-error';
import { MALFORMED_RECORD } from '../../common/large-body';
import { RequestContext } from '../../common/request-context';
import { IdempotencyService, type StoredResponse } from '../../idempotency/idempotency.service';
import { JobEngine, type JobInfo } from '../../jobs/job-engine';
import { BatchDiscarded, CatalogImporter, type Rejection } from './catalog-importer';
import { CatalogImportsRepository, type ImportRow, type ImportStatus } from './catalog-imports.repository';

export const IMPORT_QUEUE = 'catalog-import';
/** Products per transaction. */
export const IMPORT_BATCH_SIZE = 250;
const IMPORT_RETRIES = 5;
/**
 * A job works on its import for about this long, then queues the rest as a new job: a job never
 * runs long, so one whose replica died is found expired (and resumed) within a minute or so.
 */
const IMPORT_SLICE_MS = 15_000;
const IMPORT_JOB_EXPIRE_SECONDS = 60;

export interface ImportView {
  id: string;
  status: ImportStatus;
  total: number;
  processed: number;
  summary: { created: number; updated: number; unchanged: number; rejected: number };
  rejections: Rejection[];
  error: string | null;
  createdBy: { type: string; id: string | null; label: string | null };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * Imports started over HTTP: the body is stored with the import, a job does the work in batches
 * (on any replica), and the import's row carries progress and the summary. A crash mid-import
 * resumes after the last committed batch.
 */
@Injectable()
export class CatalogImportsService implements OnModuleInit {
  private readonly logger = new Logger(CatalogImportsService.name);

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly imports: CatalogImportsRepository,
    private readonly importer: CatalogImporter,
    private readonly jobs: JobEngine,
    private readonly idempotency: IdempotencyService,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
  ) {}

  onModuleInit(): void {
    this.jobs.define<{ importId: string }>({
      name: IMPORT_QUEUE,
      retryLimit: IMPORT_RETRIES,
      retryDelaySeconds: 5,
      expireInSeconds: IMPORT_JOB_EXPIRE_SECONDS,
      concurrency: 1,
      handler: async ({ importId }, job) => {
        try {
          await this.process(importId, job.stopping);
        } catch (error) {
          if (job.retryCount < IMPORT_RETRIES) throw error;
          // Out of retries: the import ends as failed with what was committed so far.
          this.logger.error(`Import ${importId} failed: ${(error as Error).message}`);
          await this.txHost.withTransaction(() =>
            this.imports.finish(
              importId,
              'failed',
              'The import stopped on an internal error; committed batches remain.',
            ),
          );
        }
      },
    });
  }

  async start(
    products: unknown[],
    idempotencyKey: string | undefined,
  ): Promise<StoredResponse<{ id: string; status: ImportStatus; total: number }>> {
    if (products.length === 0) {
      throw new BadRequestError('IMPORT_EMPTY', 'The import has no products.', [
        { field: 'products', issue: 'must contain at least one product' },
      ]);
    }
    const response = await this.idempotency.run(idempotencyKey, 'catalog-import', products, async () => {
      const row = await this.imports.create(products, this.context.principal, this.context.requestId);
      await this.jobs.send(IMPORT_QUEUE, { importId: row.id });
      await this.audit.record({
        action: 'import.start',
        outcome: 'success',
        resourceType: 'import',
        resourceId: row.id,
        httpStatus: 202,
        details: { total: row.total },
      });
      return {
        status: 202,
        body: { id: row.id, status: row.status, total: row.total },
        location: `/api/v1/catalog/imports/${row.id}`,
      };
    });
    if (!response.replayed) this.jobs.wake(IMPORT_QUEUE);
    return response;
  }

  async get(id: string): Promise<ImportView> {
    const row = await this.imports.find(id);
    if (row === undefined) throw new NotFoundError('IMPORT_NOT_FOUND', `No import with id ${id}.`);
    return toView(row);
  }

  /**
   * The job: resumes after the last committed batch, so a retried job never counts a product twice.
   * Each batch commits with its progress only if no other worker moved the import on meanwhile (a
   * job retried after its replica seemed dead, say); the loser stops. After a slice of time, or
   * when this replica shuts down, the rest goes to a new job that any replica can take.
   */
  async process(importId: string, stopping?: JobInfo['stopping']): Promise<void> {
    const row = await this.imports.find(importId);
    if (row === undefined || ['completed', 'completed_with_errors', 'failed'].includes(row.status)) return;
    const principal = {
      kind: row.actorType === 'api_key' ? 'api_key' : row.actorType === 'user' ? 'user' : 'system',
      id: row.actorId ?? 'catalog-import',
      label: row.actorLabel ?? 'catalog import',
      permissions: new Set<string>(),
    } as const;
    const sliceEnds = Date.now() + IMPORT_SLICE_MS;
    await this.context.run(
      async () => {
        await this.txHost.withTransaction(() => this.imports.markRunning(importId));
        const payload = await this.imports.payload(importId);
        for (let offset = row.processed; offset < payload.length; offset += IMPORT_BATCH_SIZE) {
          if (stopping?.aborted === true || (offset > row.processed && Date.now() >= sliceEnds)) {
            await this.jobs.send(IMPORT_QUEUE, { importId });
            this.jobs.wake(IMPORT_QUEUE);
            return;
          }
          const slice = payload.slice(offset, offset + IMPORT_BATCH_SIZE);
          try {
            await this.importer.importBatch(
              slice.map((value, index) => toRecord(value, offset + index + 1)),
              async (result) => {
                if (!(await this.imports.addProgress(importId, offset, slice.length, result))) {
                  throw new BatchDiscarded(`import ${importId} moved past ${offset} meanwhile`);
                }
              },
            );
          } catch (error) {
            if (!(error instanceof BatchDiscarded)) throw error;
            this.logger.warn(`Import ${importId}: another worker took over at ${offset}; this one stops`);
            return;
          }
        }
        await this.txHost.withTransaction(async () => {
          const current = await this.imports.find(importId);
          const finished = await this.imports.finish(
            importId,
            (current?.rejected ?? 0) > 0 ? 'completed_with_errors' : 'completed',
            null,
          );
          if (finished === undefined) return;
          await this.audit.record({
            action: 'import.complete',
            outcome: 'success',
            resourceType: 'import',
            resourceId: importId,
            details: {
              total: finished.total,
              created: finished.created,
              updated: finished.updated,
              unchanged: finished.unchanged,
              rejected: finished.rejected,
            },
          });
        });
        await this.importer.refreshStatistics();
        this.logger.log(`Import ${importId} finished`);
      },
      { principal, ...(row.requestId === null ? {} : { requestId: row.requestId }) },
    );
  }
}

function toRecord(
  value: unknown,
  position: number,
): { position: number; value: unknown } | { position: number; malformed: string } {
  if (value !== null && typeof value === 'object' && MALFORMED_RECORD in value) {
    return { position, malformed: String((value as Record<string, unknown>)[MALFORMED_RECORD]) };
  }
  return { position, value };
}

function toView(row: ImportRow): ImportView {
  return {
    id: row.id,
    status: row.status,
    total: row.total,
    processed: row.processed,
    summary: { created: row.created, updated: row.updated, unchanged: row.unchanged, rejected: row.rejected },
    rejections: row.rejections,
    error: row.error,
    createdBy: { type: row.actorType, id: row.actorId, label: row.actorLabel },
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
