import BetterSqlite3 from 'better-sqlite3'
import { PNG } from 'pngjs'
import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { connectClient, textOf } from './helpers/client.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

// The chart tools against the example data: every chart type is generated, saved and read
// back with get_chart_data, and its numbers are compared with the same aggregation written
// by hand in SQL on the examples file. Bad configs must say what to fix.

type Row = Record<string, any>

const examples = new BetterSqlite3(sharedExamplesFile(), { readonly: true, fileMustExist: true })
t.teardown(() => examples.close())
const sql = (text: string, ...params: unknown[]): Row[] => examples.prepare(text).all(...params) as Row[]

const cents = (value: unknown): number => Math.round(Number(value) * 100)

t.test('chart tools', async t => {
  const server = await startTestServer(t)
  const client = await connectClient(t, server.url, 'modern')
  const call = async (name: string, args: Record<string, unknown>) => await client.callTool({ name, arguments: args })
  const ok = async (name: string, args: Record<string, unknown>): Promise<Row> => {
    const result = await call(name, args)
    t.notOk(result.isError, `${name} succeeds: ${textOf(result).slice(0, 300)}`)
    return result.structuredContent as Row
  }
  const failure = async (name: string, args: Record<string, unknown>): Promise<{ text: string, type: string }> => {
    const result = await call(name, args)
    t.ok(result.isError, `${name} fails`)
    return { text: textOf(result), type: (result._meta as Row | undefined)?.error_type }
  }
  /** Save a chart and read its data back. */
  const chartData = async (config: Record<string, unknown>, name: string): Promise<Row> => {
    const generated = await ok('generate_chart', { dataset_id: 'orders', config, chart_name: name, save_chart: true, preview_formats: ['ascii', 'table'] })
    t.type(generated.chart?.id, 'number', `${name} is saved`)
    t.match(generated.chart.url, /\/charts\/\d+\?u=\d+&exp=\d+&sig=/, 'with a signed link')
    t.ok(generated.previews.ascii.content.includes(name), 'the ascii preview carries the title')
    return await ok('get_chart_data', { identifier: generated.chart.id })
  }
  const year2025 = ['2025-01-01', '2026-01-01']

  t.test('line: revenue per month of 2025 by region', async t => {
    const data = await chartData({ chart_type: 'xy', kind: 'line', x: 'order_date', time_grain: 'P1M', y: ['revenue'], group_by: 'region', time_range: '2025-01-01 : 2026-01-01' }, 'Monthly revenue by region')
    const expected = sql(`SELECT strftime('%Y-%m', order_date) AS month, region, SUM(amount) AS revenue FROM orders
      WHERE order_date >= ? AND order_date < ? GROUP BY month, region ORDER BY month, region`, ...year2025)
    t.equal(data.row_count, expected.length, '12 months × 5 regions')
    const got = new Map(data.data.map((row: Row) => [`${String(row.order_date).slice(0, 7)}|${row.region}`, cents(row.revenue)]))
    for (const row of expected) t.equal(got.get(`${row.month}|${row.region}`), cents(row.revenue), `${row.month} ${row.region}`)
  })

  t.test('bar, grouped and stacked: orders per channel and status', async t => {
    for (const stacked of [false, true]) {
      const data = await chartData({ chart_type: 'xy', kind: 'bar', x: 'channel', y: ['order_count'], group_by: 'status', stacked }, `Orders by channel ${stacked ? 'stacked' : 'grouped'}`)
      const expected = sql('SELECT channel, status, COUNT(*) AS n FROM orders GROUP BY channel, status')
      t.equal(data.row_count, expected.length)
      const got = new Map(data.data.map((row: Row) => [`${row.channel}|${row.status}`, row.order_count]))
      for (const row of expected) t.equal(got.get(`${row.channel}|${row.status}`), row.n, `${row.channel} ${row.status}`)
    }
  })

  t.test('area: units per quarter, two measures', async t => {
    const data = await chartData({ chart_type: 'xy', kind: 'area', x: 'order_date', time_grain: 'P3M', y: ['units_sold', { name: 'amount', aggregate: 'AVG', label: 'avg_amount' }] }, 'Units per quarter')
    const expected = sql(`SELECT strftime('%Y', order_date) || '-' || printf('%02d', ((CAST(strftime('%m', order_date) AS INTEGER) - 1) / 3) * 3 + 1) AS quarter,
      SUM(quantity) AS units, AVG(amount) AS avg_amount FROM orders GROUP BY quarter ORDER BY quarter`)
    t.equal(data.row_count, expected.length)
    data.data.forEach((row: Row, index: number) => {
      t.equal(String(row.order_date).slice(0, 7), expected[index]?.quarter, 'quarter start')
      t.equal(row.units_sold, expected[index]?.units)
      t.equal(cents(row.avg_amount), cents(expected[index]?.avg_amount))
    })
  })

  t.test('scatter: average order amount against quantity', async t => {
    const data = await chartData({ chart_type: 'xy', kind: 'scatter', x: 'quantity', y: [{ name: 'amount', aggregate: 'AVG', label: 'avg_amount' }] }, 'Amount vs quantity')
    const expected = sql('SELECT quantity, AVG(amount) AS avg_amount FROM orders GROUP BY quantity')
    t.equal(data.row_count, expected.length)
    const got = new Map(data.data.map((row: Row) => [row.quantity, cents(row.avg_amount)]))
    for (const row of expected) t.equal(got.get(row.quantity), cents(row.avg_amount), `quantity ${row.quantity}`)
  })

  t.test('pie: customers by segment, with a filter', async t => {
    const generated = await ok('generate_chart', { dataset_id: 'customers', config: { chart_type: 'pie', dimension: 'segment', metric: { name: 'customer_id', aggregate: 'COUNT_DISTINCT', label: 'customers' }, filters: [{ column: 'region', op: 'IN', value: ['Europe', 'North America'] }] }, save_chart: true })
    const data = await ok('get_chart_data', { identifier: generated.chart.id })
    const expected = sql("SELECT segment, COUNT(DISTINCT customer_id) AS n FROM customers WHERE region IN ('Europe', 'North America') GROUP BY segment ORDER BY n DESC")
    t.same(data.data.map((row: Row) => [row.segment, row.customers]), expected.map(row => [row.segment, row.n]), 'slices, largest first')
  })

  t.test('table: top products by revenue', async t => {
    const generated = await ok('generate_chart', { dataset_id: 'order_details', config: { chart_type: 'table', columns: ['product_name', 'category', { name: 'amount', aggregate: 'SUM', label: 'revenue' }], sort_by: { column: 'revenue', ascending: false }, row_limit: 5 }, save_chart: true })
    const data = await ok('get_chart_data', { identifier: generated.chart.id, format: 'csv' })
    const expected = sql(`SELECT p.product_name, p.category, SUM(o.amount) AS revenue FROM orders o JOIN products p ON p.product_id = o.product_id
      GROUP BY p.product_name, p.category ORDER BY revenue DESC LIMIT 5`)
    t.same(data.data.map((row: Row) => [row.product_name, cents(row.revenue)]), expected.map(row => [row.product_name, cents(row.revenue)]))
    t.equal(data.csv_data.split('\r\n')[0], 'product_name,category,revenue', 'CSV header')
    t.equal(data.csv_data.split('\r\n').length, 6, 'header and five rows')
    t.ok(data.truncated, 'more products exist than the five shown')
  })

  t.test('big number, total and with trend', async t => {
    const total = await chartData({ chart_type: 'big_number', metric: 'revenue', subheader: 'all orders' }, 'Revenue total')
    const [all] = sql('SELECT SUM(amount) AS revenue FROM orders')
    t.equal(cents(total.headline.value), cents(all?.revenue), 'without a trend, the headline is the total')
    t.match(total.headline.formatted, /^\$[\d,]+\.\d\d$/, 'formatted with the metric\'s d3 format')
    const trend = await chartData({ chart_type: 'big_number', metric: 'revenue', show_trendline: true, time_grain: 'P1Y', subheader: 'latest year' }, 'Revenue headline')
    const perYear = sql("SELECT strftime('%Y', order_date) AS year, SUM(amount) AS revenue FROM orders GROUP BY year ORDER BY year")
    t.same(trend.data.map((row: Row) => cents(row.revenue)), perYear.map(row => cents(row.revenue)), 'the trend, per year')
    t.equal(cents(trend.headline.value), cents(perYear[perYear.length - 1]?.revenue), 'with a trend, the headline is the latest period (as in Superset)')
  })

  t.test('histogram: order amounts in 10 bins', async t => {
    const data = await chartData({ chart_type: 'histogram', column: 'amount', bins: 10, row_limit: 200_000 }, 'Order amounts')
    const [range] = sql('SELECT MIN(amount) AS low, MAX(amount) AS high, COUNT(*) AS n FROM orders')
    t.equal(data.row_count, 10)
    t.equal(data.data.reduce((sum: number, row: Row) => sum + row.count, 0), range?.n, 'every order is in a bin')
    const width = (range?.high - range?.low) / 10
    const firstBin = sql('SELECT COUNT(*) AS n FROM orders WHERE amount < ?', range?.low + width)[0]?.n
    t.equal(data.data[0].count, firstBin, 'the first bin counts the smallest amounts')
  })

  t.test('previews: png is an image of the requested size with text on it', async t => {
    const result = await call('get_chart_preview', { identifier: 3, format: 'png', width: 500, height: 300 })
    t.notOk(result.isError, textOf(result))
    const image = (result.content as Array<{ type: string, data?: string, mimeType?: string }>).find(block => block.type === 'image')
    t.equal(image?.mimeType, 'image/png')
    const png = PNG.sync.read(Buffer.from(image?.data ?? '', 'base64'))
    t.same([png.width, png.height], [500, 300])
    let dark = 0
    for (let y = 0; y < 24; y++) for (let x = 0; x < 250; x++) if ((png.data[(y * 500 + x) * 4] ?? 255) < 100) dark++
    t.ok(dark > 30, `the title is drawn (${dark} dark pixels in the title strip)`)
    const vega = await ok('get_chart_preview', { identifier: 3, format: 'vega_lite' })
    t.equal(vega.content.type, 'vega_lite')
    t.same((vega.content.specification.data.values as Row[]).length, sql('SELECT DISTINCT region FROM orders').length, 'the spec carries the data inline')
    const raw = await ok('generate_explore_link', { dataset_id: 'orders', config: { chart_type: 'table', columns: ['order_id', 'order_date', 'region', 'country', 'channel', 'amount'], query_mode: 'raw', row_limit: 5000 } })
    const flood = await failure('get_chart_preview', { form_data_key: raw.form_data_key, format: 'vega_lite' })
    t.equal(flood.type, 'response_too_large', 'a spec carrying thousands of rows is refused')
    t.match(flood.text, /Ask for format "png" or "url"/)
    const picture = await call('get_chart_preview', { form_data_key: raw.form_data_key, format: 'png', width: 400, height: 300 })
    t.notOk(picture.isError, 'the same chart as a picture is fine')
    const table = await ok('get_chart_preview', { identifier: 3, format: 'table' })
    t.match(table.content.content, /\| region \| revenue \|/)
  })

  t.test('get_chart_sql binds values and shows the exact SQL', async t => {
    const generated = await ok('generate_chart', { dataset_id: 'orders', config: { chart_type: 'xy', kind: 'bar', x: 'region', y: ['revenue'], filters: [{ column: 'country', op: '==', value: "Côte d'Ivoire" }] }, generate_preview: true, preview_formats: ['url'] })
    t.equal(generated.chart, null, 'not saved')
    t.type(generated.form_data_key, 'string')
    const shown = await ok('get_chart_sql', { form_data_key: generated.form_data_key })
    t.notMatch(shown.sql, /Ivoire/, 'the value is not in the SQL text')
    t.ok(shown.parameters.includes("Côte d'Ivoire"), 'it is a bound parameter')
    t.match(shown.sql, /"country" = \?/)
  })

  t.test('bad configs get errors that say what to fix', async t => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['unknown column', { chart_type: 'xy', kind: 'bar', x: 'regoin', y: ['revenue'] }, /regoin.*region/s],
      ['wrong type', { chart_type: 'xy', y: 5 }, /config\.y/],
      ['metric on a text column', { chart_type: 'xy', kind: 'bar', x: 'channel', y: [{ name: 'region', aggregate: 'SUM' }] }, /region.*(numeric|number|text)/is],
      ['empty chart', { chart_type: 'xy', y: [] }, /config\.y.*(at least|too small|>=1)/is],
      ['unknown type', { chart_type: 'sunburst', y: ['revenue'] }, /chart_type must be one of/],
      ['unknown field', { chart_type: 'pie', dimension: 'region', metric: 'revenue', donught: true }, /donught.*donut/]
    ]
    const before = (await ok('list_charts', { page_size: 1 })).total_count
    for (const [name, config, message] of cases) {
      const { text, type } = await failure('generate_chart', { dataset_id: 'orders', config, save_chart: true })
      t.equal(type, 'invalid_arguments', name)
      t.match(text, message, `${name}: ${text.slice(0, 160)}`)
    }
    t.equal((await ok('list_charts', { page_size: 1 })).total_count, before, 'no chart was saved')
  })

  t.test('an empty result is a warning, not an error', async t => {
    const result = await ok('generate_chart', { dataset_id: 'orders', config: { chart_type: 'xy', kind: 'line', y: ['revenue'], time_range: '1990-01-01 : 1991-01-01' } })
    t.equal(result.row_count, 0)
    t.match(result.warnings[0], /no data/i)
  })

  t.test('update_chart and delete_chart', async t => {
    const made = await ok('generate_chart', { dataset_id: 'orders', config: { chart_type: 'pie', dimension: 'channel', metric: 'revenue' }, save_chart: true, chart_name: 'Channel mix' })
    // Superset's default: a preview of the change, nothing saved.
    const previewed = await ok('update_chart', { identifier: made.chart.id, chart_name: 'Channel mix (orders)', config: { chart_type: 'pie', dimension: 'channel', metric: 'order_count' } })
    t.equal(previewed.chart, null, 'generate_preview (default true) saves nothing')
    t.match(previewed.form_data_key, /\S/, 'the change comes back as an unsaved chart')
    t.match(previewed.warnings[0], new RegExp(`Preview only: chart ${made.chart.id} .* generate_preview: false`))
    t.same(Object.keys(previewed.previews), ['url'], 'with the previews asked for')
    const unchanged = await ok('get_chart_data', { identifier: made.chart.id })
    t.same(unchanged.columns.map((column: Row) => column.name), ['channel', 'revenue'], 'the saved chart is as it was')
    t.equal((await ok('get_chart_info', { identifier: made.chart.id })).slice_name, 'Channel mix')
    const fromPreview = await ok('get_chart_data', { form_data_key: previewed.form_data_key })
    t.same(fromPreview.columns.map((column: Row) => column.name), ['channel', 'order_count'], 'the preview holds the change')

    const updated = await ok('update_chart', { identifier: made.chart.id, chart_name: 'Channel mix (orders)', config: { chart_type: 'pie', dimension: 'channel', metric: 'order_count' }, generate_preview: false })
    t.equal(updated.chart.slice_name, 'Channel mix (orders)')
    t.same(updated.warnings, [], 'saved: no preview warning')
    const data = await ok('get_chart_data', { identifier: made.chart.id })
    t.same(data.columns.map((column: Row) => column.name), ['channel', 'order_count'], 'the new config is saved')
    const bad = await failure('update_chart', { identifier: made.chart.id, config: { chart_type: 'pie', dimension: 'nope', metric: 'revenue' }, generate_preview: false })
    t.equal(bad.type, 'invalid_arguments')
    const still = await ok('get_chart_data', { identifier: made.chart.id })
    t.same(still.columns.map((column: Row) => column.name), ['channel', 'order_count'], 'a failed update changes nothing')
    const deleted = await ok('delete_chart', { identifier: made.chart.id })
    t.equal(deleted.chart_id, made.chart.id)
    t.equal((await failure('get_chart_data', { identifier: made.chart.id })).type, 'not_found')
  })

  t.test('MCP Apps: chart tools name the chart viewer; clients without it get text and images', async t => {
    const { tools } = await client.listTools()
    const withViewer = tools.filter(tool => (tool._meta as Row | undefined)?.ui?.resourceUri === 'ui://analytics-mcp/chart-viewer').map(tool => tool.name)
    t.same(withViewer.sort(), ['generate_chart', 'get_chart_preview', 'update_chart', 'update_chart_preview'])
    t.equal((tools.find(tool => tool.name === 'generate_chart')?._meta as Row)['ui/resourceUri'], 'ui://analytics-mcp/chart-viewer', 'and the older key')
    const viewer = await client.readResource({ uri: 'ui://analytics-mcp/chart-viewer' })
    t.equal(viewer.contents[0]?.mimeType, 'text/html;profile=mcp-app')
  })

  t.test('get_chart_type_schema: a schema and an example per type', async t => {
    for (const type of ['xy', 'table', 'pie', 'big_number', 'histogram', 'line']) {
      const schema = await ok('get_chart_type_schema', { chart_type: type })
      t.equal(schema.schema.type, 'object', type)
      const check = await call('generate_chart', { dataset_id: 'orders', config: schema.example })
      t.notOk(check.isError, `the ${type} example works: ${textOf(check).slice(0, 200)}`)
    }
    t.equal((await failure('get_chart_type_schema', { chart_type: 'sunburst' })).type, 'invalid_arguments')
  })

  t.test('query_dataset: metrics by dimensions, filters, time range, order, limit', async t => {
    const result = await ok('query_dataset', {
      dataset_id: 'orders',
      metrics: ['revenue', { name: 'customer_id', aggregate: 'COUNT_DISTINCT', label: 'buyers' }],
      columns: ['region', { name: 'order_date', time_grain: 'P1Y', label: 'year' }],
      filters: [{ col: 'channel', op: 'in', val: ['Online', 'Retail'] }, { col: 'status', opr: '!=', value: 'Cancelled' }],
      time_range: '2024-01-01 : 2026-01-01',
      order_by: 'revenue',
      row_limit: 4
    })
    const expected = sql(`SELECT region, strftime('%Y', order_date) AS year, SUM(amount) AS revenue, COUNT(DISTINCT customer_id) AS buyers FROM orders
      WHERE channel IN ('Online', 'Retail') AND status != 'Cancelled' AND order_date >= '2024-01-01' AND order_date < '2026-01-01'
      GROUP BY region, year ORDER BY revenue DESC`)
    t.equal(result.row_count, 4)
    t.ok(result.truncated, 'more groups exist than row_limit')
    t.same(result.data.map((row: Row) => [row.region, String(row.year).slice(0, 4), cents(row.revenue), row.buyers]),
      expected.slice(0, 4).map(row => [row.region, row.year, cents(row.revenue), row.buyers]))
    t.same(result.time_range, { column: 'order_date', since: '2024-01-01', until: '2026-01-01' })
    t.notMatch(result.sql, /Online|Cancelled/, 'values are bound, not spliced')

    const raw = await ok('query_dataset', { dataset_id: 'customers', columns: ['customer_name', 'segment'], filters: [{ col: 'segment', op: '==', val: 'Corporate' }], row_limit: 3 })
    t.same(raw.data.map((row: Row) => row.segment), ['Corporate', 'Corporate', 'Corporate'], 'without metrics: raw rows')

    const unknown = await failure('query_dataset', { dataset_id: 'orders', metrics: ['revenue'], columns: ['regoin'] })
    t.equal(unknown.type, 'invalid_arguments')
    t.match(unknown.text, /regoin/)
    t.match(unknown.text, /region/, 'suggests the closest name')
    const badRange = await failure('query_dataset', { dataset_id: 'orders', metrics: ['revenue'], time_range: 'the other day' })
    t.match(badRange.text, /Last quarter|Last day/, 'a bad time range lists what works')
    t.equal((await failure('query_dataset', { dataset_id: 'orders' })).type, 'invalid_arguments', 'metrics or columns are needed')
  })

  t.test('create_virtual_dataset: SQL saved as a dataset, columns inferred', async t => {
    const made = await ok('create_virtual_dataset', {
      database_id: 'examples',
      dataset_name: 'big_orders',
      sql: 'SELECT order_id, order_date, region, amount FROM orders WHERE amount > 1000',
      metrics: [{ metric_name: 'big_revenue', expression: 'SUM(amount)', d3format: '$,.0f' }]
    })
    t.same(made.columns.map((column: Row) => column.name), ['order_id', 'order_date', 'region', 'amount'])
    t.equal(made.main_dttm_col, 'order_date', 'the date column is found')
    const result = await ok('query_dataset', { dataset_id: made.id, metrics: ['big_revenue'], columns: ['region'], order_by: 'region', order_desc: false })
    const expected = sql('SELECT region, SUM(amount) AS revenue FROM orders WHERE amount > 1000 GROUP BY region ORDER BY region')
    t.same(result.data.map((row: Row) => [row.region, cents(row.big_revenue)]), expected.map(row => [row.region, cents(row.revenue)]))

    const bad = await failure('create_virtual_dataset', { database_id: 'examples', dataset_name: 'broken', sql: 'SELECT nope FROM orders' })
    t.equal(bad.type, 'sql_error')
    t.match(bad.text, /nothing was saved/)
    const write = await failure('create_virtual_dataset', { database_id: 'examples', dataset_name: 'sneaky', sql: 'DELETE FROM orders' })
    t.ok(['read_only', 'sql_error', 'not_allowed'].includes(write.type), `a write is refused (${write.type})`)
    const badMetric = await failure('create_virtual_dataset', { database_id: 'examples', dataset_name: 'bad_metric', sql: 'SELECT amount FROM orders', metrics: [{ metric_name: 'm', expression: 'SUM(price)' }] })
    t.match(badMetric.text, /Metric "m" does not run/)
    const names = (await ok('list_datasets', { page_size: 100 })).datasets.map((dataset: Row) => dataset.table_name)
    t.notOk(names.includes('broken') || names.includes('sneaky') || names.includes('bad_metric'), 'failed datasets are not saved')
    t.equal(sql('SELECT COUNT(*) AS n FROM orders')[0]?.n, 120_000, 'the data is untouched')
  })

  t.test('create_dataset_metric: checked, then usable', async t => {
    const made = await ok('create_dataset_metric', { dataset_id: 'orders', metric_name: 'margin_pct', expression: 'SUM(amount - cost) / SUM(amount)', d3format: '.1%' })
    const [expected] = sql('SELECT SUM(amount - cost) / SUM(amount) AS margin FROM orders')
    t.equal(Math.round(Number(made.sample_value) * 1e6), Math.round(Number(expected?.margin) * 1e6), 'the sample value is the metric over the dataset')
    const used = await ok('query_dataset', { dataset_id: 'orders', metrics: ['margin_pct'] })
    t.equal(Math.round(used.data[0].margin_pct * 1e6), Math.round(Number(expected?.margin) * 1e6))
    t.equal((await failure('create_dataset_metric', { dataset_id: 'orders', metric_name: 'margin_pct', expression: 'SUM(amount)' })).type, 'invalid_arguments', 'names are unique')
    const broken = await failure('create_dataset_metric', { dataset_id: 'orders', metric_name: 'oops', expression: 'SUM(nope)' })
    t.match(broken.text, /does not run/)
    const info = await ok('get_dataset_info', { identifier: 'orders' })
    t.notOk(info.metrics.some((metric: Row) => metric.metric_name === 'oops'), 'a broken metric is not saved')
  })

  t.test('links: explore and SQL', async t => {
    const link = await ok('generate_explore_link', { dataset_id: 'orders', config: { chart_type: 'xy', kind: 'bar', x: 'region', y: ['revenue'] } })
    t.match(link.url, /\/explore\/[A-Za-z0-9_-]{22}\?u=\d+&exp=\d+&sig=/)
    const data = await ok('get_chart_data', { form_data_key: link.form_data_key })
    t.equal(data.row_count, sql('SELECT DISTINCT region FROM orders').length, 'the key works with get_chart_data')
    const page = await fetch(`${server.origin}${new URL(link.url).pathname}${new URL(link.url).search}`)
    t.equal(page.status, 200, 'the explore link opens')
    const sample = await ok('generate_explore_link', { dataset_id: 'customers' })
    t.equal(sample.form_data.viz_type, 'table', 'without a config: a table of sample rows')
    const badConfig = await failure('generate_explore_link', { dataset_id: 'orders', config: { chart_type: 'pie', dimension: 'nope', metric: 'revenue' } })
    t.equal(badConfig.type, 'invalid_arguments', 'names are checked when the link is made')
    const sqlLink = await ok('open_sql_lab_with_context', { database_id: 'examples', dataset_in_context: 'orders' })
    t.match(sqlLink.sql, /SELECT \* FROM "orders" LIMIT 100/)
    const sqlPage = await fetch(`${server.origin}${new URL(sqlLink.url).pathname}${new URL(sqlLink.url).search}`)
    t.equal(sqlPage.status, 200, 'the SQL link opens')
    const again = await ok('generate_explore_link', { dataset_id: 'orders' })
    t.not(again.form_data_key, sample.form_data_key, 'every call makes a new link (never served from the cache)')
  })

  t.test('Superset-shaped configs and the review\'s edge cases', async t => {
    const pie = await ok('generate_chart', { dataset_id: 'orders', config: { viz_type: 'pie', groupby: ['region'], metrics: ['revenue'] } })
    t.equal(pie.form_data.viz_type, 'pie', 'viz_type, groupby and metrics as Superset sends them')
    const table = await ok('generate_chart', { dataset_id: 'orders', config: { viz_type: 'table', groupby: ['channel'], metrics: ['order_count'] } })
    t.same(table.form_data.all_columns, ['channel', 'order_count'], 'a Superset table: groupby then metrics')
    const text = await ok('generate_chart', { dataset_id: 'orders', config: JSON.stringify({ chart_type: 'big_number', metric: 'revenue' }) })
    t.equal(text.chart_type_label, 'Big number', 'config as JSON text')
    const badText = await failure('generate_chart', { dataset_id: 'orders', config: '{"chart_type": ' })
    t.match(badText.text, /config must be a JSON object/)
    const twoMetrics = await failure('generate_chart', { dataset_id: 'orders', config: { chart_type: 'xy', y: ['revenue', 'order_count'], group_by: 'channel' } })
    t.match(twoMetrics.text, /with group_by, y takes one metric/, 'group_by with several metrics is refused, not half drawn')

    const before = (await ok('list_charts', { page_size: 1 })).total_count
    const big = await ok('generate_chart', { dataset_id: 'orders', save_chart: true, preview_formats: ['vega_lite', 'table'], config: { chart_type: 'table', columns: ['order_id', 'order_date', 'region', 'country', 'channel', 'status', 'amount'], query_mode: 'raw', row_limit: 5000 } })
    t.equal((await ok('list_charts', { page_size: 1 })).total_count, before + 1, 'saved exactly once')
    t.notOk('vega_lite' in big.previews, 'the preview too large for the response is left out')
    t.match(big.warnings.join(' '), /vega_lite preview was left out/, 'and the result says so')

    const histogram = await ok('get_chart_data', { form_data_key: (await ok('generate_explore_link', { dataset_id: 'orders', config: { chart_type: 'histogram', column: 'amount', bins: 5 } })).form_data_key })
    t.equal(histogram.data.reduce((sum: number, row: Row) => sum + row.count, 0), 120_000, 'by default a histogram bins every row')

    const commented = await ok('create_virtual_dataset', { database_id: 'examples', dataset_name: 'shipping_times', sql: "SELECT order_id, order_date, julianday(ship_date) - julianday(order_date) AS days_to_ship FROM orders ORDER BY ship_date; -- slowest last\n-- note" })
    t.match(commented.columns.map((column: Row) => [column.name, column.type]), [['order_id', 'INTEGER'], ['order_date', 'DATE'], ['days_to_ship', /^(INTEGER|REAL)$/]], 'types come from values when SQLite declares none, even with NULLs first')
    const avg = await ok('query_dataset', { dataset_id: 'shipping_times', metrics: [{ name: 'days_to_ship', aggregate: 'AVG', label: 'avg_days' }] })
    const [expected] = sql('SELECT AVG(julianday(ship_date) - julianday(order_date)) AS d FROM orders')
    t.equal(Math.round(avg.data[0].avg_days * 1000), Math.round(Number(expected?.d) * 1000))
    const synonyms = await ok('query_dataset', { dataset_id: 'orders', metrics: ['order_count'], filters: [{ col: 'channel', op: 'eq', val: 'Online' }, { col: 'status', op: '=', val: 'Completed' }] })
    t.equal(synonyms.data[0].order_count, sql("SELECT COUNT(*) AS n FROM orders WHERE channel = 'Online' AND status = 'Completed'")[0]?.n, 'eq and = work as in chart configs')
  })
})
