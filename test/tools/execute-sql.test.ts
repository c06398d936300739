import { copyFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { textOf } from '../helpers/client.ts'
import { bothEras } from '../helpers/tools.ts'
import type { Structured } from '../helpers/tools.ts'
import { sharedExamplesFile } from '../helpers/examples.ts'
import { request } from 'node:http'
import { JSON_HEADERS, post, toolCall } from '../helpers/rpc.ts'

t.test('execute_sql over HTTP, in both protocol eras', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { call, structuredFrom }) => {
    t.test('execute_sql returns rows, reports truncation first, and refuses writes', async t => {
      const structured = structuredFrom(t)
      const revenue = await structured('execute_sql', { database_id: 1, sql: 'SELECT region, COUNT(*) AS orders FROM orders GROUP BY region ORDER BY region' })
      t.equal(revenue.row_count, 5)
      t.equal(revenue.truncated, false)
      t.same(revenue.columns.map((c: Structured) => c.name), ['region', 'orders'])
      t.equal(revenue.rows.reduce((sum: number, row: Structured) => sum + row.orders, 0), 120_000)

      const capped = await call('execute_sql', { database_id: 'examples', sql: 'SELECT order_id FROM orders ORDER BY order_id', limit: 10 })
      const cappedData = capped.structuredContent as Structured
      t.equal(cappedData.row_count, 10)
      t.equal(cappedData.truncated, true)
      t.same(cappedData.rows.map((row: Structured) => row.order_id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      t.match(textOf(capped), /^Results truncated/, 'the truncation note comes first in the text')

      const exact = await structured('execute_sql', { database_id: 1, sql: 'SELECT order_id FROM orders LIMIT 10', limit: 10 })
      t.equal(exact.truncated, false, 'exactly `limit` rows is not truncated')

      const defaultCap = await structured('execute_sql', { database_id: 1, sql: 'SELECT order_id FROM orders' })
      t.equal(defaultCap.row_count, 1000)
      t.equal(defaultCap.limit, 1000)
      t.equal(defaultCap.truncated, true)

      for (const sql of ['DELETE FROM orders', 'UPDATE orders SET amount = 0', 'DROP TABLE orders', 'INSERT INTO products VALUES (999, \'x\', \'y\', \'z\', 1, 1)']) {
        const refused = await call('execute_sql', { database_id: 1, sql })
        t.equal(refused.isError, true, `${sql} is refused`)
        t.match(textOf(refused), /read-only/i)
      }
      const attach = await call('execute_sql', { database_id: 1, sql: "ATTACH DATABASE '/tmp/other.db' AS other" })
      t.equal(attach.isError, true)
      t.match(textOf(attach), /ATTACH/)
      const multiple = await call('execute_sql', { database_id: 1, sql: 'SELECT 1; DELETE FROM orders' })
      t.equal(multiple.isError, true)
      t.match(textOf(multiple), /one SQL statement/i)

      const stillThere = await structured('execute_sql', { database_id: 1, sql: 'SELECT COUNT(*) AS n FROM orders' })
      t.equal(stillThere.rows[0].n, 120_000, 'no refused statement changed the data')

      const badSql = await call('execute_sql', { database_id: 1, sql: 'SELECT nope FROM orders' })
      t.equal(badSql.isError, true)
      t.match(textOf(badSql), /no such column: nope/, "the database's message")
      t.match(textOf(badSql), /get_dataset_info; this database speaks SQLite SQL/, 'and a hint')
      t.notMatch(textOf(badSql), /at \w+ \(|\.ts:\d+/, 'no stack trace')

      const synonym = await structured('execute_sql', { database: 'examples', query: 'SELECT 1 AS one' })
      t.same(synonym.rows, [{ one: 1 }])
    })

    t.test('execute_sql stops a query at its timeout', async t => {
      const structured = structuredFrom(t)
      const slow = await call('execute_sql', {
        database_id: 1,
        sql: 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n',
        timeout: 1
      })
      t.equal(slow.isError, true)
      t.match(textOf(slow), /stopped after 1 s/)
      const after = await structured('execute_sql', { database_id: 1, sql: 'SELECT 42 AS answer' })
      t.same(after.rows, [{ answer: 42 }], 'the next query runs on a fresh runner')
    })
  })
})

t.test('execute_sql tool details', async t => {
  // The response size guard is off here: this checks the SQL engine's own byte budget.
  const server = await startTestServer(t, { MCP_SQL_DEFAULT_LIMIT: 5, MCP_SQL_MAX_LIMIT: 50, MCP_SQL_DEFAULT_TIMEOUT: 10, MCP_SQL_MAX_TIMEOUT: 20, MCP_SQL_MAX_RESULT_BYTES: 65_536, MCP_RESPONSE_SIZE_CONFIG: { enabled: false } })
  const { catalog } = server.app
  const writableFile = path.join(t.testdir(), 'scratch.db')
  copyFileSync(sharedExamplesFile(), writableFile)
  const scratch = await catalog.createDatabase({ database_name: 'scratch', backend: 'sqlite', connection: writableFile, allow_dml: true })
  const hidden = await catalog.createDatabase({ database_name: 'hidden', backend: 'sqlite', connection: sharedExamplesFile(), expose_in_sqllab: false })
  const run = async (args: Record<string, unknown>) => (await post(server.url, toolCall('execute_sql', args))).json.result

  t.test('limits come from the configuration and are advertised', async t => {
    const listed = (await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).json.result.tools
      .find((tool: { name: string }) => tool.name === 'execute_sql')
    t.equal(listed.inputSchema.properties.limit.maximum, 50)
    t.equal(listed.inputSchema.properties.limit.default, 5)
    t.equal(listed.inputSchema.properties.timeout.maximum, 20)
    t.match(listed.description, /default 5, at most 50/)
    const result = await run({ database_id: 'examples', sql: 'SELECT order_id FROM orders' })
    t.equal(result.structuredContent.row_count, 5)
    const over = await run({ database_id: 'examples', sql: 'SELECT 1', limit: 51 })
    t.equal(over.isError, true)
    t.match(over.content[0].text, /limit/)
  })

  t.test('a result over the size budget is cut at a row boundary and says so first', async t => {
    const wide = await run({ database_id: 'examples', sql: "SELECT order_id, printf('%.*c', 10000, 'x') AS padding FROM orders", limit: 50 })
    t.notOk(wide.isError)
    t.equal(wide.structuredContent.truncated, true)
    t.equal(wide.structuredContent.row_count, 6, 'six 10 kB rows fit in 64 KiB')
    t.match(wide.content[0].text, /^Results truncated: only the first 6 rows are shown because the result reached its size limit \(64 KiB\)/)
    const oneHugeRow = await run({ database_id: 'examples', sql: "SELECT printf('%.*c', 100000, 'x') AS huge" })
    t.equal(oneHugeRow.isError, true)
    t.match(oneHugeRow.content[0].text, /first row alone is larger than the result size limit/)
    t.match(oneHugeRow.content[0].text, /substr\(column, 1, 200\)/)
  })

  t.test('a database that allows DML runs data changes and reports affected rows', async t => {
    const update = await run({ database_id: scratch.id, sql: "UPDATE orders SET status = 'Audited' WHERE order_id <= 3" })
    t.notOk(update.isError)
    t.equal(update.structuredContent.statement_type, 'command')
    t.equal(update.structuredContent.affected_rows, 3)
    t.match(update.content[0].text, /Statement ran on scratch: 3 rows affected/)
    const check = await run({ database_id: 'scratch', sql: "SELECT COUNT(*) AS n FROM orders WHERE status = 'Audited'" })
    t.same(check.structuredContent.rows, [{ n: 3 }])
    const examples = await run({ database_id: 'examples', sql: "SELECT COUNT(*) AS n FROM orders WHERE status = 'Audited'" })
    t.same(examples.structuredContent.rows, [{ n: 0 }], 'other databases are untouched')
  })

  t.test('schema, exposure, dry runs and duplicate column names', async t => {
    const main = await run({ database_id: 'examples', sql: 'SELECT 1 AS one', schema: 'main' })
    t.notOk(main.isError)
    const otherSchema = await run({ database_id: 'examples', sql: 'SELECT 1', schema: 'public' })
    t.equal(otherSchema.isError, true)
    t.match(otherSchema.content[0].text, /SQLite databases have only the schema "main"/)

    const notExposed = await run({ database_id: hidden.id, sql: 'SELECT 1' })
    t.equal(notExposed.isError, true)
    t.match(notExposed.content[0].text, /SQL execution is disabled on database hidden/)

    const missing = await run({ database_id: 'nope', sql: 'SELECT 1' })
    t.match(missing.content[0].text, /No database matches identifier "nope"/)

    const dry = await run({ database_id: 'examples', sql: 'SELECT order_id, amount FROM orders', dry_run: true })
    t.same(dry.structuredContent.columns.map((c: { name: string }) => c.name), ['order_id', 'amount'])
    t.equal(dry.structuredContent.row_count, 0)
    t.match(dry.structuredContent.notes.join(' '), /Dry run/)

    const duplicates = await run({ database_id: 'examples', sql: 'SELECT 1 AS total, 2 AS total' })
    t.same(duplicates.structuredContent.rows, [{ total: 1, total_2: 2 }])

    const empty = await run({ database_id: 'examples', sql: "SELECT * FROM orders WHERE region = 'Antarctica'" })
    t.equal(empty.structuredContent.row_count, 0)
    t.match(empty.content[0].text, /^0 rows × 14 columns/)
  })

  t.test('a client that disconnects stops its query', async t => {
    const body = JSON.stringify(toolCall('execute_sql', { database_id: 1, sql: 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n', timeout: 20 }))
    const req = request(server.url, { method: 'POST', headers: JSON_HEADERS })
    req.on('error', () => {})
    req.end(body)
    const engine = server.app.engines.engineFor('sqlite') as { pool?: { stats: () => { busy: number } } }
    for (let i = 0; i < 500 && (engine.pool?.stats().busy ?? 0) === 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
    t.equal(engine.pool?.stats().busy, 1, 'the query is running')
    req.destroy()
    let restarts = 0
    for (let i = 0; i < 500 && restarts === 0; i++) {
      await new Promise(resolve => setTimeout(resolve, 10))
      const metrics = await (await fetch(new URL('/metrics', server.url))).text()
      restarts = Number(/sql_runner_restarts_total\{reason="cancelled"\} (\d+)/.exec(metrics)?.[1] ?? 0)
    }
    t.equal(restarts, 1, 'its runner was ended as cancelled')
    t.equal(engine.pool?.stats().busy, 0)
  })
})
