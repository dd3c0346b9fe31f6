import { createHash } from 'node:crypto';
import { z } from 'zod';
import { normalizeTerms } from '../product-fields';
import { sanitizeProductHtml } from '../product-html';

/**
 * The Shopify `products.json` product shape the importer accepts, and its normalised form. Fields the
 * catalogue does not keep are ignored; what it keeps is validated with bounds, and a product that
 * fails is rejected with one reason per problem.
 */

const MAX_SAFE_ID = Number.MAX_SAFE_INTEGER;

const id = z
  .union([z.number(), z.string().regex(/^\d{1,16}$/)])
  .transform(Number)
  .pipe(z.number().int().positive().max(MAX_SAFE_ID, { message: 'must be below 2^53' }));

const text = (max: number) =>
  z
    .string()
    .max(max)
    .nullish()
    .transform((value) => {
      const trimmed = value?.trim();
      return trimmed === undefined || trimmed === '' ? null : trimmed;
    });

const timestamp = z
  .string()
  .nullish()
  .refine((value) => value === null || value === undefined || !Number.isNaN(Date.parse(value)), {
    message: 'must be an ISO-8601 timestamp',
  })
  .transform((value) => (value === null || value === undefined ? null : new Date(value).toISOString()));

const optionalInt = z
  .number()
  .int()
  .min(0)
  .max(2_147_483_647)
  .nullish()
  .transform((v) => v ?? null);
const money = z
  .union([z.string().regex(/^-?\d{1,12}(\.\d{1,2})?$/), z.number().finite()])
  .nullish()
  .transform((v) => (v === null || v === undefined ? null : Number(v).toFixed(2)));

const variantSchema = z.object({
  id,
  title: z.string().max(255).default(''),
  sku: text(255),
  price: money,
  compare_at_price: money,
  position: z.number().int().min(0).max(100_000).optional(),
  option1: text(255),
  option2: text(255),
  option3: text(255),
  grams: optionalInt,
  available: z
    .boolean()
    .nullish()
    .transform((v) => v ?? null),
  requires_shipping: z
    .boolean()
    .nullish()
    .transform((v) => v ?? null),
  taxable: z
    .boolean()
    .nullish()
    .transform((v) => v ?? null),
  image_id: id.nullish(),
  featured_image: z.object({ id }).nullish(),
});

const imageSchema = z.object({
  id,
  position: z.number().int().min(0).max(100_000).optional(),
  src: z.url({ protocol: /^https?$/ }).max(2048),
  alt: text(1000),
  width: optionalInt,
  height: optionalInt,
  variant_ids: z.array(id).max(2048).default([]),
});

const optionSchema = z.object({
  name: z.string().trim().min(1).max(255),
  position: z.number().int().min(1).max(100).optional(),
  values: z.array(z.string().max(255)).max(2048).default([]),
});

const tagsSchema = z
  .union([z.array(z.string().max(255)).max(500), z.string().max(100_000)])
  .nullish()
  .transform((tags) => normalizeTerms(typeof tags === 'string' ? tags.split(',') : (tags ?? [])));

/** Shopify's newer `category` is an object; older exports have none. */
const categorySchema = z
  .union([z.string().max(1000), z.object({ full_name: z.string().max(1000) }).loose()])
  .nullish()
  .transform((category) => {
    const value = (typeof category === 'string' ? category : category?.full_name)?.trim();
    return value === undefined || value === '' ? null : value;
  });

export const shopifyProductSchema = z.object({
  id,
  title: z.string().trim().min(1, { message: 'is required' }).max(255),
  handle: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .regex(/^[^\s/?#]+$/, { message: 'must not contain spaces, slashes, ? or #' }),
  body_html: z.string().max(1_000_000).nullish(),
  vendor: text(255),
  product_type: text(255),
  published_at: timestamp,
  created_at: timestamp,
  tags: tagsSchema,
  category: categorySchema.optional(),
  variants: z.array(variantSchema).max(2048).default([]),
  images: z.array(imageSchema).max(1000).default([]),
  options: z.array(optionSchema).max(10).default([]),
});

export interface ImportedProduct {
  id: number;
  handle: string;
  title: string;
  bodyHtml: string | null;
  vendor: string | null;
  productType: string | null;
  /** Undefined when the source says nothing about the category (the stored one is kept). */
  category?: string | null;
  tags: string[];
  publishedAt: string | null;
  createdAt: string | null;
  variants: Array<{
    id: number;
    title: string;
    sku: string | null;
    price: string | null;
    compareAtPrice: string | null;
    position: number;
    option1: string | null;
    option2: string | null;
    option3: string | null;
    grams: number | null;
    available: boolean | null;
    requiresShipping: boolean | null;
    taxable: boolean | null;
    imageId: number | null;
  }>;
  images: Array<{
    id: number;
    position: number;
    src: string;
    alt: string | null;
    width: number | null;
    height: number | null;
    variantIds: number[];
  }>;
  options: Array<{ name: string; position: number; values: string[] }>;
  /** sha256 of everything above: equal hashes mean the source did not change. */
  hash: string;
}

export type ParsedProduct =
  | { ok: true; product: ImportedProduct }
  | { ok: false; id: number | null; handle: string | null; reasons: string[] };

/** Validates and normalises one source product. Never throws on bad input. */
export function parseShopifyProduct(input: unknown): ParsedProduct {
  const parsed = shopifyProductSchema.safeParse(input);
  if (!parsed.success) {
    const raw = (input !== null && typeof input === 'object' ? input : {}) as Record<string, unknown>;
    const rawId = typeof raw.id === 'number' && Number.isSafeInteger(raw.id) ? raw.id : null;
    return {
      ok: false,
      id: rawId,
      handle: typeof raw.handle === 'string' ? raw.handle.slice(0, 255) : null,
      reasons: parsed.error.issues.slice(0, 20).map(describeIssue),
    };
  }
  const source = parsed.data;
  const variantIds = new Set<number>();
  const reasons: string[] = [];
  for (const variant of source.variants) {
    if (variantIds.has(variant.id)) reasons.push(`variants: id ${variant.id} appears twice`);
    variantIds.add(variant.id);
  }
  const imageIds = new Set<number>();
  for (const image of source.images) {
    if (imageIds.has(image.id)) reasons.push(`images: id ${image.id} appears twice`);
    imageIds.add(image.id);
  }
  if (reasons.length > 0) return { ok: false, id: source.id, handle: source.handle, reasons };

  const product: Omit<ImportedProduct, 'hash'> = {
    id: source.id,
    handle: source.handle,
    title: source.title,
    bodyHtml:
      source.body_html === null || source.body_html === undefined
        ? null
        : sanitizeProductHtml(source.body_html),
    vendor: source.vendor,
    productType: source.product_type,
    ...(source.category === undefined ? {} : { category: source.category }),
    tags: source.tags,
    publishedAt: source.published_at,
    createdAt: source.created_at,
    variants: source.variants.map((v, index) => ({
      id: v.id,
      title: v.title,
      sku: v.sku,
      price: v.price,
      compareAtPrice: v.compare_at_price,
      position: v.position ?? index + 1,
      option1: v.option1,
      option2: v.option2,
      option3: v.option3,
      grams: v.grams,
      available: v.available,
      requiresShipping: v.requires_shipping,
      taxable: v.taxable,
      imageId: v.image_id ?? v.featured_image?.id ?? null,
    })),
    images: source.images.map((image, index) => ({
      id: image.id,
      position: image.position ?? index + 1,
      src: image.src,
      alt: image.alt,
      width: image.width,
      height: image.height,
      variantIds: image.variant_ids,
    })),
    options: source.options.map((option, index) => ({
      name: option.name,
      position: option.position ?? index + 1,
      values: option.values,
    })),
  };
  const hash = createHash('sha256').update(JSON.stringify(product)).digest('hex');
  return { ok: true, product: { ...product, hash } };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length > 0 ? issue.path.join('.') : 'product';
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${path}: is required`;
  return `${path}: ${issue.message}`;
}
