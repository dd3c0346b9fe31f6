import type { Taxonomy, TaxonomyNode } from './taxonomy';
import { isStopWord, nameAlternatives, stem, words } from './taxonomy-text';

export interface SearchHit {
  readonly node: TaxonomyNode;
  /** In [0, 1], rounded to 4 decimals; 1 is a node whose own name is exactly the query. */
  readonly score: number;
}

/** How well one query word matched one node; the best kind counts. */
const WEIGHTS = {
  leafExact: 1,
  leafPrefix: 0.8,
  leafSubstring: 0.55,
  pathExact: 0.5,
  pathPrefix: 0.4,
  pathSubstring: 0.25,
} as const;

/**
 * Share of the score that rewards covering the node's own name, or one of the alternatives it lists
 * (the rest rewards covering the query).
 */
const COVERAGE_SHARE = 0.25;
/** Shorter query words match only whole words (prefixes from 2 characters, substrings from 3). */
const MIN_PREFIX = 2;
const MIN_SUBSTRING = 3;

interface Posting {
  /** Nodes whose own name has the word. */
  readonly leaf: number[];
  /** Nodes with the word only in an ancestor's name. */
  readonly path: number[];
}

interface QueryTerm {
  readonly forms: readonly string[];
}

/**
 * Ranks taxonomy nodes against free text. Built once from the taxonomy: an inverted index from word
 * stems to nodes, split by where the word occurs (the node's own name or an ancestor's).
 */
export class TaxonomySearchIndex {
  private readonly postings = new Map<string, Posting>();
  private readonly vocabulary: readonly string[];
  /** The alternatives of each node's own name ("Wallets & Money Clips": [wallet], [money, clip]). */
  private readonly alternatives: ReadonlyArray<ReadonlyArray<readonly string[]>>;

  constructor(private readonly taxonomy: Taxonomy) {
    const alternatives: string[][][] = [];
    for (const node of taxonomy.nodes) {
      const own = unique(stemsOf(node.name));
      alternatives.push(nameAlternatives(node.name));
      const inherited = new Set<string>();
      for (let a = node.parent; a !== undefined; a = a.parent)
        for (const w of stemsOf(a.name)) inherited.add(w);
      for (const word of own) this.posting(word).leaf.push(node.index);
      for (const word of inherited) if (!own.includes(word)) this.posting(word).path.push(node.index);
    }
    this.alternatives = alternatives;
    this.vocabulary = [...this.postings.keys()].sort();
  }

  search(query: string, limit: number): SearchHit[] {
    if (limit <= 0) return [];
    // A query that names a node by its full path finds that node first.
    const named = query.includes('>') ? this.taxonomy.find(query) : undefined;
    const terms = queryTerms(query);
    if (terms.length === 0) return named === undefined ? [] : [{ node: named, score: 1 }];
    const perTerm = terms.map((term) => this.matchTerm(term));
    const total = new Map<number, number>();
    for (const matches of perTerm) {
      for (const [index, match] of matches) total.set(index, (total.get(index) ?? 0) + match.weight);
    }
    const hits: SearchHit[] = [];
    for (const [index, sum] of total) {
      if (index === named?.index) continue;
      const covered = new Set<string>();
      for (const matches of perTerm)
        for (const word of matches.get(index)?.leafWords ?? []) covered.add(word);
      let coverage = 0;
      for (const alternative of this.alternatives[index]) {
        const hit = alternative.filter((word) => covered.has(word)).length;
        coverage = Math.max(coverage, hit / alternative.length);
      }
      const score = (1 - COVERAGE_SHARE) * (sum / terms.length) + COVERAGE_SHARE * coverage;
      hits.push({ node: this.taxonomy.nodes[index], score: Math.round(score * 10_000) / 10_000 });
    }
    hits.sort((a, b) => b.score - a.score || a.node.index - b.node.index);
    if (named !== undefined) hits.unshift({ node: named, score: 1 });
    return hits.slice(0, limit);
  }

  /** The best match of one query word per node, with the node's own words it matched. */
  private matchTerm(term: QueryTerm): Map<number, { weight: number; leafWords: string[] }> {
    const matches = new Map<number, { weight: number; leafWords: string[] }>();
    for (const word of this.vocabulary) {
      const kind = matchKind(term, word);
      if (kind === undefined) continue;
      const posting = this.postings.get(word);
      if (posting === undefined) continue;
      const leafWeight = WEIGHTS[`leaf${kind}`];
      for (const index of posting.leaf) {
        const match = matches.get(index);
        if (match === undefined) matches.set(index, { weight: leafWeight, leafWords: [word] });
        else {
          match.weight = Math.max(match.weight, leafWeight);
          match.leafWords.push(word);
        }
      }
      const pathWeight = WEIGHTS[`path${kind}`];
      for (const index of posting.path) {
        const match = matches.get(index);
        if (match === undefined) matches.set(index, { weight: pathWeight, leafWords: [] });
        else match.weight = Math.max(match.weight, pathWeight);
      }
    }
    return matches;
  }

  private posting(word: string): Posting {
    let posting = this.postings.get(word);
    if (posting === undefined) {
      posting = { leaf: [], path: [] };
      this.postings.set(word, posting);
    }
    return posting;
  }
}

function stemsOf(text: string): string[] {
  return words(text)
    .filter((word) => !isStopWord(word))
    .map(stem);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Each meaningful query word, as typed (folded) and stemmed: a prefix being typed may not stem well. */
function queryTerms(query: string): QueryTerm[] {
  const seen = new Set<string>();
  const terms: QueryTerm[] = [];
  for (const word of words(query)) {
    if (isStopWord(word)) continue;
    const stemmed = stem(word);
    if (seen.has(stemmed)) continue;
    seen.add(stemmed);
    terms.push({ forms: stemmed === word ? [word] : [stemmed, word] });
  }
  return terms;
}

function matchKind(term: QueryTerm, word: string): 'Exact' | 'Prefix' | 'Substring' | undefined {
  let best: 'Exact' | 'Prefix' | 'Substring' | undefined;
  for (const form of term.forms) {
    if (word === form) return 'Exact';
    if (form.length >= MIN_PREFIX && word.startsWith(form)) best = 'Prefix';
    else if (best === undefined && form.length >= MIN_SUBSTRING && word.includes(form)) best = 'Substring';
  }
  return best;
}
