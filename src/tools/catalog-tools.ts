import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { AuditedWork } from '../audit/audited-work';
import { ProductsService } from '../catalog/products.service';
import { ChangesService } from '../changes/changes.service';
import { TaxonomyService } from '../taxonomy/taxonomy.service';
import { ADDITIVE, READ_ONLY, type ToolDefinition, defineTool } from './tool.types';

const productId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const text = (max: number) => z.string().max(max);
const terms = z.array(text(255)).max(250);

/** The fields a proposal may set: the same editable fields as a manual edit. */
const proposedFields = z.strictObject({
  title: text(255).optional(),
  bodyHtml: text(200_000).optional(),
  vendor: text(255).nullable().optional(),
  productType: text(255).nullable().optional(),
  category: text(1000).nullable().optional(),
  tags: terms.optional(),
  seoTitle: text(255).nullable().optional(),
  seoDescription: text(1000).nullable().optional(),
  seoKeywords: terms.optional(),
  publishedAt: z.string().max(40).nullable().optional(),
});

/** Catalogue tools: the product list and detail, proposals for review, the review queue, the taxonomy. */
@Injectable()
export class CatalogTools {
  constructor(
    private readonly products: ProductsService,
    private readonly changes: ChangesService,
    private readonly taxonomy: TaxonomyService,
    private readonly audited: AuditedWork,
  ) {}

  definitions(): ToolDefinition[] {
    return [
      defineTool({
        name: 'search_products',
        title: 'Search products',
        description:
          'Searches the product catalogue. `q` is a web-search style query (quoted phrases, -exclusions, OR) over title, ' +
          'description, vendor, type and tags, ranked by relevance; the filters narrow it. Returns one page of product ' +
          'summaries with the total; ask for the next `page` for more.',
        input: z.strictObject({
          q: text(500).optional(),
          vendor: text(255).optional(),
          productType: text(255).optional(),
          category: text(1000).optional().describe('A taxonomy path; matches it and everything below it'),
          tag: text(255).optional(),
          hasPendingChanges: z.boolean().optional(),
          page: z.number().int().min(1).max(100_000).default(1),
          limit: z.number().int().min(1).max(50).default(10),
        }),
        permission: 'products:read',
        annotations: READ_ONLY,
        handler: async ({ page, limit, ...filters }) => this.products.list({ ...filters, page, limit }),
      }),
      defineTool({
        name: 'get_product',
        title: 'Get a product',
        description:
          'One product with its variants, images, options, tags, category and the proposals waiting for review. ' +
          '`version` is what a proposal was based on.',
        input: z.strictObject({ id: productId }),
        permission: 'products:read',
        annotations: READ_ONLY,
        handler: ({ id }) => this.products.get(id),
      }),
      defineTool({
        name: 'propose_product_change',
        title: 'Propose a product change',
        description:
          'Proposes new values for fields of a product. Nothing changes until a reviewer approves the proposal; ' +
          'one proposal is made per field whose value differs from the current one. `category` must be a taxonomy ' +
          'path (see search_taxonomy). Give a `confidence` (0-1) and a short `comment` explaining why.',
        input: z.strictObject({
          productId,
          changes: proposedFields,
          confidence: z.number().min(0).max(1).optional(),
          comment: text(2000).optional(),
        }),
        permission: 'changes:propose',
        annotations: ADDITIVE,
        handler: ({ productId: id, changes, confidence, comment }) =>
          this.audited.run(
            {
              action: 'change.propose',
              resourceType: 'product',
              resourceId: () => String(id),
              successStatus: 201,
            },
            async () => ({
              items: await this.changes.propose(id, changes, {
                source: 'mcp',
                confidence: confidence ?? null,
                comment: comment ?? null,
              }),
            }),
          ),
      }),
      defineTool({
        name: 'list_review_queue',
        title: 'List the review queue',
        description:
          'Products with proposals waiting for review, lowest confidence first, with how many proposals each has.',
        input: z.strictObject({
          page: z.number().int().min(1).max(100_000).default(1),
          limit: z.number().int().min(1).max(100).default(20),
        }),
        permission: 'changes:read',
        annotations: READ_ONLY,
        handler: ({ page, limit }) => this.changes.reviewQueue(page, limit),
      }),
      defineTool({
        name: 'search_taxonomy',
        title: 'Search the product taxonomy',
        description:
          'Finds Google product taxonomy categories whose names match the words given, best first. The `id` of a ' +
          'result is its full path: use it as a product `category`.',
        input: z.strictObject({
          query: z.string().min(1).max(200),
          limit: z.number().int().min(1).max(50).default(10),
        }),
        permission: 'taxonomy:read',
        annotations: READ_ONLY,
        handler: ({ query, limit }) => Promise.resolve(this.taxonomy.search(query, limit)),
      }),
    ];
  }
}
