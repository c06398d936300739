import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { loadCorpus, outcomeOf } from './helpers/redteam.ts'
import { post, toolCall } from './helpers/rpc.ts'

const corpus = loadCorpus('duckdb.yml')

const digest = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

t.test('the hostile DuckDB corpus is refused, the analytics corpus runs, and nothing changes', async t => {
  // Not t.testdir(): the test server's build() empties that directory again.
  const root = mkdtempSync(path.join(os.tmpdir(), 'duckdb-redteam-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dir = path.join(root, 'lake')
  mkdirSync(dir)
  const writer = await DuckDBInstance.create(':memory:')
  const connection = await writer.connect()
  await connection.run(`COPY (SELECT range AS order_id, (range % 7)::INTEGER AS customer_id, (range * 1.25)::DECIMAL(10, 2) AS amount,
      DATE '2024-01-01' + (range % 90)::INTEGER AS order_date, TIMESTAMP '2024-01-01 08:30:00' + INTERVAL (range) HOUR AS created_at,
      CASE range % 3 WHEN 0 THEN 'North' WHEN 1 THEN 'South' ELSE 'West' END AS region
    FROM range(1000)) TO '${path.join(dir, 'orders.parquet')}' (FORMAT parquet)`)
  await connection.run(`COPY (SELECT range AS customer_id, 'Customer ' || range AS name FROM range(7)) TO '${path.join(dir, 'customers.csv')}' (HEADER)`)
  await connection.run(`COPY (SELECT 'top secret' AS secret) TO '${path.join(root, 'secret.csv')}' (HEADER)`)
  connection.closeSync()
  writer.closeSync()
  const before = { orders: digest(path.join(dir, 'orders.parquet')), customers: digest(path.join(dir, 'customers.csv')) }

  const server = await startTestServer(t, {
    MCP_DEV_USERNAME: 'alice',
    MCP_DUCKDB_MEMORY_MB: 256,
    MCP_DUCKDB_MAX_TEMP_MB: 0,
    MCP_DUCKDB_THREADS: 1,
    MCP_SQL_MAX_RESULT_BYTES: 1_048_576,
    MCP_RESPONSE_SIZE_CONFIG: { enabled: false }
  })
  const lake = await server.app.catalog.createDatabase({ database_name: 'lake', backend: 'duckdb', connection: 'duckdb:///:memory:', options: { files: [path.join(dir, '*.parquet'), path.join(dir, '*.csv')] } })
  await server.app.catalog.grantPermission('sql_lab', { permission: 'database_access', resource: 'Database', resource_id: lake.id })
  const hostile = corpus.filter(entry => entry.expect !== 'ok').length
  t.ok(hostile >= 30, `${hostile} hostile cases`)
  t.ok(corpus.length - hostile >= 25, `${corpus.length - hostile} analytics queries`)

  for (const [index, entry] of corpus.entries()) {
    const args = { database_id: 'lake', sql: entry.sql, ...(entry.timeout === undefined ? {} : { timeout: entry.timeout }) }
    const { status, json } = await post(server.url, toolCall('execute_sql', args, index + 1))
    const result = json?.result
    const outcome = outcomeOf(json)
    t.equal(status, 200)
    t.equal(outcome, entry.expect, `${JSON.stringify(entry.sql).slice(0, 90)}${entry.why === undefined ? '' : ` (${entry.why})`}${outcome === entry.expect ? '' : `: ${String(result?.content?.[0]?.text).slice(0, 300)}`}`)
    if (result?.isError === true) {
      const text = String(result.content[0].text)
      t.notMatch(text, /\bat .*\.(ts|js):\d+|node:internal/, 'no internals in the message')
      t.notOk(text.includes(root), 'no server paths in the message')
      t.notMatch(text, /top secret/, 'no secret content')
    }
  }

  const tables = await post(server.url, toolCall('get_database_info', { identifier: 'lake' }))
  t.same(tables.json.result.structuredContent.tables, [{ name: 'customers', type: 'view' }, { name: 'orders', type: 'view' }], 'the file views are listed')
  const count = await post(server.url, toolCall('execute_sql', { database_id: 'lake', sql: 'SELECT count(*) AS n, sum(amount) AS total FROM orders' }))
  t.same(count.json.result.structuredContent.rows, [{ n: 1000, total: 624375 }], 'the data is unchanged')
  t.same({ orders: digest(path.join(dir, 'orders.parquet')), customers: digest(path.join(dir, 'customers.csv')) }, before, 'the files are unchanged')
  for (const written of ['/tmp/stolen.csv', '/tmp/x.parquet', '/tmp/dump', '/tmp/evil.duckdb']) t.notOk(existsSync(written), `${written} was not written`)
  t.equal((await fetch(`${server.origin}/healthz`)).status, 200, 'the server is still up')
})
