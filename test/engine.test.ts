import { copyFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { EngineRegistry, SqliteEngine } from '../src/engines/engines.ts'
import type { QueryObservation } from '../src/engines/engines.ts'
import type { RunnerEndReason } from '../src/engines/runner-pool.ts'
import { ToolError } from '../src/errors.ts'
import { queryRequest as request, sqliteDatabase as database, until } from './helpers/engine.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

const INFINITE = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n'

function processGone (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch {
    return true
  }
}

async function errorTypeOf (work: Promise<unknown>): Promise<string> {
  try {
    await work
    return 'none'
  } catch (err) {
    return err instanceof ToolError ? err.errorType : `unexpected: ${(err as Error).message}`
  }
}

t.test('read-only databases', async t => {
  const observations: QueryObservation[] = []
  const ended: RunnerEndReason[] = []
  const engine = new SqliteEngine({ size: 2, queueLimit: 1, memoryMb: 128, onRunnerEnded: reason => ended.push(reason) })
  const engines = new EngineRegistry([engine], { onQuery: observation => observations.push(observation) })
  t.teardown(() => engines.close())
  const examples = database(sharedExamplesFile())

  t.test('reads work, with declared and inferred column types', async t => {
    const result = await engines.execute(examples, request('SELECT region, COUNT(*) AS orders, AVG(amount) AS avg_amount FROM orders GROUP BY region ORDER BY region'))
    t.equal(result.rowCount, 5)
    t.same(result.columns, [{ name: 'region', type: 'TEXT' }, { name: 'orders', type: 'INTEGER' }, { name: 'avg_amount', type: 'REAL' }])
    t.equal(result.returnsRows, true)
    t.equal(result.affectedRows, null)
    t.equal(observations.at(-1)?.outcome, 'success')
    t.equal(observations.at(-1)?.rows, 5)
  })

  t.test('the row cap is a LIMIT+1 probe at the cursor', async t => {
    const over = await engines.execute(examples, request('SELECT order_id FROM orders ORDER BY order_id', { maxRows: 3 }))
    t.same(over.rows, [[1], [2], [3]])
    t.equal(over.truncated, true)
    const exact = await engines.execute(examples, request('SELECT order_id FROM orders ORDER BY order_id LIMIT 3', { maxRows: 3 }))
    t.equal(exact.truncated, false)
    const under = await engines.execute(examples, request('SELECT order_id FROM orders ORDER BY order_id LIMIT 2', { maxRows: 3 }))
    t.equal(under.truncated, false)
    t.equal(under.rowCount, 2)
  })

  t.test('writes and escapes are refused by SQLite itself', async t => {
    const refused: Array<[string, string]> = [
      ['DELETE FROM orders', 'read_only'],
      ['UPDATE orders SET amount = 0', 'read_only'],
      ['INSERT INTO products (product_id, product_name, category, sub_category, unit_price, unit_cost) VALUES (9999, \'x\', \'x\', \'x\', 1, 1)', 'read_only'],
      ['DROP TABLE orders', 'read_only'],
      ['CREATE TABLE t (a INTEGER)', 'read_only'],
      ['CREATE TEMP TABLE t (a INTEGER)', 'read_only'],
      ['ALTER TABLE orders ADD COLUMN x INTEGER', 'read_only'],
      ['CREATE INDEX i ON orders (amount)', 'read_only'],
      ['REPLACE INTO products VALUES (1, \'x\', \'x\', \'x\', 1, 1)', 'read_only'],
      ["ATTACH DATABASE '/tmp/other.db' AS other", 'not_allowed'],
      ['DETACH DATABASE main', 'not_allowed'],
      ["VACUUM INTO '/tmp/copy.db'", 'not_allowed'],
      ['VACUUM', 'not_allowed'],
      ['PRAGMA query_only = 0', 'not_allowed'],
      ['PRAGMA writable_schema = 1', 'not_allowed'],
      ['PRAGMA database_list', 'not_allowed'],
      ['SELECT * FROM pragma_database_list', 'not_allowed'],
      ['SELECT file FROM pragma_database_list WHERE name = \'main\'', 'not_allowed'],
      ['BEGIN', 'not_allowed'],
      ['SAVEPOINT s', 'not_allowed'],
      ["SELECT load_extension('/tmp/evil.so')", 'not_allowed'],
      ['SELECT 1; DELETE FROM orders', 'multiple_statements'],
      ['SELECT 1; SELECT 2', 'multiple_statements'],
      ['SELECT 1; garbage', 'multiple_statements'],
      ["SELECT '\uD800'; DELETE FROM orders", 'sql_error'],
      ['', 'empty_statement'],
      ['  -- only a comment\n', 'empty_statement'],
      ['SELEC 1', 'sql_error'],
      ['SELECT * FROM no_such_table', 'sql_error']
    ]
    for (const [sql, expected] of refused) {
      t.equal(await errorTypeOf(engines.execute(examples, request(sql))), expected, sql)
    }
    const count = await engines.execute(examples, request('SELECT COUNT(*) FROM orders'))
    t.same(count.rows, [[120_000]], 'the data is unchanged')
    t.equal(observations.filter(o => o.outcome === 'refused').length >= 20, true, 'refusals are counted as refused')
  })

  t.test('introspection and harmless statement shapes still work', async t => {
    const info = await engines.execute(examples, request('PRAGMA table_info(orders)'))
    t.ok(info.rowCount > 10)
    const tableValued = await engines.execute(examples, request("SELECT name FROM pragma_table_info('orders') WHERE pk = 1"))
    t.same(tableValued.rows, [['order_id']], 'table-valued introspection pragmas work too')
    const trailing = await engines.execute(examples, request('SELECT 1 AS a; -- a comment\n  ;'))
    t.same(trailing.rows, [[1]], 'trailing semicolons and comments are one statement')
    const semicolonInString = await engines.execute(examples, request("SELECT ';' AS s /* ; */"))
    t.same(semicolonInString.rows, [[';']])
    const explain = await engines.execute(examples, request('EXPLAIN QUERY PLAN SELECT * FROM orders WHERE order_date > \'2025-01-01\''))
    t.ok(explain.rowCount > 0)
    const tables = await engines.listTables(examples)
    t.same(tables.map(table => table.name), ['customers', 'examples_meta', 'orders', 'products'])
  })

  t.test('dry runs report columns without running', async t => {
    const dry = await engines.execute(examples, request('SELECT order_id, amount FROM orders', { dryRun: true }))
    t.same(dry.columns.map(column => column.name), ['order_id', 'amount'])
    t.equal(dry.rowCount, 0)
    t.equal(await errorTypeOf(engines.execute(examples, request('DELETE FROM orders', { dryRun: true }))), 'read_only')
  })

  t.test('values are JSON-safe: big integers as text, blobs as base64', async t => {
    const result = await engines.execute(examples, request("SELECT 9007199254740993 AS big, 42 AS small, X'DEADBEEF' AS blob, NULL AS empty"))
    t.same(result.rows, [['9007199254740993', 42, '3q2+7w==', null]])
    t.same(result.columns.map(column => column.type), ['INTEGER', 'INTEGER', 'BLOB', null])
  })

  t.test('a query past its timeout is stopped by ending its process', async t => {
    const outcome = errorTypeOf(engines.execute(examples, request(INFINITE, { timeoutMs: 300 })))
    await until(() => engine.pool.stats().busy === 1)
    const during = engine.pool.pids()
    t.equal(await outcome, 'query_timeout')
    t.ok(ended.includes('timeout'), 'the runner was ended for the timeout')
    t.equal(during.filter(processGone).length, 1, 'the process that ran the query is gone')
    t.equal(observations.at(-1)?.outcome, 'timeout')
    const next = await engines.execute(examples, request('SELECT 7'))
    t.same(next.rows, [[7]], 'a fresh runner serves the next query')
  })

  t.test('an aborted request stops its query', async t => {
    const controller = new AbortController()
    const outcome = errorTypeOf(engines.execute(examples, request(INFINITE, { signal: controller.signal, timeoutMs: 30_000 })))
    await until(() => engine.pool.stats().busy === 1)
    controller.abort()
    t.equal(await outcome, 'cancelled')
    t.ok(ended.includes('cancelled'))
    t.equal(observations.at(-1)?.outcome, 'cancelled', 'counted as cancelled, not as a timeout')
    const alreadyAborted = new AbortController()
    alreadyAborted.abort()
    t.equal(await errorTypeOf(engines.execute(examples, request('SELECT 1', { signal: alreadyAborted.signal }))), 'cancelled')
  })

  t.test('a full queue answers busy at once, and queued queries expire', async t => {
    const long = [1, 2].map(() => errorTypeOf(engines.execute(examples, request(INFINITE, { timeoutMs: 1500 }))))
    await until(() => engine.pool.stats().busy === 2)
    const queuedShort = errorTypeOf(engines.execute(examples, request('SELECT 1', { timeoutMs: 300 })))
    const rejected = errorTypeOf(engines.execute(examples, request('SELECT 1')))
    t.equal(await rejected, 'busy', 'beyond MCP_SQL_QUEUE_LIMIT')
    t.equal(await queuedShort, 'query_timeout', 'a queued query expires while it waits')
    t.same(await Promise.all(long), ['query_timeout', 'query_timeout'])
    t.equal(engine.pool.stats().queued, 0)
  })

  t.test('a queued query whose request is cancelled leaves the queue', async t => {
    const long = [1, 2].map(() => errorTypeOf(engines.execute(examples, request(INFINITE, { timeoutMs: 800 }))))
    await until(() => engine.pool.stats().busy === 2)
    const controller = new AbortController()
    const queued = errorTypeOf(engines.execute(examples, request('SELECT 1', { signal: controller.signal })))
    t.equal(engine.pool.stats().queued, 1)
    controller.abort()
    t.equal(await queued, 'cancelled')
    t.equal(engine.pool.stats().queued, 0, 'it left the queue at once')
    await Promise.all(long)
  })

  t.test('results have a size budget, and a runner that runs out of memory ends alone', async t => {
    const wide = "SELECT order_id, printf('%.*c', 100000, 'x') AS padding FROM orders"
    const budgeted = await engines.execute(examples, request(wide, { maxBytes: 1_000_000 }))
    t.equal(budgeted.truncatedBy, 'bytes')
    t.equal(budgeted.truncated, true)
    t.equal(budgeted.rowCount, 9, 'as many 100 kB rows as fit in 1 MB')
    const rowCapped = await engines.execute(examples, request('SELECT order_id FROM orders', { maxRows: 2 }))
    t.equal(rowCapped.truncatedBy, 'rows')
    t.equal(await errorTypeOf(engines.execute(examples, request("SELECT printf('%.*c', 2000000, 'x')", { maxBytes: 1_000_000 }))), 'result_too_large', 'a single row over the budget')
    t.equal(await errorTypeOf(engines.execute(examples, request("SELECT printf('%.*c', 400000000, 'x') AS huge"))), 'resource_limit', 'a 400 MB value is refused by the runner\'s memory limit and never reaches the server')
  })

  t.test('a runner that dies mid-query fails that query only', async t => {
    const outcome = errorTypeOf(engines.execute(examples, request(INFINITE, { timeoutMs: 60_000 })))
    await until(() => engine.pool.busyPids().length === 1)
    const [busy] = engine.pool.busyPids()
    // Kill the busy runner the way the kernel's OOM killer would.
    process.kill(busy ?? 0, 'SIGKILL')
    t.equal(await outcome, 'database_unavailable')
    t.ok(ended.includes('crashed'))
    const next = await engines.execute(examples, request('SELECT 1'))
    t.same(next.rows, [[1]], 'the next query gets a fresh runner')
  })

  t.test('a missing database file is unavailable, not created', async t => {
    const missing = database(path.join(t.testdir(), 'missing.db'))
    t.equal(await errorTypeOf(engines.execute(missing, request('SELECT 1'))), 'database_unavailable')
    t.equal(await errorTypeOf(engines.execute({ ...missing, allow_dml: true }, request('SELECT 1'))), 'database_unavailable')
  })
})

t.test('databases that allow DML', async t => {
  const engine = new SqliteEngine({ size: 1, queueLimit: 4 })
  t.teardown(() => engine.close())
  const file = path.join(t.testdir(), 'writable.db')
  copyFileSync(sharedExamplesFile(), file)
  const writable = database(file, true)

  const update = await engine.execute(writable, request("UPDATE orders SET status = 'Archived' WHERE order_id <= 5"))
  t.equal(update.returnsRows, false)
  t.equal(update.affectedRows, 5)
  const check = await engine.execute(writable, request("SELECT COUNT(*) FROM orders WHERE status = 'Archived'"))
  t.same(check.rows, [[5]])
  const created = await engine.execute(writable, request('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)'))
  t.equal(created.affectedRows, 0)

  t.equal(await errorTypeOf(engine.execute(writable, request("ATTACH DATABASE '/tmp/x.db' AS x"))), 'not_allowed', 'ATTACH stays forbidden')
  t.equal(await errorTypeOf(engine.execute(writable, request('CREATE TEMP TABLE orders (fake INTEGER)'))), 'not_allowed', 'TEMP objects, which would outlive the call, are refused')
  t.equal(await errorTypeOf(engine.execute(writable, request('CREATE TEMP VIEW v AS SELECT 1'))), 'not_allowed')
  t.equal(await errorTypeOf(engine.execute(writable, request('PRAGMA journal_mode = DELETE'))), 'not_allowed', 'so do pragmas')
  t.equal(await errorTypeOf(engine.execute(writable, request('DELETE FROM notes; DROP TABLE orders'))), 'multiple_statements')
  const stillThere = await engine.execute(writable, request('SELECT COUNT(*) FROM orders'))
  t.same(stillThere.rows, [[120_000]])
})

t.test('unknown backends are reported, not crashed on', async t => {
  const engines = new EngineRegistry([])
  t.equal(await errorTypeOf(engines.execute(database('/nowhere'), request('SELECT 1'))), 'database_unavailable')
})

t.test('runners that cannot start fail the query at once instead of hanging', async t => {
  const ended: RunnerEndReason[] = []
  const engine = new SqliteEngine({ size: 1, queueLimit: 4, execPath: '/nonexistent/node', onRunnerEnded: reason => ended.push(reason) })
  t.teardown(() => engine.close())
  const examples = database(sharedExamplesFile())
  const outcomes = await Promise.all([1, 2, 3].map(() => errorTypeOf(engine.execute(examples, request('SELECT 1', { timeoutMs: 60_000 })))))
  t.same(outcomes, ['database_unavailable', 'database_unavailable', 'database_unavailable'], 'the running and the queued queries fail')
  t.same(ended, ['failed_to_start'])
  t.same(engine.pool.stats(), { runners: 0, busy: 0, queued: 0 })
})

t.test('closing the pool stops running queries as a shutdown, not a crash', async t => {
  const ended: RunnerEndReason[] = []
  const engine = new SqliteEngine({ size: 1, queueLimit: 4, onRunnerEnded: reason => ended.push(reason) })
  const examples = database(sharedExamplesFile())
  const running = errorTypeOf(engine.execute(examples, request(INFINITE, { timeoutMs: 60_000 })))
  const queued = errorTypeOf(engine.execute(examples, request('SELECT 1', { timeoutMs: 60_000 })))
  await until(() => engine.pool.stats().busy === 1)
  await engine.close()
  t.equal(await running, 'database_unavailable')
  t.equal(await queued, 'database_unavailable')
  t.same(ended, ['shutdown'])
  t.equal(await errorTypeOf(engine.execute(examples, request('SELECT 1'))), 'database_unavailable', 'a closed pool refuses new queries')
})
