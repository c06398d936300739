import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { callWith, jwtSettings, SECRET } from './helpers/auth.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'

// The conversation the README walks through, as a model would hold it: from the dataset list
// to a saved dashboard of three charts with a link that opens, then changes to the dashboard
// and the rules about who may change what.

type Row = Record<string, any>

t.test('from list_datasets to a dashboard with a working link', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }))
  const bearer = (username: string): string => `Bearer ${signWithSecret(SECRET, claimsFor(username))}`
  const call = async (username: string, tool: string, args: Record<string, unknown>): Promise<Row> => (await callWith(server, bearer(username), tool, args)).json.result
  const ok = async (username: string, tool: string, args: Record<string, unknown>): Promise<Row> => {
    const result = await call(username, tool, args)
    t.notOk(result.isError, `${tool} succeeds: ${String(result.content?.[0]?.text).slice(0, 200)}`)
    return result.structuredContent
  }
  /** Links carry MCP_SERVICE_URL; the test server listens on a random port of the same host. */
  const open = async (link: string): Promise<Response> => {
    const url = new URL(link)
    return await fetch(`${server.origin}${url.pathname}${url.search}`)
  }

  const datasets = await ok('alice', 'list_datasets', {})
  t.ok(datasets.datasets.some((dataset: Row) => dataset.table_name === 'orders'), 'the orders dataset is listed')
  const orders = await ok('alice', 'get_dataset_info', { identifier: 'orders' })
  t.ok(orders.metrics.some((metric: Row) => metric.metric_name === 'revenue'), 'it has a revenue metric')

  const configs = [
    { chart_name: 'Revenue by region per month', config: { chart_type: 'xy', kind: 'line', x: 'order_date', time_grain: 'P1M', y: ['revenue'], group_by: 'region', time_range: '2025-01-01 : 2026-01-01' } },
    { chart_name: 'Orders by channel', config: { chart_type: 'pie', dimension: 'channel', metric: 'order_count' } },
    { chart_name: 'Revenue, latest month', config: { chart_type: 'big_number', metric: 'revenue', show_trendline: true, time_grain: 'P1M' } }
  ]
  const chartIds: number[] = []
  for (const { chart_name: chartName, config } of configs) {
    const made = await ok('alice', 'generate_chart', { dataset_id: orders.id, config, chart_name: chartName, save_chart: true, preview_formats: ['url', 'ascii'] })
    chartIds.push(made.chart.id)
    t.equal(made.chart.slice_name, chartName)
  }

  const created = await ok('alice', 'generate_dashboard', { chart_ids: chartIds, dashboard_title: 'Sales pulse', description: 'Made in one conversation', published: true })
  t.equal(created.dashboard.chart_count, 3)
  t.same(created.positions.map((position: Row) => [position.chart_id, position.row, position.column, position.width]), [
    [chartIds[0], 1, 0, 6], [chartIds[1], 1, 6, 6], [chartIds[2], 2, 0, 6]
  ], 'two charts per row, in the order given')

  const page = await open(created.dashboard_url)
  t.equal(page.status, 200, 'the dashboard link opens without a token')
  const html = await page.text()
  for (const { chart_name: chartName } of configs) t.ok(html.includes(chartName), `the page shows "${chartName}"`)

  const tampered = created.dashboard_url.replace(/sig=[^&]+/, 'sig=' + 'A'.repeat(43))
  t.equal((await open(tampered)).status, 403, 'a tampered link is refused')

  // A fourth chart goes into the free half of row 2; a fifth starts row 3.
  const fourth = await ok('alice', 'generate_chart', { dataset_id: 'orders', config: { chart_type: 'xy', kind: 'bar', x: 'status', y: ['order_count'] }, chart_name: 'Orders by status', save_chart: true })
  const added = await ok('alice', 'add_chart_to_existing_dashboard', { dashboard_id: created.dashboard.id, chart_id: fourth.chart.id })
  t.match(added.position, { row: 2, column: 6, width: 6 })
  const again = await call('alice', 'add_chart_to_existing_dashboard', { dashboard_id: created.dashboard.id, chart_id: fourth.chart.id })
  t.match(again.content[0].text, /already on dashboard/)
  const wide = await ok('alice', 'add_chart_to_existing_dashboard', { dashboard_id: created.dashboard.id, chart_id: 3, width: 12 })
  t.match(wide.position, { row: 3, column: 0, width: 12 })

  const layout = await ok('alice', 'get_dashboard_layout', { identifier: created.dashboard.id })
  t.same(layout.charts.map((chart: Row) => chart.chart_id), [...chartIds, fourth.chart.id, 3], 'reading order')

  const renamed = await ok('alice', 'update_dashboard', { identifier: created.dashboard.id, dashboard_title: 'Sales pulse 2025', chart_ids: [chartIds[0], chartIds[2], fourth.chart.id, 3] })
  t.same(renamed.changed, ['dashboard_title', 'chart_ids'])
  t.same(renamed.positions.map((chart: Row) => chart.chart_id), [chartIds[0], chartIds[2], fourth.chart.id, 3], 'the pie is off the dashboard, the rest stay put')
  t.equal(renamed.dashboard.chart_count, 4)

  const reordered = await ok('alice', 'update_dashboard', { identifier: created.dashboard.id, chart_ids: [3, fourth.chart.id, chartIds[2], chartIds[0]] })
  t.same(reordered.positions.map((chart: Row) => [chart.chart_id, chart.row, chart.column, chart.width]), [
    [3, 1, 0, 12], [fourth.chart.id, 2, 0, 6], [chartIds[2], 2, 6, 6], [chartIds[0], 3, 0, 6]
  ], 'a new order re-flows the rows; every chart keeps its width')

  const deleted = await ok('alice', 'delete_chart', { identifier: fourth.chart.id })
  t.same(deleted.removed_from_dashboards, [created.dashboard.id])
  const after = await ok('alice', 'get_dashboard_layout', { identifier: created.dashboard.id })
  t.same(after.charts.map((chart: Row) => chart.chart_id), [3, chartIds[2], chartIds[0]], 'a deleted chart leaves the layout')

  t.test('who may change what', async t => {
    const bobWrite = await call('bob', 'generate_dashboard', { chart_ids: [1] })
    t.equal(bobWrite._meta.permission_denied, true, 'Gamma may not create dashboards')
    const notOwner = await call('alice', 'update_dashboard', { identifier: 'sales-overview', published: false })
    t.equal(notOwner._meta.permission_denied, true, 'Alpha may not change a dashboard it does not own')
    t.match(notOwner.content[0].text, /only its owners/)
    const adminChart = await ok('admin', 'generate_chart', { dataset_id: 'orders', config: { chart_type: 'big_number', metric: 'order_count' }, save_chart: true })
    const chartOfAdmin = await call('alice', 'delete_chart', { identifier: adminChart.chart.id })
    t.equal(chartOfAdmin._meta.permission_denied, true, 'Alpha may not delete charts it does not own')
    t.equal((await ok('admin', 'get_chart_info', { identifier: adminChart.chart.id })).id, adminChart.chart.id, 'the chart is still there')
    const update = await call('alice', 'update_chart', { identifier: adminChart.chart.id, chart_name: 'Mine now' })
    t.equal(update._meta.permission_denied, true, 'nor change them')
    const adminEdit = await ok('admin', 'update_dashboard', { identifier: created.dashboard.id, description: 'Checked by an admin' })
    t.same(adminEdit.changed, ['description'], 'administrators may change any dashboard')

    // A dataset owner without database access may not smuggle SQL in as a metric.
    const { catalog } = server.app
    await catalog.createRole('dataset_editor', 'Edits the datasets it owns')
    for (const permission of ['can_read', 'can_write'] as const) await catalog.grantPermission('dataset_editor', { permission, resource: 'Dataset', resource_id: null })
    const carol = await catalog.createUser({ username: 'carol', roles: ['dataset_editor'] })
    const examples = await catalog.findDatabase('examples')
    if (examples === undefined) throw new Error('example data missing')
    await catalog.createDataset({ database_id: examples.id, table_name: 'carol_orders', sql: 'SELECT order_id, amount FROM orders', owners: [carol.id], columns: [{ column_name: 'amount', verbose_name: null, type: 'REAL', is_dttm: false, groupby: true, filterable: true, description: null }] })
    const leak = await call('carol', 'create_dataset_metric', { dataset_id: 'carol_orders', metric_name: 'leak', expression: '(SELECT group_concat(customer_name) FROM customers)' })
    t.equal(leak._meta.permission_denied, true, 'metric SQL needs database access')
    t.notMatch(JSON.stringify(leak), /Nadia|Ravi/, 'and nothing of the other table comes back')

    // Deleting a chart takes it off dashboards the caller cannot see, without naming them.
    const mine = await ok('alice', 'generate_chart', { dataset_id: 'orders', config: { chart_type: 'big_number', metric: 'revenue' }, save_chart: true })
    const draft = await ok('admin', 'generate_dashboard', { chart_ids: [mine.chart.id], dashboard_title: 'Admin draft', published: false })
    const gone = await ok('alice', 'delete_chart', { identifier: mine.chart.id })
    t.same(gone.removed_from_dashboards, [], 'a draft of someone else is not named')
    t.equal((await ok('admin', 'get_dashboard_info', { identifier: draft.dashboard.id })).chart_count, 0, 'but the chart is off it')
  })
})

t.test('add_chart_to_existing_dashboard puts a chart in the tab named by target_tab, making it when missing', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }))
  const bearer = `Bearer ${signWithSecret(SECRET, claimsFor('alice'))}`
  const call = async (tool: string, args: Record<string, unknown>): Promise<Row> => (await callWith(server, bearer, tool, args)).json.result
  const ok = async (tool: string, args: Record<string, unknown>): Promise<Row> => {
    const result = await call(tool, args)
    t.notOk(result.isError, `${tool} succeeds: ${String(result.content?.[0]?.text).slice(0, 200)}`)
    return result.structuredContent
  }
  const chart = async (name: string): Promise<number> => (await ok('generate_chart', { dataset_id: 'orders', config: { chart_type: 'big_number', metric: 'order_count' }, chart_name: name, save_chart: true })).chart.id
  const first = await chart('Orders')
  const board = await ok('generate_dashboard', { chart_ids: [first], dashboard_title: 'Tabbed' })
  const second = await chart('Orders by region')
  const intoNew = await ok('add_chart_to_existing_dashboard', { dashboard_id: board.dashboard.id, chart_id: second, target_tab: 'Regions' })
  t.equal(intoNew.created_tab, true, 'the dashboard had no tab "Regions": it is made')
  t.same(intoNew.position.tabs, ['Regions'], 'and the chart sits in it')
  const third = await chart('Orders again')
  const sameTab = await ok('add_chart_to_existing_dashboard', { dashboard_id: board.dashboard.id, chart_id: third, target_tab: ' regions ' })
  t.equal(sameTab.created_tab, false, 'the same title (any case, trimmed) is the same tab')
  t.match(sameTab.position, { tabs: ['Regions'], row: intoNew.position.row, column: 6 }, 'beside the chart already in it')
  const text = (await call('add_chart_to_existing_dashboard', { dashboard_id: board.dashboard.id, chart_id: await chart('Fourth'), target_tab: 'Details' })).content[0].text
  t.match(text, /new tab "Details", row \d+/, 'the answer says where, tab included')
  const layout = await ok('get_dashboard_layout', { identifier: board.dashboard.id })
  t.same(layout.charts.map((entry: Row) => [entry.chart_id, entry.tabs]), [[first, []], [second, ['Regions']], [third, ['Regions']], [layout.charts[3].chart_id, ['Details']]], 'get_dashboard_layout shows the tabs')
  const page = await fetch(`${server.origin}${new URL(board.dashboard_url).pathname}${new URL(board.dashboard_url).search}`)
  t.equal(page.status, 200, 'the dashboard page still opens')
})
