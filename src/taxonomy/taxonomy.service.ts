import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { NotFoundError } from '../common/app-error';
import { type CategoryMatch, CategoryNormalizer, type ProductCategoryInput } from './category-normalizer';
import { Taxonomy, type TaxonomyNode } from './taxonomy';
import { TaxonomySearchIndex } from './taxonomy-search';

export const DEFAULT_TREE_DEPTH = 2;
/** Deeper than the taxonomy (7 levels): the whole tree is about 5,600 nodes, under 1 MB of JSON. */
export const MAX_TREE_DEPTH = 10;
export const DEFAULT_SEARCH_LIMIT = 20;
export const MAX_SEARCH_LIMIT = 50;
/** Longer queries are answered but not remembered. */
const MAX_REMEMBERED_QUERY = 200;

export interface TaxonomyCategory {
  id: string;
  name: string;
  childCount: number;
}

export interface TaxonomyTreeNode {
  id: string;
  name: string;
  childCount: number;
  /** Absent on nodes at the depth limit; `[]` on a leaf within it. */
  children?: TaxonomyTreeNode[];
}

export interface TaxonomySearchItem {
  id: string;
  name: string;
  score: number;
}

/** Read access to the Google product taxonomy loaded at boot, for the REST API, the catalogue and pipelines. */
@Injectable()
export class TaxonomyService {
  private readonly topLevel: TaxonomyCategory[];
  private readonly searches = new LRUCache<string, TaxonomySearchItem[]>({ max: 2_000 });

  constructor(
    private readonly taxonomy: Taxonomy,
    private readonly index: TaxonomySearchIndex,
    private readonly normalizer: CategoryNormalizer,
  ) {
    this.topLevel = taxonomy.roots.map((node) => ({
      id: node.id,
      name: node.name,
      childCount: node.children.length,
    }));
  }

  /** Top-level categories, sorted by name. */
  categories(): { items: TaxonomyCategory[] } {
    return { items: this.topLevel.map((category) => ({ ...category })) };
  }

  /**
   * The subtree under `root` (a full path; lenient about spacing, case and accents), expanded `depth`
   * levels. Without a root: a virtual root (`id` and `name` empty) whose children are the top-level
   * categories. 404 TAXONOMY_NODE_NOT_FOUND for an unknown path.
   */
  tree(root: string | undefined, depth: number = DEFAULT_TREE_DEPTH): TaxonomyTreeNode {
    const levels = Math.min(Math.max(1, Math.trunc(depth)), MAX_TREE_DEPTH);
    if (root === undefined) {
      return {
        id: '',
        name: '',
        childCount: this.taxonomy.roots.length,
        children: this.taxonomy.roots.map((node) => toTreeNode(node, levels - 1)),
      };
    }
    const node = this.taxonomy.find(root);
    if (node === undefined) {
      throw new NotFoundError('TAXONOMY_NODE_NOT_FOUND', 'No taxonomy category has this path.', [
        { field: 'root', issue: 'unknown taxonomy path' },
      ]);
    }
    return toTreeNode(node, levels);
  }

  /**
   * Categories matching free text, best first; equal scores in taxonomy order. The taxonomy never
   * changes while the service runs, so answers are kept (agents and pickers repeat their queries).
   */
  search(query: string, limit: number = DEFAULT_SEARCH_LIMIT): { items: TaxonomySearchItem[] } {
    const capped = Math.min(limit, MAX_SEARCH_LIMIT);
    const key = `${capped}\u0000${query}`;
    const known = this.searches.get(key);
    if (known !== undefined) return { items: [...known] };
    const items = this.index
      .search(query, capped)
      .map(({ node, score }) => ({ id: node.id, name: node.name, score }));
    if (query.length <= MAX_REMEMBERED_QUERY) this.searches.set(key, items);
    return { items: [...items] };
  }

  /** The canonical path of a category named by its full path, if the taxonomy has it. */
  canonicalPath(path: string): string | undefined {
    return this.taxonomy.find(path)?.id;
  }

  /** The best category for a product from its title, product type and tags; see CategoryNormalizer. */
  normalize(product: ProductCategoryInput): CategoryMatch | null {
    return this.normalizer.normalize(product);
  }
}

function toTreeNode(node: TaxonomyNode, levels: number): TaxonomyTreeNode {
  const result: TaxonomyTreeNode = { id: node.id, name: node.name, childCount: node.children.length };
  if (levels > 0) result.children = node.children.map((child) => toTreeNode(child, levels - 1));
  return result;
}
