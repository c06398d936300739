import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import t from 'tap'
import { Catalog } from '../src/catalog/catalog.ts'
import { CUSTOMER_COUNT, ensureExamplesDatabase, examplesVersion, GENERATOR_VERSION, ORDER_COUNT } from '../src/examples/generate.ts'
import { loadExamples } from '../src/examples/load.ts'
import { buildApp } from '../src/app.ts'
import { testConfig } from './helpers/config.ts'

/** Aggregates that pin down the generated data; equal fingerprints mean equal data. */
function fingerprint (file: string): unknown {
  const db = new BetterSqlite3(file, { readonly: true })
  try {
    return {
      orders: db.prepare('SELECT COUNT(*) AS n, ROUND(SUM(amount), 2) AS revenue, MIN(order_date) AS first, MAX(order_date) AS last, SUM(customer_id * order_id % 9973) AS mix FROM orders').get(),
      customers: db.prepare('SELECT COUNT(*) AS n, GROUP_CONCAT(customer_name, \'|\') AS names FROM (SELECT customer_name FROM customers ORDER BY customer_id LIMIT 50)').get(),
      products: db.prepare('SELECT COUNT(*) AS n, ROUND(SUM(unit_price), 2) AS prices FROM products').get(),
      regions: db.prepare('SELECT region, COUNT(*) AS n FROM orders GROUP BY region ORDER BY region').all()
    }
  } finally {
    db.close()
  }
}

t.test('the example database is generated deterministically and is realistically sized', async t => {
  const dir = t.testdir()
  const first = path.join(dir, 'a', 'examples.db')
  const second = path.join(dir, 'b', 'examples.db')
  t.equal(ensureExamplesDatabase(first), true, 'generated')
  t.equal(ensureExamplesDatabase(second), true)
  t.equal(ensureExamplesDatabase(first), false, 'a current file is kept')
  t.same(fingerprint(first), fingerprint(second), 'two generations hold the same data')
  t.equal(examplesVersion(first), GENERATOR_VERSION)
  t.same(readdirSync(path.dirname(first)), ['examples.db'], 'no temporary files are left behind')

  const db = new BetterSqlite3(first, { readonly: true })
  t.teardown(() => db.close())
  const orders = db.prepare('SELECT COUNT(*) AS n, MIN(order_date) AS first, MAX(order_date) AS last FROM orders').get() as { n: number, first: string, last: string }
  t.equal(orders.n, ORDER_COUNT)
  t.ok(ORDER_COUNT >= 100_000, 'the largest table has at least 100,000 rows')
  t.equal(orders.first, '2024-01-01')
  t.equal(orders.last, '2026-06-30')
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM customers').get() as { n: number }).n, CUSTOMER_COUNT)
  const orphans = db.prepare('SELECT COUNT(*) AS n FROM orders o LEFT JOIN customers c ON c.customer_id = o.customer_id LEFT JOIN products p ON p.product_id = o.product_id WHERE c.customer_id IS NULL OR p.product_id IS NULL').get() as { n: number }
  t.equal(orphans.n, 0, 'every order points at a real customer and product')
  const amounts = db.prepare('SELECT COUNT(*) AS n FROM orders WHERE ABS(amount - ROUND(quantity * unit_price * (1 - discount), 2)) > 0.0101').get() as { n: number }
  t.equal(amounts.n, 0, 'amount = quantity × price × (1 − discount), to the cent')
  const december = db.prepare("SELECT SUM(strftime('%m', order_date) = '12') * 1.0 / SUM(strftime('%m', order_date) = '06') AS ratio FROM orders WHERE order_date < '2026-01-01'").get() as { ratio: number }
  t.ok(december.ratio > 1.2, 'December sells more than June (seasonality)')
})

t.test('a stale or broken examples file is regenerated', async t => {
  const dir = t.testdir()
  const file = path.join(dir, 'examples.db')
  writeFileSync(file, 'not a database')
  t.equal(examplesVersion(file), undefined)
  t.equal(ensureExamplesDatabase(file), true)
  t.equal(examplesVersion(file), GENERATOR_VERSION)
  t.equal(examplesVersion(path.join(dir, 'missing.db')), undefined)
})

t.test('loading examples registers everything once', async t => {
  const dir = t.testdir()
  const catalog = await Catalog.open(path.join(dir, 'catalog.db'), { upgrade: true })
  t.teardown(async () => { await catalog.close() })
  const examplesFile = path.join(dir, 'examples.db')

  const first = await loadExamples(catalog, examplesFile)
  t.equal(first.generated, true)
  t.equal(first.registered, true)
  t.same(first.usersCreated, ['admin', 'alice', 'bob'])
  t.ok(existsSync(examplesFile))
  t.equal(first.database.connection, path.resolve(examplesFile), 'the database is registered by absolute path')

  const again = await loadExamples(catalog, examplesFile)
  t.equal(again.generated, false)
  t.equal(again.registered, false)
  t.same(again.usersCreated, [])
  t.equal(again.database.id, first.database.id)

  const everything = { page: 1, pageSize: 100, filters: [], orderColumn: 'id', orderDirection: 'asc' } as const
  t.equal((await catalog.listDatabases(everything)).total, 1)
  t.equal((await catalog.listDatasets(everything)).total, 4)
  t.equal((await catalog.listCharts(everything)).total, 8)
  t.equal((await catalog.listDashboards(everything)).total, 2)
  t.same((await catalog.findUserByUsername('admin'))?.roles, ['Admin'])
  t.same((await catalog.findUserByUsername('alice'))?.roles, ['Alpha', 'sql_lab', 'examples_access'])
  t.same((await catalog.findUserByUsername('bob'))?.roles, ['Gamma', 'examples_access'])
  t.same(await catalog.rolePermissions('examples_access'), [{ permission: 'database_access', resource: 'Database', resource_id: first.database.id }])

  const orders = await catalog.findDataset('orders')
  const columns = await catalog.datasetColumns(orders?.id ?? 0)
  t.same(columns.filter(c => c.is_dttm).map(c => c.column_name), ['order_date', 'ship_date'])
  t.match(columns.find(c => c.column_name === 'amount'), { type: 'REAL', description: /revenue/ })
  t.same((await catalog.datasetMetrics(orders?.id ?? 0)).map(m => m.metric_name), ['revenue', 'order_count', 'avg_order_value', 'units_sold', 'gross_profit', 'customers_ordering'])
  const details = await catalog.findDataset('order_details')
  t.match(details?.sql, /JOIN customers/)
  t.ok((await catalog.datasetColumns(details?.id ?? 0)).some(c => c.column_name === 'segment'), 'virtual dataset columns come from its query')

  const sales = await catalog.findDashboard('sales-overview')
  const layout = JSON.parse(sales?.position_json ?? '{}') as Record<string, { type?: string, meta?: { chartId?: number } }>
  const chartIds = Object.values(layout).filter(node => node.type === 'CHART').map(node => node.meta?.chartId).sort()
  t.same(chartIds, (await catalog.chartsOfDashboard(sales?.id ?? 0)).map(c => c.id).sort(), 'the layout holds exactly the dashboard\'s charts')
})

t.test('replicas starting together on one catalog register the examples once', async t => {
  const dir = t.testdir()
  const config = testConfig(dir)
  const apps = await Promise.all([buildApp(config, { logger: false }), buildApp(config, { logger: false })])
  t.teardown(async () => { await Promise.all(apps.map(async app => await app.close())) })
  const [first] = apps
  if (first === undefined) throw new Error('no app')
  t.equal((await first.catalog.listDatabases({ page: 1, pageSize: 10, filters: [], orderColumn: 'id', orderDirection: 'asc' })).total, 1, 'one examples database, not a constraint error')
  t.equal((await first.catalog.listUsers()).length, 3, 'one set of demo users')
})
