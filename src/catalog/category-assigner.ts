import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { CategoryNormalizer, type CategoryMatch } from '../taxonomy/category-normalizer';
import type { EditableValues } from './product-fields';

/**
 * Keeps `normalized_category` and `category_confidence` in step with the fields the normaliser
 * reads (title, product type, tags): at import and after every edit of those fields. These are
 * derived values, not live product fields, so they change without change records; the
 * `category_normalization` pipeline task turns them into proposals for `category`.
 */
@Injectable()
export class CategoryAssigner {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly normalizer: CategoryNormalizer,
  ) {}

  match(values: Pick<EditableValues, 'title' | 'productType' | 'tags'>): CategoryMatch | null {
    return this.normalizer.normalize({
      title: values.title as string | null,
      productType: values.productType as string | null,
      tags: values.tags,
    });
  }

  async refresh(
    productId: number,
    values: Pick<EditableValues, 'title' | 'productType' | 'tags'>,
  ): Promise<void> {
    const match = this.match(values);
    await this.txHost.tx.query(
      'UPDATE products SET normalized_category = $2, category_confidence = $3 WHERE id = $1',
      [productId, match?.path ?? null, match?.confidence ?? null],
    );
  }
}
