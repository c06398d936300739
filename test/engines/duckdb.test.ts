import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import type { Test } from 'tap'
import type { DatabaseRecord } from '../../src/catalog/records.ts'
import { DuckDbEngine, duckDbPath, viewName } from '../../src/engines/duckdb.ts'
import type { DuckDbEngineOptions } from '../../src/engines/duckdb.ts'
import { leadingKeyword } from '../../src/engines/duckdb-safety.ts'
import type { QueryRequest } from '../../src/engines/engines.ts'
import { databaseRecord, refusal } from '../helpers/engine.ts'

// The DuckDB engine on real DuckDB (one thread per database, so other test files keep a core): a folder of Parquet and CSV files written by DuckDB itself
// (on a separate, unlocked instance), a .duckdb file, and the lock-down tested on its own.

interface Lake {
  dir: string
  outside: string
  duckdbFile: string
}

async function writeLake (root: string): Promise<Lake> {
  const dir = path.join(root, 'lake')
  const outside = path.join(root, 'private')
  mkdirSync(dir, { recursive: true })
  mkdirSync(outside, { recursive: true })
  const duckdbFile = path.join(root, 'warehouse.duckdb')
  const writer = await DuckDBInstance.create(':memory:')
  const connection = await writer.connect()
  const literal = (file: string): string => `'${file.replaceAll("'", "''")}'`
  await connection.run(`COPY (SELECT range AS order_id, (range % 7)::INTEGER AS customer_id, (range * 1.25)::DECIMAL(10, 2) AS amount,
      DATE '2024-01-01' + (range % 90)::INTEGER AS order_date, TIMESTAMP '2024-01-01 08:30:00' + INTERVAL (range) HOUR AS created_at,
      CASE range % 3 WHEN 0 THEN 'North' WHEN 1 THEN 'South' ELSE 'West' END AS region
    FROM range(1000)) TO ${literal(path.join(dir, 'orders.parquet'))} (FORMAT parquet)`)
  await connection.run(`COPY (SELECT range AS customer_id, 'Customer ' || range AS name FROM range(7)) TO ${literal(path.join(dir, 'Customer-List 2024.csv'))} (HEADER)`)
  await connection.run(`COPY (SELECT 'top secret' AS secret) TO ${literal(path.join(outside, 'secret.csv'))} (HEADER)`)
  await connection.run(`COPY (SELECT 'not in the glob' AS x) TO ${literal(path.join(dir, 'notes.txt'))} (FORMAT csv)`)
  await connection.run(`ATTACH ${literal(duckdbFile)} AS warehouse`)
  await connection.run('CREATE TABLE warehouse.items AS SELECT range AS id, \'item \' || range AS label FROM range(50)')
  connection.closeSync()
  writer.closeSync()
  return { dir, outside, duckdbFile }
}

let nextId = 1
function record (connection: string, options: DatabaseRecord['options'] = {}, allowDml = false): DatabaseRecord {
  const id = nextId++
  return databaseRecord('duckdb', connection, { id, uuid: `uuid-${id}`, database_name: `duck${id}`, options, allow_dml: allowDml })
}

function engine (t: Test, options: Partial<DuckDbEngineOptions> = {}): DuckDbEngine {
  const created = new DuckDbEngine({ dataDir: t.testdir(), memoryMb: 256, maxTempMb: 64, threads: 1, connections: 2, perOwnerRunning: 1, queueLimit: 8, perOwnerQueueLimit: 4, ...options })
  t.teardown(() => created.close())
  return created
}

const query = (sql: string, extra: Partial<QueryRequest> = {}): QueryRequest => ({ sql, maxRows: 100, maxBytes: 1_048_576, timeoutMs: 30_000, dryRun: false, ...extra })

const root = t.testdir()
const lake = await writeLake(root)

t.test('file views: one per file, named from the base name, with JSON-safe values', async t => {
  const duck = engine(t)
  const db = record('duckdb:///:memory:', { files: [path.join(lake.dir, '*.parquet'), path.join(lake.dir, '*.csv')] })
  const tables = await duck.listTables(db)
  t.same(tables, [{ name: 'customer_list_2024', type: 'view' }, { name: 'orders', type: 'view' }])
  const result = await duck.execute(db, query('SELECT order_id, customer_id, amount, order_date, created_at, region FROM orders ORDER BY order_id LIMIT 2'))
  t.same(result.rows[1], [1, 1, 1.25, '2024-01-02', '2024-01-01T09:30:00', 'South'])
  t.same(result.columns.map(column => column.type), ['BIGINT', 'INTEGER', 'DECIMAL(10,2)', 'DATE', 'TIMESTAMP', 'VARCHAR'])
  t.equal(result.truncated, false)
  const joined = await duck.execute(db, query('SELECT c.name, count(*) AS n FROM orders o JOIN customer_list_2024 c USING (customer_id) GROUP BY ALL ORDER BY 1 LIMIT 1'))
  t.same(joined.rows, [['Customer 0', 143]])
  const types = await duck.execute(db, query(`SELECT 9007199254740993::BIGINT AS big, 170141183460469231731687303715884105727::HUGEINT AS huge, 'ab'::BLOB AS b,
    [1, 2] AS l, {'a': 1, 'b': 'x'} AS s, NULL AS n, 1.5::DOUBLE AS d, true AS t, TIMESTAMPTZ '2024-01-01 00:00:00+00' IS NOT NULL AS tz, INTERVAL 1 DAY AS i`))
  t.same(types.rows[0], ['9007199254740993', '170141183460469231731687303715884105727', 'YWI=', [1, 2], { a: 1, b: 'x' }, null, 1.5, true, true, { months: 0, days: 1, micros: '0' }])
  t.equal(viewName('/x/2024 Sales.csv.gz'), '_2024_sales')
  t.equal(duckDbPath('duckdb:///:memory:'), ':memory:')
  t.equal(duckDbPath('duckdb:///data/w.duckdb'), '/data/w.duckdb')
  t.equal(leadingKeyword('/* c */ -- d\n ((select 1))'), 'SELECT')
})

t.test('row and size caps stream the result and stop early', async t => {
  const duck = engine(t)
  const db = record('duckdb:///:memory:')
  const started = Date.now()
  const capped = await duck.execute(db, query('SELECT range FROM range(100000000)', { maxRows: 10 }))
  t.equal(capped.rowCount, 10)
  t.equal(capped.truncated, true)
  t.equal(capped.truncatedBy, 'rows')
  t.ok(Date.now() - started < 20_000, 'the probe stops streaming')
  const sized = await duck.execute(db, query("SELECT repeat('x', 1000) AS s FROM range(1000)", { maxBytes: 65_536 }))
  t.equal(sized.truncatedBy, 'bytes')
  t.ok(sized.rowCount > 10 && sized.rowCount < 100, `${sized.rowCount} rows fit`)
  const tooLarge = await refusal(duck.execute(db, query("SELECT repeat('x', 100000) AS s", { maxBytes: 65_536 })))
  t.equal(tooLarge.errorType, 'result_too_large')
  const exact = await duck.execute(db, query('SELECT range FROM range(10)', { maxRows: 10 }))
  t.equal(exact.truncated, false, 'exactly maxRows rows are not truncated')
  const dry = await duck.execute(db, query('SELECT 1 AS a, \'x\' AS b', { dryRun: true }))
  t.same(dry.columns, [{ name: 'a', type: 'INTEGER' }, { name: 'b', type: 'VARCHAR' }])
  t.equal(dry.rowCount, 0)
  const bound = await duck.execute(db, query('SELECT ? + 1 AS a, ? AS b', { params: [41, 'x'] }))
  t.same(bound.rows, [[42, 'x']])
})

t.test('statement checks (layer 2) name what they refuse', async t => {
  const duck = engine(t)
  const db = record('duckdb:///:memory:', { files: [path.join(lake.dir, '*.parquet')] })
  const cases: Array<[string, string, RegExp?]> = [
    [`SELECT * FROM read_csv('${path.join(lake.outside, 'secret.csv')}')`, 'not_allowed', /read_csv reads files.*get_database_info/],
    [`SELECT * FROM '${path.join(lake.outside, 'secret.csv')}'`, 'not_allowed', /naming it as a table/],
    [`SELECT * FROM '${path.join(lake.dir, 'orders.parquet')}'`, 'not_allowed', /naming it as a table/],
    ["WITH x AS (SELECT * FROM read_parquet('/etc/passwd')) SELECT * FROM x", 'not_allowed', /read_parquet/],
    ["SELECT (SELECT count(*) FROM glob('/*'))", 'not_allowed', /glob/],
    ["SELECT * FROM query('SELECT 1')", 'not_allowed', /runs SQL given as a string/],
    ["SELECT current_setting('temp_directory')", 'not_allowed', /current_setting/],
    ['SELECT * FROM duckdb_settings()', 'not_allowed'],
    ['SELECT * FROM pragma_database_list()', 'not_allowed'],
    ["ATTACH '/tmp/x.duckdb' AS x", 'not_allowed', /ATTACH/],
    ['INSTALL httpfs', 'not_allowed'],
    ['LOAD httpfs', 'not_allowed'],
    ["COPY orders TO '/tmp/out.csv'", 'not_allowed', /COPY/],
    ['SET threads = 64', 'not_allowed', /SET is not allowed/],
    ['PRAGMA threads = 64', 'not_allowed', /PRAGMA threads/],
    ['CALL pragma_version()', 'not_allowed'],
    ['BEGIN TRANSACTION', 'not_allowed'],
    ["CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')", 'not_allowed', /Secrets/],
    ['CREATE TEMP TABLE orders AS SELECT 1', 'not_allowed', /Temporary/],
    ['CREATE TABLE x AS SELECT 1', 'read_only'],
    ['DROP VIEW orders', 'read_only'],
    ['CHECKPOINT', 'not_allowed'],
    ['EXPLAIN SELECT * FROM read_text(\'/etc/hostname\')', 'not_allowed', /read_text/],
    ['SELECT 1; SELECT 2', 'multiple_statements'],
    ['-- nothing', 'empty_statement'],
    ['SELEC 1', 'sql_error', /syntax error/],
    ['SELECT 1 \u0000', 'sql_error'],
    ['SELECT * FROM missing_table', 'sql_error', /missing_table/]
  ]
  for (const [sql, expected, message] of cases) {
    const error = await refusal(duck.execute(db, query(sql)))
    t.equal(error.errorType, expected, sql)
    if (message !== undefined) t.match(error.message, message, `${sql}: ${error.message}`)
  }
  for (const sql of ['DESCRIBE orders', 'SUMMARIZE orders', 'SHOW TABLES', "PRAGMA table_info('orders')", 'EXPLAIN SELECT count(*) FROM orders', 'FROM orders LIMIT 1', "PIVOT orders ON region IN ('North', 'South', 'West') USING count(*)"]) {
    const result = await duck.execute(db, query(sql))
    t.ok(result.rowCount > 0, `${sql} runs`)
  }
})

t.test('the lock-down (layer 1) holds on its own, without the statement check', async t => {
  const duck = engine(t)
  const db = record('duckdb:///:memory:', { files: [path.join(lake.dir, '*.parquet')] })
  await duck.listTables(db)
  // The engine's instance, reached past the statement check: DuckDB itself must refuse.
  const open = await (duck as unknown as { databases: Map<number, Promise<{ instance: DuckDBInstance }>> }).databases.get(db.id)
  t.ok(open !== undefined)
  const connection = await open!.instance.connect()
  t.teardown(() => connection.closeSync())
  const attempts = [
    "SELECT * FROM read_csv('/etc/passwd')",
    `SELECT * FROM read_csv('${path.join(lake.outside, 'secret.csv')}')`,
    `SELECT * FROM '${path.join(lake.dir, 'notes.txt')}'`,
    "SELECT * FROM glob('/*')",
    'SET enable_external_access = true',
    'SET lock_configuration = false',
    "SET allowed_paths = ['/']",
    "SET memory_limit = '100GB'",
    'RESET memory_limit',
    'INSTALL httpfs',
    'LOAD httpfs',
    `ATTACH '${path.join(root, 'new.duckdb')}' AS x`,
    `COPY (SELECT 1) TO '${path.join(root, 'out.csv')}'`
  ]
  for (const sql of attempts) {
    let refused = false
    try {
      await connection.run(sql)
    } catch {
      refused = true
    }
    t.ok(refused, `DuckDB refuses ${sql}`)
  }
  t.notOk(existsSync(path.join(root, 'out.csv')), 'nothing was written')
  t.notOk(existsSync(path.join(root, 'new.duckdb')), 'nothing was attached')
  const reader = await connection.runAndReadAll('SELECT count(*) FROM orders')
  t.equal(Number(reader.getRows()[0]?.[0]), 1000, 'the configured files stay readable')
})

t.test('a .duckdb file is opened read-only unless DML is allowed', async t => {
  const duck = engine(t)
  const db = record(`duckdb://${lake.duckdbFile}`)
  t.same(await duck.listTables(db), [{ name: 'items', type: 'table' }])
  t.equal((await refusal(duck.execute(db, query('DELETE FROM items')))).errorType, 'read_only')
  const open = await (duck as unknown as { databases: Map<number, Promise<{ instance: DuckDBInstance }>> }).databases.get(db.id)
  const connection = await open!.instance.connect()
  t.teardown(() => connection.closeSync())
  for (const sql of ['DELETE FROM items', 'CREATE TABLE x (a INTEGER)', 'INSERT INTO items VALUES (1, \'x\')', 'DROP TABLE items']) {
    let refused = false
    try {
      await connection.run(sql)
    } catch (err) {
      refused = /read-only/.test((err as Error).message)
    }
    t.ok(refused, `DuckDB itself refuses ${sql}`)
  }
  const count = await duck.execute(db, query('SELECT count(*) AS n FROM items'))
  t.same(count.rows, [[50]])

  const missing = await refusal(duck.execute(record('duckdb:///nonexistent/x.duckdb'), query('SELECT 1')))
  t.equal(missing.errorType, 'database_unavailable')
})

t.test('DML where it is allowed: affected rows and changes', async t => {
  const duck = engine(t)
  const db = record(`duckdb://${path.join(root, 'writable.duckdb')}`, {}, true)
  const created = await duck.execute(db, query('CREATE TABLE t (a INTEGER)'))
  t.equal(created.changed, true)
  t.equal(created.returnsRows, false)
  const inserted = await duck.execute(db, query('INSERT INTO t SELECT range FROM range(5)'))
  t.equal(inserted.affectedRows, 5)
  t.equal(inserted.changed, true)
  const none = await duck.execute(db, query('UPDATE t SET a = 0 WHERE a > 100'))
  t.equal(none.affectedRows, 0)
  t.equal(none.changed, false)
  const returning = await duck.execute(db, query('DELETE FROM t WHERE a < 2 RETURNING a'))
  t.same(returning.rows, [[0], [1]])
  t.equal(returning.changed, true)
  const checkpoint = await duck.execute(db, query('CHECKPOINT'))
  t.equal(checkpoint.changed, false)
  t.equal((await refusal(duck.execute(db, query("INSERT INTO t SELECT 1 FROM read_csv('/etc/passwd')")))).errorType, 'not_allowed')
  t.equal((await refusal(duck.execute(db, query("ATTACH '/tmp/a.duckdb'")))).errorType, 'not_allowed')
})

t.test('memory_limit without spilling is a resource_limit naming the settings', async t => {
  const duck = engine(t, { memoryMb: 64, maxTempMb: 0 })
  const db = record('duckdb:///:memory:')
  const error = await refusal(duck.execute(db, query("SELECT length(string_agg(repeat('x', 1000), ',')) FROM range(1000000)")))
  t.equal(error.errorType, 'resource_limit')
  t.match(error.message, /MCP_DUCKDB_MEMORY_MB/)
  t.notMatch(error.message, new RegExp(root.replaceAll('/', '\\/')), 'no server paths')
  t.same((await duck.execute(db, query('SELECT 1 AS a'))).rows, [[1]], 'the database still answers')
})

t.test('a timeout interrupts the query; the connection is usable after', async t => {
  const duck = engine(t, { connections: 1 })
  const db = record('duckdb:///:memory:')
  const started = Date.now()
  const error = await refusal(duck.execute(db, query('SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7', { timeoutMs: 1000 })))
  t.equal(error.errorType, 'query_timeout')
  t.ok(Date.now() - started < 5000, `stopped after ${Date.now() - started} ms`)
  t.same((await duck.execute(db, query('SELECT 42 AS a'))).rows, [[42]])
})

t.test('an abort cancels the query', async t => {
  const duck = engine(t)
  const db = record('duckdb:///:memory:')
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 300).unref()
  const error = await refusal(duck.execute(db, query('SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7', { signal: controller.signal })))
  t.equal(error.errorType, 'cancelled')
  const early = await refusal(duck.execute(db, query('SELECT 1', { signal: controller.signal })))
  t.equal(early.errorType, 'cancelled')
})

t.test('the event loop stays free during a 3 s query', async t => {
  const duck = engine(t)
  const db = record('duckdb:///:memory:')
  let ticks = 0
  let worstGap = 0
  let last = performance.now()
  const probe = setInterval(() => {
    const now = performance.now()
    worstGap = Math.max(worstGap, now - last)
    last = now
    ticks++
  }, 20)
  const error = await refusal(duck.execute(db, query('SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7', { timeoutMs: 3000 })))
  clearInterval(probe)
  t.equal(error.errorType, 'query_timeout')
  // A blocked loop would tick once, after 3 s; the margins allow for a loaded CI machine.
  t.ok(ticks > 20, `${ticks} timer ticks during the query`)
  t.ok(worstGap < 1500, `longest gap between ticks ${Math.round(worstGap)} ms`)
})

t.test('per-owner fair queue in front of the connections', async t => {
  const duck = engine(t, { connections: 1, perOwnerRunning: 1, queueLimit: 1, perOwnerQueueLimit: 1 })
  const db = record('duckdb:///:memory:')
  const slow = 'SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7'
  const first = refusal(duck.execute(db, query(slow, { owner: 'a', timeoutMs: 1500 })))
  await new Promise(resolve => setTimeout(resolve, 100))
  const second = duck.execute(db, query('SELECT 2 AS x', { owner: 'b' }))
  const third = await refusal(duck.execute(db, query('SELECT 3', { owner: 'c' })))
  t.equal(third.errorType, 'busy', 'the queue is full')
  t.equal((await first).errorType, 'query_timeout')
  t.same((await second).rows, [[2]], 'the waiting query ran after the slow one was stopped')
  await duck.close()
  t.equal((await refusal(duck.execute(db, query('SELECT 1')))).errorType, 'database_unavailable', 'closed')
})

t.test('the temp directory lives under the data directory, one per database', async t => {
  const dataDir = t.testdir()
  const duck = new DuckDbEngine({ dataDir, memoryMb: 128, maxTempMb: 64, threads: 1, connections: 1, perOwnerRunning: 1, queueLimit: 1, perOwnerQueueLimit: 1 })
  t.teardown(() => duck.close())
  const db = record('duckdb:///:memory:')
  await duck.execute(db, query('SELECT 1'))
  t.same(readdirSync(path.join(dataDir, 'duckdb-tmp')), [String(db.id)])
})
