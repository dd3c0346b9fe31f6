import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { returnedRows } from '../database/returned-rows';
import { CatalogWriterRepository } from './import/catalog-writer.repository';
import type { EditableField, EditableValues, FieldValue } from './product-fields';
import type {
  ProductDetail,
  ProductImage,
  ProductOption,
  ProductSummary,
  ProductVariant,
} from './product.types';

export type ProductSort = 'id' | 'title' | 'updatedAt';

/** A product without its images, variants and options. */
export type ProductContent = ProductSummary &
  Pick<ProductDetail, 'bodyHtml' | 'seoTitle' | 'seoDescription' | 'seoKeywords'>;

export interface ProductFilters {
  q?: string;
  vendor?: string;
  productType?: string;
  category?: string;
  tag?: string;
  minConfidence?: number;
  maxConfidence?: number;
  hasPendingChanges?: boolean;
}

export interface ProductOrder {
  sort: ProductSort | 'rank';
  order: 'asc' | 'desc';
}

/** Where a keyset page ends: the sort value and id of its last row. */
export interface ProductKey {
  value: string | number;
  id: number;
}

interface SummaryRow {
  id: string;
  handle: string;
  title: string;
  vendor: string | null;
  productType: string | null;
  category: string | null;
  normalizedCategory: string | null;
  categoryConfidence: number | null;
  llmConfidence: number | null;
  publishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

const SORT_COLUMNS: Record<ProductSort, string> = { id: 'p.id', title: 'p.title', updatedAt: 'p.updated_at' };

/** Editable fields stored directly in a products column (the rest live in lookup tables). */
const COLUMNS: Partial<Record<EditableField, string>> = {
  title: 'title',
  bodyHtml: 'body_html',
  category: 'category',
  seoTitle: 'seo_title',
  seoDescription: 'seo_description',
  seoKeywords: 'seo_keywords',
  publishedAt: 'published_at',
};

// Tags and pending-proposal counts are fetched for a page's ids in two small statements
// (withExtras) rather than as correlated subqueries: the single large statement cost more to plan
// than to run.
const SUMMARY_SELECT = `SELECT p.id, p.handle, p.title, v.name AS vendor, pt.name AS "productType", p.category,
    p.normalized_category AS "normalizedCategory", p.category_confidence AS "categoryConfidence",
    p.llm_confidence AS "llmConfidence", p.published_at AS "publishedAt", p.created_at AS "createdAt",
    p.updated_at AS "updatedAt", p.version
  FROM products p
  LEFT JOIN vendors v ON v.id = p.vendor_id
  LEFT JOIN product_types pt ON pt.id = p.product_type_id`;

@Injectable()
export class ProductsRepository {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly writer: CatalogWriterRepository,
  ) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async page(
    filters: ProductFilters,
    order: ProductOrder,
    ftsConfig: string,
    page: number,
    limit: number,
  ): Promise<{ items: ProductSummary[]; total: number }> {
    const { where, params } = whereClause(filters, ftsConfig);
    const [{ total }] = await this.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM products p ${where}`,
      params,
    );
    const rows = await this.query<SummaryRow>(
      `${SUMMARY_SELECT} ${where} ORDER BY ${orderBy(order, ftsConfig)}
        LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, (page - 1) * limit],
    );
    return { items: await this.withExtras(rows), total };
  }

  /** One keyset page; fetches one row more than asked to know whether another page follows. */
  async keysetPage(
    filters: ProductFilters,
    order: ProductOrder & { sort: ProductSort },
    ftsConfig: string,
    after: ProductKey | undefined,
    limit: number,
  ): Promise<{ items: ProductSummary[]; hasMore: boolean }> {
    const { where, params } = whereClause(filters, ftsConfig);
    let condition = where;
    if (after !== undefined) {
      const column = SORT_COLUMNS[order.sort];
      const op = order.order === 'asc' ? '>' : '<';
      params.push(order.sort === 'updatedAt' ? new Date(after.value) : after.value, after.id);
      const keyset = `(${column}, p.id) ${op} ($${params.length - 1}, $${params.length})`;
      condition = where === '' ? `WHERE ${keyset}` : `${where} AND ${keyset}`;
    }
    const rows = await this.query<SummaryRow>(
      `${SUMMARY_SELECT} ${condition} ORDER BY ${orderBy(order, ftsConfig)} LIMIT $${params.length + 1}`,
      [...params, limit + 1],
    );
    return { items: await this.withExtras(rows.slice(0, limit)), hasMore: rows.length > limit };
  }

  async summary(id: number): Promise<ProductSummary | undefined> {
    const rows = await this.query<SummaryRow>(`${SUMMARY_SELECT} WHERE p.id = $1`, [id]);
    return (await this.withExtras(rows))[0];
  }

  private async withExtras(rows: SummaryRow[]): Promise<ProductSummary[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((row) => row.id);
    const tags = await this.query<{ id: string; tags: string[] }>(
      `SELECT x.product_id AS id, array_agg(t.name ORDER BY x.position) AS tags
        FROM product_tags x JOIN tags t ON t.id = x.tag_id
        WHERE x.product_id = ANY($1::bigint[]) GROUP BY x.product_id`,
      [ids],
    );
    const pending = await this.query<{ id: string; count: number }>(
      `SELECT product_id AS id, count(*)::int AS count FROM changes
        WHERE status = 'proposed' AND product_id = ANY($1::bigint[]) GROUP BY product_id`,
      [ids],
    );
    const tagsById = new Map(tags.map((row) => [row.id, row.tags]));
    const pendingById = new Map(pending.map((row) => [row.id, row.count]));
    return rows.map((row) => toSummary(row, tagsById.get(row.id) ?? [], pendingById.get(row.id) ?? 0));
  }

  /** The fields a prompt or a task reads (no images, variants or options), in one statement. */
  async content(id: number): Promise<ProductContent | undefined> {
    const [row] = await this.query<
      SummaryRow &
        Pick<
          ProductContent,
          'bodyHtml' | 'seoTitle' | 'seoDescription' | 'seoKeywords' | 'tags' | 'pendingChanges'
        >
    >(
      `SELECT s.*, p.body_html AS "bodyHtml", p.seo_title AS "seoTitle", p.seo_description AS "seoDescription",
          p.seo_keywords AS "seoKeywords",
          COALESCE((SELECT array_agg(t.name ORDER BY x.position) FROM product_tags x JOIN tags t ON t.id = x.tag_id
            WHERE x.product_id = p.id), '{}') AS tags,
          (SELECT count(*)::int FROM changes c WHERE c.product_id = p.id AND c.status = 'proposed') AS "pendingChanges"
        FROM (${SUMMARY_SELECT} WHERE p.id = $1) s JOIN products p ON p.id = s.id`,
      [id],
    );
    if (row === undefined) return undefined;
    return {
      ...toSummary(row, row.tags, row.pendingChanges),
      bodyHtml: row.bodyHtml,
      seoTitle: row.seoTitle,
      seoDescription: row.seoDescription,
      seoKeywords: row.seoKeywords,
    };
  }

  async detail(id: number): Promise<Omit<ProductDetail, 'pendingProposals'> | undefined> {
    const summary = await this.summary(id);
    if (summary === undefined) return undefined;
    const [extra] = await this.query<{
      bodyHtml: string | null;
      seoTitle: string | null;
      seoDescription: string | null;
      seoKeywords: string[];
    }>(
      `SELECT body_html AS "bodyHtml", seo_title AS "seoTitle", seo_description AS "seoDescription",
          seo_keywords AS "seoKeywords" FROM products WHERE id = $1`,
      [id],
    );
    const images = await this.query<ProductImage & { id: string; variantIds: string[] }>(
      `SELECT id, position, src, alt, width, height, variant_ids AS "variantIds" FROM images
        WHERE product_id = $1 ORDER BY position, id`,
      [id],
    );
    const variants = await this.query<ProductVariant & { id: string; imageId: string | null }>(
      `SELECT id, title, sku, price::text, compare_at_price::text AS "compareAtPrice", position, option1, option2,
          option3, grams, available, requires_shipping AS "requiresShipping", taxable, image_id AS "imageId"
        FROM variants WHERE product_id = $1 ORDER BY position, id`,
      [id],
    );
    const options = await this.query<ProductOption>(
      `SELECT o.name, o.position,
          COALESCE((SELECT array_agg(ov.value ORDER BY ov.position) FROM option_values ov
            WHERE ov.product_id = o.product_id AND ov.option_position = o.position), '{}') AS values
        FROM options o WHERE o.product_id = $1 ORDER BY o.position`,
      [id],
    );
    return {
      ...summary,
      ...extra,
      images: images.map((image) => ({
        ...image,
        id: Number(image.id),
        variantIds: image.variantIds.map(Number),
      })),
      variants: variants.map((variant) => ({
        ...variant,
        id: Number(variant.id),
        imageId: variant.imageId === null ? null : Number(variant.imageId),
      })),
      options,
    };
  }

  /** The editable values and version of a product, locked until the transaction ends. */
  async lockEditable(id: number): Promise<{ version: number; values: EditableValues } | undefined> {
    const existing = await this.writer.lockExisting([id]);
    const product = existing.get(id);
    return product === undefined ? undefined : { version: product.version, values: product.values };
  }

  /** Writes field values (validated by the caller), bumps the version and returns the new one. */
  async applyValues(id: number, values: Partial<Record<EditableField, FieldValue>>): Promise<number> {
    const assignments: string[] = [];
    const params: unknown[] = [id];
    const set = (column: string, value: unknown, cast = '') => {
      params.push(value);
      assignments.push(`${column} = $${params.length}${cast}`);
    };
    for (const [field, value] of Object.entries(values) as Array<[EditableField, FieldValue]>) {
      const column = COLUMNS[field];
      if (column !== undefined) {
        set(
          column,
          field === 'seoKeywords' ? (value ?? []) : value,
          field === 'seoKeywords' ? '::text[]' : '',
        );
      } else if (field === 'vendor' || field === 'productType') {
        const table = field === 'vendor' ? 'vendors' : 'product_types';
        const name = value as string | null;
        const ids = await this.writer.ensureNames(table, name === null ? [] : [name]);
        set(field === 'vendor' ? 'vendor_id' : 'product_type_id', name === null ? null : ids.get(name));
      } else if (field === 'tags') {
        const tags = (value as string[] | null) ?? [];
        await this.writer.replaceTags(
          [id],
          tags.map((name, index) => ({ product_id: id, name, position: index + 1 })),
        );
      }
    }
    const [{ version }] = returnedRows<{ version: number }>(
      await this.query(
        `UPDATE products SET ${[...assignments, "updated_at = date_trunc('milliseconds', now())", 'version = version + 1'].join(', ')}
        WHERE id = $1 RETURNING version`,
        params,
      ),
    );
    return version;
  }

  /** `SELECT p.id FROM products p WHERE <filters>` with its parameters, for set-based selections. */
  idsQuery(filters: ProductFilters, ftsConfig: string): { sql: string; params: unknown[] } {
    const { where, params } = whereClause(filters, ftsConfig);
    return { sql: `SELECT p.id FROM products p ${where}`, params };
  }

  async exists(ids: number[]): Promise<number[]> {
    const rows = await this.query<{ id: string }>('SELECT id FROM products WHERE id = ANY($1::bigint[])', [
      ids,
    ]);
    return rows.map((row) => Number(row.id));
  }
}

function whereClause(filters: ProductFilters, ftsConfig: string): { where: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  if (filters.q !== undefined) {
    add((p) => `p.search @@ websearch_to_tsquery('${ftsConfig}'::regconfig, ${p})`, filters.q);
  }
  if (filters.vendor !== undefined) {
    add((p) => `p.vendor_id = (SELECT id FROM vendors WHERE name = ${p})`, filters.vendor);
  }
  if (filters.productType !== undefined) {
    add((p) => `p.product_type_id = (SELECT id FROM product_types WHERE name = ${p})`, filters.productType);
  }
  if (filters.category !== undefined) {
    // The category and everything below it in the taxonomy.
    params.push(filters.category, `${escapeLike(filters.category)} > %`);
    conditions.push(`(p.category = $${params.length - 1} OR p.category LIKE $${params.length})`);
  }
  if (filters.tag !== undefined) {
    add(
      (p) =>
        `p.id IN (SELECT x.product_id FROM product_tags x WHERE x.tag_id = (SELECT id FROM tags WHERE name = ${p}))`,
      filters.tag,
    );
  }
  if (filters.minConfidence !== undefined) add((p) => `p.category_confidence >= ${p}`, filters.minConfidence);
  if (filters.maxConfidence !== undefined) add((p) => `p.category_confidence <= ${p}`, filters.maxConfidence);
  if (filters.hasPendingChanges !== undefined) {
    conditions.push(
      `${filters.hasPendingChanges ? '' : 'NOT '}EXISTS (SELECT 1 FROM changes c WHERE c.product_id = p.id AND c.status = 'proposed')`,
    );
  }
  return { where: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, params };
}

function orderBy(order: ProductOrder, ftsConfig: string): string {
  const direction = order.order === 'asc' ? 'ASC' : 'DESC';
  if (order.sort === 'rank') {
    // The q parameter is always $1 when ranking (see whereClause).
    return `ts_rank_cd(p.search, websearch_to_tsquery('${ftsConfig}'::regconfig, $1)) DESC, p.id ${direction}`;
  }
  return `${SORT_COLUMNS[order.sort]} ${direction}, p.id ${direction}`;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function toSummary(row: SummaryRow, tags: string[], pendingChanges: number): ProductSummary {
  return {
    id: Number(row.id),
    handle: row.handle,
    title: row.title,
    vendor: row.vendor,
    productType: row.productType,
    category: row.category,
    normalizedCategory: row.normalizedCategory,
    categoryConfidence: row.categoryConfidence,
    llmConfidence: row.llmConfidence,
    tags,
    publishedAt: row.publishedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version,
    pendingChanges,
  };
}
