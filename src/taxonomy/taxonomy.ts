import { fold } from './taxonomy-text';

/** The separator of Google product taxonomy paths: `Furniture > Beds & Accessories > Beds`. */
export const PATH_SEPARATOR = ' > ';

export interface TaxonomyNode {
  /** The full path, the node's natural key. */
  readonly id: string;
  /** The last segment of the path. */
  readonly name: string;
  /** 1 for a top-level category. */
  readonly depth: number;
  readonly parent: TaxonomyNode | undefined;
  /** Sorted by name. */
  readonly children: readonly TaxonomyNode[];
  /** Position in `Taxonomy.nodes` (taxonomy order); ties in rankings are broken by it. */
  readonly index: number;
}

interface MutableNode {
  id: string;
  name: string;
  depth: number;
  parent: MutableNode | undefined;
  children: MutableNode[];
  index: number;
}

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true });

/**
 * Name order used everywhere a list of categories is sorted: case- and accent-insensitive, numbers by
 * value, then by code unit so that the order is total.
 */
export function compareNames(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Splits a path at `>` and trims each segment; `undefined` when a segment is empty. Accepts any spacing
 * around the separator, so `Furniture>Beds` names the same node as `Furniture > Beds`.
 */
export function splitPath(path: string): string[] | undefined {
  const segments = path.split('>').map((segment) => segment.trim().replace(/\s+/g, ' '));
  return segments.some((segment) => segment === '') ? undefined : segments;
}

/** The in-memory taxonomy tree: built once at boot, read-only afterwards. */
export class Taxonomy {
  /** Every node in taxonomy order: depth first, siblings by name (a parent comes before its children). */
  readonly nodes: readonly TaxonomyNode[];
  /** Top-level categories, sorted by name. */
  readonly roots: readonly TaxonomyNode[];
  private readonly byId: ReadonlyMap<string, TaxonomyNode>;
  private readonly byFoldedId: ReadonlyMap<string, TaxonomyNode>;

  private constructor(roots: MutableNode[]) {
    const nodes: MutableNode[] = [];
    const visit = (node: MutableNode): void => {
      node.children.sort((a, b) => compareNames(a.name, b.name));
      node.index = nodes.length;
      nodes.push(node);
      node.children.forEach(visit);
    };
    roots.sort((a, b) => compareNames(a.name, b.name));
    roots.forEach(visit);
    this.nodes = nodes;
    this.roots = roots;
    this.byId = new Map(nodes.map((node) => [node.id, node]));
    const folded = new Map<string, TaxonomyNode>();
    // First in taxonomy order wins should two paths differ only by case or accents.
    for (const node of nodes) if (!folded.has(fold(node.id))) folded.set(fold(node.id), node);
    this.byFoldedId = folded;
  }

  /**
   * Builds the tree from full paths in any order. Repeated paths count once; a path whose ancestors
   * are not listed gets them created, so that every node is reachable from a top-level category.
   * Throws on a path with an empty segment.
   */
  static fromPaths(paths: Iterable<string>): Taxonomy {
    const roots: MutableNode[] = [];
    const byId = new Map<string, MutableNode>();
    for (const path of paths) {
      const segments = splitPath(path);
      if (segments === undefined) throw new Error(`Invalid taxonomy path (empty segment): "${path}"`);
      let parent: MutableNode | undefined;
      for (let depth = 1; depth <= segments.length; depth++) {
        const id = segments.slice(0, depth).join(PATH_SEPARATOR);
        let node = byId.get(id);
        if (node === undefined) {
          node = { id, name: segments[depth - 1], depth, parent, children: [], index: -1 };
          byId.set(id, node);
          (parent === undefined ? roots : parent.children).push(node);
        }
        parent = node;
      }
    }
    return new Taxonomy(roots);
  }

  get size(): number {
    return this.nodes.length;
  }

  /** The node with exactly this path. */
  get(path: string): TaxonomyNode | undefined {
    return this.byId.get(path);
  }

  /** The node a user most likely means: exact path first, then ignoring spacing, case and accents. */
  find(path: string): TaxonomyNode | undefined {
    const exact = this.byId.get(path);
    if (exact !== undefined) return exact;
    const segments = splitPath(path);
    if (segments === undefined) return undefined;
    const canonical = segments.join(PATH_SEPARATOR);
    return this.byId.get(canonical) ?? this.byFoldedId.get(fold(canonical));
  }

  /** Whether `ancestor` is `node` or one of its ancestors. */
  static contains(ancestor: TaxonomyNode, node: TaxonomyNode): boolean {
    for (let current: TaxonomyNode | undefined = node; current !== undefined; current = current.parent) {
      if (current === ancestor) return true;
    }
    return false;
  }
}
