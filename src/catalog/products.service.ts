import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { ChangesRepository } from '../changes/changes.repository';
import { NotFoundError, PreconditionFailedError, PreconditionRequiredError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { CategoryAssigner } from './category-assigner';
import { parseIfMatch } from './etag';
import { decodeProductCursor, encodeProductCursor } from './product-cursor';
import { changedFields } from './product-fields';
import { toEditableValues } from './product-input';
import { Taxonomy } from '../taxonomy/taxonomy';
import type { ProductDetail, ProductSummary } from './product.types';
import { type ProductFilters, type ProductSort, ProductsRepository } from './products.repository';

export interface ProductListQuery extends ProductFilters {
  page?: number;
  limit: number;
  cursor?: string;
  sort?: ProductSort;
  order?: 'asc' | 'desc';
}

export type ProductList =
  | { items: ProductSummary[]; total: number; page: number; limit: number }
  | { items: ProductSummary[]; nextCursor: string | null };

@Injectable()
export class ProductsService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly products: ProductsRepository,
    private readonly changes: ChangesRepository,
    private readonly context: RequestContext,
    private readonly categories: CategoryAssigner,
    private readonly taxonomy: Taxonomy,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Page-based by default; keyset when a `cursor` is given (an empty cursor asks for the first
   * page). With `q` and no explicit sort, page-based results are ranked by relevance.
   */
  async list(query: ProductListQuery): Promise<ProductList> {
    const { page, limit, cursor, sort, order, ...filters } = query;
    const fts = this.config.catalog.ftsConfig;
    if (cursor !== undefined) {
      const keysetSort = sort ?? 'id';
      const keysetOrder = order ?? 'asc';
      const after = cursor === '' ? undefined : decodeProductCursor(cursor, keysetSort, keysetOrder);
      const result = await this.products.keysetPage(
        filters,
        { sort: keysetSort, order: keysetOrder },
        fts,
        after,
        limit,
      );
      const last = result.items.at(-1);
      return {
        items: result.items,
        nextCursor:
          result.hasMore && last !== undefined
            ? encodeProductCursor(keysetSort, keysetOrder, {
                value: keysetSort === 'id' ? last.id : keysetSort === 'title' ? last.title : last.updatedAt,
                id: last.id,
              })
            : null,
      };
    }
    const ordering =
      sort === undefined && filters.q !== undefined
        ? ({ sort: 'rank', order: order ?? 'asc' } as const)
        : { sort: sort ?? 'id', order: order ?? 'asc' };
    const pageNumber = page ?? 1;
    const result = await this.products.page(filters, ordering, fts, pageNumber, limit);
    return { ...result, page: pageNumber, limit };
  }

  async get(id: number): Promise<ProductDetail> {
    const product = await this.products.detail(id);
    if (product === undefined) throw productNotFound(id);
    const proposals = await this.changes.proposedForProduct(id);
    return {
      ...product,
      pendingProposals: proposals.map((change) => ({
        id: change.id,
        field: change.field,
        newValue: change.newValue,
        source: change.source,
        confidence: change.confidence,
        createdAt: change.createdAt,
      })),
    };
  }

  /**
   * A manual edit: applied at once, one applied change record per changed field, in the caller's
   * transaction (the route's audit event commits with it). `ifMatch` is the raw If-Match header.
   */
  async update(
    id: number,
    ifMatch: string | undefined,
    input: Record<string, unknown>,
  ): Promise<ProductDetail> {
    const patch = toEditableValues(input, (path) => this.taxonomy.get(path) !== undefined);
    const accepted = parseIfMatch(ifMatch);
    if (accepted === undefined) {
      throw new PreconditionRequiredError(
        'IF_MATCH_REQUIRED',
        'Send If-Match with the ETag of the product (from GET /products/:id) to edit it.',
      );
    }
    return this.txHost.withTransaction(async () => {
      const current = await this.products.lockEditable(id);
      if (current === undefined) throw productNotFound(id);
      if (accepted !== 'any' && !accepted.includes(current.version)) {
        throw new PreconditionFailedError(
          'VERSION_MISMATCH',
          `The product changed since it was read (now version ${current.version}); read it again and reapply the edit.`,
          [{ field: 'If-Match', issue: `current ETag is "v${current.version}"` }],
        );
      }
      const changes = changedFields(current.values, patch);
      if (changes.length > 0) {
        const next = { ...current.values, ...Object.fromEntries(changes.map((c) => [c.field, c.newValue])) };
        await this.products.applyValues(id, {
          ...Object.fromEntries(changes.map((c) => [c.field, c.newValue])),
        });
        await this.categories.refresh(id, next);
        await this.changes.insertMany(
          changes.map((change) => ({ productId: id, ...change, source: 'user', status: 'applied' })),
          { principal: this.context.principal, requestId: this.context.requestId },
        );
      }
      this.context.addAuditDetails({ fields: changes.map((change) => change.field) });
      return this.get(id);
    });
  }
}

export function productNotFound(id: number): NotFoundError {
  return new NotFoundError('PRODUCT_NOT_FOUND', `No product with id ${id}.`);
}
