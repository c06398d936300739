import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import t from 'tap'
import { Catalog } from '../src/catalog/catalog.ts'
import type { ListQuery } from '../src/catalog/list-query.ts'
import { loadExamples } from '../src/examples/load.ts'
import { loadExamplesInto } from '../src/examples/load-into.ts'
import { cli } from './helpers/cli.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

// load-examples --into: the same example data in another engine, registered like the embedded one.

const ALL: ListQuery = { page: 1, pageSize: 100, filters: [], orderColumn: 'id', orderDirection: 'asc' }

t.test('the example data copied into a DuckDB file, and registered with its datasets, charts and dashboards', async t => {
  const dir = t.testdir()
  const catalog = await Catalog.open(path.join(dir, 'catalog.db'), { upgrade: true })
  t.teardown(async () => { await catalog.close() })
  await loadExamples(catalog, sharedExamplesFile())
  const uri = `duckdb://${path.join(dir, 'examples.duckdb')}`
  const first = await loadExamplesInto(catalog, sharedExamplesFile(), { uri })
  t.same(first.copied, { products: 136, customers: 5000, orders: 120_000 }, 'every row copied')
  t.equal(first.registered, true)
  t.equal(first.database.backend, 'duckdb')
  t.equal(first.database.database_name, 'examples_duckdb')

  const instance = await DuckDBInstance.create(path.join(dir, 'examples.duckdb'), { access_mode: 'READ_ONLY' })
  const connection = await instance.connect()
  const totals = (await connection.runAndReadAll('SELECT count(*)::INTEGER, round(sum(amount), 2)::DOUBLE, min(order_date)::VARCHAR, typeof(any_value(order_date)) FROM orders')).getRows()[0]
  connection.closeSync()
  instance.closeSync()
  t.same(totals, [120_000, 59_195_151.39, '2024-01-01', 'DATE'], 'the same numbers as the embedded data, dates typed as DATE')

  const datasets = (await catalog.listDatasets(ALL)).rows.filter(dataset => dataset.database_id === first.database.id)
  t.same(datasets.map(dataset => dataset.table_name).sort(), ['customers', 'order_details', 'orders', 'products'])
  t.ok(datasets.every(dataset => dataset.schema === 'main'))
  const dashboards = (await catalog.listDashboards(ALL)).rows.map(dashboard => `${dashboard.dashboard_title} /${dashboard.slug ?? ''}`)
  t.ok(dashboards.includes('Sales Overview (DuckDB) /sales-overview-duckdb'), 'its dashboards are told apart from the embedded ones')
  t.ok(dashboards.includes('Sales Overview /sales-overview'))

  const again = await loadExamplesInto(catalog, sharedExamplesFile(), { uri })
  t.same(again.copied, {}, 'a second run copies nothing')
  t.equal(again.registered, false, 'and registers nothing')
  await t.rejects(loadExamplesInto(catalog, sharedExamplesFile(), { uri: 'duckdb:///:memory:' }), /needs a DuckDB file/)
  await t.rejects(loadExamplesInto(catalog, sharedExamplesFile(), { uri: 'postgresql://u:secret@localhost/db' }), /password/)
})

t.test('analytics-mcp load-examples --into duckdb:///…', async t => {
  const dir = t.testdir()
  const env = { MCP_DATA_DIR: dir, MCP_EXAMPLES_PATH: sharedExamplesFile() }
  const target = path.join(dir, 'lake.duckdb')
  const loaded = await cli(['load-examples', '--into', `duckdb://${target}`, '--name', 'lake_examples'], env)
  t.equal(loaded.code, 0, loaded.err)
  t.match(loaded.out, /Copied 136 products, 5000 customers, 120000 orders\./)
  t.match(loaded.out, /Registered database "lake_examples" \(id \d+\) with its datasets, charts and dashboards\./)
  const again = await cli(['load-examples', '--into', `duckdb://${target}`, '--name', 'lake_examples'], env)
  t.match(again.out, /nothing copied[\s\S]*was already registered/)
  const listed = await cli(['databases', 'list'], env)
  t.match(listed.out, /\tlake_examples\tduckdb\tlake\.duckdb\t/, 'listed like any registered database')
  const refused = await cli(['load-examples', '--name', 'x'], env)
  t.equal(refused.code, 2, 'its flags need --into')
  const both = await cli(['load-examples', '--into', 'postgresql://u@localhost/db', '--password-env', 'A', '--password-file', '/p'], env)
  t.equal(both.code, 2, 'one password source at most')
})
