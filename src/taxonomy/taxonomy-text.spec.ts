import { fold, nameAlternatives, stem, stems, words } from './taxonomy-text';

describe('taxonomy text folding', () => {
  it('folds case and diacritics', () => {
    expect(fold('Crêpe & Blini Pans')).toBe('crepe & blini pans');
    expect(fold('PIÑATAS')).toBe('pinatas');
    expect(fold('Boutonnière')).toBe('boutonniere');
  });

  it('splits words at punctuation and drops possessives', () => {
    expect(words("Men's Leather Wallet")).toEqual(['men', 'leather', 'wallet']);
    expect(words('Lighting/Lamps/Floor Lamps')).toEqual(['lighting', 'lamps', 'floor', 'lamps']);
    expect(words(`"%;' -- `)).toEqual([]);
    expect(words('CD/DVD Cases')).toEqual(['cd', 'dvd', 'cases']);
  });

  it.each([
    ['lamps', 'lamp'],
    ['lamp', 'lamp'],
    ['batteries', 'batteri'],
    ['battery', 'batteri'],
    ['cookies', 'cooki'],
    ['cookie', 'cooki'],
    ['boxes', 'box'],
    ['watches', 'watch'],
    ['glasses', 'glass'],
    ['dress', 'dress'],
    ['shoes', 'shoe'],
    ['toys', 'toy'],
    ['knives', 'knife'],
    ['knife', 'knife'],
    ['shelves', 'shelf'],
    ['lenses', 'lens'],
    ['lens', 'lens'],
    ['gas', 'gas'],
    ['4x4s', '4x4s'],
  ])('stems %s as %s', (word, expected) => {
    expect(stem(word)).toBe(expected);
  });

  it('drops stop words', () => {
    expect(stems('Lamp for the Table and Desk')).toEqual(['lamp', 'table', 'desk']);
  });

  describe('name alternatives', () => {
    it('keeps plural parts apart', () => {
      expect(nameAlternatives('Wallets & Money Clips')).toEqual([['wallet'], ['money', 'clip']]);
      expect(nameAlternatives('Handbags, Wallets & Cases')).toEqual([['handbag'], ['wallet'], ['case']]);
    });

    it('lets a lone singular word share the head of a longer last part', () => {
      expect(nameAlternatives('Floor & Steam Cleaners')).toEqual([
        ['floor', 'cleaner'],
        ['steam', 'cleaner'],
      ]);
      expect(nameAlternatives('Handbag & Wallet Accessories')).toEqual([
        ['handbag', 'accessori'],
        ['wallet', 'accessori'],
      ]);
    });

    it('lets a lone last word share the modifiers of a longer first part', () => {
      expect(nameAlternatives('Examination Chairs & Tables')).toEqual([
        ['examination', 'chair'],
        ['examination', 'table'],
      ]);
    });

    it('keeps one-word parts apart', () => {
      expect(nameAlternatives('Leather & Vinyl')).toEqual([['leather'], ['vinyl']]);
      expect(nameAlternatives('Lamps')).toEqual([['lamp']]);
    });
  });
});
