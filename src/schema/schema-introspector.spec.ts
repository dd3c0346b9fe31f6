import { DatabaseError } from 'pg';
import { NotFoundError, UpstreamError, UpstreamTimeoutError } from '../common/app-error';
import type { QueryExecutor, QueryOptions } from './query-executor';
import { SCHEMA_QUERY_TIMEOUT_MS, SchemaIntrospector } from './schema-introspector';

/** Answers the introspector's queries in the order it sends them, and records each call. */
class ScriptedExecutor implements QueryExecutor {
  readonly calls: Array<{ sql: string; params: readonly unknown[]; options: QueryOptions }> = [];

  constructor(private readonly answers: Array<object[] | Error>) {}

  query<T extends object>(sql: string, params: readonly unknown[], options: QueryOptions): Promise<T[]> {
    this.calls.push({ sql, params, options });
    const answer = this.answers.shift();
    if (answer === undefined) return Promise.reject(new Error('unexpected query'));
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer as T[]);
  }
}

const SCHEMA_ROW = [{ oid: '16384', usable: true }];

const column = (table: string, name: string, extra: Record<string, unknown> = {}) => ({
  table,
  name,
  type: 'integer',
  nullable: false,
  expression: null,
  identity: '',
  generated: '',
  comment: null,
  ...extra,
});

describe('SchemaIntrospector', () => {
  const introspector = new SchemaIntrospector();

  it('assembles tables, columns, keys and indexes from five whole-schema queries', async () => {
    const executor = new ScriptedExecutor([
      SCHEMA_ROW,
      [
        { name: 'orders', kind: 'r', comment: 'Customer orders', reltuples: 1234.4 },
        { name: 'events', kind: 'p', comment: null, reltuples: -1 },
        { name: 'order_totals', kind: 'v', comment: null, reltuples: 0 },
      ],
      [
        column('orders', 'id', { identity: 'a' }),
        column('orders', 'customer_id', { nullable: true, comment: 'Who ordered' }),
        column('orders', 'status', { type: 'text', expression: "'new'::text" }),
        column('orders', 'total_cents', { type: 'bigint', expression: '(qty * price)', generated: 's' }),
        column('events', 'id', { type: 'bigint', expression: "nextval('events_id_seq'::regclass)" }),
        column('order_totals', 'total', { type: 'numeric', nullable: true }),
        // A table created after the table list was read: ignored.
        column('late_table', 'id'),
      ],
      [
        {
          table: 'orders',
          name: 'orders_customer_fkey',
          type: 'f',
          columns: ['customer_id'],
          referencedSchema: 'crm',
          referencedTable: 'customers',
          referencedColumns: ['id'],
        },
        {
          table: 'orders',
          name: 'orders_pkey',
          type: 'p',
          columns: ['id'],
          referencedSchema: null,
          referencedTable: null,
          referencedColumns: [],
        },
      ],
      [
        {
          table: 'orders',
          name: 'orders_pkey',
          unique: true,
          primary: true,
          method: 'btree',
          columns: ['id'],
          predicate: null,
        },
        {
          table: 'orders',
          name: 'orders_open_idx',
          unique: false,
          primary: false,
          method: 'btree',
          columns: ['lower(status)', 'customer_id'],
          predicate: "status <> 'closed'::text",
        },
      ],
    ]);

    const description = await introspector.introspect(executor, 'sales');

    expect(executor.calls).toHaveLength(5);
    expect(executor.calls.map((c) => c.params)).toEqual([
      ['sales'],
      ['16384'],
      ['16384'],
      ['16384'],
      ['16384'],
    ]);
    expect(executor.calls.every((c) => c.options.timeoutMs === SCHEMA_QUERY_TIMEOUT_MS)).toBe(true);
    expect(description.schema).toBe('sales');
    expect(description.tables.map((t) => t.name)).toEqual(['orders', 'events', 'order_totals']);
    expect(description.tables[0]).toEqual({
      name: 'orders',
      kind: 'table',
      comment: 'Customer orders',
      rowEstimate: 1234,
      columns: [
        {
          name: 'id',
          type: 'integer',
          nullable: false,
          default: null,
          identity: 'always',
          generated: null,
          comment: null,
        },
        {
          name: 'customer_id',
          type: 'integer',
          nullable: true,
          default: null,
          identity: null,
          generated: null,
          comment: 'Who ordered',
        },
        {
          name: 'status',
          type: 'text',
          nullable: false,
          default: "'new'::text",
          identity: null,
          generated: null,
          comment: null,
        },
        {
          name: 'total_cents',
          type: 'bigint',
          nullable: false,
          default: null,
          identity: null,
          generated: '(qty * price)',
          comment: null,
        },
      ],
      primaryKey: ['id'],
      foreignKeys: [
        {
          name: 'orders_customer_fkey',
          columns: ['customer_id'],
          references: { schema: 'crm', table: 'customers', columns: ['id'] },
        },
      ],
      indexes: [
        {
          name: 'orders_pkey',
          columns: ['id'],
          unique: true,
          primary: true,
          method: 'btree',
          predicate: null,
        },
        {
          name: 'orders_open_idx',
          columns: ['lower(status)', 'customer_id'],
          unique: false,
          primary: false,
          method: 'btree',
          predicate: "status <> 'closed'::text",
        },
      ],
    });
    expect(description.tables[1]).toMatchObject({
      kind: 'partitioned_table',
      rowEstimate: null,
      primaryKey: [],
      foreignKeys: [],
      indexes: [],
    });
    expect(description.tables[1].columns[0].default).toBe("nextval('events_id_seq'::regclass)");
    expect(description.tables[2]).toMatchObject({ kind: 'view', rowEstimate: null });
  });

  it('passes the caller’s timeout to every query', async () => {
    const executor = new ScriptedExecutor([SCHEMA_ROW, [], [], [], []]);
    await expect(introspector.introspect(executor, 'empty', { timeoutMs: 250 })).resolves.toEqual({
      schema: 'empty',
      tables: [],
    });
    expect(executor.calls.map((c) => c.options.timeoutMs)).toEqual([250, 250, 250, 250, 250]);
  });

  it('answers 404 SCHEMA_NOT_FOUND for an unknown schema without reading further', async () => {
    const executor = new ScriptedExecutor([[]]);
    const failure = introspector.introspect(executor, 'nope');
    await expect(failure).rejects.toBeInstanceOf(NotFoundError);
    await expect(failure).rejects.toMatchObject({ code: 'SCHEMA_NOT_FOUND' });
    expect(executor.calls).toHaveLength(1);
  });

  it('answers 502 SCHEMA_PERMISSION_DENIED when the role may not use the schema', async () => {
    const executor = new ScriptedExecutor([[{ oid: '1', usable: false }]]);
    const failure = introspector.introspect(executor, 'secret');
    await expect(failure).rejects.toBeInstanceOf(UpstreamError);
    await expect(failure).rejects.toMatchObject({ status: 502, code: 'SCHEMA_PERMISSION_DENIED' });
    expect(executor.calls).toHaveLength(1);
  });

  it('maps a statement timeout in any query to 504 SCHEMA_QUERY_TIMEOUT', async () => {
    const timeout = new DatabaseError('canceling statement due to statement timeout', 0, 'error');
    timeout.code = '57014';
    const executor = new ScriptedExecutor([SCHEMA_ROW, [], timeout]);
    const failure = introspector.introspect(executor, 'public');
    await expect(failure).rejects.toBeInstanceOf(UpstreamTimeoutError);
    await expect(failure).rejects.toMatchObject({ code: 'SCHEMA_QUERY_TIMEOUT' });
  });
});
