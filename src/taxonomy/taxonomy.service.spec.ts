import { AppError } from '../common/app-error';
import { CategoryNormalizer } from './category-normalizer';
import { Taxonomy } from './taxonomy';
import { TaxonomySearchIndex } from './taxonomy-search';
import { TaxonomyService, type TaxonomyTreeNode } from './taxonomy.service';

describe('TaxonomyService', () => {
  const taxonomy = Taxonomy.fromPaths([
    'Home & Garden > Lighting > Lamps',
    'Home & Garden > Lighting > Light Bulbs > LED Light Bulbs',
    'Home & Garden > Decor > Vases',
    'Furniture > Sofas',
    'Apparel & Accessories > Shoes',
  ]);
  const service = new TaxonomyService(
    taxonomy,
    new TaxonomySearchIndex(taxonomy),
    new CategoryNormalizer(taxonomy),
  );

  it('lists the top-level categories by name with their child counts', () => {
    expect(service.categories()).toEqual({
      items: [
        { id: 'Apparel & Accessories', name: 'Apparel & Accessories', childCount: 1 },
        { id: 'Furniture', name: 'Furniture', childCount: 1 },
        { id: 'Home & Garden', name: 'Home & Garden', childCount: 2 },
      ],
    });
  });

  it('answers a virtual root with the top-level categories when no root is given', () => {
    const tree = service.tree(undefined, 1);
    expect(tree).toEqual({
      id: '',
      name: '',
      childCount: 3,
      children: [
        { id: 'Apparel & Accessories', name: 'Apparel & Accessories', childCount: 1 },
        { id: 'Furniture', name: 'Furniture', childCount: 1 },
        { id: 'Home & Garden', name: 'Home & Garden', childCount: 2 },
      ],
    });
  });

  it('expands exactly `depth` levels below the root; deeper nodes carry only childCount', () => {
    const tree = service.tree('Home & Garden', 2);
    expect(tree).toEqual({
      id: 'Home & Garden',
      name: 'Home & Garden',
      childCount: 2,
      children: [
        {
          id: 'Home & Garden > Decor',
          name: 'Decor',
          childCount: 1,
          children: [{ id: 'Home & Garden > Decor > Vases', name: 'Vases', childCount: 0 }],
        },
        {
          id: 'Home & Garden > Lighting',
          name: 'Lighting',
          childCount: 2,
          children: [
            { id: 'Home & Garden > Lighting > Lamps', name: 'Lamps', childCount: 0 },
            { id: 'Home & Garden > Lighting > Light Bulbs', name: 'Light Bulbs', childCount: 1 },
          ],
        },
      ],
    });
    const deepest = (node: TaxonomyTreeNode): number =>
      node.children === undefined ? 0 : 1 + Math.max(0, ...node.children.map(deepest));
    expect(deepest(service.tree(undefined, 10))).toBe(5);
    expect(service.tree('Home & Garden > Lighting > Lamps', 3)).toEqual({
      id: 'Home & Garden > Lighting > Lamps',
      name: 'Lamps',
      childCount: 0,
      children: [],
    });
  });

  it('accepts a root path with other spacing and case, answering the canonical id', () => {
    expect(service.tree('home & garden>LIGHTING', 1).id).toBe('Home & Garden > Lighting');
    expect(service.canonicalPath('furniture >sofas')).toBe('Furniture > Sofas');
    expect(service.canonicalPath('Furniture > Beds')).toBeUndefined();
  });

  it('answers 404 TAXONOMY_NODE_NOT_FOUND for an unknown root', () => {
    let caught: unknown;
    try {
      service.tree('Home & Garden > Nope', 2);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect(caught).toMatchObject({ status: 404, code: 'TAXONOMY_NODE_NOT_FOUND' });
  });

  it('searches and normalises through the shared indexes', () => {
    expect(service.search('lamp', 5).items[0]).toEqual({
      id: 'Home & Garden > Lighting > Lamps',
      name: 'Lamps',
      score: 1,
    });
    expect(service.normalize({ title: 'LED bulb' })?.path).toBe(
      'Home & Garden > Lighting > Light Bulbs > LED Light Bulbs',
    );
  });
});
