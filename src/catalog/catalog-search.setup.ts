import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';

/** Any two processes rebuilding the search column at once take turns on this lock. */
const SEARCH_SETUP_LOCK_KEY = 7_294_030_155_018_223_611n;

/**
 * Makes products.search use CATALOG_FTS_CONFIG. The migration creates it with 'english'; when the
 * configuration names another text-search configuration, the generated column and its index are
 * rebuilt once, at boot, under an advisory lock (a full rewrite of the products table).
 */
@Injectable()
export class CatalogSearchSetup implements OnModuleInit {
  private readonly logger = new Logger(CatalogSearchSetup.name);

  constructor(
    private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    const wanted = this.config.catalog.ftsConfig;
    const [{ table }] = await this.dataSource.query<Array<{ table: string | null }>>(
      "SELECT to_regclass('products')::text AS table",
    );
    // Migrations not applied (DB_MIGRATIONS_RUN=false): readiness reports them; nothing to set up yet.
    if (table === null) return;
    if ((await this.currentConfig()) === wanted) return;
    const [{ exists }] = await this.dataSource.query<Array<{ exists: boolean }>>(
      'SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = $1) AS exists',
      [wanted],
    );
    if (!exists) {
      throw new Error(`CATALOG_FTS_CONFIG=${wanted} is not a text search configuration of this database`);
    }
    await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [SEARCH_SETUP_LOCK_KEY.toString()]);
      if ((await this.currentConfig(manager.query.bind(manager))) === wanted) return;
      this.logger.log(`Rebuilding the product search column for text search configuration '${wanted}'`);
      // `wanted` matches ^[a-z_]{1,63}$ (config schema) and names an existing configuration.
      const vector = (column: string, weight: string) =>
        `setweight(to_tsvector('${wanted}'::regconfig, coalesce(${column}, '')), '${weight}')`;
      await manager.query('ALTER TABLE products DROP COLUMN search');
      await manager.query(
        `ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (
          ${vector('title', 'A')} || ${vector('handle', 'B')} || ${vector('body_html', 'C')}) STORED`,
      );
      await manager.query('CREATE INDEX products_search_idx ON products USING gin (search)');
    });
  }

  private async currentConfig(
    query: (sql: string) => Promise<Array<{ expr: string | null }>> = (sql) => this.dataSource.query(sql),
  ): Promise<string | undefined> {
    const [row] = await query(
      `SELECT pg_get_expr(d.adbin, d.adrelid) AS expr FROM pg_attrdef d
        JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = 'products'::regclass AND a.attname = 'search'`,
    );
    return /'([a-z_]+)'::regconfig/.exec(row?.expr ?? '')?.[1];
  }
}
