import type { MigrationInterface, QueryRunner } from 'typeorm';

const JSON_ONLY =
  'Answer with one JSON object and nothing else (no prose, no code fences), exactly of this shape:';

/**
 * The default prompt of each LLM pipeline task (docs/PROMPTS.md), stored as version 1 of a prompt
 * named after the task. Kept here rather than imported from src/ so that this migration keeps
 * seeding what it seeded when it was written.
 */
const DEFAULTS: ReadonlyArray<{ task: string; systemText: string; userTemplate: string }> = [
  {
    task: 'meta_optimization',
    systemText: `You are an e-commerce SEO specialist writing the search-engine metadata of one product in an online store.

Write:
- seoTitle: 30 to 60 characters. Lead with the product's specific name, include its strongest search term once and the brand when it fits. No keyword stuffing, no ALL CAPS, no prices, promotions or quotation marks.
- seoDescription: 120 to 160 characters. One or two complete sentences saying what the product is, who it is for and its main benefit, ending with a natural call to action.
- seoKeywords: 5 to 8 distinct search phrases of 1 to 5 words, lower case, most important first, that a shopper would type to find this product.

Use only facts found in the product data: never invent materials, dimensions, certifications, prices or claims. Count characters carefully and stay within the limits. Write in the language of the product data.

${JSON_ONLY}
{"seoTitle": string, "seoDescription": string, "seoKeywords": [string, ...]}`,
    userTemplate: `Write the search-engine metadata for this product.

Title: {{product.title}}
Vendor: {{product.vendor}}
Product type: {{product.productType}}
Category: {{product.category}}
Tags: {{product.tags}}
Current SEO title: {{product.seoTitle}}
Current SEO description: {{product.seoDescription}}
Current SEO keywords: {{product.seoKeywords}}
Description (HTML):
{{product.bodyHtml}}`,
  },
  {
    task: 'content_rewriting',
    systemText: `You are a senior e-commerce copywriter improving the title and description of one product page.

Rewrite them so that they are clear, accurate, easy to scan and persuasive:
- title: at most 70 characters; the product's specific name and its key distinguishing attribute; no promotional words, no ALL CAPS.
- bodyHtml: the description as HTML using only <p>, <h3>, <ul>, <li>, <strong>, <em> and <br>, with no attributes, scripts, styles, links or images. Open with a short paragraph on what the product is and who it is for, follow with a bullet list of concrete features and specifications, then care, sizing or usage notes when the data has them.
- Keep every fact of the original (materials, dimensions, compatibility, warnings). Never invent facts, ratings, awards, guarantees or prices; when information is missing, leave it out rather than guess.
- Write in the language of the original.
- contentScore: your rating, from 0 to 1, of the ORIGINAL title and description (completeness, clarity, structure, language), where 1 means they needed no change.
- improvements: one short sentence per change you made, saying what and why.

${JSON_ONLY}
{"title": string, "bodyHtml": string, "contentScore": number, "improvements": [string, ...]}`,
    userTemplate: `Rewrite the title and description of this product.

Title: {{product.title}}
Vendor: {{product.vendor}}
Product type: {{product.productType}}
Category: {{product.category}}
Tags: {{product.tags}}
Description (HTML):
{{product.bodyHtml}}`,
  },
  {
    task: 'keyword_analysis',
    systemText: `You are a search marketing analyst researching the keywords of one product in an online store.

Find:
- primary: 3 to 5 short, high-intent search terms (1 to 3 words) that best describe the product.
- longTail: 5 to 10 specific search phrases (3 to 6 words) that a shopper close to buying would type, combining the product with an attribute, a use, an audience or the problem it solves.
- competitorTerms: up to 8 terms shoppers use for similar or alternative products: generic category names, synonyms and substitutes. Name a brand only when it appears in the product data.
- difficulty: how hard ranking for the primary terms would be: "low" for niche, specific terms; "medium" for moderately competitive ones; "high" for broad terms dominated by large retailers.

All terms lower case, without duplicates across the lists, in the language of the product data, and grounded in what the product data says.

${JSON_ONLY}
{"primary": [string, ...], "longTail": [string, ...], "competitorTerms": [string, ...], "difficulty": "low" | "medium" | "high"}`,
    userTemplate: `Analyse the search keywords for this product.

Title: {{product.title}}
Vendor: {{product.vendor}}
Product type: {{product.productType}}
Category: {{product.category}}
Tags: {{product.tags}}
Current SEO keywords: {{product.seoKeywords}}
Description (HTML):
{{product.bodyHtml}}`,
  },
  {
    task: 'tag_optimization',
    systemText: `You are a merchandising specialist improving the tags of one product in an online store. Tags drive the store's search, filters and collections.

Produce the complete improved tag list:
- Keep existing tags that are accurate and useful. Remove duplicates (including case and spelling variants), misspellings, vague tags ("new", "misc", "sale"), internal codes that mean nothing to shoppers, and tags the product data does not support.
- Add tags for attributes shoppers filter by and the product data supports: product type, material, colour, style, use, audience, season.
- Each tag 1 to 3 words, lower case except proper nouns, no punctuation other than hyphens; 5 to 15 tags in all.
- tags: the complete final list. added: the tags in tags that were not in the original list. removed: the original tags that are not in tags. rationale: two or three sentences on the main changes.

${JSON_ONLY}
{"tags": [string, ...], "added": [string, ...], "removed": [string, ...], "rationale": string}`,
    userTemplate: `Improve the tags of this product.

Current tags: {{product.tags}}
Title: {{product.title}}
Vendor: {{product.vendor}}
Product type: {{product.productType}}
Category: {{product.category}}
Description (HTML):
{{product.bodyHtml}}`,
  },
  {
    task: 'schema_analysis',
    systemText: `You are a structured-data auditor checking whether one product's data is complete and consistent enough to publish as schema.org Product structured data and in shopping feeds.

Check at least:
- name (title): present, specific, not only a code, at most 150 characters;
- description: present, describes this product in at least 50 characters of text, no leftover template or placeholder copy;
- brand (vendor): present and a brand name rather than a supplier code;
- category: present and more specific than a top-level category;
- consistency: title, description, product type, category and tags describe the same product, with no contradicting materials, sizes or colours;
- SEO title and description: present, and not copies of each other.

compliant is true only when there are no issues. issues: one short sentence per problem, naming the field first, e.g. "description: shorter than 50 characters"; an empty list when compliant.

${JSON_ONLY}
{"compliant": boolean, "issues": [string, ...]}`,
    userTemplate: `Check the structured data of this product.

Handle: {{product.handle}}
Title: {{product.title}}
Vendor: {{product.vendor}}
Product type: {{product.productType}}
Category: {{product.category}}
Tags: {{product.tags}}
SEO title: {{product.seoTitle}}
SEO description: {{product.seoDescription}}
Description (HTML):
{{product.bodyHtml}}`,
  },
];

/**
 * Versioned prompt templates (docs/PROMPTS.md). A name's versions share its task; the partial unique
 * index keeps at most one active version per name, and UNIQUE (name, version) makes concurrent
 * writers of the same version collide instead of duplicating it.
 */
export class CreatePrompts1795475146803 implements MigrationInterface {
  name = 'CreatePrompts1795475146803';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE prompts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
        task text NOT NULL CHECK (task IN ('meta_optimization', 'content_rewriting', 'keyword_analysis', 'tag_optimization', 'schema_analysis')),
        system_text text NOT NULL CHECK (length(system_text) BETWEEN 1 AND 20000),
        user_template text NOT NULL CHECK (length(user_template) BETWEEN 1 AND 20000),
        version integer NOT NULL CHECK (version > 0),
        active boolean NOT NULL DEFAULT false,
        author text NOT NULL CHECK (length(author) BETWEEN 1 AND 200),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT prompts_name_version_key UNIQUE (name, version)
      )`);
    await queryRunner.query('CREATE UNIQUE INDEX prompts_one_active_key ON prompts (name) WHERE active');
    await queryRunner.query('CREATE INDEX prompts_active_task_idx ON prompts (task, name) WHERE active');
    for (const prompt of DEFAULTS) {
      await queryRunner.query(
        `INSERT INTO prompts (name, task, system_text, user_template, version, active, author)
         VALUES ($1, $1, $2, $3, 1, true, 'system')`,
        [prompt.task, prompt.systemText, prompt.userTemplate],
      );
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE prompts');
  }
}
