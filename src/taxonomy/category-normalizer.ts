import { Injectable } from '@nestjs/common';
import { Taxonomy, type TaxonomyNode } from './taxonomy';
import { fold, isStopWord, nameAlternatives, stem, words } from './taxonomy-text';

/** The three product fields the normaliser reads; anything else about a product is irrelevant to it. */
export interface ProductCategoryInput {
  readonly title?: string | null;
  /** Shopify product types are often paths: `Lighting/Lamps/Floor Lamps`. */
  readonly productType?: string | null;
  /** An array, or Shopify's comma-separated string. */
  readonly tags?: readonly string[] | string | null;
}

export interface CategoryMatch {
  /** A full taxonomy path. */
  readonly path: string;
  /** In [0, 1], 3 decimals: how much of the evidence the path explains and how far it leads the runner-up. */
  readonly confidence: number;
}

/** Weight of each piece of evidence; see docs/TAXONOMY.md. */
const WEIGHT = {
  /** The last product-type segment; each earlier segment counts PRODUCT_TYPE_DECAY times the next. */
  productType: 3,
  title: 1.5,
  /** Later title parts ("... - Black", "... with Shade", "... for Kids"). */
  titleRest: 0.5,
  /** Plain tags share this much in all beyond PLAIN_TAGS_FULL_WEIGHT of them. */
  plainTag: 1,
} as const;
const PRODUCT_TYPE_DECAY = 0.6;
const PLAIN_TAGS_FULL_WEIGHT = 8;
const MAX_TITLE_PARTS = 4;
const MAX_TAGS = 250;
const MAX_TEXT = 1_000;

/**
 * `key: value` tags whose key names a category, by folded key with non-letters removed. Other keys
 * (colour, brand, style, material, ...) describe attributes and are ignored: "Brand: Apple" is no fruit.
 */
const CATEGORY_TAG_KEYS: Readonly<Record<string, number>> = {
  primary: 2.5,
  type: 2.5,
  producttype: 2.5,
  itemtype: 2.5,
  kind: 2,
  category: 2,
  productcategory: 2,
  googleproductcategory: 2.5,
  subcategory: 1.5,
  subtype: 1.5,
  department: 1,
  class: 1,
};

/**
 * How much one evidence word counts for a node, by where the node has it: as the head of its name
 * ("lamp" for Lamps), in an ancestor's name ("lighting" for Lighting > Lamps: a product typed
 * "Lighting" fits every lighting category), or as a modifier ("lamp" for Lamp Shades).
 */
const MATCH = { ownHead: 1, ancestorHead: 0.9, ancestor: 0.7, ownModifier: 0.7 } as const;
/**
 * Scales a phrase's match by what its head word (its last word) is to the node: the node's own head,
 * a word of an ancestor's name, or neither while another word of the phrase is a head of the node.
 */
const HEAD = { node: 1, ancestorHead: 1, ancestor: 0.8, otherWord: 0.75, none: 0.5 } as const;
/** Each extra alternative in a node's name ("Handbags, Wallets & Cases") makes it this much broader. */
const BREADTH_PENALTY = 0.1;
/** A phrase's head word weighs this many times its other words. */
const HEAD_WORD_WEIGHT = 3;
/** A node's score keeps this share even when none of its own name is covered by the evidence. */
const COVERAGE_FLOOR = 0.25;
/** Share of the confidence kept when the runner-up scores as high as the winner. */
const MARGIN_FLOOR = 0.4;
/** Share of the confidence kept when the only words linking product and category are very common ones. */
const SPECIFICITY_FLOOR = 0.5;
/** Below this share of the evidence explained, the answer is no category rather than a guess. */
const MIN_STRENGTH = 0.1;

interface NodeModel {
  readonly node: TaxonomyNode;
  /** The alternatives of the node's name ("Wallets & Money Clips" → [wallet], [money, clip]). */
  readonly alternatives: ReadonlyArray<readonly string[]>;
  readonly heads: ReadonlySet<string>;
  readonly own: ReadonlySet<string>;
  /** Every word of every ancestor's name. */
  readonly inherited: ReadonlySet<string>;
  /** The heads of the ancestors' names ("lighting" for everything under Home & Garden > Lighting). */
  readonly ancestorHeads: ReadonlySet<string>;
  /** 1 for a name with one alternative, less for names that list several. */
  readonly breadth: number;
}

interface Phrase {
  readonly stems: readonly string[];
  readonly tokenWeights: readonly number[];
  readonly tokenTotal: number;
  readonly head: string;
  readonly weight: number;
}

/**
 * Maps a product to the taxonomy path that best explains its product type, tags and title.
 * Deterministic and pure: the indexes are built once; `normalize` reads them and allocates little.
 */
@Injectable()
export class CategoryNormalizer {
  private readonly models: readonly NodeModel[];
  /** Word stem → nodes whose own name has it. */
  private readonly postings = new Map<string, number[]>();
  /** Inverse document frequency of each stem over node names: rare words discriminate. */
  private readonly idf = new Map<string, number>();
  /** The idf of a word that only one category name has. */
  private readonly maxIdf: number;

  constructor(private readonly taxonomy: Taxonomy) {
    const models: NodeModel[] = [];
    for (const node of taxonomy.nodes) {
      const alternatives = nameAlternatives(node.name);
      const own = new Set(alternatives.flat());
      const inherited = new Set<string>();
      const ancestorHeads = new Set<string>();
      for (let a = node.parent; a !== undefined; a = a.parent) {
        for (const alternative of nameAlternatives(a.name)) {
          for (const word of alternative) inherited.add(word);
          ancestorHeads.add(alternative[alternative.length - 1]);
        }
      }
      models.push({
        node,
        alternatives,
        heads: new Set(alternatives.map((alternative) => alternative[alternative.length - 1])),
        own,
        inherited,
        ancestorHeads,
        breadth: 1 / (1 + BREADTH_PENALTY * Math.max(0, alternatives.length - 1)),
      });
      for (const word of own) {
        const posting = this.postings.get(word);
        if (posting === undefined) this.postings.set(word, [node.index]);
        else posting.push(node.index);
      }
    }
    this.models = models;
    for (const [word, posting] of this.postings) {
      this.idf.set(word, Math.log(1 + taxonomy.size / posting.length));
    }
    this.maxIdf = Math.log(1 + taxonomy.size);
  }

  normalize(input: ProductCategoryInput): CategoryMatch | null {
    const productType = clip(input.productType);
    const title = clip(input.title);
    const tags = tagList(input.tags);

    const exact = this.exactPath(productType, tags);
    if (exact !== undefined) return { path: exact.id, confidence: 1 };

    const phrases = this.phrases(productType, title, tags);
    if (phrases.length === 0) return null;
    const evidence = new Set(phrases.flatMap((phrase) => phrase.stems));
    const candidates = new Set<number>();
    for (const word of evidence) for (const index of this.postings.get(word) ?? []) candidates.add(index);

    // Taxonomy order, so that equal scores resolve to the same node every time.
    const ordered = [...candidates].sort((a, b) => a - b);
    const scores = ordered.map((index) => this.score(this.models[index], phrases, evidence));
    let best = -1;
    for (let i = 0; i < ordered.length; i++) {
      if (best === -1 || scores[i] > scores[best]) best = i;
      // On a tie the more specific node wins (descendants come after their ancestors).
      else if (
        scores[i] === scores[best] &&
        Taxonomy.contains(this.models[ordered[best]].node, this.models[ordered[i]].node)
      ) {
        best = i;
      }
    }
    if (best === -1 || scores[best] <= 0) return null;
    const winner = this.models[ordered[best]].node;
    let runnerUp = 0;
    for (let i = 0; i < ordered.length; i++) {
      const node = this.models[ordered[i]].node;
      // An ancestor or descendant of the winner agrees with it rather than competing.
      if (scores[i] > runnerUp && !Taxonomy.contains(node, winner) && !Taxonomy.contains(winner, node)) {
        runnerUp = scores[i];
      }
    }

    const available = phrases.reduce((sum, phrase) => sum + phrase.weight, 0);
    const strength = Math.min(1, scores[best] / available);
    if (strength < MIN_STRENGTH) return null;
    const ratio = runnerUp / scores[best];
    const margin = 1 - ratio * ratio;
    const specificity = this.specificity(this.models[ordered[best]], evidence);
    const confidence =
      Math.sqrt(strength) *
      (MARGIN_FLOOR + (1 - MARGIN_FLOOR) * margin) *
      (SPECIFICITY_FLOOR + (1 - SPECIFICITY_FLOOR) * specificity);
    return { path: winner.id, confidence: Math.round(Math.min(1, Math.max(0, confidence)) * 1000) / 1000 };
  }

  /**
   * A product type or tag that already is a full taxonomy path (`A > B`, any case or spacing). When
   * several are given they must lie on one branch; the deepest wins.
   */
  private exactPath(productType: string, tags: readonly string[]): TaxonomyNode | undefined {
    const found: TaxonomyNode[] = [];
    for (const text of [productType, ...tags.map((tag) => splitTag(tag).value)]) {
      if (!text.includes('>')) continue;
      const node = this.taxonomy.find(text);
      if (node !== undefined) found.push(node);
    }
    if (found.length === 0) return undefined;
    const deepest = found.reduce((a, b) => (b.depth > a.depth ? b : a));
    return found.every((node) => Taxonomy.contains(node, deepest)) ? deepest : undefined;
  }

  private phrases(productType: string, title: string, tags: readonly string[]): Phrase[] {
    const phrases: Phrase[] = [];
    const add = (text: string, weight: number): void => {
      const phrase = this.phrase(text, weight);
      if (phrase !== undefined) phrases.push(phrase);
    };
    const addPath = (text: string, weight: number): void => {
      const segments = text.split(/[/>|\\]/).filter((segment) => segment.trim() !== '');
      let w = weight;
      for (let i = segments.length - 1; i >= 0; i--, w *= PRODUCT_TYPE_DECAY) add(segments[i], w);
    };

    addPath(productType, WEIGHT.productType);

    const plain: string[] = [];
    for (const tag of tags) {
      const { key, value } = splitTag(tag);
      if (key === undefined) plain.push(value);
      else {
        const weight = CATEGORY_TAG_KEYS[key];
        if (weight !== undefined) addPath(value, weight);
      }
    }
    const plainWeight = WEIGHT.plainTag * Math.min(1, PLAIN_TAGS_FULL_WEIGHT / Math.max(1, plain.length));
    for (const tag of plain) add(tag, plainWeight);

    const [main, ...rest] = title
      .split(/\s[-\u2013\u2014|]\s|[,(:;|]|\s(?:with|for)\s/i)
      .filter((part) => part.trim() !== '');
    if (main !== undefined) add(main, WEIGHT.title);
    for (const part of rest.slice(0, MAX_TITLE_PARTS - 1)) add(part, WEIGHT.titleRest);
    return phrases;
  }

  /** The words of a text that the taxonomy knows, weighted by rarity; its head is the last of them. */
  private phrase(text: string, weight: number): Phrase | undefined {
    const stems: string[] = [];
    for (const word of words(text)) {
      if (isStopWord(word)) continue;
      const stemmed = stem(word);
      if (!this.idf.has(stemmed)) continue;
      const at = stems.indexOf(stemmed);
      // A repeated word moves to the end: the head is the last mention.
      if (at !== -1) stems.splice(at, 1);
      stems.push(stemmed);
    }
    if (stems.length === 0) return undefined;
    const head = stems[stems.length - 1];
    const tokenWeights = stems.map((s) => (this.idf.get(s) ?? 0) * (s === head ? HEAD_WORD_WEIGHT : 1));
    const tokenTotal = tokenWeights.reduce((sum, w) => sum + w, 0);
    return { stems, tokenWeights, tokenTotal, head, weight };
  }

  private score(model: NodeModel, phrases: readonly Phrase[], evidence: ReadonlySet<string>): number {
    let total = 0;
    for (const phrase of phrases) {
      let matched = 0;
      let headWord = false;
      for (let i = 0; i < phrase.stems.length; i++) {
        const word = phrase.stems[i];
        if (model.heads.has(word)) {
          matched += phrase.tokenWeights[i] * MATCH.ownHead;
          headWord = true;
        } else if (model.ancestorHeads.has(word)) matched += phrase.tokenWeights[i] * MATCH.ancestorHead;
        else if (model.inherited.has(word)) matched += phrase.tokenWeights[i] * MATCH.ancestor;
        else if (model.own.has(word)) matched += phrase.tokenWeights[i] * MATCH.ownModifier;
      }
      if (matched === 0) continue;
      const head = model.heads.has(phrase.head)
        ? HEAD.node
        : model.ancestorHeads.has(phrase.head)
          ? HEAD.ancestorHead
          : model.inherited.has(phrase.head)
            ? HEAD.ancestor
            : headWord
              ? HEAD.otherWord
              : HEAD.none;
      total += phrase.weight * (matched / phrase.tokenTotal) * head;
    }
    return total * model.breadth * (COVERAGE_FLOOR + (1 - COVERAGE_FLOOR) * this.coverage(model, evidence));
  }

  /**
   * How telling the rarest word shared by the evidence and the category's own name is, in (0, 1]: 1 for
   * a word only one category name has ("sunglasses"), about 0.3 for "accessories".
   */
  private specificity(model: NodeModel, evidence: ReadonlySet<string>): number {
    let best = 0;
    for (const word of model.own) if (evidence.has(word)) best = Math.max(best, this.idf.get(word) ?? 0);
    return best / this.maxIdf;
  }

  /** The best share (by rarity) of one alternative of the node's name that the evidence mentions. */
  private coverage(model: NodeModel, evidence: ReadonlySet<string>): number {
    let best = 0;
    for (const alternative of model.alternatives) {
      let covered = 0;
      let all = 0;
      for (const word of alternative) {
        const idf = this.idf.get(word) ?? 0;
        all += idf;
        if (evidence.has(word)) covered += idf;
      }
      if (all > 0) best = Math.max(best, covered / all);
    }
    return best;
  }
}

function clip(text: string | null | undefined): string {
  return typeof text === 'string' ? text.slice(0, MAX_TEXT) : '';
}

/** Tags are a set: repeats count once and their order does not change the answer (not even by rounding). */
function tagList(tags: ProductCategoryInput['tags']): string[] {
  const list: readonly unknown[] =
    typeof tags === 'string' ? tags.split(',') : Array.isArray(tags) ? tags : [];
  const unique = new Set<string>();
  for (const tag of list.slice(0, MAX_TAGS)) {
    if (typeof tag !== 'string') continue;
    const trimmed = tag.slice(0, MAX_TEXT).trim();
    if (trimmed !== '') unique.add(trimmed);
  }
  return [...unique].sort();
}

/** `Primary: Floor Lamp` → key `primary`, value `Floor Lamp`; a tag without a short key is plain. */
function splitTag(tag: string): { key: string | undefined; value: string } {
  const match = /^([^:]{1,40}):\s*(.+)$/.exec(tag);
  if (match === null) return { key: undefined, value: tag };
  return { key: fold(match[1]).replace(/[^a-z]/g, ''), value: match[2].trim() };
}
