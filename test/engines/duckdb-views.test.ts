import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import type { DatabaseRecord } from '../../src/catalog/records.ts'
import { DuckDbEngine } from '../../src/engines/duckdb.ts'
import type { DuckDbEngineOptions } from '../../src/engines/duckdb.ts'
import type { QueryRequest } from '../../src/engines/engines.ts'
import { databaseRecord, refusal } from '../helpers/engine.ts'

// File views and the per-database queue of the DuckDB engine, on small CSV and JSON files.

let nextId = 1
function record (options: DatabaseRecord['options'] = {}, connection = 'duckdb:///:memory:'): DatabaseRecord {
  const id = nextId++
  return databaseRecord('duckdb', connection, { id, uuid: `uuid-${id}`, database_name: `views${id}`, options })
}

function engine (t: Test, options: Partial<DuckDbEngineOptions> = {}): DuckDbEngine {
  const created = new DuckDbEngine({ dataDir: t.testdir(), memoryMb: 128, maxTempMb: 16, threads: 1, connections: 1, perOwnerRunning: 1, queueLimit: 4, perOwnerQueueLimit: 1, ...options })
  t.teardown(() => created.close())
  return created
}

const query = (sql: string, extra: Partial<QueryRequest> = {}): QueryRequest => ({ sql, maxRows: 100, maxBytes: 1_048_576, timeoutMs: 10_000, dryRun: false, ...extra })
const SLOW = 'SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7'

const root = t.testdir({
  a: { 'sales.csv': 'id,amount\n1,10\n2,20\n', 'events.ndjson': '{"id": 1, "kind": "open"}\n{"id": 2, "kind": "close"}\n', 'readme.md': '# not data\n' },
  b: { 'sales.csv': 'id,amount\n3,30\n', '2024 Q1.json': '[{"q": 1}]' }
})

t.test('views: JSON and CSV, repeated names numbered, other files skipped', async t => {
  const duck = engine(t)
  const db = record({ files: [path.join(root, 'a', '*'), path.join(root, 'b', '*'), path.join(root, 'a', 'sales.csv')] })
  t.same(await duck.listTables(db), [
    { name: '_2024_q1', type: 'view' }, { name: 'events', type: 'view' }, { name: 'sales', type: 'view' }, { name: 'sales_2', type: 'view' }
  ])
  t.same((await duck.execute(db, query('SELECT sum(amount) AS s FROM sales_2'))).rows, [[30]])
  t.same((await duck.execute(db, query('SELECT kind FROM events ORDER BY id'))).rows, [['open'], ['close']])
  t.equal((await refusal(duck.execute(db, query(`SELECT * FROM read_text('${path.join(root, 'a', 'readme.md')}')`)))).errorType, 'not_allowed')
})

t.test('a changed registration opens the database again; a broken one is unavailable', async t => {
  const duck = engine(t)
  const db = record({ files: [path.join(root, 'a', 'sales.csv')] })
  t.same((await duck.listTables(db)).map(table => table.name), ['sales'])
  const changed = { ...db, options: { files: [path.join(root, 'a', 'events.ndjson')] } }
  t.same((await duck.listTables(changed)).map(table => table.name), ['events'])
  const dir = path.join(root, 'bad')
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'broken.parquet'), 'not parquet')
  const broken = await refusal(duck.execute(record({ files: [path.join(dir, '*.parquet')] }), query('SELECT 1')))
  t.equal(broken.errorType, 'database_unavailable')
  t.notOk(broken.message.includes(t.testdir()), 'no data directory path in the message')
  const schemas = await duck.listTables(record({ files: [path.join(root, 'a', 'sales.csv')], schemas: ['main'] }))
  t.same(schemas.map(table => table.name), ['sales'])
})

t.test('queue refusals: per-owner queue full, cancelled and timed out while waiting', async t => {
  const duck = engine(t)
  const db = record()
  const running = refusal(duck.execute(db, query(SLOW, { owner: 'a', timeoutMs: 2000 })))
  await new Promise(resolve => setTimeout(resolve, 100))
  const waiting = duck.execute(db, query('SELECT 1 AS x', { owner: 'b' }))
  t.equal((await refusal(duck.execute(db, query('SELECT 1', { owner: 'b' })))).errorType, 'busy', 'owner b already has one waiting')
  const controller = new AbortController()
  const cancelled = refusal(duck.execute(db, query('SELECT 1', { owner: 'c', signal: controller.signal })))
  controller.abort()
  t.equal((await cancelled).errorType, 'cancelled')
  t.equal((await refusal(duck.execute(db, query('SELECT 1', { owner: 'd', timeoutMs: 200 })))).errorType, 'query_timeout', 'timed out waiting')
  t.equal((await running).errorType, 'query_timeout')
  t.same((await waiting).rows, [[1]])
})
