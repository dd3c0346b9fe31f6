import { compareNames, splitPath, Taxonomy } from './taxonomy';

describe('Taxonomy', () => {
  const taxonomy = Taxonomy.fromPaths([
    'Home & Garden > Lighting > Lamps',
    'Furniture',
    'Home & Garden',
    'Home & Garden > Lighting',
    'Home & Garden > Lighting Accessories > Lamp Shades',
    'Home & Garden > Kitchen & Dining > Cookware > Crêpe & Blini Pans',
    'Furniture > Beds & Accessories > Beds',
    'Furniture > Beds & Accessories > Beds',
    'Apparel & Accessories',
  ]);

  it('creates missing ancestors and counts repeated paths once', () => {
    expect(taxonomy.get('Home & Garden > Lighting Accessories')).toMatchObject({
      name: 'Lighting Accessories',
    });
    expect(taxonomy.get('Furniture > Beds & Accessories')?.children.map((c) => c.id)).toEqual([
      'Furniture > Beds & Accessories > Beds',
    ]);
    expect(taxonomy.size).toBe(12);
  });

  it('sorts top-level categories and siblings by name, depth first', () => {
    expect(taxonomy.roots.map((node) => node.name)).toEqual([
      'Apparel & Accessories',
      'Furniture',
      'Home & Garden',
    ]);
    expect(taxonomy.nodes.map((node) => node.id)).toEqual([
      'Apparel & Accessories',
      'Furniture',
      'Furniture > Beds & Accessories',
      'Furniture > Beds & Accessories > Beds',
      'Home & Garden',
      'Home & Garden > Kitchen & Dining',
      'Home & Garden > Kitchen & Dining > Cookware',
      'Home & Garden > Kitchen & Dining > Cookware > Crêpe & Blini Pans',
      'Home & Garden > Lighting',
      'Home & Garden > Lighting > Lamps',
      'Home & Garden > Lighting Accessories',
      'Home & Garden > Lighting Accessories > Lamp Shades',
    ]);
    taxonomy.nodes.forEach((node, i) => expect(node.index).toBe(i));
  });

  it('links parents, depths and names', () => {
    const lamps = taxonomy.get('Home & Garden > Lighting > Lamps');
    expect(lamps).toMatchObject({ name: 'Lamps', depth: 3 });
    expect(lamps?.parent?.id).toBe('Home & Garden > Lighting');
    expect(lamps?.parent?.parent?.parent).toBeUndefined();
  });

  it('finds a path regardless of spacing, case and accents, but get() is exact', () => {
    expect(taxonomy.find('home & garden>lighting >  LAMPS')?.id).toBe('Home & Garden > Lighting > Lamps');
    expect(taxonomy.find('Home & Garden > Kitchen & Dining > Cookware > Crepe & Blini Pans')?.name).toBe(
      'Crêpe & Blini Pans',
    );
    expect(taxonomy.get('home & garden > lighting')).toBeUndefined();
    expect(taxonomy.find('Home & Garden > Nothing')).toBeUndefined();
    expect(taxonomy.find('Home & Garden >  > Lighting')).toBeUndefined();
    expect(taxonomy.find('')).toBeUndefined();
  });

  it('tells ancestors from other nodes', () => {
    const home = taxonomy.get('Home & Garden')!;
    const lamps = taxonomy.get('Home & Garden > Lighting > Lamps')!;
    expect(Taxonomy.contains(home, lamps)).toBe(true);
    expect(Taxonomy.contains(lamps, lamps)).toBe(true);
    expect(Taxonomy.contains(lamps, home)).toBe(false);
    expect(Taxonomy.contains(taxonomy.get('Furniture')!, lamps)).toBe(false);
  });

  it('refuses a path with an empty segment', () => {
    expect(() => Taxonomy.fromPaths(['Furniture >  > Beds'])).toThrow(/empty segment/);
    expect(splitPath(' A >B  C ')).toEqual(['A', 'B C']);
  });

  it('orders names case-insensitively with a total order', () => {
    expect(['b', 'B', 'a', 'Item 10', 'Item 9'].sort(compareNames)).toEqual([
      'a',
      'B',
      'b',
      'Item 9',
      'Item 10',
    ]);
  });
});
