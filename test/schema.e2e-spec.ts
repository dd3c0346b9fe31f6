import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { UpstreamError, UpstreamTimeoutError } from '../src/common/app-error';
import { AppDatabaseExecutor } from '../src/schema/app-database.executor';
import { sqlStateOf } from '../src/schema/postgres-errors';
import type { QueryExecutor, QueryOptions } from '../src/schema/query-executor';
import { SchemaIntrospector } from '../src/schema/schema-introspector';
import type { SchemaDescription, TableDescription } from '../src/schema/schema.types';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './support/test-database';

const S = 'introspect_test';
const FILLERS = Array.from({ length: 56 }, (_, i) => `t_${String(i + 1).padStart(2, '0')}`);
/** Four hand-written tables and 56 fillers: 60 ordinary tables, plus a partitioned table and a view. */
const TABLES = ['customers', 'warehouses', 'stock', 'Order Lines', ...FILLERS];

const DDL = `
  CREATE SCHEMA ${S};
  CREATE TABLE ${S}.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    name varchar(200),
    created_at timestamptz NOT NULL DEFAULT now(),
    tags text[] NOT NULL DEFAULT '{}',
    profile jsonb,
    deleted_at timestamptz
  );
  COMMENT ON TABLE ${S}.customers IS 'People who order';
  COMMENT ON COLUMN ${S}.customers.email IS 'Login and contact address';
  CREATE UNIQUE INDEX customers_email_lower_key ON ${S}.customers (lower(email));
  CREATE INDEX customers_active_idx ON ${S}.customers (created_at DESC, id) WHERE deleted_at IS NULL;
  CREATE INDEX customers_profile_gin ON ${S}.customers USING gin (profile jsonb_path_ops);
  CREATE INDEX customers_tags_gin ON ${S}.customers USING gin (tags);

  CREATE TABLE ${S}.warehouses (
    region char(2) NOT NULL,
    code integer NOT NULL,
    name text NOT NULL,
    CONSTRAINT warehouses_pkey PRIMARY KEY (region, code),
    CONSTRAINT warehouses_name_key UNIQUE (name)
  );
  INSERT INTO ${S}.warehouses SELECT 'w' || (n % 3), n, 'warehouse ' || n FROM generate_series(1, 10) AS n;
  ANALYZE ${S}.warehouses;

  CREATE TABLE ${S}.measurements (
    id bigint NOT NULL,
    taken_on date NOT NULL,
    value double precision,
    PRIMARY KEY (id, taken_on)
  ) PARTITION BY RANGE (taken_on);
  CREATE TABLE ${S}.measurements_2024 PARTITION OF ${S}.measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
  CREATE TABLE ${S}.measurements_2025 PARTITION OF ${S}.measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

  CREATE TABLE ${S}.stock (
    id serial PRIMARY KEY,
    warehouse_code integer NOT NULL,
    region char(2) NOT NULL,
    customer_id bigint REFERENCES ${S}.customers (id) ON DELETE SET NULL,
    created_by uuid REFERENCES public.users (id),
    qty integer NOT NULL DEFAULT 0,
    price numeric(10,2),
    total numeric GENERATED ALWAYS AS (qty * price) STORED,
    measured_id bigint,
    measured_on date,
    CONSTRAINT stock_warehouse_fkey FOREIGN KEY (region, warehouse_code) REFERENCES ${S}.warehouses (region, code),
    CONSTRAINT stock_measurement_fkey FOREIGN KEY (measured_id, measured_on) REFERENCES ${S}.measurements (id, taken_on)
  );
  CREATE INDEX stock_location_idx ON ${S}.stock (region, warehouse_code) INCLUDE (qty);

  CREATE TABLE ${S}."Order Lines" (
    id integer PRIMARY KEY,
    "Customer Id" bigint NOT NULL REFERENCES ${S}.customers (id)
  );
  CREATE INDEX "Order Lines_customer_idx" ON ${S}."Order Lines" ("Customer Id", (id % 10));

  CREATE VIEW ${S}.customer_emails AS SELECT id, lower(email) AS email FROM ${S}.customers WHERE deleted_at IS NULL;
  COMMENT ON VIEW ${S}.customer_emails IS 'Active addresses';

  ${FILLERS.map(
    (name, i) => `
  CREATE TABLE ${S}.${name} (
    id integer PRIMARY KEY,
    parent_id integer${i === 0 ? '' : ` REFERENCES ${S}.${FILLERS[i - 1]} (id)`},
    label text NOT NULL DEFAULT 'item ${i + 1}',
    note text
  );
  CREATE INDEX ${name}_parent_idx ON ${S}.${name} (parent_id);
  COMMENT ON TABLE ${S}.${name} IS 'Filler ${i + 1}';`,
  ).join('\n')}
`;

/** A QueryExecutor over one plain pg connection, the way a Postgres adapter brings its own. */
class PgClientExecutor implements QueryExecutor {
  constructor(private readonly client: Client) {}

  async query<T extends object>(
    sql: string,
    params: readonly unknown[],
    options: QueryOptions,
  ): Promise<T[]> {
    await this.client.query('BEGIN READ ONLY');
    try {
      await this.client.query(`SELECT set_config('statement_timeout', $1, true)`, [
        String(options.timeoutMs),
      ]);
      const result = await this.client.query<T>(sql, [...params]);
      await this.client.query('COMMIT');
      return result.rows;
    } catch (error) {
      await this.client.query('ROLLBACK');
      throw error;
    }
  }
}

describe('GET /api/v1/schema', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let server: ReturnType<TestApp['app']['getHttpServer']>;
  let dataSource: DataSource;
  let reader: Record<string, string>;
  let withoutSchemaRead: Record<string, string>;
  let introspectTest: SchemaDescription;

  const table = (name: string): TableDescription => {
    const found = introspectTest.tables.find((t) => t.name === name);
    if (found === undefined) throw new Error(`table ${name} missing from the response`);
    return found;
  };

  beforeAll(async () => {
    database = await provisionTestDatabase();
    testApp = await startTestApp(database, { LOG_LEVEL: 'warn' }, { probe: false });
    server = testApp.app.getHttpServer();
    // With the embedded database the app holds the only connection: set up through it.
    dataSource = testApp.app.get(DataSource);
    await dataSource.query(DDL);
    const viewer = await createUser(testApp.app, ['viewer']);
    reader = bearer((await signIn(testApp.app, viewer.email, viewer.password)).accessToken);
    const agent = await createUser(testApp.app, ['agent']);
    withoutSchemaRead = bearer((await signIn(testApp.app, agent.email, agent.password)).accessToken);
    const res = await request(server).get(`/api/v1/schema?schema=${S}`).set(reader).expect(200);
    introspectTest = res.body as SchemaDescription;
  });

  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });

  it('returns all 60 tables, by name, with their primary keys, foreign keys and indexes', () => {
    expect(introspectTest.schema).toBe(S);
    const names = introspectTest.tables.map((t) => t.name);
    expect(names).toEqual([...names].sort());
    expect(introspectTest.tables.filter((t) => t.kind === 'table').map((t) => t.name)).toEqual(
      [...TABLES].sort(),
    );
    FILLERS.forEach((name, i) => {
      expect(table(name)).toEqual({
        name,
        kind: 'table',
        comment: `Filler ${i + 1}`,
        rowEstimate: null,
        columns: [
          expect.objectContaining({ name: 'id', type: 'integer', nullable: false, default: null }),
          expect.objectContaining({ name: 'parent_id', type: 'integer', nullable: true, default: null }),
          expect.objectContaining({
            name: 'label',
            type: 'text',
            nullable: false,
            default: `'item ${i + 1}'::text`,
          }),
          expect.objectContaining({ name: 'note', type: 'text', nullable: true, default: null }),
        ],
        primaryKey: ['id'],
        foreignKeys:
          i === 0
            ? []
            : [
                {
                  name: `${name}_parent_id_fkey`,
                  columns: ['parent_id'],
                  references: { schema: S, table: FILLERS[i - 1], columns: ['id'] },
                },
              ],
        indexes: [
          {
            name: `${name}_parent_idx`,
            columns: ['parent_id'],
            unique: false,
            primary: false,
            method: 'btree',
            predicate: null,
          },
          {
            name: `${name}_pkey`,
            columns: ['id'],
            unique: true,
            primary: true,
            method: 'btree',
            predicate: null,
          },
        ],
      });
    });
  });

  it('describes columns: types with modifiers, nullability, defaults, identity, generated, comments', () => {
    const customers = table('customers');
    expect(customers.comment).toBe('People who order');
    expect(customers.columns).toEqual([
      {
        name: 'id',
        type: 'bigint',
        nullable: false,
        default: null,
        identity: 'always',
        generated: null,
        comment: null,
      },
      {
        name: 'email',
        type: 'text',
        nullable: false,
        default: null,
        identity: null,
        generated: null,
        comment: 'Login and contact address',
      },
      {
        name: 'name',
        type: 'character varying(200)',
        nullable: true,
        default: null,
        identity: null,
        generated: null,
        comment: null,
      },
      {
        name: 'created_at',
        type: 'timestamp with time zone',
        nullable: false,
        default: 'now()',
        identity: null,
        generated: null,
        comment: null,
      },
      {
        name: 'tags',
        type: 'text[]',
        nullable: false,
        default: "'{}'::text[]",
        identity: null,
        generated: null,
        comment: null,
      },
      {
        name: 'profile',
        type: 'jsonb',
        nullable: true,
        default: null,
        identity: null,
        generated: null,
        comment: null,
      },
      {
        name: 'deleted_at',
        type: 'timestamp with time zone',
        nullable: true,
        default: null,
        identity: null,
        generated: null,
        comment: null,
      },
    ]);
    const stock = table('stock');
    expect(stock.columns.map((c) => c.name)).toEqual([
      'id',
      'warehouse_code',
      'region',
      'customer_id',
      'created_by',
      'qty',
      'price',
      'total',
      'measured_id',
      'measured_on',
    ]);
    expect(stock.columns[0]).toMatchObject({
      default: `nextval('${S}.stock_id_seq'::regclass)`,
      identity: null,
    });
    expect(stock.columns[2]).toMatchObject({ type: 'character(2)', nullable: false });
    expect(stock.columns[6]).toMatchObject({ type: 'numeric(10,2)', nullable: true });
    expect(stock.columns[7]).toMatchObject({
      default: null,
      generated: expect.stringMatching(/qty.*\*.*price/),
    });
  });

  it('describes composite, cross-schema and partitioned-table foreign keys with columns in key order', () => {
    expect(table('warehouses').primaryKey).toEqual(['region', 'code']);
    expect(table('stock').foreignKeys).toEqual([
      {
        name: 'stock_created_by_fkey',
        columns: ['created_by'],
        references: { schema: 'public', table: 'users', columns: ['id'] },
      },
      {
        name: 'stock_customer_id_fkey',
        columns: ['customer_id'],
        references: { schema: S, table: 'customers', columns: ['id'] },
      },
      {
        name: 'stock_measurement_fkey',
        columns: ['measured_id', 'measured_on'],
        references: { schema: S, table: 'measurements', columns: ['id', 'taken_on'] },
      },
      {
        name: 'stock_warehouse_fkey',
        columns: ['region', 'warehouse_code'],
        references: { schema: S, table: 'warehouses', columns: ['region', 'code'] },
      },
    ]);
    expect(table('Order Lines').foreignKeys).toEqual([
      {
        name: 'Order Lines_Customer Id_fkey',
        columns: ['Customer Id'],
        references: { schema: S, table: 'customers', columns: ['id'] },
      },
    ]);
  });

  it('describes unique, partial, expression, covering and GIN indexes', () => {
    expect(table('customers').indexes).toEqual([
      {
        name: 'customers_active_idx',
        columns: ['created_at', 'id'],
        unique: false,
        primary: false,
        method: 'btree',
        predicate: 'deleted_at IS NULL',
      },
      {
        name: 'customers_email_lower_key',
        columns: ['lower(email)'],
        unique: true,
        primary: false,
        method: 'btree',
        predicate: null,
      },
      {
        name: 'customers_pkey',
        columns: ['id'],
        unique: true,
        primary: true,
        method: 'btree',
        predicate: null,
      },
      {
        name: 'customers_profile_gin',
        columns: ['profile'],
        unique: false,
        primary: false,
        method: 'gin',
        predicate: null,
      },
      {
        name: 'customers_tags_gin',
        columns: ['tags'],
        unique: false,
        primary: false,
        method: 'gin',
        predicate: null,
      },
    ]);
    expect(table('warehouses').indexes.map((i) => [i.name, i.columns, i.unique, i.primary])).toEqual([
      ['warehouses_name_key', ['name'], true, false],
      ['warehouses_pkey', ['region', 'code'], true, true],
    ]);
    expect(table('stock').indexes.find((i) => i.name === 'stock_location_idx')?.columns).toEqual([
      'region',
      'warehouse_code',
    ]);
    expect(table('Order Lines').indexes[0]).toMatchObject({
      name: 'Order Lines_customer_idx',
      columns: ['Customer Id', '(id % 10)'],
    });
  });

  it('lists the partitioned table and the view but not the partitions', () => {
    const names = introspectTest.tables.map((t) => t.name);
    expect(names).not.toContain('measurements_2024');
    expect(names).not.toContain('measurements_2025');
    expect(table('measurements')).toMatchObject({
      kind: 'partitioned_table',
      primaryKey: ['id', 'taken_on'],
      indexes: [expect.objectContaining({ name: 'measurements_pkey', primary: true })],
    });
    expect(table('customer_emails')).toMatchObject({
      kind: 'view',
      comment: 'Active addresses',
      rowEstimate: null,
      primaryKey: [],
      indexes: [],
      columns: [
        expect.objectContaining({ name: 'id', type: 'bigint' }),
        expect.objectContaining({ name: 'email' }),
      ],
    });
    expect(introspectTest.tables).toHaveLength(62);
  });

  it('gives the planner row estimate of an analysed table', () => {
    expect(table('warehouses').rowEstimate).toBe(10);
  });

  it('describes the public schema by default, with the application tables', async () => {
    const res = await request(server).get('/api/v1/schema').set(reader).expect(200);
    const body = res.body as SchemaDescription;
    expect(body.schema).toBe('public');
    const byName = new Map(body.tables.map((t) => [t.name, t]));
    expect(byName.get('users')).toMatchObject({
      kind: 'table',
      primaryKey: ['id'],
      indexes: expect.arrayContaining([
        expect.objectContaining({ name: 'users_email_lower_key', columns: ['lower(email)'], unique: true }),
      ]),
    });
    expect(byName.get('user_roles')).toMatchObject({
      primaryKey: ['user_id', 'role_name'],
      foreignKeys: [
        expect.objectContaining({
          columns: ['role_name'],
          references: { schema: 'public', table: 'roles', columns: ['name'] },
        }),
        expect.objectContaining({
          columns: ['user_id'],
          references: { schema: 'public', table: 'users', columns: ['id'] },
        }),
      ],
    });
    expect(byName.get('audit_events')?.indexes).toContainEqual(
      expect.objectContaining({
        name: 'audit_events_unsealed_idx',
        columns: ['id'],
        predicate: 'chain_seq IS NULL',
      }),
    );
    expect(byName.has('typeorm_migrations')).toBe(true);
    expect(byName.has('customers')).toBe(false);
  });

  it('refuses a malformed schema name with 400 and an unknown one with 404', async () => {
    for (const bad of ['bad-name', '1abc', 'a'.repeat(64), '', 'pg catalog', 'x;drop']) {
      const res = await request(server).get('/api/v1/schema').query({ schema: bad }).set(reader);
      expect([bad, res.status, res.body.error?.code]).toEqual([bad, 400, 'VALIDATION_FAILED']);
    }
    const twice = await request(server).get('/api/v1/schema?schema=public&schema=other').set(reader);
    expect(twice.status).toBe(400);
    const unknown = await request(server).get('/api/v1/schema?schema=no_such_schema').set(reader).expect(404);
    expect(unknown.body.error).toMatchObject({
      code: 'SCHEMA_NOT_FOUND',
      message: 'There is no schema named "no_such_schema".',
    });
    // Names are matched exactly, as PostgreSQL stores them.
    await request(server).get('/api/v1/schema?schema=Public').set(reader).expect(404);
  });

  it('needs schema:read', async () => {
    await request(server).get('/api/v1/schema').expect(401);
    const res = await request(server).get('/api/v1/schema').set(withoutSchemaRead).expect(403);
    expect(res.body.error.code).toBe('PERMISSION_DENIED');
  });

  it('gives the connection back after a failed statement', async () => {
    const executor = testApp.app.get(AppDatabaseExecutor);
    for (let i = 0; i < 3; i++) {
      await expect(
        executor.query('SELECT * FROM no_such_table', [], { timeoutMs: 1000 }),
      ).rejects.toMatchObject({
        driverError: expect.objectContaining({ code: '42P01' }),
      });
    }
    await expect(
      executor.query<{ one: number }>('SELECT 1 AS one', [], { timeoutMs: 1000 }),
    ).resolves.toEqual([{ one: 1 }]);
    // Read-only: the executor cannot be used to change anything.
    await expect(
      executor.query(`CREATE TABLE ${S}.sneaky (id int)`, [], { timeoutMs: 1000 }),
    ).rejects.toMatchObject({ driverError: expect.objectContaining({ code: '25006' }) });
    await request(server).get('/api/v1/schema').set(reader).expect(200);
  });

  (TEST_DATABASE_URL ? describe : describe.skip)('on a PostgreSQL server (TEST_DATABASE_URL)', () => {
    const role = `schema_reader_${process.pid}`;
    let lockHolder: Client;

    beforeAll(async () => {
      lockHolder = new Client({ connectionString: database.url });
      await lockHolder.connect();
      await dataSource.query(`CREATE ROLE ${role} LOGIN PASSWORD 'reader-password'`);
      await dataSource.query(`GRANT USAGE ON SCHEMA ${S} TO ${role}`);
      await dataSource.query(
        `CREATE SCHEMA introspect_hidden; CREATE TABLE introspect_hidden.secret (id int)`,
      );
    });

    afterAll(async () => {
      await lockHolder?.end();
      // Roles belong to the server, not to the test database: remove its grants here, then the role.
      await dataSource.query(`DROP OWNED BY ${role}`);
      await dataSource.query(`DROP ROLE ${role}`);
    });

    /** Runs `work` with a connection as the role that owns nothing and may read only what it was granted. */
    async function asReader<T>(work: (executor: QueryExecutor) => Promise<T>): Promise<T> {
      const url = new URL(database.url);
      url.username = role;
      url.password = 'reader-password';
      const client = new Client({ connectionString: url.toString() });
      await client.connect();
      try {
        return await work(new PgClientExecutor(client));
      } finally {
        await client.end();
      }
    }

    it('cancels a slow statement on the server at the per-query timeout', async () => {
      const executor = testApp.app.get(AppDatabaseExecutor);
      const failure = await executor
        .query('SELECT pg_sleep(30)', [], { timeoutMs: 50 })
        .catch((e: unknown) => e);
      expect(sqlStateOf(failure)).toBe('57014');
      const [{ count }] = await dataSource.query<Array<{ count: number }>>(
        `SELECT count(*)::int AS count FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'`,
      );
      expect(count).toBe(0);
      // SET LOCAL: the limit ended with the transaction.
      const settings = await Promise.all(
        Array.from({ length: 4 }, () =>
          dataSource.query<Array<{ statement_timeout: string }>>('SHOW statement_timeout'),
        ),
      );
      expect(settings.map(([row]) => row.statement_timeout)).toEqual(['0', '0', '0', '0']);
    });

    it('answers 504 SCHEMA_QUERY_TIMEOUT when a catalog query hits the statement timeout', async () => {
      // Holding an exclusive lock on a catalog the introspection reads makes its query wait until cancelled.
      await lockHolder.query('BEGIN');
      await lockHolder.query('LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE');
      try {
        const direct = await testApp.app
          .get(SchemaIntrospector)
          .introspect(testApp.app.get(AppDatabaseExecutor), S, { timeoutMs: 100 })
          .catch((e: unknown) => e);
        expect(direct).toBeInstanceOf(UpstreamTimeoutError);

        const res = await request(server)
          .get(`/api/v1/schema?schema=${S}`)
          .set(reader)
          .set('X-Request-ID', 'schema-timeout')
          .expect(504);
        expect(res.body).toEqual({
          error: {
            code: 'SCHEMA_QUERY_TIMEOUT',
            message: `Reading the catalog of schema "${S}" took longer than the statement timeout.`,
            requestId: 'schema-timeout',
          },
        });
      } finally {
        await lockHolder.query('ROLLBACK');
      }
      await request(server).get(`/api/v1/schema?schema=${S}`).set(reader).expect(200);
    });

    it('describes a schema through any executor, here a plain connection as a role that owns nothing', async () => {
      const described = await asReader((executor) => new SchemaIntrospector().introspect(executor, S));
      expect(described).toEqual(introspectTest);
    });

    it('answers 502 SCHEMA_PERMISSION_DENIED when the role may not use the schema', async () => {
      const failure = await asReader((executor) =>
        new SchemaIntrospector().introspect(executor, 'introspect_hidden'),
      ).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(UpstreamError);
      expect(failure).toMatchObject({ status: 502, code: 'SCHEMA_PERMISSION_DENIED' });
    });

    it('answers 502 SCHEMA_PERMISSION_DENIED when PostgreSQL refuses a catalog read', async () => {
      await dataSource.query('REVOKE SELECT ON pg_catalog.pg_description FROM PUBLIC');
      try {
        const refused = await asReader((executor) =>
          executor.query('SELECT count(*) FROM pg_catalog.pg_description', [], { timeoutMs: 1000 }),
        ).catch((e: unknown) => e);
        expect(sqlStateOf(refused)).toBe('42501');

        const failure = await asReader((executor) => new SchemaIntrospector().introspect(executor, S)).catch(
          (e: unknown) => e,
        );
        expect(failure).toBeInstanceOf(UpstreamError);
        expect(failure).toMatchObject({ status: 502, code: 'SCHEMA_PERMISSION_DENIED' });
        expect((failure as Error).message).not.toMatch(/pg_description|SELECT/);
      } finally {
        await dataSource.query('GRANT SELECT ON pg_catalog.pg_description TO PUBLIC');
      }
    });
  });
});
