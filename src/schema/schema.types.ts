/** What `GET /api/v1/schema` answers: one schema of a PostgreSQL database, in a stable order. */
export interface SchemaDescription {
  readonly schema: string;
  /** By name (byte order). */
  readonly tables: TableDescription[];
}

/** The relations listed: partitions are left out (their partitioned table stands for them). */
export type TableKind = 'table' | 'partitioned_table' | 'view' | 'materialized_view' | 'foreign_table';

export interface TableDescription {
  readonly name: string;
  readonly kind: TableKind;
  readonly comment: string | null;
  /** The planner's estimate (`pg_class.reltuples`); null when never analysed, and for views. */
  readonly rowEstimate: number | null;
  /** In column order. */
  readonly columns: ColumnDescription[];
  /** The primary key's columns in key order; empty when there is none. */
  readonly primaryKey: string[];
  /** By constraint name. */
  readonly foreignKeys: ForeignKeyDescription[];
  /** By index name; includes the index behind the primary key and unique constraints. */
  readonly indexes: IndexDescription[];
}

export interface ColumnDescription {
  readonly name: string;
  /** As PostgreSQL spells it, with modifiers: `character varying(200)`, `numeric(10,2)`, `text[]`. */
  readonly type: string;
  readonly nullable: boolean;
  /** The default expression as SQL (`now()`, `'draft'::text`); null when none. */
  readonly default: string | null;
  /** `always` / `byDefault` for identity columns, otherwise null. */
  readonly identity: 'always' | 'byDefault' | null;
  /** The expression of a generated (stored) column, otherwise null. */
  readonly generated: string | null;
  readonly comment: string | null;
}

export interface ForeignKeyDescription {
  readonly name: string;
  /** The referencing columns, paired in order with `references.columns`. */
  readonly columns: string[];
  readonly references: {
    /** The referenced table's schema (foreign keys may cross schemas). */
    readonly schema: string;
    readonly table: string;
    readonly columns: string[];
  };
}

export interface IndexDescription {
  readonly name: string;
  /**
   * Key columns in index order; an expression appears as its SQL (`lower(email)`, `(n + 1)`).
   * Covering (`INCLUDE`) columns are not key columns and are not listed.
   */
  readonly columns: string[];
  readonly unique: boolean;
  readonly primary: boolean;
  /** The access method: `btree`, `gin`, `gist`, `hash`, `brin`, `spgist`, ... */
  readonly method: string;
  /** The `WHERE` clause of a partial index; null otherwise. */
  readonly predicate: string | null;
}
