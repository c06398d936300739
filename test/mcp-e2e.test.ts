import t from 'tap'
import type { Test } from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { startTestServer } from './helpers/app.ts'
import { connectClient, ERAS, textOf } from './helpers/client.ts'

// End to end: the real server on a free port, driven by the SDK v2 client over HTTP in both
// protocol eras, the way Claude, ChatGPT or the Inspector use it.

const EXPECTED_TOOLS = [
  'health_check', 'get_instance_info', 'list_databases', 'get_database_info', 'list_datasets', 'get_dataset_info',
  'list_charts', 'get_chart_info', 'list_dashboards', 'get_dashboard_info', 'execute_sql'
]

type Structured = Record<string, any>

t.test('end to end over HTTP', async t => {
  const server = await startTestServer(t)

  for (const era of ERAS) {
    t.test(`${era} era`, async t => {
      const client = await connectClient(t, server.url, era)
      const call = async (name: string, args: Record<string, unknown> = {}) => await client.callTool({ name, arguments: args })
      /** Call a tool that must succeed (asserted on `t`) and return its structured result. */
      const structuredFrom = (t: Test) => async (name: string, args: Record<string, unknown> = {}): Promise<Structured> => {
        const result = await call(name, args)
        t.notOk(result.isError, `${name} succeeds: ${textOf(result).slice(0, 200)}`)
        return result.structuredContent as Structured
      }

      t.test('negotiates the era it asked for', async t => {
        const version = client.getNegotiatedProtocolVersion()
        if (era === 'legacy') t.equal(version, '2025-11-25')
        else t.equal(version, '2026-07-28')
        t.equal(client.getServerVersion()?.name, 'analytics-mcp')
        t.match(client.getInstructions() ?? '', /execute_sql/)
      })

      t.test('tools/list shows every tool with valid schemas and annotations', async t => {
        const { tools } = await client.listTools()
        t.same(tools.map(tool => tool.name), EXPECTED_TOOLS)
        const ajv = new Ajv2020({ strict: false })
        for (const tool of tools) {
          t.ok((tool.description ?? '').length >= 40, `${tool.name} has a description written for a model`)
          t.ok(tool.annotations?.title, `${tool.name} has a title annotation`)
          t.equal(typeof tool.annotations?.readOnlyHint, 'boolean', `${tool.name} says whether it is read-only`)
          t.ok(ajv.compile(tool.inputSchema), `${tool.name} input schema compiles`)
          t.ok(tool.outputSchema !== undefined && ajv.compile(tool.outputSchema), `${tool.name} output schema compiles`)
          // Gemini CLI rejects $ref/$defs in tool schemas.
          t.notMatch(JSON.stringify(tool.inputSchema), /\$ref|\$defs/, `${tool.name} input schema is flat`)
        }
        const readOnly = tools.filter(tool => tool.annotations?.readOnlyHint === true).map(tool => tool.name)
        t.same(readOnly, EXPECTED_TOOLS.filter(name => name !== 'execute_sql'), 'only execute_sql may change data')
      })

      t.test('health_check and get_instance_info', async t => {
        const structured = structuredFrom(t)
        const health = await structured('health_check')
        t.equal(health.status, 'healthy')
        t.equal(health.checks.catalog, 'ok')
        const info = await structured('get_instance_info')
        t.equal(info.current_user.username, 'admin')
        t.same(info.current_user.roles, ['Admin'])
        t.equal(info.instance_summary.total_dashboards, 2)
        t.equal(info.instance_summary.total_charts, 8)
        t.equal(info.instance_summary.total_datasets, 4)
        t.equal(info.instance_summary.total_databases, 1)
        t.same(info.database_breakdown.by_type, { sqlite: 1 })
        t.same(info.feature_availability.available_tools, EXPECTED_TOOLS)
        t.equal(info.dashboard_breakdown.published, 1)
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

      t.test('info tools accept id, UUID, name and slug', async t => {
        const structured = structuredFrom(t)
        const bySlug = await structured('get_dashboard_info', { identifier: 'sales-overview' })
        t.equal(bySlug.dashboard_title, 'Sales Overview')
        t.equal(bySlug.charts.length, 6)
        const byUuid = await structured('get_dashboard_info', { identifier: bySlug.uuid })
        t.equal(byUuid.id, bySlug.id)
        const byNumericString = await structured('get_dashboard_info', { identifier: String(bySlug.id) })
        t.equal(byNumericString.slug, 'sales-overview')

        const chart = await structured('get_chart_info', { identifier: 2 })
        t.equal(chart.slice_name, 'Monthly Revenue')
        t.equal(chart.form_data.time_grain_sqla, 'P1M')
        t.same(chart.dashboards.map((d: Structured) => d.slug), ['sales-overview'])
        t.ok(chart.owners.length >= 1)

        const dataset = await structured('get_dataset_info', { identifier: 'orders' })
        t.ok(dataset.columns.some((c: Structured) => c.column_name === 'order_date' && c.is_dttm === true))
        t.ok(dataset.metrics.some((m: Structured) => m.metric_name === 'revenue' && m.expression === 'SUM(amount)'))
        t.equal(dataset.main_dttm_col, 'order_date')
        t.equal(dataset.certified_by, 'Data Platform')

        const database = await structured('get_database_info', { identifier: 'examples' })
        t.same(database.tables.map((table: Structured) => table.name), ['customers', 'examples_meta', 'orders', 'products'])
        t.equal(database.capabilities.read_only, true)
        t.equal(database.dataset_count, 4)
      })

      t.test('Superset request wrapper and synonyms work', async t => {
        const structured = structuredFrom(t)
        const wrapped = await structured('list_charts', { request: { page_size: 2, order_column: 'id', order_direction: 'asc' } })
        t.same(wrapped.charts.map((c: Structured) => c.id), [1, 2])
        const aliased = await structured('get_chart_info', { chart_id: 1 })
        t.equal(aliased.slice_name, 'Total Revenue')
        const jsonString = await structured('list_charts', { filters: '[{"col":"viz_type","opr":"eq","value":"table"}]' })
        t.equal(jsonString.total_count, 1)
      })

      t.test('bad arguments are tool errors that say how to fix the call', async t => {
        const tooBig = await call('list_charts', { page_size: 1000 })
        t.equal(tooBig.isError, true)
        t.match(textOf(tooBig), /page_size/)
        t.match(textOf(tooBig), /100/)

        const unknownArgument = await call('list_charts', { colour: 'blue' })
        t.equal(unknownArgument.isError, true)
        t.match(textOf(unknownArgument), /colour/)
        t.match(textOf(unknownArgument), /Arguments of list_charts: .*page_size/)

        const badFilter = await call('list_dashboards', { filters: [{ col: 'nope', opr: 'eq', value: 1 }] })
        t.equal(badFilter.isError, true)
        t.match(textOf(badFilter), /filters\.0\.col/)

        const badOperator = await call('list_dashboards', { filters: [{ col: 'published', opr: 'gt', value: 1 }] })
        t.equal(badOperator.isError, true)
        t.match(textOf(badOperator), /Operator "gt" does not apply to "published"/)

        const missing = await call('get_chart_info', { identifier: 9999 })
        t.equal(missing.isError, true)
        t.match(textOf(missing), /No chart matches identifier 9999/)
        t.match(textOf(missing), /list_charts/)

        const noIdentifier = await call('get_dataset_info', {})
        t.equal(noIdentifier.isError, true)
        t.match(textOf(noIdentifier), /identifier/)
      })

      t.test('execute_sql returns rows, reports truncation first, and refuses writes', async t => {
        const structured = structuredFrom(t)
        const revenue = await structured('execute_sql', { database_id: 1, sql: 'SELECT region, COUNT(*) AS orders FROM orders GROUP BY region ORDER BY region' })
        t.equal(revenue.row_count, 5)
        t.equal(revenue.truncated, false)
        t.same(revenue.columns.map((c: Structured) => c.name), ['region', 'orders'])
        t.equal(revenue.rows.reduce((sum: number, row: Structured) => sum + row.orders, 0), 120_000)

        const capped = await call('execute_sql', { database_id: 'examples', sql: 'SELECT order_id FROM orders ORDER BY order_id', limit: 10 })
        const cappedData = capped.structuredContent as Structured
        t.equal(cappedData.row_count, 10)
        t.equal(cappedData.truncated, true)
        t.same(cappedData.rows.map((row: Structured) => row.order_id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        t.match(textOf(capped), /^Results truncated/, 'the truncation note comes first in the text')

        const exact = await structured('execute_sql', { database_id: 1, sql: 'SELECT order_id FROM orders LIMIT 10', limit: 10 })
        t.equal(exact.truncated, false, 'exactly `limit` rows is not truncated')

        const defaultCap = await structured('execute_sql', { database_id: 1, sql: 'SELECT order_id FROM orders' })
        t.equal(defaultCap.row_count, 1000)
        t.equal(defaultCap.limit, 1000)
        t.equal(defaultCap.truncated, true)

        for (const sql of ['DELETE FROM orders', 'UPDATE orders SET amount = 0', 'DROP TABLE orders', 'INSERT INTO products VALUES (999, \'x\', \'y\', \'z\', 1, 1)']) {
          const refused = await call('execute_sql', { database_id: 1, sql })
          t.equal(refused.isError, true, `${sql} is refused`)
          t.match(textOf(refused), /read-only/i)
        }
        const attach = await call('execute_sql', { database_id: 1, sql: "ATTACH DATABASE '/tmp/other.db' AS other" })
        t.equal(attach.isError, true)
        t.match(textOf(attach), /ATTACH/)
        const multiple = await call('execute_sql', { database_id: 1, sql: 'SELECT 1; DELETE FROM orders' })
        t.equal(multiple.isError, true)
        t.match(textOf(multiple), /one SQL statement/i)

        const stillThere = await structured('execute_sql', { database_id: 1, sql: 'SELECT COUNT(*) AS n FROM orders' })
        t.equal(stillThere.rows[0].n, 120_000, 'no refused statement changed the data')

        const badSql = await call('execute_sql', { database_id: 1, sql: 'SELECT nope FROM orders' })
        t.equal(badSql.isError, true)
        t.match(textOf(badSql), /no such column: nope/, "the database's message")
        t.match(textOf(badSql), /get_dataset_info; this database speaks SQLite SQL/, 'and a hint')
        t.notMatch(textOf(badSql), /at \w+ \(|\.ts:\d+/, 'no stack trace')

        const synonym = await structured('execute_sql', { database: 'examples', query: 'SELECT 1 AS one' })
        t.same(synonym.rows, [{ one: 1 }])
      })

      t.test('execute_sql stops a query at its timeout', async t => {
        const structured = structuredFrom(t)
        const slow = await call('execute_sql', {
          database_id: 1,
          sql: 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n',
          timeout: 1
        })
        t.equal(slow.isError, true)
        t.match(textOf(slow), /stopped after 1 s/)
        const after = await structured('execute_sql', { database_id: 1, sql: 'SELECT 42 AS answer' })
        t.same(after.rows, [{ answer: 42 }], 'the next query runs on a fresh runner')
      })

      t.test('every tool refuses arguments it does not know, naming them', async t => {
        for (const name of EXPECTED_TOOLS) {
          const result = await call(name, { bogus_argument: 1 })
          t.equal(result.isError, true, `${name} refuses bogus_argument`)
          t.match(textOf(result), /bogus_argument/)
          t.equal((result._meta as Structured | undefined)?.error_type, 'invalid_arguments')
        }
        for (const name of ['get_database_info', 'get_dataset_info', 'get_chart_info', 'get_dashboard_info']) {
          const missing = await call(name, { identifier: 'does-not-exist' })
          t.equal(missing.isError, true, `${name} reports an unknown identifier`)
          t.match(textOf(missing), /No \w+ matches identifier "does-not-exist"/)
          const wrongType = await call(name, { identifier: { id: 1 } })
          t.equal(wrongType.isError, true, `${name} refuses an object identifier`)
        }
        for (const [name, args] of [['list_databases', { filters: [{ col: 'backend', opr: 'in', value: 'sqlite' }] }], ['list_datasets', { order_column: 'rows' }], ['list_charts', { page: 0 }], ['list_dashboards', { select_columns: ['css'] }]] as const) {
          const result = await call(name, args)
          t.equal(result.isError, true, `${name} refuses ${JSON.stringify(args)}`)
        }
      })

      t.test('unknown tools are JSON-RPC errors (-32602)', async t => {
        await t.rejects(client.callTool({ name: 'drop_everything', arguments: {} }), { code: -32602 })
      })
    })
  }
})
