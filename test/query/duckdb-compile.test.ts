import BetterSqlite3 from 'better-sqlite3'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import { dialectFor, SQLITE, TIME_GRAINS } from '../../src/query/dialect.ts'
import { DUCKDB } from '../../src/query/dialects/duckdb.ts'
import { compileQuery } from '../../src/query/semantic.ts'
import type { DatasetModel, SemanticQuery } from '../../src/query/semantic.ts'

// Compiled queries on DuckDB give exactly what they give on SQLite, on the same data: dates
// stored as DATE, TIMESTAMP or ISO text (as in CSV files), every time grain, time ranges and
// filters. SQLite is the reference (test/query/compile.test.ts checks its answers).

const NOW = new Date('2026-11-23T15:30:00Z')

const SALES = [
  ['2024-01-01', 'North', 10, 'a'], ['2024-01-07', 'North', 5, null], ['2024-01-08', 'South', 7, 'B'],
  ['2024-02-15', 'South', 1, 'b'], ['2024-04-01', 'North', 2, 'c'], ['2025-01-01', 'West', 100, null], [null, 'West', 3, 'd']
] as const
const EVENTS = ['2025-01-01 09:00:00', '2025-01-01T13:00:00', '2025-01-01 18:30:45', '2025-01-02 00:00:00', '2024-12-29 23:59:59', '2025-03-31 12:00:00', null]

/** Rows as plain values, in the order the engine returned them (the compiler orders NULLs as SQLite does). */
const normalise = (rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> =>
  rows.map(row => Object.fromEntries(Object.entries(row).map(([name, value]) => [name, typeof value === 'bigint' ? Number(value) : value])))

t.test('dialectFor knows DuckDB', async t => {
  t.equal(dialectFor('duckdb'), DUCKDB)
  t.equal(DUCKDB.quote('a"b'), '"a""b"')
  t.equal(DUCKDB.ilike('x', '?'), 'x ILIKE ?')
})

t.test('compiled queries answer the same on DuckDB as on SQLite', async t => {
  const sqlite = new BetterSqlite3(':memory:')
  t.teardown(() => sqlite.close())
  sqlite.exec('CREATE TABLE sales (day DATE, "re""gion" TEXT, amount REAL, note TEXT); CREATE TABLE events (at TEXT)')
  const insertSale = sqlite.prepare('INSERT INTO sales VALUES (?, ?, ?, ?)')
  for (const row of SALES) insertSale.run(...row)
  const insertEvent = sqlite.prepare('INSERT INTO events VALUES (?)')
  for (const at of EVENTS) insertEvent.run(at)

  const instance = await DuckDBInstance.create(':memory:')
  const duck = await instance.connect()
  t.teardown(() => {
    duck.closeSync()
    instance.closeSync()
  })
  // The same data three ways: DATE / TIMESTAMP columns, and ISO text (a CSV file's strings).
  await duck.run('CREATE TABLE sales_text (day VARCHAR, "re""gion" VARCHAR, amount DOUBLE, note VARCHAR)')
  for (const row of SALES) await duck.run('INSERT INTO sales_text VALUES (?, ?, ?, ?)', [...row])
  await duck.run('CREATE TABLE sales (day DATE, "re""gion" VARCHAR, amount DOUBLE, note VARCHAR)')
  await duck.run('INSERT INTO sales SELECT CAST(day AS DATE), "re""gion", amount, note FROM sales_text')
  await duck.run('CREATE TABLE events_text ("at" VARCHAR)')
  for (const at of EVENTS) await duck.run('INSERT INTO events_text VALUES (?)', [at])
  await duck.run('CREATE TABLE events ("at" TIMESTAMP)')
  await duck.run('INSERT INTO events SELECT CAST("at" AS TIMESTAMP) FROM events_text')

  const salesModel = (table: string): DatasetModel => ({
    dataset: { id: 1, table_name: table, schema: null, sql: null, main_dttm_col: 'day' },
    columns: [
      { column_name: 'day', verbose_name: 'Day', type: 'DATE', is_dttm: true },
      { column_name: 're"gion', verbose_name: null, type: 'TEXT', is_dttm: false },
      { column_name: 'amount', verbose_name: null, type: 'REAL', is_dttm: false },
      { column_name: 'note', verbose_name: null, type: 'TEXT', is_dttm: false }
    ],
    metrics: [{ metric_name: 'total', verbose_name: 'Total', expression: 'SUM(amount)', d3format: null }]
  })
  const eventsModel = (table: string): DatasetModel => ({
    dataset: { id: 2, table_name: table, schema: null, sql: null, main_dttm_col: 'at' },
    columns: [{ column_name: 'at', verbose_name: null, type: 'DATETIME', is_dttm: true }],
    metrics: []
  })

  const compare = async (what: string, query: Partial<SemanticQuery>, model: (table: string) => DatasetModel, tables: readonly string[]): Promise<void> => {
    const full: SemanticQuery = { dimensions: [], metrics: [], filters: [], rowLimit: 100, ...query }
    const reference = compileQuery(full, model(model === salesModel ? 'sales' : 'events'), SQLITE, NOW)
    const expected = sqlite.prepare(reference.sql).all(...reference.params) as Array<Record<string, unknown>>
    for (const table of tables) {
      const compiled = compileQuery(full, model(table), DUCKDB, NOW)
      const reader = await duck.runAndReadAll(compiled.sql, compiled.params)
      t.same(normalise(reader.getRowObjectsJS() as Array<Record<string, unknown>>), expected, `${what} on ${table}`)
    }
  }

  for (const grain of TIME_GRAINS) {
    const query: Partial<SemanticQuery> = { dimensions: [{ column: 'day', timeGrain: grain }], metrics: [{ saved: 'total' }], orderBy: [{ label: 'day', descending: false }] }
    await compare(`sales by ${grain}`, query, salesModel, ['sales', 'sales_text'])
    await compare(`events by ${grain}`, { dimensions: [{ column: 'at', timeGrain: grain }], metrics: [{ aggregate: 'COUNT', label: 'n' }], orderBy: [{ label: 'at', descending: false }] }, eventsModel, ['events', 'events_text'])
  }
  const salesQueries: Array<[string, Partial<SemanticQuery>]> = [
    ['a date range', { metrics: [{ saved: 'total' }], timeRange: '2024-01-01 : 2024-02-01' }],
    ['previous calendar year', { metrics: [{ saved: 'total' }], filters: [{ column: 'day', op: 'TEMPORAL_RANGE', value: 'previous calendar year' }] }],
    ['a range with a time of day', { metrics: [{ saved: 'total' }], timeRange: '2024-01-07 12:00 : 2024-02-15' }],
    ['ILIKE', { dimensions: [{ column: 're"gion' }], metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'note', op: 'ILIKE', value: 'b' }] }],
    ['IS NULL', { metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'note', op: 'IS NULL' }] }],
    ['NOT IN', { dimensions: [{ column: 're"gion' }], metrics: [{ saved: 'total' }], filters: [{ column: 're"gion', op: 'NOT IN', value: ['North', 'West'] }] }],
    ['comparisons', { dimensions: [{ column: 'note' }], metrics: [{ aggregate: 'MAX', column: 'amount', label: 'max' }], filters: [{ column: 'amount', op: '>=', value: 2 }], orderBy: [{ label: 'note', descending: false }] }],
    ['raw rows', { raw: true, dimensions: [{ column: 'note' }, { column: 'amount' }], orderBy: [{ label: 'amount', descending: true }], rowLimit: 3 }],
    ['bound values', { dimensions: [{ column: 'note' }], metrics: [{ saved: 'total' }], filters: [{ column: 'note', op: '==', value: "a' OR '1'='1" }] }]
  ]
  for (const [what, query] of salesQueries) await compare(what, query, salesModel, ['sales', 'sales_text'])
  await compare('a date-time range over either text layout', { metrics: [{ aggregate: 'COUNT', label: 'n' }], timeRange: '2025-01-01 12:00 : 2025-01-02' }, eventsModel, ['events', 'events_text'])
  await compare('TEMPORAL_RANGE with times', { metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'at', op: 'TEMPORAL_RANGE', value: '2025-01-01 00:00 : 2025-01-01 13:00' }] }, eventsModel, ['events', 'events_text'])
})
