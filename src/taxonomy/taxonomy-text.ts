/**
 * Text folding shared by taxonomy search and the category normaliser: both sides (taxonomy names and
 * user or product text) go through the same functions, so that "Lámparas", "LAMPS" and "lamp" meet.
 */

/** Words that carry no category meaning. Words absent from the taxonomy are ignored anyway. */
const STOP_WORDS: ReadonlySet<string> = new Set([
  'a',
  'an',
  'and',
  'as',
  'at',
  'by',
  'for',
  'from',
  'in',
  'into',
  'of',
  'on',
  'or',
  'the',
  'to',
  'with',
]);

/** Plurals the suffix rules below would get wrong; both forms map to the value. */
const IRREGULAR: Readonly<Record<string, string>> = {
  axes: 'axe',
  children: 'child',
  feet: 'foot',
  geese: 'goose',
  knives: 'knife',
  leaves: 'leaf',
  lenses: 'lens',
  lens: 'lens',
  men: 'man',
  mice: 'mouse',
  people: 'person',
  shelves: 'shelf',
  teeth: 'tooth',
  wives: 'wife',
  wolves: 'wolf',
  women: 'woman',
};

/** Lower case, compatibility-decomposed, diacritics removed: "Crêpe" → "crepe". */
export function fold(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
}

/** Folded words of a text: possessives dropped ("men's" → "men"), split at anything not a letter or digit. */
export function words(text: string): string[] {
  return fold(text)
    .replace(/['\u2019]s\b/g, '')
    .replace(/['\u2019]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
}

/**
 * Singular/plural folding, deliberately small: it only has to make a taxonomy word and a product word
 * meet, not produce dictionary forms. "-ies", "-ie" and consonant "-y" all end in "i" so that
 * battery/batteries and cookie/cookies each share one stem.
 */
export function stem(word: string): string {
  const irregular = IRREGULAR[word];
  if (irregular !== undefined) return irregular;
  if (word.length <= 2 || /\d/.test(word)) return word;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (word.endsWith('ies')) return `${word.slice(0, -3)}i`;
  if (word.endsWith('ie')) return word.slice(0, -1);
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}i`;
  if (/(?:ch|sh|x|z)es$/.test(word)) return word.slice(0, -2);
  if (/(?:ss|us|is)$/.test(word)) return word;
  if (word.endsWith('s') && word.length > 3) return word.slice(0, -1);
  return word;
}

export function isStopWord(word: string): boolean {
  return STOP_WORDS.has(word);
}

/** Stems of the meaningful words of a text, in order, repeats kept. */
export function stems(text: string): string[] {
  return words(text)
    .filter((word) => !isStopWord(word))
    .map(stem);
}

/**
 * The alternatives a category name lists, as stems. Google names join alternatives with `&` and
 * commas, sharing words between them:
 * - "Floor & Steam Cleaners": a lone singular word before a multi-word last part shares its head
 *   (floor cleaners, steam cleaners);
 * - "Examination Chairs & Tables": a lone last word after a multi-word first part shares its
 *   modifiers (examination chairs, examination tables);
 * - "Wallets & Money Clips", "Leather & Vinyl": otherwise each part stands alone.
 */
export function nameAlternatives(name: string): string[][] {
  const parts = name
    .split(/\s*(?:&|,|\band\b)\s*/i)
    .map((part) => words(part).filter((word) => !isStopWord(word)))
    .filter((part) => part.length > 0);
  if (parts.length === 0) return [];
  const first = parts[0];
  const last = parts[parts.length - 1];
  return parts.map((part, i) => {
    const stems = part.map(stem);
    if (part.length !== 1) return stems;
    if (i < parts.length - 1 && last.length > 1 && !part[0].endsWith('s')) {
      return [...stems, stem(last[last.length - 1])];
    }
    if (i === parts.length - 1 && i > 0 && first.length > 1) {
      return [...first.slice(0, -1).map(stem), ...stems];
    }
    return stems;
  });
}
