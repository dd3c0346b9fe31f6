import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ChangesRepository } from '../../changes/changes.repository';
import type { NewChange } from '../../changes/change.types';
import { RequestContext } from '../../common/request-context';
import { CategoryAssigner } from '../category-assigner';
import { type EditableField, type EditableValues, type FieldValue, sameValue } from '../product-fields';
import {
  CatalogWriterRepository,
  type ExistingProduct,
  type ProductWrite,
} from './catalog-writer.repository';
import { type ImportedProduct, parseShopifyProduct } from './shopify-product';

/** One source record: a parsed JSON value, or a record that could not even be parsed. */
export type SourceRecord = { position: number; value: unknown } | { position: number; malformed: string };

export interface Rejection {
  /** 1-based position of the record in the import. */
  position: number;
  id: number | null;
  handle: string | null;
  reasons: string[];
}

/**
 * Thrown by an `afterWrite` callback to roll its batch back and stop: the batch is not retried
 * product by product (another worker has taken the import over, say).
 */
export class BatchDiscarded extends Error {}

export interface BatchResult {
  created: number;
  updated: number;
  unchanged: number;
  rejected: Rejection[];
}

/** The fields an import sets (category only when the source has one). */
const IMPORTED_FIELDS: readonly EditableField[] = [
  'title',
  'bodyHtml',
  'vendor',
  'productType',
  'category',
  'tags',
  'publishedAt',
];

/**
 * Imports Shopify products batch by batch, for the CLI and the import jobs alike. Each batch is one
 * transaction: its products are all written or none are. Invalid products are rejected with reasons
 * before anything is written; if the batch still fails in the database, each product is retried
 * alone, so one bad product cannot take its neighbours down with it.
 */
@Injectable()
export class CatalogImporter {
  private readonly logger = new Logger(CatalogImporter.name);

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly writer: CatalogWriterRepository,
    private readonly changes: ChangesRepository,
    private readonly categories: CategoryAssigner,
    private readonly context: RequestContext,
    private readonly dataSource: DataSource,
  ) {}

  /**
   * After a bulk import: fresh planner statistics and visibility map for the catalogue tables. A
   * PostgreSQL server's autovacuum would get there eventually; the embedded database has none, and
   * without it counts and index-only scans read every heap page. Runs outside any transaction.
   */
  async refreshStatistics(): Promise<void> {
    try {
      await this.dataSource.query('VACUUM (ANALYZE) products, product_tags, variants, images, changes');
    } catch (error) {
      this.logger.warn(`Could not refresh catalogue statistics: ${(error as Error).message}`);
    }
  }

  /**
   * `afterWrite` runs inside the batch's transaction with the batch's result (import jobs record
   * their progress there, so that progress and products commit together).
   */
  async importBatch(
    records: SourceRecord[],
    afterWrite?: (result: BatchResult) => Promise<void>,
  ): Promise<BatchResult> {
    const rejected: Rejection[] = [];
    const valid: Array<{ position: number; product: ImportedProduct }> = [];
    for (const record of records) {
      if ('malformed' in record) {
        rejected.push({ position: record.position, id: null, handle: null, reasons: [record.malformed] });
        continue;
      }
      const parsed = parseShopifyProduct(record.value);
      if (parsed.ok) valid.push({ position: record.position, product: parsed.product });
      else
        rejected.push({
          position: record.position,
          id: parsed.id,
          handle: parsed.handle,
          reasons: parsed.reasons,
        });
    }
    // A product repeated within the batch: the later record wins, the earlier one is superseded
    // (counted as unchanged: the later record carries the product's final state).
    const byId = new Map<number, { position: number; product: ImportedProduct }>();
    let superseded = 0;
    for (const entry of valid) {
      if (byId.has(entry.product.id)) superseded++;
      byId.set(entry.product.id, entry);
    }
    const unique = [...byId.values()];
    try {
      const result = await this.txHost.withTransaction(async () => {
        const written = await this.write(unique);
        const batch = {
          ...written,
          unchanged: written.unchanged + superseded,
          rejected: [...rejected, ...written.rejected].sort((a, b) => a.position - b.position),
        };
        await afterWrite?.(batch);
        return batch;
      });
      return result;
    } catch (error) {
      if (error instanceof BatchDiscarded) throw error;
      if (unique.length <= 1) {
        if (unique.length === 0) throw error;
        return this.rejectAlone(unique[0], rejected, superseded, error, afterWrite);
      }
      this.logger.warn(`Import batch failed (${(error as Error).message}); retrying its products one by one`);
    }
    const total: BatchResult = { created: 0, updated: 0, unchanged: superseded, rejected: [...rejected] };
    for (const entry of unique) {
      try {
        const result = await this.txHost.withTransaction(() => this.write([entry]));
        total.created += result.created;
        total.updated += result.updated;
        total.unchanged += result.unchanged;
        total.rejected.push(...result.rejected);
      } catch (error) {
        total.rejected.push(storageRejection(entry, error));
      }
    }
    total.rejected.sort((a, b) => a.position - b.position);
    if (afterWrite !== undefined) await this.txHost.withTransaction(() => afterWrite(total));
    return total;
  }

  private async rejectAlone(
    entry: { position: number; product: ImportedProduct },
    rejected: Rejection[],
    superseded: number,
    error: unknown,
    afterWrite?: (result: BatchResult) => Promise<void>,
  ): Promise<BatchResult> {
    const result: BatchResult = {
      created: 0,
      updated: 0,
      unchanged: superseded,
      rejected: [...rejected, storageRejection(entry, error)].sort((a, b) => a.position - b.position),
    };
    if (afterWrite !== undefined) await this.txHost.withTransaction(() => afterWrite(result));
    return result;
  }

  private async write(entries: Array<{ position: number; product: ImportedProduct }>): Promise<BatchResult> {
    const result: BatchResult = { created: 0, updated: 0, unchanged: 0, rejected: [] };
    if (entries.length === 0) return result;
    const ids = entries.map((entry) => entry.product.id);
    const existing = await this.writer.lockExisting(ids);
    const owners = await this.writer.handleOwners(
      entries.map((entry) => entry.product.handle),
      ids,
    );
    const handlesInBatch = new Map<string, number>();
    const rows: ProductWrite[] = [];
    const children: Array<{ product: ImportedProduct; tags: string[] }> = [];
    const changes: NewChange[] = [];
    for (const { position, product } of entries) {
      const owner = owners.get(product.handle) ?? handlesInBatch.get(product.handle);
      if (owner !== undefined && owner !== product.id) {
        result.rejected.push({
          position,
          id: product.id,
          handle: product.handle,
          reasons: [`handle: already used by product ${owner}`],
        });
        continue;
      }
      handlesInBatch.set(product.handle, product.id);
      const stored = existing.get(product.id);
      if (stored?.importHash === product.hash) {
        result.unchanged++;
        continue;
      }
      const values = stored === undefined ? sourceValues(product) : mergedValues(stored, product, changes);
      if (stored === undefined) result.created++;
      else result.updated++;
      const match = this.categories.match(values);
      rows.push({
        id: product.id,
        handle: product.handle,
        title: values.title as string,
        body_html: values.bodyHtml as string | null,
        vendor: values.vendor as string | null,
        product_type: values.productType as string | null,
        category: values.category as string | null,
        published_at: values.publishedAt as string | null,
        created_at: product.createdAt,
        normalized_category: match?.path ?? null,
        category_confidence: match?.confidence ?? null,
        import_hash: product.hash,
        import_values: importedValues(product),
      });
      children.push({ product, tags: values.tags as string[] });
    }
    await this.writer.upsertProducts(rows);
    await this.writer.replaceChildren(children);
    await this.changes.insertMany(changes, {
      principal: this.context.principal,
      requestId: this.context.requestId,
    });
    return result;
  }
}

function importedValues(product: ImportedProduct): Partial<EditableValues> {
  const values: Partial<EditableValues> = {};
  for (const field of IMPORTED_FIELDS) {
    const value = (product as unknown as Record<string, FieldValue | undefined>)[field];
    if (value !== undefined) values[field] = value;
  }
  return values;
}

function sourceValues(product: ImportedProduct): EditableValues {
  return {
    title: product.title,
    bodyHtml: product.bodyHtml,
    vendor: product.vendor,
    productType: product.productType,
    category: product.category ?? null,
    tags: product.tags,
    seoTitle: null,
    seoDescription: null,
    seoKeywords: [],
    publishedAt: product.publishedAt,
  };
}

/**
 * Three-way merge: a field takes the source's value only when the source changed it since the
 * previous import; a field the source left alone keeps what was edited or approved here. Every
 * field whose stored value changes gets an applied change record with source `import`.
 */
function mergedValues(
  stored: ExistingProduct,
  product: ImportedProduct,
  changes: NewChange[],
): EditableValues {
  const next: EditableValues = { ...stored.values };
  const incoming = importedValues(product);
  for (const field of IMPORTED_FIELDS) {
    if (!(field in incoming)) continue;
    const value = incoming[field] ?? null;
    const previous = stored.importValues?.[field];
    if (stored.importValues !== null && previous !== undefined && sameValue(previous, value)) continue;
    if (sameValue(stored.values[field], value)) continue;
    changes.push({
      productId: stored.id,
      field,
      oldValue: stored.values[field],
      newValue: value,
      source: 'import',
      status: 'applied',
    });
    next[field] = value;
  }
  return next;
}

function storageRejection(entry: { position: number; product: ImportedProduct }, error: unknown): Rejection {
  const detail = (error as { detail?: unknown }).detail;
  return {
    position: entry.position,
    id: entry.product.id,
    handle: entry.product.handle,
    reasons: [
      `could not be stored: ${typeof detail === 'string' ? detail : ((error as Error).message ?? 'database error')}`,
    ],
  };
}
