/**
 * What execute_sql costs over the raw driver, per engine: the same query run N times through
 * the real server (HTTP, auth, the tool wrapper, the runner or pool, JSON) and straight through
 * the driver, in the same run. Printed: mean ms of each and the driver's share of the time
 * (1.00 = no overhead; the target is ≥ 0.90 on the aggregation).
 *
 *   node bench/sql-overhead.ts            (BENCH_RUNS=20 by default)
 *
 * SQLite always; DuckDB through a file it loads itself; PostgreSQL on BENCH_PG_URL (a database
 * holding the example tables, e.g. after `analytics-mcp load-examples --into`), else on a
 * throwaway server it starts and loads when PostgreSQL is installed.
 */
import { existsSync, mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import { buildApp } from '../src/app.ts'
import { resolveConfig } from '../src/config.ts'
import { copyExampleTables } from '../src/examples/copy-into.ts'
import { duckdbWriter } from '../src/examples/duckdb-writer.ts'
import { postgresWriter } from '../src/examples/load-into.ts'
import { launchPostgres } from '../test/helpers/postgres.ts'
import { ensureExamplesDatabase } from '../src/examples/generate.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 20)
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sql-overhead-'))
const examples = path.join(dataDir, 'examples.db')
ensureExamplesDatabase(examples)

const QUERIES = {
  '1,000-row result': 'SELECT order_id, order_date, region, channel, amount FROM orders ORDER BY order_id LIMIT 1000',
  '100,000-row aggregation': 'SELECT region, channel, COUNT(*) AS orders, SUM(amount) AS revenue FROM (SELECT * FROM orders ORDER BY order_id LIMIT 100000) o GROUP BY region, channel ORDER BY region, channel'
} as const

const config = resolveConfig([{ source: 'overrides', values: { MCP_DATA_DIR: dataDir, MCP_EXAMPLES_PATH: examples, MCP_SERVICE_PORT: 0, MCP_LOG_LEVEL: 'silent', MCP_SQL_MAX_LIMIT: 10_000, MCP_RESPONSE_SIZE_CONFIG: { enabled: false } } }])
const app = await buildApp(config, { logger: false })
await app.listen({ host: '127.0.0.1', port: 0 })
const { port } = app.server.address() as { port: number }

async function viaTool (database: string, sql: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'execute_sql', arguments: { database_id: database, sql, limit: 10_000 } } })
  })
  const body = await response.json() as { result?: { isError?: boolean, content?: Array<{ text: string }> } }
  if (body.result?.isError === true) throw new Error(`execute_sql failed on ${database}: ${body.result.content?.[0]?.text ?? ''}`)
}

async function mean (work: () => Promise<unknown>): Promise<number> {
  await work()
  const started = performance.now()
  for (let i = 0; i < RUNS; i++) await work()
  return (performance.now() - started) / RUNS
}

interface Engine { label: string, database: string, raw: (sql: string) => Promise<unknown>, close: () => Promise<void> }
const engines: Engine[] = []

const sqlite = new DatabaseSync(examples, { readOnly: true })
engines.push({ label: 'SQLite', database: 'examples', raw: async sql => sqlite.prepare(sql).all(), close: async () => sqlite.close() })

const duckFile = path.join(dataDir, 'examples.duckdb')
{
  const instance = await DuckDBInstance.create(duckFile)
  const connection = await instance.connect()
  await copyExampleTables(examples, 'duckdb', duckdbWriter(connection))
  connection.closeSync()
  instance.closeSync()
}
const hasEngine = (backend: string): boolean => { try { app.engines.engineFor(backend as never); return true } catch { return false } }
if (hasEngine('duckdb')) {
  const duck = await DuckDBInstance.create(duckFile, { access_mode: 'READ_ONLY' })
  const duckConnection = await duck.connect()
  await app.catalog.createDatabase({ database_name: 'duck', backend: 'duckdb', connection: `duckdb://${duckFile}` })
  engines.push({ label: 'DuckDB', database: 'duck', raw: async sql => (await duckConnection.runAndReadAll(sql)).getRows(), close: async () => { duckConnection.closeSync(); duck.closeSync() } })
}
const postgres = process.env.BENCH_PG_URL === undefined && existsSync('/usr/lib/postgresql') ? await launchPostgres() : undefined
if (postgres !== undefined) {
  await postgres.sql('CREATE DATABASE bench_warehouse')
  const client = new pg.Client({ connectionString: postgres.urlFor('postgres', 'bench_warehouse') })
  await client.connect()
  await copyExampleTables(examples, 'postgresql', postgresWriter(client))
  await client.end()
}
const pgUrl = process.env.BENCH_PG_URL ?? postgres?.urlFor('postgres', 'bench_warehouse')
if (pgUrl !== undefined && hasEngine('postgresql')) {
  const pool = new pg.Pool({ connectionString: pgUrl, max: 1 })
  await app.catalog.createDatabase({ database_name: 'warehouse', backend: 'postgresql', connection: pgUrl })
  engines.push({ label: 'PostgreSQL', database: 'warehouse', raw: async sql => (await pool.query(sql)).rows, close: async () => { await pool.end() } })
}

console.log(`execute_sql against the raw driver, mean of ${RUNS} runs each (driver share: raw ms / tool ms)`)
for (const engine of engines) {
  for (const [name, sql] of Object.entries(QUERIES)) {
    const raw = await mean(() => engine.raw(sql))
    const tool = await mean(() => viaTool(engine.database, sql))
    console.log(`${engine.label.padEnd(10)} ${name.padEnd(24)} raw ${raw.toFixed(2).padStart(8)} ms  execute_sql ${tool.toFixed(2).padStart(8)} ms  driver share ${(raw / tool).toFixed(2)}`)
  }
  await engine.close()
}
await app.close()
await postgres?.destroy()
