import BetterSqlite3 from 'better-sqlite3'
import t from 'tap'
import { PostgresEngine } from '../../src/engines/postgres.ts'
import { dialectFor, SQLITE, TIME_GRAINS } from '../../src/query/dialect.ts'
import { compileQuery } from '../../src/query/semantic.ts'
import type { DatasetModel, SemanticQuery } from '../../src/query/semantic.ts'
import { databaseRecord, queryRequest } from '../helpers/engine.ts'
import { startPostgres } from '../helpers/postgres.ts'

// The query compiler on PostgreSQL: the same semantic queries (time grains, time ranges,
// filters) compiled for SQLite and for PostgreSQL, run on the same rows, must answer alike,
// so charts look the same whichever engine holds the data.

const NOW = new Date('2026-11-23T15:30:00Z')

const ROWS: Array<[string, string, number, string | null]> = [
  ['2024-01-01 00:00:00', 'North', 10, 'a'], ['2024-01-07 23:59:59', 'North', 5, null], ['2024-01-08 08:15:30', 'South', 7, 'B'],
  ['2024-02-15 12:00:00', 'South', 1, 'b'], ['2024-04-01 09:30:00', 'North', 2, 'c'], ['2024-12-31 23:00:00', 'West', 3, 'C'],
  ['2025-01-01 00:00:01', 'West', 100, null], ['2025-01-01 12:34:56', 'East', 4, 'a%'], ['2025-06-30 18:00:00', 'East', 6, 'd'],
  ['2026-11-20 10:00:00', 'North', 8, 'e'], ['2026-11-23 07:00:00', 'South', 9, 'f']
]

const pg = await startPostgres(t)
await pg.sql('CREATE TABLE sales (at timestamp, day date, region text, amount double precision, note text, at_text text)')
for (const [at, region, amount, note] of ROWS) {
  // at_text mixes the two text layouts dates are stored in ("T" or a space).
  await pg.sql('INSERT INTO sales VALUES ($1, $2, $3, $4, $5, $6)', [at, at.slice(0, 10), region, amount, note, amount % 2 === 0 ? at.replace(' ', 'T') : at])
}
await pg.sql('INSERT INTO sales VALUES (NULL, NULL, $1, 0, NULL, NULL)', ['Nowhere'])

const sqlite = new BetterSqlite3(':memory:')
t.teardown(() => sqlite.close())
sqlite.exec('CREATE TABLE sales (at DATETIME, day DATE, region TEXT, amount REAL, note TEXT, at_text TEXT)')
for (const [at, region, amount, note] of ROWS) sqlite.prepare('INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?)').run(at, at.slice(0, 10), region, amount, note, amount % 2 === 0 ? at.replace(' ', 'T') : at)
sqlite.prepare('INSERT INTO sales VALUES (NULL, NULL, ?, 0, NULL, NULL)').run('Nowhere')

const engine = new PostgresEngine({ poolSize: 2, queueLimit: 10, workMemMb: 16 })
t.teardown(() => engine.close())
const database = databaseRecord('postgresql', pg.url, { database_name: 'warehouse' })

const model: DatasetModel = {
  dataset: { id: 1, table_name: 'sales', schema: null, sql: null, main_dttm_col: 'at' },
  columns: [
    { column_name: 'at', verbose_name: null, type: 'TIMESTAMP', is_dttm: true },
    { column_name: 'day', verbose_name: null, type: 'DATE', is_dttm: true },
    { column_name: 'region', verbose_name: null, type: 'TEXT', is_dttm: false },
    { column_name: 'amount', verbose_name: null, type: 'DOUBLE PRECISION', is_dttm: false },
    { column_name: 'note', verbose_name: null, type: 'TEXT', is_dttm: false },
    { column_name: 'at_text', verbose_name: null, type: 'TEXT', is_dttm: true }
  ],
  metrics: [{ metric_name: 'total', verbose_name: 'Total', expression: 'SUM(amount)', d3format: null }]
}

/** Both engines' answers to one semantic query, as arrays in field order. */
async function both (query: Partial<SemanticQuery>): Promise<{ sqlite: unknown[][], postgres: unknown[][] }> {
  const full: SemanticQuery = { dimensions: [], metrics: [], filters: [], rowLimit: 100, ...query }
  const lite = compileQuery(full, model, SQLITE, NOW)
  const rows = sqlite.prepare(lite.sql).all(...lite.params) as Array<Record<string, unknown>>
  const compiled = compileQuery(full, model, dialectFor('postgresql'), NOW)
  const result = await engine.execute(database, queryRequest(compiled.sql, { params: compiled.params }))
  return { sqlite: rows.map(row => lite.fields.map(field => row[field.name])), postgres: result.rows }
}

t.test('every time grain buckets alike on SQLite and PostgreSQL (timestamp, date and text columns)', async t => {
  for (const column of ['at', 'day', 'at_text']) {
    for (const grain of TIME_GRAINS) {
      const answer = await both({ dimensions: [{ column, timeGrain: grain }], metrics: [{ saved: 'total' }], orderBy: [{ label: column, descending: false }] })
      t.same(answer.postgres, answer.sqlite, `${column} at ${grain}`)
      t.ok(answer.postgres.length > 1, `${column} at ${grain}: ${answer.postgres.length} buckets`)
    }
  }
  const weeks = await both({ dimensions: [{ column: 'at', timeGrain: 'P1W' }], metrics: [{ aggregate: 'COUNT', label: 'n' }], orderBy: [{ label: 'at', descending: false }] })
  t.same(weeks.postgres.slice(0, 3), [[null, 1], ['2024-01-01', 2], ['2024-01-08', 1]], 'weeks start on Monday; NULL stays NULL')
  const seconds = await both({ dimensions: [{ column: 'at', timeGrain: 'PT1S' }], metrics: [{ aggregate: 'COUNT', label: 'n' }], orderBy: [{ label: 'at', descending: false }] })
  t.same(seconds.postgres[2], ['2024-01-07T23:59:59', 1], 'finer grains are ISO date-times')
})

t.test('time ranges, filters and limits answer alike', async t => {
  const queries: Array<[string, Partial<SemanticQuery>]> = [
    ['a date range on the timestamp column', { metrics: [{ saved: 'total' }], timeRange: '2024-01-01 : 2024-02-01' }],
    ['a date-time range', { metrics: [{ saved: 'total' }], timeRange: '2024-01-07 12:00 : 2025-01-01 12:00' }],
    ['a date-time range on a text column with both layouts', { metrics: [{ aggregate: 'COUNT', label: 'n' }], timeColumn: 'at_text', timeRange: '2024-01-07 12:00 : 2025-01-01 12:00' }],
    ['Last week relative to now', { metrics: [{ aggregate: 'COUNT', label: 'n' }], timeRange: 'Last week' }],
    ['previous calendar year', { metrics: [{ saved: 'total' }], filters: [{ column: 'day', op: 'TEMPORAL_RANGE', value: 'previous calendar year' }] }],
    ['Current year', { dimensions: [{ column: 'region' }], metrics: [{ saved: 'total' }], timeRange: 'Current year', orderBy: [{ label: 'region', descending: false }] }],
    ['ILIKE', { dimensions: [{ column: 'region' }], metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'note', op: 'ILIKE', value: 'b' }], orderBy: [{ label: 'region', descending: false }] }],
    ['ILIKE with a wildcard', { metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'note', op: 'ILIKE', value: 'A%' }] }],
    ['IN and NOT IN', { dimensions: [{ column: 'region' }], metrics: [{ saved: 'total' }], filters: [{ column: 'region', op: 'NOT IN', value: ['North', 'West'] }], orderBy: [{ label: 'region', descending: false }] }],
    ['IS NULL', { metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'note', op: 'IS NULL' }] }],
    ['comparison', { metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'amount', op: '>=', value: 5 }] }],
    ['a value that looks like SQL is bound', { metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [{ column: 'note', op: '==', value: "a' OR '1'='1" }] }],
    ['a row limit', { dimensions: [{ column: 'region' }], metrics: [{ saved: 'total' }], rowLimit: 2, orderBy: [{ label: 'total', descending: true }] }],
    ['raw rows', { raw: true, dimensions: [{ column: 'region' }, { column: 'amount' }], rowLimit: 3, orderBy: [{ label: 'amount', descending: true }] }]
  ]
  for (const [name, query] of queries) {
    const answer = await both(query)
    t.same(answer.postgres, answer.sqlite, name)
  }
})
