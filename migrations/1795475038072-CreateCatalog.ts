import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The product catalogue (Shopify shape), its change records, imports and idempotency keys.
 *
 * products.search is created with the 'english' text-search configuration; at boot the catalogue
 * rebuilds it when CATALOG_FTS_CONFIG names another one (src/catalog/catalog-search.setup.ts).
 */
export class CreateCatalog1795475038072 implements MigrationInterface {
  name = 'CreateCatalog1795475038072';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE vendors (
        id serial PRIMARY KEY,
        name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
      )`);
    await queryRunner.query(`
      CREATE TABLE product_types (
        id serial PRIMARY KEY,
        name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
      )`);
    await queryRunner.query(`
      CREATE TABLE products (
        id bigint PRIMARY KEY CHECK (id > 0),
        handle text NOT NULL UNIQUE CHECK (length(handle) BETWEEN 1 AND 255),
        title text NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
        body_html text,
        vendor_id integer REFERENCES vendors (id),
        product_type_id integer REFERENCES product_types (id),
        published_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
        updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
        category text,
        seo_title text,
        seo_description text,
        seo_keywords text[] NOT NULL DEFAULT '{}',
        normalized_category text,
        category_confidence real CHECK (category_confidence BETWEEN 0 AND 1),
        llm_confidence real CHECK (llm_confidence BETWEEN 0 AND 1),
        version integer NOT NULL DEFAULT 1 CHECK (version > 0),
        -- What the last import said (hash of the whole record, and its field values): a re-import
        -- changes only the fields its source changed, so edits made here survive a re-import.
        import_hash text,
        import_values jsonb,
        search tsvector GENERATED ALWAYS AS (
          setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
          || setweight(to_tsvector('english'::regconfig, coalesce(handle, '')), 'B')
          || setweight(to_tsvector('english'::regconfig, coalesce(body_html, '')), 'C')
        ) STORED
      )`);
    await queryRunner.query('CREATE INDEX products_search_idx ON products USING gin (search)');
    await queryRunner.query('CREATE INDEX products_vendor_idx ON products (vendor_id, id)');
    await queryRunner.query('CREATE INDEX products_product_type_idx ON products (product_type_id, id)');
    await queryRunner.query('CREATE INDEX products_category_idx ON products (category text_pattern_ops)');
    await queryRunner.query('CREATE INDEX products_confidence_idx ON products (category_confidence, id)');
    await queryRunner.query('CREATE INDEX products_title_idx ON products (title, id)');
    await queryRunner.query('CREATE INDEX products_updated_at_idx ON products (updated_at, id)');

    await queryRunner.query(`
      CREATE TABLE tags (
        id serial PRIMARY KEY,
        name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
      )`);
    await queryRunner.query(`
      CREATE TABLE product_tags (
        product_id bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        tag_id integer NOT NULL REFERENCES tags (id),
        position integer NOT NULL,
        PRIMARY KEY (product_id, tag_id)
      )`);
    await queryRunner.query('CREATE INDEX product_tags_tag_idx ON product_tags (tag_id, product_id)');

    await queryRunner.query(`
      CREATE TABLE variants (
        id bigint PRIMARY KEY CHECK (id > 0),
        product_id bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        title text NOT NULL,
        sku text,
        price numeric(14, 2),
        compare_at_price numeric(14, 2),
        position integer NOT NULL,
        option1 text,
        option2 text,
        option3 text,
        grams integer,
        available boolean,
        requires_shipping boolean,
        taxable boolean,
        image_id bigint
      )`);
    await queryRunner.query('CREATE INDEX variants_product_idx ON variants (product_id, position)');
    await queryRunner.query('CREATE INDEX variants_sku_idx ON variants (sku)');

    await queryRunner.query(`
      CREATE TABLE images (
        id bigint PRIMARY KEY CHECK (id > 0),
        product_id bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        position integer NOT NULL,
        src text NOT NULL,
        alt text,
        width integer,
        height integer,
        variant_ids bigint[] NOT NULL DEFAULT '{}'
      )`);
    await queryRunner.query('CREATE INDEX images_product_idx ON images (product_id, position)');

    await queryRunner.query(`
      CREATE TABLE options (
        product_id bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        position integer NOT NULL,
        name text NOT NULL,
        PRIMARY KEY (product_id, position)
      )`);
    await queryRunner.query(`
      CREATE TABLE option_values (
        product_id bigint NOT NULL,
        option_position integer NOT NULL,
        position integer NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (product_id, option_position, position),
        FOREIGN KEY (product_id, option_position) REFERENCES options (product_id, position) ON DELETE CASCADE
      )`);

    // One row per changed field. Values are JSON so that text, arrays and timestamps share a column.
    await queryRunner.query(`
      CREATE TABLE changes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        product_id bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
        field text NOT NULL CHECK (field IN ('title', 'bodyHtml', 'vendor', 'productType', 'category',
          'tags', 'seoTitle', 'seoDescription', 'seoKeywords', 'publishedAt')),
        old_value jsonb,
        new_value jsonb,
        source text NOT NULL CHECK (source IN ('user', 'import', 'pipeline', 'mcp')),
        run_id uuid,
        item_id uuid,
        status text NOT NULL CHECK (status IN ('proposed', 'applied', 'rejected', 'reverted')),
        confidence real CHECK (confidence BETWEEN 0 AND 1),
        actor_type text NOT NULL,
        actor_id text,
        actor_label text,
        request_id text,
        reviewer_id text,
        reviewer_label text,
        reviewed_at timestamptz,
        comment text CHECK (length(comment) <= 2000),
        reverts_change_id uuid REFERENCES changes (id),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query('CREATE INDEX changes_product_idx ON changes (product_id, created_at DESC)');
    await queryRunner.query('CREATE INDEX changes_status_idx ON changes (status, created_at DESC)');
    await queryRunner.query(
      "CREATE INDEX changes_proposed_idx ON changes (product_id, confidence) WHERE status = 'proposed'",
    );
    await queryRunner.query('CREATE INDEX changes_run_idx ON changes (run_id) WHERE run_id IS NOT NULL');
    await queryRunner.query('CREATE INDEX changes_created_at_idx ON changes (created_at DESC, id DESC)');

    await queryRunner.query(`
      CREATE TABLE catalog_imports (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'completed_with_errors', 'failed')),
        total integer NOT NULL CHECK (total >= 0),
        processed integer NOT NULL DEFAULT 0,
        created integer NOT NULL DEFAULT 0,
        updated integer NOT NULL DEFAULT 0,
        unchanged integer NOT NULL DEFAULT 0,
        rejected integer NOT NULL DEFAULT 0,
        rejections jsonb NOT NULL DEFAULT '[]',
        error text,
        payload jsonb,
        actor_type text NOT NULL,
        actor_id text,
        actor_label text,
        request_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
      )`);
    await queryRunner.query(
      'CREATE INDEX catalog_imports_created_at_idx ON catalog_imports (created_at DESC)',
    );

    await queryRunner.query(`
      CREATE TABLE idempotency_keys (
        principal text NOT NULL,
        scope text NOT NULL,
        key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
        request_hash text NOT NULL,
        status_code integer NOT NULL,
        response jsonb NOT NULL,
        location text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (principal, scope, key)
      )`);
    await queryRunner.query('CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at)');
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'idempotency_keys',
      'catalog_imports',
      'changes',
      'option_values',
      'options',
      'images',
      'variants',
      'product_tags',
      'tags',
      'products',
      'product_types',
      'vendors',
    ]) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
