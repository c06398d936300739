import t from 'tap'
import type { Test } from 'tap'
import { checkPostgresStatement, isRefusedFunction } from '../../src/engines/postgres-safety.ts'
import { ToolError } from '../../src/errors.ts'

/** [sql, the refusal on a read-only database, why] */
const HOSTILE: Array<[string, string, string?]> = [
  ['SELECT 1; DELETE FROM t', 'multiple_statements'],
  ['SELECT 1;\nDROP TABLE t;', 'multiple_statements'],
  ["SELECT ';' ; DELETE FROM t", 'multiple_statements', 'a semicolon in a string does not end the statement, the next one does'],
  ['SELECT 1 -- ; DELETE FROM t\n; DELETE FROM t', 'multiple_statements'],
  ['SELECT $$;$$; DELETE FROM t', 'multiple_statements', 'dollar quotes'],
  ['SELECT $x$ $$ ; $x$; DELETE FROM t', 'multiple_statements', 'tagged dollar quotes'],
  ["SELECT E'\\''; DELETE FROM t", 'multiple_statements', 'an escaped quote in an E string'],
  ["SELECT 'it''s'; DELETE FROM t", 'multiple_statements'],
  ['SELECT 1 /* /* */ ; */ ; DELETE FROM t', 'multiple_statements', 'nested comments: the first */ does not end the outer one'],
  ['SELECT "a;b" FROM t; DELETE FROM t', 'multiple_statements'],
  ['SELECT 1；DELETE FROM t', 'sql_error', 'a fullwidth semicolon (U+FF1B) is not a separator, and not valid SQL'],
  ['SELECT 1\u037E DELETE FROM t', 'sql_error', 'a Greek question mark looks like a semicolon'],
  ['SELECT 1;\u0000DELETE FROM t', 'sql_error', 'a NUL ends the text on the wire'],
  [';;;', 'empty_statement'],
  ['-- only a comment', 'empty_statement'],
  ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', 'read_only', 'a data-modifying CTE'],
  ['WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u', 'read_only'],
  ['SELECT * FROM (WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i) s', 'read_only'],
  ['DELETE FROM t', 'read_only'],
  ['UPDATE t SET a = 0', 'read_only'],
  ['INSERT INTO t VALUES (1)', 'read_only'],
  ['MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE', 'read_only'],
  ['DROP TABLE t', 'read_only'],
  ['CREATE TABLE x (a int)', 'read_only'],
  ['CREATE TEMP TABLE t (fake int)', 'read_only', 'would shadow a real table'],
  ['TRUNCATE t', 'read_only'],
  ['SELECT * INTO stolen FROM t', 'read_only', 'SELECT INTO creates a table'],
  ['SELECT * FROM t FOR UPDATE', 'read_only', 'row locks'],
  ["SELECT * FROM pg_read_file('/etc/passwd')", 'not_allowed', 'a FROM-clause function (postgres-mcp #178)'],
  ["SELECT pg_catalog.pg_read_file('/etc/passwd')", 'not_allowed', 'schema-qualified'],
  ["SELECT \"PG_READ_FILE\"('/etc/passwd')", 'not_allowed', 'quoted upper case'],
  ["SELECT pg_read_binary_file('/etc/passwd')", 'not_allowed'],
  ["SELECT (SELECT pg_ls_dir('.'))", 'not_allowed', 'in a scalar subquery'],
  ["SELECT * FROM t WHERE a IN (SELECT length(pg_stat_file('/etc/passwd')::text))", 'not_allowed'],
  ["WITH f AS (SELECT pg_read_file('/etc/hosts') AS x) SELECT x FROM f", 'not_allowed', 'in a CTE'],
  ["SELECT * FROM ROWS FROM (pg_ls_dir('/'))", 'not_allowed'],
  ["SELECT * FROM t, LATERAL (SELECT pg_ls_dir('/')) l", 'not_allowed'],
  ["SELECT CASE WHEN true THEN pg_read_file('/etc/passwd') END", 'not_allowed', 'inside an expression'],
  ["SELECT query_to_xml('delete from t', true, true, '')", 'not_allowed', 'runs SQL given as text'],
  ["SELECT cursor_to_xml('c', 1, true, true, '')", 'not_allowed'],
  ["SELECT table_to_xml('t', true, true, '')", 'not_allowed'],
  ["SELECT set_config('default_transaction_read_only', 'off', false)", 'not_allowed', 'would lift read-only'],
  ["SELECT lo_import('/etc/passwd')", 'not_allowed'],
  ["SELECT lo_export(1, '/tmp/x')", 'not_allowed'],
  ["SELECT dblink('host=evil', 'select 1')", 'not_allowed'],
  ["SELECT dblink_exec('host=evil', 'drop table t')", 'not_allowed'],
  ['SELECT pg_terminate_backend(1)', 'not_allowed'],
  ['SELECT pg_cancel_backend(1)', 'not_allowed'],
  ['SELECT pg_advisory_lock(1)', 'not_allowed', 'a lock that outlives the query'],
  ['SELECT pg_try_advisory_lock(1)', 'not_allowed'],
  ['SELECT pg_reload_conf()', 'not_allowed'],
  ['SELECT pg_rotate_logfile()', 'not_allowed'],
  ['SELECT pg_switch_wal()', 'not_allowed'],
  ["SELECT pg_notify('c', 'x')", 'not_allowed'],
  ["SELECT pg_create_logical_replication_slot('s', 'test_decoding')", 'not_allowed'],
  ["SELECT ｐｇ_read_file('/etc/passwd')", 'not_allowed', 'fullwidth letters fold (NFKC) to the real name'],
  ["COPY t TO PROGRAM 'id'", 'not_allowed'],
  ["COPY t FROM '/etc/passwd'", 'not_allowed'],
  ['COPY (SELECT 1) TO STDOUT', 'not_allowed'],
  ['DO $$ BEGIN PERFORM 1; END $$', 'not_allowed'],
  ['CALL p()', 'not_allowed'],
  ['LISTEN c', 'not_allowed'],
  ["NOTIFY c, 'x'", 'not_allowed'],
  ['UNLISTEN *', 'not_allowed'],
  ['SET default_transaction_read_only = off', 'not_allowed'],
  ['SET ROLE postgres', 'not_allowed'],
  ['SET SESSION AUTHORIZATION postgres', 'not_allowed'],
  ['RESET ALL', 'not_allowed'],
  ['SHOW data_directory', 'not_allowed'],
  ['BEGIN', 'not_allowed'],
  ['COMMIT', 'not_allowed'],
  ['SAVEPOINT s', 'not_allowed'],
  ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', 'not_allowed'],
  ['PREPARE p AS SELECT 1', 'not_allowed'],
  ['EXECUTE p', 'not_allowed'],
  ['DEALLOCATE ALL', 'not_allowed'],
  ["CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", 'not_allowed'],
  ['CREATE EXTENSION dblink', 'not_allowed'],
  ['CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw', 'not_allowed'],
  ['CREATE FOREIGN TABLE f (a int) SERVER s', 'not_allowed'],
  ['CREATE USER MAPPING FOR CURRENT_USER SERVER s', 'not_allowed'],
  ["ALTER SYSTEM SET work_mem = '1TB'", 'not_allowed'],
  ['VACUUM t', 'not_allowed'],
  ['ANALYZE t', 'not_allowed'],
  ["SECURITY LABEL ON TABLE t IS 'x'", 'not_allowed'],
  ['GRANT ALL ON t TO PUBLIC', 'not_allowed'],
  ['REVOKE SELECT ON t FROM PUBLIC', 'not_allowed'],
  ['CREATE ROLE evil SUPERUSER', 'not_allowed'],
  ['REFRESH MATERIALIZED VIEW m', 'read_only'],
  ['EXPLAIN ANALYZE DELETE FROM t', 'read_only'],
  ['EXPLAIN DELETE FROM t', 'read_only'],
  ['DECLARE c CURSOR FOR SELECT 1', 'not_allowed'],
  ["SELECT 1 FROM t WHERE a = 'x' UNION SELECT length(pg_read_file('/etc/passwd'))", 'not_allowed', 'in a UNION arm'],
  ['SELEC 1', 'sql_error']
]

const expectRefusal = async (t: Test, sql: string, allowDml: boolean, kind: string, why?: string): Promise<void> => {
  try {
    await checkPostgresStatement(sql, allowDml)
    t.fail(`${JSON.stringify(sql)} passed${why === undefined ? '' : ` (${why})`}`)
  } catch (err) {
    t.ok(err instanceof ToolError, 'a tool error')
    t.equal((err as ToolError).errorType, kind, `${JSON.stringify(sql)}${why === undefined ? '' : ` (${why})`}: ${(err as Error).message}`)
  }
}

/** A call that must fail with a ToolError matching `wanted`. */
async function expectError (t: Test, promise: Promise<unknown>, wanted: { errorType?: string, message?: RegExp }, message?: string): Promise<void> {
  const err = await promise.then(() => undefined, (error: unknown) => error)
  t.ok(err instanceof ToolError, message ?? 'a tool error')
  t.match(err, wanted, message ?? 'the expected error')
}

t.test('hostile statements are refused before anything runs', async t => {
  t.ok(HOSTILE.length >= 40, `${HOSTILE.length} statements`)
  for (const [sql, kind, why] of HOSTILE) await expectRefusal(t, sql, false, kind, why)
})

t.test('with allow_dml, writes and table DDL pass, the dangerous rest does not', async t => {
  for (const sql of ['DELETE FROM t', 'INSERT INTO t VALUES (1) RETURNING *', 'UPDATE t SET a = 1', 'CREATE TABLE x (a int)', 'DROP TABLE x', 'CREATE INDEX i ON t (a)', 'ALTER TABLE t ADD COLUMN b int', 'CREATE VIEW v AS SELECT 1', 'REFRESH MATERIALIZED VIEW m', 'EXPLAIN DELETE FROM t']) {
    const checked = await checkPostgresStatement(sql, true)
    t.not(checked.class, 'read', sql)
  }
  t.equal((await checkPostgresStatement('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', true)).class, 'dml', 'a data-modifying CTE is a write, committed as one')
  for (const sql of ["COPY t TO PROGRAM 'id'", "SELECT pg_read_file('/etc/passwd')", 'DROP FUNCTION f', 'DROP SCHEMA public CASCADE', 'CREATE EXTENSION x', 'SET ROLE postgres', 'EXPLAIN ANALYZE DELETE FROM t', 'GRANT ALL ON t TO PUBLIC', 'BEGIN']) {
    await expectRefusal(t, sql, true, 'not_allowed')
  }
})

t.test('analytics SQL passes: the parser check does not get in the way of real queries', async t => {
  const valid = [
    'SELECT 1',
    'VALUES (1, 2), (3, 4)',
    'EXPLAIN SELECT * FROM t',
    'EXPLAIN ANALYZE SELECT * FROM t',
    'WITH a AS (SELECT 1 AS x), b AS (WITH c AS (SELECT x FROM a) SELECT * FROM c) SELECT * FROM b',
    'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders',
    'SELECT region, count(*) FILTER (WHERE amount > 10) FROM orders GROUP BY GROUPING SETS ((region), ())',
    'SELECT DISTINCT ON (region) region, amount FROM orders ORDER BY region, amount DESC',
    "SELECT date_trunc('month', ts) + interval '1 month' FROM t",
    'SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.a = t.a LIMIT 1) l',
    'SELECT sum(amount) OVER (PARTITION BY region ORDER BY ts ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) FROM t',
    "SELECT current_setting('server_version'), pg_sleep(0), version()",
    'SELECT * FROM generate_series(1, 10) g',
    'SELECT 1 -- trailing comment; DELETE',
    'SELECT 1;',
    "SELECT 'pg_read_file(''/etc/passwd'')'",
    "SELECT pg_rеad_file('/etc/passwd')"
  ]
  for (const sql of valid) t.equal((await checkPostgresStatement(sql, false)).class, 'read', sql)
  t.notOk(isRefusedFunction('pg_rеad_file'), 'a Cyrillic look-alike is another function, which does not exist (the server says so)')
})

t.test('refusals say what was refused and what to do instead', async t => {
  await expectError(t, checkPostgresStatement('SELECT 1; SELECT 2', false), { message: /one SQL statement.*holds 2.*own call/ })
  await expectError(t, checkPostgresStatement('SHOW work_mem', false), { message: /current_setting/ })
  await expectError(t, checkPostgresStatement('SELECT 1 FROM', false), { errorType: 'sql_error', message: /cannot parse.*at character/ })
  await expectError(t, checkPostgresStatement("SELECT pg_read_file('x')", false), { message: /pg_read_file\(\) is not allowed/ })
})
