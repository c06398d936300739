import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { bothEras } from '../helpers/tools.ts'
import type { Structured } from '../helpers/tools.ts'

// list_datasets, get_dataset_info, list_databases and get_database_info over HTTP, in both protocol eras.

t.test('dataset and database tools', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { structuredFrom }) => {
    t.test('list_datasets and list_databases', async t => {
      const structured = structuredFrom(t)
      const datasets = await structured('list_datasets', { order_column: 'table_name' })
      t.same(datasets.datasets.map((d: Structured) => d.table_name), ['customers', 'order_details', 'orders', 'products'])
      const virtual = await structured('list_datasets', { filters: [{ col: 'is_virtual', opr: 'eq', value: true }], select_columns: ['table_name', 'is_virtual', 'sql'] })
      t.equal(virtual.total_count, 1)
      t.match(virtual.datasets[0].sql, /JOIN products/)
      const databases = await structured('list_databases')
      t.same(databases.databases.map((d: Structured) => [d.database_name, d.backend, d.allow_dml]), [['examples', 'sqlite', false]])
    })

    t.test('get_dataset_info returns columns and saved metrics', async t => {
      const structured = structuredFrom(t)
      const dataset = await structured('get_dataset_info', { identifier: 'orders' })
      t.ok(dataset.columns.some((c: Structured) => c.column_name === 'order_date' && c.is_dttm === true))
      t.ok(dataset.metrics.some((m: Structured) => m.metric_name === 'revenue' && m.expression === 'SUM(amount)'))
      t.equal(dataset.main_dttm_col, 'order_date')
      t.equal(dataset.certified_by, 'Data Platform')
      t.equal(dataset.database_name, 'examples')
      t.equal(dataset.is_virtual, false)
      t.equal(dataset.chart_count, 4)
      const virtual = await structured('get_dataset_info', { identifier: 'order_details' })
      t.equal(virtual.is_virtual, true)
      t.match(virtual.sql, /JOIN customers/)
      const byUuid = await structured('get_dataset_info', { datasource_id: dataset.uuid })
      t.equal(byUuid.table_name, 'orders', 'the Superset synonym datasource_id works')
    })

    t.test('get_database_info lists tables and datasets and says whether it is read-only', async t => {
      const structured = structuredFrom(t)
      const database = await structured('get_database_info', { identifier: 'examples' })
      t.same(database.tables.map((table: Structured) => table.name), ['customers', 'examples_meta', 'orders', 'products'])
      t.same(database.datasets.map((d: Structured) => d.table_name), ['customers', 'order_details', 'orders', 'products'])
      t.equal(database.capabilities.read_only, true)
      t.equal(database.capabilities.sql_dialect, 'sqlite')
      t.equal(database.dataset_count, 4)
      t.notOk('connection' in database, 'the connection (which may hold credentials) is never returned')
    })
  })
})
