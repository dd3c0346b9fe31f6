import { BadRequestError } from '../../common/app-error';
import { MAX_PARAMS, MAX_SQL_LENGTH } from './postgres-config';
import { checkParams, checkQuery } from './sql-guard';

async function refusal(sql: string, paramCount = 0): Promise<BadRequestError> {
  try {
    await checkQuery(sql, paramCount);
  } catch (error) {
    if (error instanceof BadRequestError) return error;
    throw error;
  }
  throw new Error(`expected a refusal of: ${sql}`);
}

async function expectNotAllowed(sql: string, reason: RegExp): Promise<void> {
  const error = await refusal(sql);
  expect(error.status).toBe(400);
  expect(error.code).toBe('QUERY_NOT_ALLOWED');
  expect(error.message).toMatch(reason);
}

describe('checkQuery', () => {
  describe('the vectors of the acceptance list', () => {
    it.each([
      ['SELECT 1; DROP TABLE t', /only one statement/],
      ['COMMIT; DROP TABLE t', /only one statement/],
      ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', /DELETE inside the query is not allowed/],
      ["SELECT pg_read_file('/etc/passwd')", /function pg_read_file is not allowed: it reads files/],
      [
        "SELECT set_config('default_transaction_read_only','off',false)",
        /function set_config is not allowed: it changes server settings/,
      ],
      ["COPY t TO PROGRAM 'id'", /COPY statements are not allowed/],
      ['CREATE TABLE x()', /CREATE TABLE statements are not allowed/],
      ["SELECT * FROM dblink('', '')", /function dblink is not allowed: it connects to other databases/],
    ])('refuses %s', async (sql, reason) => {
      await expectNotAllowed(sql, reason);
    });

    it('lets SELECT pg_sleep(60) through: the statement timeout stops it', async () => {
      await expect(checkQuery('SELECT pg_sleep(60)', 0)).resolves.toMatchObject({ kind: 'select' });
    });
  });

  describe('single statements that are not reads', () => {
    it.each([
      ['COMMIT', /COMMIT statements are not allowed/],
      ['BEGIN', /BEGIN statements are not allowed/],
      ['ROLLBACK', /ROLLBACK statements are not allowed/],
      ['DELETE FROM t', /DELETE statements are not allowed/],
      ["INSERT INTO t VALUES (1, 'x')", /INSERT statements are not allowed/],
      ['UPDATE t SET n = 2', /UPDATE statements are not allowed/],
      ['MERGE INTO t USING u ON t.n = u.n WHEN MATCHED THEN DELETE', /MERGE statements are not allowed/],
      ['DROP TABLE t', /DROP statements are not allowed/],
      ['TRUNCATE t', /TRUNCATE statements are not allowed/],
      ["SET default_transaction_read_only = 'off'", /SET statements are not allowed/],
      ['SHOW search_path', /SHOW statements are not allowed/],
      ['CREATE TABLE x AS SELECT 1', /CREATE TABLE AS statements are not allowed/],
      ['DO $$ BEGIN PERFORM 1; END $$', /DO statements are not allowed/],
      ['CALL p()', /CALL statements are not allowed/],
      ['LOCK TABLE t', /LOCK statements are not allowed/],
      ['VACUUM t', /VACUUM or ANALYZE statements are not allowed/],
      ['PREPARE p AS SELECT 1', /PREPARE statements are not allowed/],
      ['DECLARE c CURSOR FOR SELECT 1', /DECLARE CURSOR statements are not allowed/],
      ["COPY (SELECT 1) TO '/tmp/x'", /COPY statements are not allowed/],
      ['LISTEN channel', /LISTEN statements are not allowed/],
      ["NOTIFY channel, 'x'", /NOTIFY statements are not allowed/],
      ['ALTER SYSTEM SET work_mem = 1', /ALTER SYSTEM statements are not allowed/],
      ['GRANT SELECT ON t TO public', /GRANT statements are not allowed/],
    ])('refuses %s', async (sql, reason) => {
      await expectNotAllowed(sql, reason);
    });

    it('names the count of statements, also with the writing one first', async () => {
      await expectNotAllowed('DROP TABLE t; SELECT 1', /this text holds 2/);
      await expectNotAllowed('SELECT 1;;SELECT 2;', /this text holds 2/);
    });
  });

  describe('data-modifying statements nested anywhere', () => {
    it.each([
      'WITH d AS (INSERT INTO t VALUES (1) RETURNING n) SELECT * FROM d',
      'WITH d AS (UPDATE t SET n = 1 RETURNING n) SELECT * FROM d',
      'WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM t RETURNING n) SELECT * FROM c) SELECT * FROM b',
      'SELECT * FROM (WITH d AS (DELETE FROM t RETURNING n) SELECT n FROM d) s',
      'SELECT 1 WHERE EXISTS (WITH d AS (DELETE FROM t RETURNING n) SELECT 1 FROM d)',
      'SELECT 1 UNION ALL (WITH d AS (DELETE FROM t RETURNING n) SELECT n FROM d)',
      'EXPLAIN WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
    ])('refuses %s', async (sql) => {
      await expectNotAllowed(sql, /(DELETE|INSERT|UPDATE) inside the query is not allowed/);
    });
  });

  describe('denied functions', () => {
    it.each([
      ["SELECT pg_catalog.pg_read_file('/etc/passwd')", 'pg_read_file'],
      ["SELECT PG_CATALOG.PG_READ_FILE('/etc/passwd')", 'pg_read_file'],
      ['SELECT "PG_READ_FILE"(\'/etc/passwd\')', 'PG_READ_FILE'],
      ['SELECT "pg_read_file"(\'/etc/passwd\')', 'pg_read_file'],
      ["SELECT pg_read_binary_file('/etc/passwd')", 'pg_read_binary_file'],
      ["SELECT * FROM pg_ls_dir('.')", 'pg_ls_dir'],
      ['SELECT * FROM pg_ls_waldir()', 'pg_ls_waldir'],
      ["SELECT pg_stat_file('postgresql.conf')", 'pg_stat_file'],
      ["SELECT lo_import('/etc/passwd')", 'lo_import'],
      ["SELECT lo_export(1, '/tmp/x')", 'lo_export'],
      ['SELECT loread(0, 10)', 'loread'],
      ["SELECT dblink_exec('', 'DROP TABLE t')", 'dblink_exec'],
      ["SELECT public.dblink_connect('x')", 'dblink_connect'],
      ['SELECT pg_advisory_lock(1)', 'pg_advisory_lock'],
      ['SELECT pg_try_advisory_xact_lock(1)', 'pg_try_advisory_xact_lock'],
      ['SELECT pg_terminate_backend(1)', 'pg_terminate_backend'],
      ['SELECT pg_cancel_backend(1)', 'pg_cancel_backend'],
      ['SELECT pg_reload_conf()', 'pg_reload_conf'],
      ['SELECT pg_rotate_logfile()', 'pg_rotate_logfile'],
      ['SELECT pg_switch_wal()', 'pg_switch_wal'],
      ["SELECT pg_create_restore_point('x')", 'pg_create_restore_point'],
      ['SELECT pg_promote()', 'pg_promote'],
      ["SELECT pg_drop_replication_slot('s')", 'pg_drop_replication_slot'],
      ["SELECT query_to_xml('DELETE FROM t RETURNING 1', true, false, '')", 'query_to_xml'],
      ["SELECT table_to_xml('t', true, false, '')", 'table_to_xml'],
      ["SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''x''))')", 'ts_stat'],
      ["SELECT pg_notify('c', 'x')", 'pg_notify'],
      ["SELECT pg_catalog.pg_notify('c', 'x')", 'pg_notify'],
      ["SELECT nextval('s')", 'nextval'],
      ["SELECT setval('s', 1)", 'setval'],
      ['SELECT pg_stat_reset()', 'pg_stat_reset'],
    ])('refuses %s', async (sql, name) => {
      await expectNotAllowed(sql, new RegExp(`function ${name} is not allowed`));
    });

    it.each([
      ["SELECT (SELECT pg_read_file('/etc/passwd'))", 'a scalar subquery'],
      ["SELECT * FROM t WHERE n IN (SELECT length(pg_read_file('/etc/passwd')))", 'an IN subquery'],
      ["SELECT * FROM t, LATERAL (SELECT pg_read_file('/etc/passwd')) f", 'a lateral subquery'],
      ["SELECT * FROM t, LATERAL pg_ls_dir('.') AS f", 'a lateral function'],
      ["SELECT * FROM ROWS FROM (generate_series(1, 2), pg_ls_dir('.')) AS f", 'ROWS FROM'],
      ["WITH f AS (SELECT pg_read_file('/etc/passwd') AS c) SELECT c FROM f", 'a CTE'],
      [
        'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE pg_sleep(0) IS NULL AND lo_unlink(n) = 1) SELECT * FROM r',
        'a recursive CTE',
      ],
      ["SELECT 1 UNION SELECT length(pg_read_file('/etc/passwd'))", 'a set operation'],
      ["SELECT coalesce(NULL, upper(pg_read_file('/etc/passwd')))", 'an argument'],
      ["SELECT CASE WHEN true THEN pg_read_file('/etc/passwd') END", 'a CASE'],
      ["SELECT count(*) FILTER (WHERE pg_read_file('/etc/passwd') IS NULL) FROM t", 'an aggregate filter'],
      ["SELECT row_number() OVER (ORDER BY pg_read_file('/etc/passwd')) FROM t", 'a window'],
      ["SELECT * FROM t ORDER BY pg_read_file('/etc/passwd')", 'ORDER BY'],
      ["SELECT n FROM t GROUP BY n HAVING max(pg_read_file('/etc/passwd')) IS NULL", 'HAVING'],
      ["SELECT * FROM t LIMIT length(pg_read_file('/etc/passwd'))", 'LIMIT'],
      ["VALUES (pg_read_file('/etc/passwd'))", 'VALUES'],
      ["SELECT pg_read_file('/etc/passwd')::text", 'a cast'],
      ["SELECT ARRAY[pg_read_file('/etc/passwd')]", 'an array'],
      ["EXPLAIN SELECT pg_read_file('/etc/passwd')", 'EXPLAIN'],
    ])('refuses pg_read_file in %s', async (sql, _where) => {
      await expectNotAllowed(sql, /function (pg_read_file|pg_ls_dir|lo_unlink) is not allowed/);
    });

    it('refuses the attribute notation that calls a function (row.function)', async () => {
      await expectNotAllowed('SELECT t.pg_read_file FROM t', /function pg_read_file is not allowed/);
    });

    it('allows harmless functions, including pg_sleep and current_setting', async () => {
      for (const sql of [
        "SELECT now(), lower('X'), count(*) FROM t",
        "SELECT current_setting('server_version')",
        'SELECT pg_sleep(0.1)',
        'SELECT * FROM generate_series(1, 3) g, LATERAL (SELECT g * 2) d',
        'SELECT pg_catalog.format_type(23, NULL)',
      ]) {
        await expect(checkQuery(sql, 0)).resolves.toMatchObject({ kind: 'select' });
      }
    });
  });

  describe('SELECT forms', () => {
    it.each([
      'SELECT 1',
      'select * from t where n > 1 order by n desc limit 5',
      'VALUES (1, 2), (3, 4)',
      'TABLE t',
      'SELECT 1 UNION SELECT 2 INTERSECT SELECT 2 EXCEPT SELECT 3',
      'WITH a AS (SELECT 1 AS n), b AS MATERIALIZED (SELECT n FROM a) SELECT * FROM b',
      'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r',
      'EXPLAIN SELECT * FROM t',
      'EXPLAIN (FORMAT JSON, VERBOSE, COSTS false) SELECT * FROM t',
    ])('allows %s', async (sql) => {
      await expect(checkQuery(sql, 0)).resolves.toBeDefined();
    });

    it('refuses SELECT … INTO, which creates a table', async () => {
      await expectNotAllowed('SELECT * INTO x FROM t', /SELECT … INTO is not allowed/);
      await expectNotAllowed('SELECT 1 AS n INTO TEMP x', /SELECT … INTO is not allowed/);
    });

    it.each([
      'SELECT * FROM t FOR UPDATE',
      'SELECT * FROM t FOR NO KEY UPDATE',
      'SELECT * FROM t FOR SHARE',
      'SELECT * FROM t FOR KEY SHARE SKIP LOCKED',
      'SELECT * FROM t WHERE n IN (SELECT n FROM t FOR UPDATE)',
      'WITH l AS (SELECT * FROM t FOR UPDATE) SELECT * FROM l',
    ])('refuses the locking clause of %s', async (sql) => {
      await expectNotAllowed(sql, /locking clauses are not allowed/);
    });

    it('refuses EXPLAIN ANALYZE of anything, and EXPLAIN of anything but a SELECT', async () => {
      await expectNotAllowed('EXPLAIN ANALYZE DELETE FROM t', /EXPLAIN ANALYZE is not allowed/);
      await expectNotAllowed('EXPLAIN ANALYZE SELECT 1', /EXPLAIN ANALYZE is not allowed/);
      await expectNotAllowed('EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1', /EXPLAIN ANALYZE is not allowed/);
      await expectNotAllowed('EXPLAIN (analyze true) SELECT 1', /EXPLAIN ANALYZE is not allowed/);
      await expectNotAllowed('EXPLAIN DELETE FROM t', /EXPLAIN of DELETE is not allowed/);
      await expectNotAllowed(
        'EXPLAIN CREATE TABLE x AS SELECT 1',
        /EXPLAIN of CREATE TABLE AS is not allowed/,
      );
      await expectNotAllowed('EXPLAIN SELECT 1 INTO x', /SELECT … INTO is not allowed/);
    });
  });

  describe('the statement text', () => {
    it('drops leading comments and the trailing semicolon, counting bytes right past non-ASCII text', async () => {
      const checked = await checkQuery('/* héllo */ SELECT \'é\' AS "ç" ; -- done', 0);
      expect(checked.statement).toBe('SELECT \'é\' AS "ç" ');
      expect((await checkQuery('SELECT 1 -- trailing comment', 0)).statement).toBe(
        'SELECT 1 -- trailing comment',
      );
    });

    it('answers the kind', async () => {
      expect((await checkQuery('EXPLAIN SELECT 1', 0)).kind).toBe('explain');
      expect((await checkQuery('VALUES (1)', 0)).kind).toBe('select');
    });
  });

  describe('parameters and malformed input', () => {
    it('requires exactly as many values as the highest $n', async () => {
      await expect(checkQuery('SELECT $1::int + $2::int', 2)).resolves.toMatchObject({ paramCount: 2 });
      const tooFew = await refusal('SELECT $1::int + $2::int', 1);
      expect(tooFew.code).toBe('QUERY_INVALID');
      expect(tooFew.message).toContain('uses 2 parameter(s)');
      expect((await refusal('SELECT 1', 1)).code).toBe('QUERY_INVALID');
    });

    it("answers a syntax error with PostgreSQL's message and a 1-based position", async () => {
      const error = await refusal('SELECT 1 FROM WHERE');
      expect(error.code).toBe('QUERY_INVALID');
      expect(error.message).toBe(
        'The query could not be parsed: syntax error at or near "WHERE" (at character 15).',
      );
      expect(error.details).toEqual([
        { field: 'sql', issue: 'syntax error at or near "WHERE"', position: 15 },
      ]);
      expect((await refusal("SELECT 'unterminated")).message).toContain('unterminated quoted string');
    });

    it('refuses empty text and text that is only semicolons or comments', async () => {
      for (const sql of ['', '   ', ' ; ; ', '-- nothing']) {
        expect((await refusal(sql)).code).toBe('QUERY_INVALID');
      }
    });

    it('refuses text longer than the limit before parsing it', async () => {
      const error = await refusal(`SELECT '${'x'.repeat(MAX_SQL_LENGTH)}'`);
      expect(error.code).toBe('VALIDATION_FAILED');
    });

    it('walks long lists (thousands of VALUES rows) and still finds a denied function at the end', async () => {
      const rows = Array.from({ length: 12_000 }, (_, index) => `(${index})`).join(',');
      await expect(checkQuery(`VALUES ${rows}`, 0)).resolves.toMatchObject({ kind: 'select' });
      await expectNotAllowed(`VALUES ${rows},(lo_import('/etc/passwd'))`, /function lo_import/);
    });

    it('refuses absurd nesting as a parse error, not a crash', async () => {
      const error = await refusal(`SELECT ${'('.repeat(40_000)}1${')'.repeat(40_000)}`);
      expect(error.code).toBe('QUERY_INVALID');
    });
  });
});

describe('checkParams', () => {
  it('accepts strings, finite numbers, booleans and null', () => {
    expect(checkParams(['a', 1, 2.5, true, null])).toEqual(['a', 1, 2.5, true, null]);
  });

  it.each([
    [[{ a: 1 }], 'params.0'],
    [[1, [1, 2]], 'params.1'],
    [[Number.NaN], 'params.0'],
    [[Number.POSITIVE_INFINITY], 'params.0'],
    [[undefined], 'params.0'],
  ])('refuses %p', (params, field) => {
    expect(() => checkParams(params)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ field })] }),
    );
  });

  it(`refuses more than ${MAX_PARAMS} values`, () => {
    expect(() => checkParams(new Array<number>(MAX_PARAMS + 1).fill(1))).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });
});
