import { existsSync } from 'node:fs'
import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import t from 'tap'
import { Catalog, CatalogError } from '../src/catalog/catalog.ts'
import { compileList, escapeLike, normalizeDateTime } from '../src/catalog/list-query.ts'
import type { ListQuery } from '../src/catalog/list-query.ts'
import { CHART_LIST } from '../src/catalog/list-specs.ts'
import { applyMigrations, catalogVersion, LATEST_CATALOG_VERSION, MIGRATIONS, pendingMigrations } from '../src/catalog/migrations.ts'
import { gridLayout } from '../src/catalog/dashboard-layout.ts'
import { ToolError } from '../src/errors.ts'
import { loadExamples } from '../src/examples/load.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

const query = (overrides: Partial<ListQuery> = {}): ListQuery => ({
  page: 1, pageSize: 100, filters: [], orderColumn: 'id', orderDirection: 'asc', ...overrides
})

function openWithExamples (dir: string): Catalog {
  const catalog = Catalog.open(path.join(dir, 'catalog.db'), { upgrade: true })
  loadExamples(catalog, sharedExamplesFile())
  return catalog
}

t.test('migrations', async t => {
  t.test('a new catalog is created at the latest version, with built-in roles', async t => {
    const catalog = Catalog.open(path.join(t.testdir(), 'nested', 'catalog.db'), { upgrade: true })
    t.teardown(() => catalog.close())
    t.equal(catalog.version(), LATEST_CATALOG_VERSION)
    t.same(catalog.appliedAtOpen.map(m => m.version), MIGRATIONS.map(m => m.version))
    t.same(catalog.roleNames(), ['Admin', 'Alpha', 'Gamma', 'sql_lab'])
    t.doesNotThrow(() => catalog.ping())
  })

  t.test('applying twice is a no-op', async t => {
    const db = new BetterSqlite3(':memory:')
    t.teardown(() => db.close())
    t.equal(catalogVersion(db), 0)
    t.equal(applyMigrations(db).length, MIGRATIONS.length)
    t.same(applyMigrations(db), [])
    t.same(pendingMigrations(db), [])
  })

  t.test('without upgrading, a missing catalog is refused and not created', async t => {
    const file = path.join(t.testdir(), 'absent.db')
    t.throws(() => Catalog.open(file, { upgrade: false }), { message: /there is no catalog at .*absent\.db; run `analytics-mcp db upgrade`/ })
    t.notOk(existsSync(file))
  })

  t.test('a catalog behind the code is refused unless upgrading, naming the command', async t => {
    const file = path.join(t.testdir(), 'catalog.db')
    new BetterSqlite3(file).close()
    t.throws(() => Catalog.open(file, { upgrade: false }), { name: 'CatalogError', message: /analytics-mcp db upgrade/ })
    const upgraded = Catalog.open(file, { upgrade: true })
    t.equal(upgraded.version(), LATEST_CATALOG_VERSION)
    upgraded.close()
  })

  t.test('a catalog newer than the code is refused', async t => {
    const file = path.join(t.testdir(), 'catalog.db')
    const db = new BetterSqlite3(file)
    applyMigrations(db, [...MIGRATIONS, { version: LATEST_CATALOG_VERSION + 1, name: 'from the future', sql: 'CREATE TABLE future (id INTEGER)' }])
    db.close()
    t.throws(() => Catalog.open(file, { upgrade: true }), { message: /newer than this release understands/ })
  })

  t.test('an unreadable file is a clear error', async t => {
    const dir = t.testdir({ 'not-a-db.db': 'this is not sqlite'.repeat(100) })
    t.throws(() => Catalog.open(path.join(dir, 'not-a-db.db'), { upgrade: true }), CatalogError)
  })
})

t.test('users', async t => {
  const catalog = Catalog.open(':memory:', { upgrade: true })
  t.teardown(() => catalog.close())
  const user = catalog.createUser({ username: 'carol', first_name: 'Carol', email: 'carol@example.com', roles: ['Gamma', 'sql_lab'] })
  t.same(user.roles, ['Gamma', 'sql_lab'])
  t.equal(user.active, true)
  t.equal(catalog.findUserByUsername('carol')?.email, 'carol@example.com')
  t.throws(() => catalog.createUser({ username: 'carol', roles: [] }), { message: /already exists/ })
  t.throws(() => catalog.createUser({ username: 'dave', roles: ['Wizard'] }), { message: /unknown role\(s\): Wizard/ })
  const inactive = catalog.createUser({ username: 'erin', roles: [], active: false })
  t.equal(inactive.active, false)
  t.same(catalog.listUsers().map(u => u.username), ['carol', 'erin'])
  t.same([...catalog.userRefs([user.id, null, 999]).keys()], [user.id])
})

t.test('lookups by id, UUID and name', async t => {
  const catalog = openWithExamples(t.testdir())
  t.teardown(() => catalog.close())
  const sales = catalog.findDashboard('sales-overview')
  t.equal(sales?.dashboard_title, 'Sales Overview')
  t.equal(catalog.findDashboard(sales?.uuid.toUpperCase() ?? '')?.id, sales?.id, 'UUIDs match case-insensitively')
  t.equal(catalog.findDashboard(String(sales?.id))?.id, sales?.id)
  t.equal(catalog.findDashboard(' '), undefined)
  t.equal(catalog.findDashboard(1.5), undefined)
  t.equal(catalog.findChart('Monthly Revenue'), undefined, 'charts are looked up by id or UUID only')
  t.equal(catalog.findDataset('orders')?.main_dttm_col, 'order_date')
  t.equal(catalog.findDatabase('examples')?.backend, 'sqlite')
  t.same(catalog.chartsOfDashboard(sales?.id ?? 0).map(c => c.slice_name).length, 6)
  t.same(catalog.dashboardsOfChart(3).map(d => d.slug), ['sales-overview'])
  const owners = catalog.ownersOf('dashboard', [1, 2])
  t.same(owners.get(1)?.map(o => o.username), ['admin'])
  t.same(owners.get(2)?.map(o => o.username), ['admin', 'alice'])
})

t.test('list queries', async t => {
  const catalog = openWithExamples(t.testdir())
  t.teardown(() => catalog.close())
  const names = (overrides: Partial<ListQuery>): string[] => catalog.listCharts(query(overrides)).rows.map(chart => chart.slice_name)

  t.same(names({ filters: [{ col: 'slice_name', opr: 'eq', value: 'Total Revenue' }] }), ['Total Revenue'])
  t.equal(names({ filters: [{ col: 'slice_name', opr: 'ne', value: 'Total Revenue' }] }).length, 7)
  t.same(names({ filters: [{ col: 'slice_name', opr: 'ew', value: 'by Segment' }] }), ['Customers by Segment'])
  t.same(names({ filters: [{ col: 'slice_name', opr: 'ct', value: 'Quarterly' }] }), ['Quarterly Revenue by Category'])
  t.same(names({ filters: [{ col: 'slice_name', opr: 'like', value: 'Top%' }] }), ['Top Products by Revenue'])
  t.same(names({ filters: [{ col: 'slice_name', opr: 'ilike', value: 'top%' }] }), ['Top Products by Revenue'])
  t.same(names({ filters: [{ col: 'id', opr: 'in', value: [1, '2'] }] }), ['Total Revenue', 'Monthly Revenue'])
  t.equal(names({ filters: [{ col: 'id', opr: 'nin', value: [1, 2] }] }).length, 6)
  t.same(names({ filters: [{ col: 'id', opr: 'gt', value: 6 }] }), ['Customers by Segment', 'Customers by Region'])
  t.equal(names({ filters: [{ col: 'id', opr: 'gte', value: 6 }] }).length, 3)
  t.same(names({ filters: [{ col: 'id', opr: 'lt', value: 2 }] }), ['Total Revenue'])
  t.equal(names({ filters: [{ col: 'id', opr: 'lte', value: 2 }] }).length, 2)
  t.equal(names({ filters: [{ col: 'datasource_id', opr: 'is_not_null' }] }).length, 8)
  t.equal(names({ filters: [{ col: 'dashboards', opr: 'in', value: [1, 2] }] }).length, 8)
  t.equal(names({ filters: [{ col: 'dashboards', opr: 'nin', value: [1] }] }).length, 2)
  t.equal(names({ filters: [{ col: 'dashboards', opr: 'ne', value: 2 }] }).length, 5)
  t.equal(names({ filters: [{ col: 'dashboards', opr: 'is_null' }] }).length, 0)
  t.equal(names({ filters: [{ col: 'dashboards', opr: 'is_not_null' }] }).length, 8)
  t.equal(names({ filters: [{ col: 'created_on', opr: 'gte', value: '2000-01-01' }] }).length, 8)
  t.equal(names({ filters: [{ col: 'changed_on', opr: 'lt', value: '2000-01-01T00:00:00Z' }] }).length, 0)
  t.same(names({ search: 'segment' }), ['Customers by Segment'])
  t.same(names({ search: '100%' }), [], 'search wildcards are literal')
  t.same(names({ orderColumn: 'slice_name', orderDirection: 'desc', pageSize: 1 }), ['Total Revenue'])
  t.same(names({ page: 2, pageSize: 3 }), ['Orders by Channel', 'Top Products by Revenue', 'Quarterly Revenue by Category'])
  t.equal(catalog.listCharts(query({ page: 9 })).total, 8, 'the total does not depend on the page')
  t.equal(catalog.listDashboards(query({ filters: [{ col: 'published', opr: 'eq', value: 'false' }] })).total, 1)
  t.equal(catalog.listDatasets(query({ filters: [{ col: 'owner', opr: 'eq', value: 2 }] })).total, 4)
  t.equal(catalog.listDatabases(query({ filters: [{ col: 'allow_dml', opr: 'eq', value: false }] })).total, 1)

  const invalid: Array<[Partial<ListQuery>, RegExp]> = [
    [{ filters: [{ col: 'nope', opr: 'eq', value: 1 }] }, /Cannot filter on "nope"/],
    [{ filters: [{ col: 'id', opr: 'ct', value: 1 }] }, /Operator "ct" does not apply to "id"/],
    [{ filters: [{ col: 'id', opr: 'eq', value: 'abc' }] }, /expects an integer, got "abc"/],
    [{ filters: [{ col: 'id', opr: 'in', value: 3 }] }, /needs a non-empty list/],
    [{ filters: [{ col: 'id', opr: 'in', value: [] }] }, /needs a non-empty list/],
    [{ filters: [{ col: 'id', opr: 'in', value: Array.from({ length: 501 }, (_, i) => i) }] }, /more than 500 values/],
    [{ filters: [{ col: 'created_on', opr: 'gt', value: 'yesterday' }] }, /ISO date/],
    [{ filters: [{ col: 'created_on', opr: 'gt', value: '2025-02-30' }] }, /ISO date/],
    [{ filters: [{ col: 'slice_name', opr: 'eq', value: { a: 1 } }] }, /expects a string/],
    [{ filters: [{ col: 'dashboards', opr: 'eq', value: 'x' }] }, /expects an integer/],
    [{ orderColumn: 'params' }, /Cannot order by "params"/]
  ]
  for (const [overrides, message] of invalid) {
    let error: unknown
    try {
      catalog.listCharts(query(overrides))
    } catch (err) {
      error = err
    }
    t.ok(error instanceof ToolError && error.errorType === 'invalid_arguments', `${JSON.stringify(overrides).slice(0, 60)} is an invalid_arguments error`)
    t.match((error as Error | undefined)?.message, message)
  }
})

t.test('filter dates are real calendar dates, read as UTC', async t => {
  t.equal(normalizeDateTime('2025-01-31'), '2025-01-31')
  t.equal(normalizeDateTime('2024-02-29'), '2024-02-29', 'a leap day')
  t.equal(normalizeDateTime('2025-02-29'), undefined, 'not a leap year')
  t.equal(normalizeDateTime('2025-02-30'), undefined)
  t.equal(normalizeDateTime('2025-13-01'), undefined)
  t.equal(normalizeDateTime('2025-01-31 12:30'), '2025-01-31T12:30:00.000Z', 'no zone means UTC, whatever the server time zone')
  t.equal(normalizeDateTime('2025-01-31T12:30:15.5+02:00'), '2025-01-31T10:30:15.500Z')
  t.equal(normalizeDateTime('2025-01-31T25:00'), undefined)
  t.equal(normalizeDateTime('yesterday'), undefined)
})

t.test('a name shared by several objects is ambiguous, not missing', async t => {
  const catalog = openWithExamples(t.testdir())
  t.teardown(() => catalog.close())
  const other = catalog.createDatabase({ database_name: 'copy', backend: 'sqlite', connection: sharedExamplesFile() })
  catalog.createDataset({ database_id: other.id, table_name: 'orders', columns: [] })
  let error: unknown
  try {
    catalog.findDataset('orders')
  } catch (err) {
    error = err
  }
  t.ok(error instanceof ToolError)
  t.match((error as Error).message, /^2 datasets match "orders" \(ids 1, 5\)/)
  t.match((error as ToolError).hint, /Pass the id/)
  t.equal(catalog.findDataset(5)?.database_id, other.id)
})

t.test('compiled list SQL binds every value', async t => {
  const compiled = compileList(CHART_LIST, query({ filters: [{ col: 'slice_name', opr: 'eq', value: "x' OR 1=1 --" }], search: 'a%b' }))
  t.notMatch(compiled.pageSql, /OR 1=1/)
  t.ok(compiled.params.includes("x' OR 1=1 --"))
  t.equal(escapeLike('50%_\\'), '50\\%\\_\\\\')
  const withAccess = compileList(CHART_LIST, query(), { visible: (kind, alias) => kind === 'chart' ? { sql: `${alias}.id = ?`, params: [3] } : undefined })
  t.match(withAccess.countSql, /WHERE \(c\.id = \?\)/)
  t.same(withAccess.params, [3])
})

t.test('dashboard layouts follow Superset position_json v2', async t => {
  const layout = gridLayout('Demo', [[{ chartId: 1, sliceName: 'A', width: 4 }, { chartId: 2, sliceName: 'B', width: 8 }]])
  t.equal(layout.DASHBOARD_VERSION_KEY, 'v2')
  t.match(layout['CHART-2'], { type: 'CHART', parents: ['ROOT_ID', 'GRID_ID', 'ROW-1'], meta: { chartId: 2, width: 8, height: 50 } })
  t.throws(() => gridLayout('Too wide', [[{ chartId: 1, sliceName: 'A', width: 8 }, { chartId: 2, sliceName: 'B', width: 8 }]]), /16 columns wide/)
})

t.test('the content version moves with every change tools can show, and only then', async t => {
  const catalog = openWithExamples(t.testdir())
  t.teardown(() => catalog.close())
  const changes: string[] = []
  catalog.onChange(change => changes.push(change))
  const before = catalog.contentState()
  t.match(before.instanceId, /^[0-9a-f]{32}$/)
  const dataset = catalog.findDataset('orders')
  if (dataset === undefined) throw new Error('example data missing')
  catalog.createChart({ slice_name: 'New', viz_type: 'table', dataset_id: dataset.id, params: {} })
  const afterChart = catalog.contentState()
  t.ok(afterChart.version > before.version, 'a new chart moves it')
  t.equal(afterChart.instanceId, before.instanceId, 'the identity stays')
  t.same(changes, ['content'])

  const alice = catalog.findUserByUsername('alice')
  if (alice === undefined) throw new Error('demo user missing')
  catalog.createApiKey({ key_id: 'k1', name: 'n1', user_id: alice.id, secret_hash: 'x'.repeat(64), scopes: null, expires_on: null })
  catalog.touchApiKey(catalog.findApiKey('n1')?.id ?? 0, new Date().toISOString())
  t.equal(catalog.contentState().version, afterChart.version, 'API key bookkeeping does not')
  catalog.grantPermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: dataset.id })
  t.equal(catalog.contentState().version, afterChart.version, 'permissions do not (principal fingerprints cover them)')
  t.same(changes, ['content', 'access'], 'but they are announced as access changes')
  t.notOk(catalog.grantPermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: dataset.id }))
  t.same(changes, ['content', 'access'], 'a grant that changes nothing is not announced')
  catalog.setUserActive('bob', false)
  t.ok(catalog.contentState().version > afterChart.version, 'user changes do: results show names')

  const other = openWithExamples(t.testdir())
  t.teardown(() => other.close())
  t.not(other.contentState().instanceId, before.instanceId, 'each catalog has its own identity')
})

t.test('per-request lookups are reused, and a change by another process still applies at once', async t => {
  const dir = t.testdir()
  const server = openWithExamples(dir)
  t.teardown(() => server.close())
  const cli = Catalog.open(path.join(dir, 'catalog.db'), { upgrade: false })
  t.teardown(() => cli.close())
  const bob = server.findUserByUsername('bob')
  if (bob === undefined) throw new Error('demo user missing')
  t.equal(server.findUserByUsername('bob'), bob, 'the same lookup is served from memory')
  t.notOk(server.permissionsOfUser(bob.id).grants.some(grant => grant.permission === 'can_execute_sql_query'), 'bob cannot run SQL yet')
  cli.grantPermission('Gamma', { permission: 'can_execute_sql_query', resource: 'SQLLab', resource_id: null })
  t.ok(server.permissionsOfUser(bob.id).grants.some(grant => grant.permission === 'can_execute_sql_query'), 'a grant made through another connection is seen on the next lookup')
  cli.setUserActive('bob', false)
  t.equal(server.findUserByUsername('bob')?.active, false, 'so is a deactivation')
  cli.addUserToRole('bob', 'Alpha')
  t.ok(server.findUserByUsername('bob')?.roles.includes('Alpha'), 'and a new role')
})
