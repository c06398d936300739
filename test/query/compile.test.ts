import BetterSqlite3 from 'better-sqlite3'
import t from 'tap'
import { ToolError } from '../../src/errors.ts'
import { SQLITE } from '../../src/query/dialect.ts'
import { compileQuery } from '../../src/query/semantic.ts'
import type { DatasetModel, SemanticQuery } from '../../src/query/semantic.ts'
import { resolveTimeRange } from '../../src/query/time-range.ts'

// The query compiler on its own: Superset's time ranges resolved against a fixed "now", and
// compiled SQL run on a small SQLite table whose answers are known.

const NOW = new Date('2026-11-23T15:30:00Z') // a Monday

t.test('time ranges resolve to half-open UTC bounds', async t => {
  const cases: Array<[string, { since?: string, until?: string }]> = [
    ['No filter', {}],
    ['', {}],
    ['today', { since: '2026-11-23', until: '2026-11-24' }],
    ['yesterday', { since: '2026-11-22', until: '2026-11-23' }],
    ['Last day', { since: '2026-11-22', until: '2026-11-23' }],
    ['Last week', { since: '2026-11-16', until: '2026-11-23' }],
    ['Last month', { since: '2026-10-23', until: '2026-11-23' }],
    ['Last quarter', { since: '2026-08-23', until: '2026-11-23' }],
    ['Last year', { since: '2025-11-23', until: '2026-11-23' }],
    ['Last 30 days', { since: '2026-10-24', until: '2026-11-23' }],
    ['last 2 years', { since: '2024-11-23', until: '2026-11-23' }],
    ['previous calendar week', { since: '2026-11-16', until: '2026-11-23' }],
    ['previous calendar month', { since: '2026-10-01', until: '2026-11-01' }],
    ['previous calendar quarter', { since: '2026-07-01', until: '2026-10-01' }],
    ['previous calendar year', { since: '2025-01-01', until: '2026-01-01' }],
    ['Current week', { since: '2026-11-23', until: '2026-11-30' }],
    ['Current month', { since: '2026-11-01', until: '2026-12-01' }],
    ['Current quarter', { since: '2026-10-01', until: '2027-01-01' }],
    ['Current year', { since: '2026-01-01', until: '2027-01-01' }],
    ['2024-01-01 : 2024-06-30', { since: '2024-01-01', until: '2024-06-30' }],
    ['2024-01-01 : now', { since: '2024-01-01', until: '2026-11-23T15:30:00' }],
    [' : 2024-06-30', { until: '2024-06-30' }],
    ['2024-03-01 10:00 : 2024-03-02', { since: '2024-03-01T10:00:00', until: '2024-03-02' }]
  ]
  for (const [text, expected] of cases) t.same(resolveTimeRange(text, NOW), expected, JSON.stringify(text))
  // Month-end days are clamped, not rolled into the next month.
  const monthEnds: Array<[string, string, string]> = [
    ['2025-03-31', 'Last month', '2025-02-28'],
    ['2025-05-31', 'Last quarter', '2025-02-28'],
    ['2025-12-31', 'Last 1 month', '2025-11-30'],
    ['2024-02-29', 'Last year', '2023-02-28'],
    ['2024-03-31', 'Last month', '2024-02-29']
  ]
  for (const [today, text, since] of monthEnds) t.equal(resolveTimeRange(text, new Date(`${today}T12:00:00Z`)).since, since, `${text} on ${today}`)
  for (const bad of ['the other day', 'Last 0 days', '2024-02-30 : 2024-03-01', '2024-06-30 : 2024-01-01', 'Last fortnight']) {
    t.throws(() => resolveTimeRange(bad, NOW), ToolError, `${JSON.stringify(bad)} is refused`)
  }
  try {
    resolveTimeRange('sometime', NOW)
    t.fail('an unknown time range is refused')
  } catch (err) {
    t.match((err as ToolError).hint, /Last day\|week/, 'the error says what works')
  }
})

t.test('compiled queries run and give the expected answers', async t => {
  const db = new BetterSqlite3(':memory:')
  t.teardown(() => db.close())
  db.exec(`CREATE TABLE sales (day DATE, "re""gion" TEXT, amount REAL, note TEXT);
    INSERT INTO sales VALUES ('2024-01-01', 'North', 10, 'a'), ('2024-01-07', 'North', 5, NULL), ('2024-01-08', 'South', 7, 'B'),
      ('2024-02-15', 'South', 1, 'b'), ('2024-04-01', 'North', 2, 'c'), ('2025-01-01', 'West', 100, NULL);`)
  const model: DatasetModel = {
    dataset: { id: 1, table_name: 'sales', schema: null, sql: null, main_dttm_col: 'day' },
    columns: [
      { column_name: 'day', verbose_name: 'Day', type: 'DATE', is_dttm: true },
      { column_name: 're"gion', verbose_name: null, type: 'TEXT', is_dttm: false },
      { column_name: 'amount', verbose_name: null, type: 'REAL', is_dttm: false },
      { column_name: 'note', verbose_name: null, type: 'TEXT', is_dttm: false }
    ],
    metrics: [{ metric_name: 'total', verbose_name: 'Total', expression: 'SUM(amount)', d3format: ',.0f' }]
  }
  const run = (query: Partial<SemanticQuery>): Array<Record<string, unknown>> => {
    const compiled = compileQuery({ dimensions: [], metrics: [], filters: [], rowLimit: 100, ...query }, model, SQLITE, NOW)
    return db.prepare(compiled.sql).all(...compiled.params) as Array<Record<string, unknown>>
  }
  const grains: Array<[string, Array<[string, number]>]> = [
    ['P1W', [['2024-01-01', 15], ['2024-01-08', 7], ['2024-02-12', 1], ['2024-04-01', 2], ['2024-12-30', 100]]],
    ['P1M', [['2024-01-01', 22], ['2024-02-01', 1], ['2024-04-01', 2], ['2025-01-01', 100]]],
    ['P3M', [['2024-01-01', 23], ['2024-04-01', 2], ['2025-01-01', 100]]],
    ['P1Y', [['2024-01-01', 25], ['2025-01-01', 100]]]
  ]
  for (const [grain, expected] of grains) {
    const rows = run({ dimensions: [{ column: 'day', timeGrain: grain as 'P1W' }], metrics: [{ saved: 'total' }], orderBy: [{ label: 'day', descending: false }] })
    t.same(rows.map(row => [String(row.day).slice(0, 10), row.total]), expected, `time grain ${grain}`)
  }
  t.same(run({ dimensions: [{ column: 're"gion' }], metrics: [{ aggregate: 'COUNT' }], filters: [{ column: 'note', op: 'ILIKE', value: 'b' }] }).map(row => row['re"gion']), ['South'], 'ILIKE ignores case; a quote in a column name is quoted')
  t.same(run({ metrics: [{ aggregate: 'COUNT' }], filters: [{ column: 'note', op: 'IS NULL' }] }).map(row => Object.values(row)[0]), [2], 'IS NULL')
  t.same(run({ dimensions: [{ column: 're"gion' }], metrics: [{ saved: 'total' }], filters: [{ column: 're"gion', op: 'NOT IN', value: ['North', 'West'] }] }).map(row => row.total), [8], 'NOT IN')
  t.same(run({ metrics: [{ saved: 'total' }], timeRange: '2024-01-01 : 2024-02-01' }).map(row => row.total), [22], 'time range on the main date column, end excluded')
  t.same(run({ metrics: [{ saved: 'total' }], filters: [{ column: 'day', op: 'TEMPORAL_RANGE', value: 'previous calendar year' }] }).map(row => row.total), [100], 'TEMPORAL_RANGE filter')
  t.same(run({ dimensions: [{ column: 'note' }], metrics: [{ saved: 'total' }], filters: [{ column: 'note', op: '==', value: "a' OR '1'='1" }] }), [], 'values are bound, never SQL')
  db.exec("CREATE TABLE events (at TEXT); INSERT INTO events VALUES ('2025-01-01 09:00:00'), ('2025-01-01T13:00:00'), ('2025-01-01 18:30:00'), ('2025-01-02 00:00:00'), (NULL)")
  const events: DatasetModel = { dataset: { id: 2, table_name: 'events', schema: null, sql: null, main_dttm_col: 'at' }, columns: [{ column_name: 'at', verbose_name: null, type: 'DATETIME', is_dttm: true }], metrics: [] }
  const count = (query: Partial<SemanticQuery>): unknown[] => {
    const compiled = compileQuery({ dimensions: [], metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [], rowLimit: 10, ...query }, events, SQLITE, NOW)
    return (db.prepare(compiled.sql).all(...compiled.params) as Array<Record<string, unknown>>).map(row => row.n)
  }
  t.same(count({ timeRange: '2025-01-01 12:00 : 2025-01-02' }), [2], 'a date-time bound compares with either stored layout ("T" or space)')
  t.same(count({ filters: [{ column: 'at', op: 'TEMPORAL_RANGE', value: '2025-01-01 00:00 : 2025-01-01 13:00' }] }), [1], 'TEMPORAL_RANGE with times, end excluded')
  const quarters = compileQuery({ dimensions: [{ column: 'at', timeGrain: 'P3M' }], metrics: [{ aggregate: 'COUNT', label: 'n' }], filters: [], rowLimit: 10 }, events, SQLITE, NOW)
  t.same((db.prepare(quarters.sql).all(...quarters.params) as Array<Record<string, unknown>>).map(row => row.at), [null, '2025-01-01'], 'a NULL date stays NULL at the quarter grain')
  t.throws(() => run({ metrics: [{ aggregate: 'SUM', column: 'note' }] }), /note/, 'SUM over a text column is refused, naming it')
  t.throws(() => run({ dimensions: [{ column: 'regoin' }] }), /regoin/, 'unknown columns are refused')
  t.throws(() => run({ metrics: [{ saved: 'totl' }] }), /total/, 'unknown metrics suggest the closest')
  t.throws(() => run({ dimensions: [{ column: 'amount', timeGrain: 'P1M' }], metrics: [{ saved: 'total' }] }), /amount/, 'a time grain needs a date column')
})
