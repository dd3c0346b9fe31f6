import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import type { EditableValues } from '../product-fields';
import type { ImportedProduct } from './shopify-product';

export interface ExistingProduct {
  id: number;
  version: number;
  importHash: string | null;
  importValues: Partial<EditableValues> | null;
  values: EditableValues;
}

/** A product row as the importer writes it (names match the columns jsonb_to_recordset reads). */
export interface ProductWrite {
  id: number;
  handle: string;
  title: string;
  body_html: string | null;
  vendor: string | null;
  product_type: string | null;
  category: string | null;
  published_at: string | null;
  created_at: string | null;
  normalized_category: string | null;
  category_confidence: number | null;
  import_hash: string;
  import_values: Partial<EditableValues>;
}

/**
 * Set-based writes for the importer: a batch of products is read, upserted and its children replaced
 * with a fixed number of statements, whatever the batch size. Rows travel as one jsonb parameter.
 */
@Injectable()
export class CatalogWriterRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  /** The stored state of the batch's products, locked until the batch commits. */
  async lockExisting(ids: number[]): Promise<Map<number, ExistingProduct>> {
    const rows = await this.query<{
      id: string;
      version: number;
      importHash: string | null;
      importValues: Partial<EditableValues> | null;
      values: EditableValues;
    }>(
      `SELECT p.id, p.version, p.import_hash AS "importHash", p.import_values AS "importValues",
          jsonb_build_object(
            'title', p.title, 'bodyHtml', p.body_html, 'vendor', v.name, 'productType', pt.name,
            'category', p.category,
            'tags', COALESCE((SELECT jsonb_agg(t.name ORDER BY x.position) FROM product_tags x
                JOIN tags t ON t.id = x.tag_id WHERE x.product_id = p.id), '[]'::jsonb),
            'seoTitle', p.seo_title, 'seoDescription', p.seo_description, 'seoKeywords', to_jsonb(p.seo_keywords),
            'publishedAt', to_char(p.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
          ) AS values
        FROM products p
        LEFT JOIN vendors v ON v.id = p.vendor_id
        LEFT JOIN product_types pt ON pt.id = p.product_type_id
        WHERE p.id = ANY($1::bigint[])
        ORDER BY p.id
        FOR UPDATE OF p`,
      [ids],
    );
    return new Map(rows.map((row) => [Number(row.id), { ...row, id: Number(row.id) }]));
  }

  /** Handles of the batch already used by other products: handle → owning product id. */
  async handleOwners(handles: string[], ids: number[]): Promise<Map<string, number>> {
    const rows = await this.query<{ id: string; handle: string }>(
      'SELECT id, handle FROM products WHERE handle = ANY($1::text[]) AND NOT (id = ANY($2::bigint[]))',
      [handles, ids],
    );
    return new Map(rows.map((row) => [row.handle, Number(row.id)]));
  }

  /**
   * Creates the missing names of a lookup table and returns every name's id. Two statements rather
   * than one CTE: a name inserted by a concurrent transaction is invisible to the CTE's snapshot.
   */
  async ensureNames(
    table: 'vendors' | 'product_types' | 'tags',
    names: string[],
  ): Promise<Map<string, number>> {
    const distinct = [...new Set(names)];
    if (distinct.length === 0) return new Map();
    await this.query(
      `INSERT INTO ${table} (name) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (name) DO NOTHING`,
      [distinct],
    );
    const rows = await this.query<{ id: number; name: string }>(
      `SELECT id, name FROM ${table} WHERE name = ANY($1::text[])`,
      [distinct],
    );
    return new Map(rows.map((row) => [row.name, row.id]));
  }

  async upsertProducts(rows: ProductWrite[]): Promise<void> {
    if (rows.length === 0) return;
    const vendors = await this.ensureNames(
      'vendors',
      rows.flatMap((r) => (r.vendor === null ? [] : [r.vendor])),
    );
    const types = await this.ensureNames(
      'product_types',
      rows.flatMap((r) => (r.product_type === null ? [] : [r.product_type])),
    );
    const input = rows.map(({ vendor, product_type, ...row }) => ({
      ...row,
      vendor_id: vendor === null ? null : vendors.get(vendor),
      product_type_id: product_type === null ? null : types.get(product_type),
    }));
    await this.query(
      `INSERT INTO products AS p (id, handle, title, body_html, vendor_id, product_type_id, category,
            published_at, created_at, updated_at, normalized_category, category_confidence, import_hash, import_values)
        SELECT i.id, i.handle, i.title, i.body_html, i.vendor_id, i.product_type_id, i.category, i.published_at,
            COALESCE(date_trunc('milliseconds', i.created_at), date_trunc('milliseconds', now())),
            date_trunc('milliseconds', now()), i.normalized_category, i.category_confidence, i.import_hash, i.import_values
        FROM jsonb_to_recordset($1::jsonb) AS i(
            id bigint, handle text, title text, body_html text, vendor_id integer, product_type_id integer,
            category text, published_at timestamptz, created_at timestamptz, normalized_category text,
            category_confidence real, import_hash text, import_values jsonb)
        ORDER BY i.id
        ON CONFLICT (id) DO UPDATE SET
          handle = EXCLUDED.handle, title = EXCLUDED.title, body_html = EXCLUDED.body_html,
          vendor_id = EXCLUDED.vendor_id, product_type_id = EXCLUDED.product_type_id,
          category = EXCLUDED.category, published_at = EXCLUDED.published_at,
          normalized_category = EXCLUDED.normalized_category,
          category_confidence = EXCLUDED.category_confidence,
          import_hash = EXCLUDED.import_hash, import_values = EXCLUDED.import_values,
          updated_at = date_trunc('milliseconds', now()), version = p.version + 1`,
      [JSON.stringify(input)],
    );
  }

  /** Replaces tags, variants, images and options of the given products with the imported ones. */
  async replaceChildren(products: Array<{ product: ImportedProduct; tags: string[] }>): Promise<void> {
    if (products.length === 0) return;
    const ids = products.map(({ product }) => product.id);
    await this.replaceTags(
      ids,
      products.flatMap(({ product, tags }) =>
        tags.map((name, index) => ({ product_id: product.id, name, position: index + 1 })),
      ),
    );
    await this.query('DELETE FROM variants WHERE product_id = ANY($1::bigint[])', [ids]);
    await this.query('DELETE FROM images WHERE product_id = ANY($1::bigint[])', [ids]);
    await this.query('DELETE FROM options WHERE product_id = ANY($1::bigint[])', [ids]);
    const variants = products.flatMap(({ product }) =>
      product.variants.map((v) => ({
        id: v.id,
        product_id: product.id,
        title: v.title,
        sku: v.sku,
        price: v.price,
        compare_at_price: v.compareAtPrice,
        position: v.position,
        option1: v.option1,
        option2: v.option2,
        option3: v.option3,
        grams: v.grams,
        available: v.available,
        requires_shipping: v.requiresShipping,
        taxable: v.taxable,
        image_id: v.imageId,
      })),
    );
    if (variants.length > 0) {
      // A variant that moved from another product moves with its id.
      await this.query(
        `INSERT INTO variants (id, product_id, title, sku, price, compare_at_price, position, option1,
            option2, option3, grams, available, requires_shipping, taxable, image_id)
          SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, product_id bigint, title text,
            sku text, price numeric, compare_at_price numeric, position integer, option1 text, option2 text,
            option3 text, grams integer, available boolean, requires_shipping boolean, taxable boolean,
            image_id bigint)
          ON CONFLICT (id) DO UPDATE SET product_id = EXCLUDED.product_id, title = EXCLUDED.title,
            sku = EXCLUDED.sku, price = EXCLUDED.price, compare_at_price = EXCLUDED.compare_at_price,
            position = EXCLUDED.position, option1 = EXCLUDED.option1, option2 = EXCLUDED.option2,
            option3 = EXCLUDED.option3, grams = EXCLUDED.grams, available = EXCLUDED.available,
            requires_shipping = EXCLUDED.requires_shipping, taxable = EXCLUDED.taxable,
            image_id = EXCLUDED.image_id`,
        [JSON.stringify(variants)],
      );
    }
    const images = products.flatMap(({ product }) =>
      product.images.map((image) => ({
        id: image.id,
        product_id: product.id,
        position: image.position,
        src: image.src,
        alt: image.alt,
        width: image.width,
        height: image.height,
        variant_ids: image.variantIds,
      })),
    );
    if (images.length > 0) {
      await this.query(
        `INSERT INTO images (id, product_id, position, src, alt, width, height, variant_ids)
          SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, product_id bigint, position integer,
            src text, alt text, width integer, height integer, variant_ids bigint[])
          ON CONFLICT (id) DO UPDATE SET product_id = EXCLUDED.product_id, position = EXCLUDED.position,
            src = EXCLUDED.src, alt = EXCLUDED.alt, width = EXCLUDED.width, height = EXCLUDED.height,
            variant_ids = EXCLUDED.variant_ids`,
        [JSON.stringify(images)],
      );
    }
    const options = products.flatMap(({ product }) =>
      product.options.map((o) => ({ product_id: product.id, position: o.position, name: o.name })),
    );
    if (options.length > 0) {
      await this.query(
        `INSERT INTO options (product_id, position, name)
          SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(product_id bigint, position integer, name text)`,
        [JSON.stringify(options)],
      );
      const values = products.flatMap(({ product }) =>
        product.options.flatMap((o) =>
          o.values.map((value, index) => ({
            product_id: product.id,
            option_position: o.position,
            position: index + 1,
            value,
          })),
        ),
      );
      if (values.length > 0) {
        await this.query(
          `INSERT INTO option_values (product_id, option_position, position, value)
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(product_id bigint, option_position integer,
              position integer, value text)`,
          [JSON.stringify(values)],
        );
      }
    }
  }

  /** Tag names are created as needed; each product's tags are replaced in order. */
  async replaceTags(
    productIds: number[],
    rows: Array<{ product_id: number; name: string; position: number }>,
  ): Promise<void> {
    await this.query('DELETE FROM product_tags WHERE product_id = ANY($1::bigint[])', [productIds]);
    if (rows.length === 0) return;
    const ids = await this.ensureNames(
      'tags',
      rows.map((row) => row.name),
    );
    await this.query(
      `INSERT INTO product_tags (product_id, tag_id, position)
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(product_id bigint, tag_id integer, position integer)`,
      [
        JSON.stringify(
          rows.map((row) => ({
            product_id: row.product_id,
            tag_id: ids.get(row.name),
            position: row.position,
          })),
        ),
      ],
    );
  }
}
