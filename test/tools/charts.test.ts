import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { bothEras } from '../helpers/tools.ts'
import type { Structured } from '../helpers/tools.ts'

// list_charts and get_chart_info over HTTP, in both protocol eras.

t.test('chart tools', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { structuredFrom }) => {
    t.test('list_charts filters by dashboard, type and dataset name', async t => {
      const structured = structuredFrom(t)
      const onSales = await structured('list_charts', { filters: [{ col: 'dashboards', opr: 'eq', value: 1 }], page_size: 100 })
      t.equal(onSales.total_count, 6)
      const pies = await structured('list_charts', { filters: [{ col: 'viz_type', opr: 'eq', value: 'pie' }] })
      t.same(pies.charts.map((c: Structured) => c.slice_name).sort(), ['Customers by Region', 'Orders by Channel'])
      const onCustomers = await structured('list_charts', { filters: [{ col: 'datasource_name', opr: 'eq', value: 'customers' }, { col: 'viz_type', opr: 'ne', value: 'pie' }] })
      t.same(onCustomers.charts.map((c: Structured) => c.slice_name), ['Customers by Segment'])
      const named = await structured('list_charts', { filters: [{ col: 'slice_name', opr: 'sw', value: 'Revenue by' }] })
      t.same(named.charts.map((c: Structured) => c.slice_name), ['Revenue by Region'])
      const ordered = await structured('list_charts', { order_column: 'slice_name', order_direction: 'desc', page_size: 2 })
      t.same(ordered.charts.map((c: Structured) => c.slice_name), ['Total Revenue', 'Top Products by Revenue'])
    })

    t.test('get_chart_info returns the definition and the dashboards it is on', async t => {
      const structured = structuredFrom(t)
      const chart = await structured('get_chart_info', { identifier: 2 })
      t.equal(chart.slice_name, 'Monthly Revenue')
      t.equal(chart.viz_type, 'echarts_timeseries_line')
      t.equal(chart.chart_type_display_name, 'Line chart')
      t.equal(chart.datasource_name, 'orders')
      t.same(chart.form_data.metrics, ['revenue'])
      t.equal(chart.form_data.time_grain_sqla, 'P1M')
      t.same(chart.dashboards.map((d: Structured) => d.slug), ['sales-overview'])
      t.same(chart.owners.map((o: Structured) => o.username), ['admin', 'alice'])
      const byUuid = await structured('get_chart_info', { identifier: chart.uuid })
      t.equal(byUuid.id, 2)
      const onBoth = await structured('get_chart_info', { identifier: 3 })
      t.same(onBoth.dashboards.map((d: Structured) => d.slug), ['sales-overview'])
      const orders = await structured('get_chart_info', { identifier: 4 })
      t.same(orders.dashboards.map((d: Structured) => d.slug), ['sales-overview', 'customer-insights'])
    })

    t.test('list_charts can return owners and the full definition on request', async t => {
      const structured = structuredFrom(t)
      const detailed = await structured('list_charts', { select_columns: ['id', 'owners', 'form_data'], page_size: 1, order_column: 'id' })
      t.same(detailed.charts[0].owners.map((o: Structured) => o.username), ['admin', 'alice'])
      t.equal(detailed.charts[0].form_data.metric, 'revenue')
    })
  })
})
