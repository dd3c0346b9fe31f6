/** Response shapes of the catalogue (camelCase, ISO-8601 timestamps, product ids as JSON numbers). */

export interface ProductSummary {
  id: number;
  handle: string;
  title: string;
  vendor: string | null;
  productType: string | null;
  category: string | null;
  normalizedCategory: string | null;
  categoryConfidence: number | null;
  llmConfidence: number | null;
  tags: string[];
  publishedAt: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
  pendingChanges: number;
}

export interface ProductImage {
  id: number;
  position: number;
  src: string;
  alt: string | null;
  width: number | null;
  height: number | null;
  variantIds: number[];
}

export interface ProductVariant {
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
}

export interface ProductOption {
  name: string;
  position: number;
  values: string[];
}

/** The aggregate behind GET /products/:id. */
export interface ProductDetail extends ProductSummary {
  bodyHtml: string | null;
  seoTitle: string | null;
  seoDescription: string | null;
  seoKeywords: string[];
  images: ProductImage[];
  variants: ProductVariant[];
  options: ProductOption[];
  /** Proposals waiting for review (the change records, status `proposed`). */
  pendingProposals: Array<{
    id: string;
    field: string;
    newValue: unknown;
    source: string;
    confidence: number | null;
    createdAt: string;
  }>;
}
