import { loadTaxonomy } from './taxonomy-files';
import { TaxonomySearchIndex } from './taxonomy-search';

describe('TaxonomySearchIndex', () => {
  const index = new TaxonomySearchIndex(loadTaxonomy());
  const ids = (query: string, limit = 20): string[] => index.search(query, limit).map((hit) => hit.node.id);

  it('ranks the category named exactly by the query first, with score 1', () => {
    const [first, second] = index.search('lamps', 20);
    expect(first).toMatchObject({ node: { id: 'Home & Garden > Lighting > Lamps' }, score: 1 });
    expect(second.score).toBeLessThan(1);
  });

  it('folds case, plurals and diacritics', () => {
    expect(ids('LAMP')).toEqual(ids('lamps'));
    expect(ids('crepe')[0]).toBe(
      'Home & Garden > Kitchen & Dining > Cookware & Bakeware > Cookware > Crêpe & Blini Pans',
    );
    expect(ids('PIÑATA')[0]).toBe('Arts & Entertainment > Party & Celebration > Party Supplies > Piñatas');
  });

  it('prefers a match in the category name over one in an ancestor', () => {
    const hits = index.search('lighting', 50);
    const own = hits.find((hit) => hit.node.id === 'Home & Garden > Lighting');
    const inherited = hits.find((hit) => hit.node.id === 'Home & Garden > Lighting > Lamps');
    expect(own?.score).toBeGreaterThan(inherited?.score ?? 0);
    expect(hits[0].node.name).toMatch(/Lighting/);
  });

  it('prefers whole words over prefixes over substrings', () => {
    const score = (query: string, id: string) =>
      index.search(query, 50).find((hit) => hit.node.id === id)?.score;
    const chairs = 'Furniture > Chairs';
    expect(score('chairs', chairs)).toBe(1);
    expect(score('chai', chairs)).toBeLessThan(1);
    expect(score('hair', chairs)).toBeLessThan(score('chai', chairs)!);
    // "hair" is a substring of "chairs": found, but below categories named Hair ...
    expect(ids('hair', 10)).not.toContain(chairs);
  });

  it('prefers a category that is exactly one alternative of its name over a longer name', () => {
    const top = ids('wallet', 3);
    expect(top.slice(0, 2)).toEqual([
      'Apparel & Accessories > Handbags, Wallets & Cases',
      'Apparel & Accessories > Handbags, Wallets & Cases > Wallets & Money Clips',
    ]);
  });

  it('orders equal scores by path and answers the same every time', () => {
    const hits = index.search('accessories', 50);
    for (let i = 1; i < hits.length; i++) {
      expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
      if (hits[i - 1].score === hits[i].score)
        expect(hits[i - 1].node.index).toBeLessThan(hits[i].node.index);
    }
    expect(index.search('accessories', 50)).toEqual(hits);
  });

  it('finds a category by its full path first', () => {
    expect(ids('home & garden > lighting', 2)).toEqual(['Home & Garden > Lighting', 'Home & Garden']);
  });

  it('answers nothing for queries without words or without matches, and honours the limit', () => {
    expect(index.search(`'"%;--`, 20)).toEqual([]);
    expect(index.search('and the of', 20)).toEqual([]);
    expect(index.search('zzzqqq', 20)).toEqual([]);
    expect(index.search('lamp', 3)).toHaveLength(3);
    expect(index.search('lamp', 0)).toEqual([]);
  });

  it('scores within [0, 1]', () => {
    for (const query of ['a', 'tv', 'floor lamp', 'x y z', 'home garden kitchen dining']) {
      for (const hit of index.search(query, 50)) {
        expect(hit.score).toBeGreaterThan(0);
        expect(hit.score).toBeLessThanOrEqual(1);
      }
    }
  });
});
