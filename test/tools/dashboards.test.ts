import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { bothEras } from '../helpers/tools.ts'
import type { Structured } from '../helpers/tools.ts'

// list_dashboards and get_dashboard_info over HTTP, in both protocol eras.

t.test('dashboard tools', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { structuredFrom, call }) => {
    t.test('search and filters together are refused, as Superset refuses them', async t => {
      for (const tool of ['list_dashboards', 'list_charts', 'list_datasets', 'list_databases']) {
        const both = await call(tool, { search: 'sales', filters: [{ col: 'id', opr: 'gt', value: 0 }] })
        t.equal(both.isError, true, `${tool}: an error, not a list narrowed by one of the two`)
        t.match((both.content as Array<{ text: string }>)[0]?.text, /search and filters cannot be used together/, tool)
      }
      const dashboards = await call('list_dashboards', { search: 'sales', filters: [{ col: 'published', opr: 'eq', value: true }] })
      t.match((dashboards.content as Array<{ text: string }>)[0]?.text, /"col": "dashboard_title", "opr": "ct", "value": "sales"/, 'the hint spells the search as a filter')
      t.notOk((await call('list_dashboards', { search: '', filters: [{ col: 'published', opr: 'eq', value: true }] })).isError, 'an empty search is no search')
    })

    t.test('list_dashboards pages, filters and searches', async t => {
      const structured = structuredFrom(t)
      const all = await structured('list_dashboards')
      t.equal(all.total_count, 2)
      t.equal(all.count, 2)
      t.equal(all.page, 1)
      t.equal(all.page_size, 10)
      t.equal(all.total_pages, 1)
      t.equal(all.has_next, false)
      t.same(all.pagination, { page: 1, page_size: 10, total_count: 2, total_pages: 1, has_next: false, has_previous: false })

      const firstPage = await structured('list_dashboards', { page_size: 1, order_column: 'dashboard_title' })
      t.same(firstPage.dashboards.map((d: Structured) => d.dashboard_title), ['Customer Insights'])
      t.equal(firstPage.has_next, true)
      t.equal(firstPage.total_pages, 2)
      const secondPage = await structured('list_dashboards', { page_size: 1, page: 2, order_column: 'dashboard_title' })
      t.same(secondPage.dashboards.map((d: Structured) => d.dashboard_title), ['Sales Overview'])
      t.equal(secondPage.has_previous, true)

      const published = await structured('list_dashboards', { filters: [{ col: 'published', opr: 'eq', value: true }] })
      t.same(published.dashboards.map((d: Structured) => d.slug), ['sales-overview'])

      const searched = await structured('list_dashboards', { search: 'customer' })
      t.same(searched.dashboards.map((d: Structured) => d.slug), ['customer-insights'])

      const lean = await structured('list_dashboards', { select_columns: ['id', 'slug'] })
      t.same(Object.keys(lean.dashboards[0]).sort(), ['id', 'slug'])
      t.same(lean.columns_loaded, ['id', 'slug'])
    })

    t.test('get_dashboard_info accepts an id, a UUID or a slug', async t => {
      const structured = structuredFrom(t)
      const bySlug = await structured('get_dashboard_info', { identifier: 'sales-overview' })
      t.equal(bySlug.dashboard_title, 'Sales Overview')
      t.equal(bySlug.published, true)
      t.same(bySlug.charts.map((c: Structured) => c.slice_name), ['Total Revenue', 'Monthly Revenue', 'Revenue by Region', 'Orders by Channel', 'Top Products by Revenue', 'Quarterly Revenue by Category'])
      t.same(bySlug.owners.map((o: Structured) => o.username), ['admin'])
      t.equal(bySlug.json_metadata.color_scheme, 'supersetColors')
      const byUuid = await structured('get_dashboard_info', { identifier: bySlug.uuid })
      t.equal(byUuid.id, bySlug.id)
      const byNumericString = await structured('get_dashboard_info', { identifier: String(bySlug.id) })
      t.equal(byNumericString.slug, 'sales-overview')
      const draft = await structured('get_dashboard_info', { dashboard_id: 2 })
      t.equal(draft.published, false, 'the Superset synonym dashboard_id works')
    })
  })
})
