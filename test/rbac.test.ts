import t from 'tap'
import { AccessProfile } from '../src/catalog/access.ts'
import { startTestServer } from './helpers/app.ts'
import { CATALOG_BACKENDS, catalogSettings } from './helpers/catalogs.ts'
import type { RunningServer } from './helpers/app.ts'
import { callWith, jwtSettings, SECRET } from './helpers/auth.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { post } from './helpers/rpc.ts'
import { TOOL_NAMES } from './helpers/tools.ts'

// RBAC like Superset's: class permissions decide which tools a user may use; data access
// decides which objects those tools show. Each user below holds one built-in role (or a
// telling combination); every tool and every list is checked against what the role allows.

const bearer = (username: string): string => `Bearer ${signWithSecret(SECRET, claimsFor(username))}`

async function toolsOf (server: RunningServer, username: string): Promise<string[]> {
  const response = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: bearer(username) })
  return (response.json.result.tools as Array<{ name: string }>).map(tool => tool.name)
}

async function call (server: RunningServer, username: string, tool: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> {
  return (await callWith(server, bearer(username), tool, args)).json.result
}

const ARGS: Readonly<Record<string, Record<string, unknown>>> = {
  get_schema: { model_type: 'chart' },
  find_users: { name: 'al' },
  get_database_info: { identifier: 'examples' },
  get_dataset_info: { identifier: 'orders' },
  get_chart_info: { identifier: 1 },
  get_dashboard_info: { identifier: 'sales-overview' },
  execute_sql: { database_id: 'examples', sql: 'SELECT COUNT(*) AS n FROM orders' },
  query_dataset: { dataset_id: 'orders', metrics: ['revenue'] },
  get_chart_data: { identifier: 1 },
  get_chart_preview: { identifier: 1, format: 'table' },
  get_chart_sql: { identifier: 1 },
  get_chart_type_schema: { chart_type: 'pie' },
  update_chart_preview: { dataset_id: 'orders', config: { chart_type: 'pie', dimension: 'region', metric: 'revenue' } },
  get_dashboard_layout: { identifier: 'sales-overview' },
  generate_explore_link: { dataset_id: 'orders' },
  open_sql_lab_with_context: { database_connection_id: 'examples' },
  // Writes get arguments that change nothing (a missing object or a missing argument): the
  // permission check comes first, so they still show who may call them.
  update_chart: { identifier: 99_999, chart_name: 'x' },
  delete_chart: { identifier: 99_999 },
  update_dashboard: { identifier: 99_999, published: true },
  add_chart_to_existing_dashboard: { dashboard_id: 99_999, chart_id: 1 }
}

const ALWAYS = ['health_check', 'get_instance_info', 'get_schema', 'find_users', 'get_chart_type_schema', 'generate_bug_report']
const SQL_TOOLS = ['execute_sql', 'open_sql_lab_with_context']
const WRITE_TOOLS = ['create_virtual_dataset', 'create_dataset_metric', 'generate_chart', 'update_chart', 'delete_chart', 'generate_dashboard', 'add_chart_to_existing_dashboard', 'update_dashboard']
const READ_TOOLS = TOOL_NAMES.filter(name => !SQL_TOOLS.includes(name) && !WRITE_TOOLS.includes(name))
/** The tools of these groups, in tools/list order. */
const toolsIn = (...groups: ReadonlyArray<readonly string[]>): string[] => TOOL_NAMES.filter(name => groups.some(group => group.includes(name)))

for (const backend of CATALOG_BACKENDS) {
  t.test(backend, async t => {
    t.test('RBAC', async t => {
      const server = await startTestServer(t, { ...await catalogSettings(backend), ...jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }) })
      const { catalog } = server.app
      // On PostgreSQL the example data is registered without owners (see the report): the demo
      // users' own drafts are the only thing that differs.
      const orders = await catalog.findDataset('orders')
      if (orders === undefined) throw new Error('example data missing')
      await catalog.createRole('orders_reader', 'Only the orders dataset')
      await catalog.grantPermission('orders_reader', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id })
      await catalog.createUser({ username: 'u_alpha', roles: ['Alpha'] })
      await catalog.createUser({ username: 'u_gamma', roles: ['Gamma'] })
      await catalog.createUser({ username: 'u_orders', roles: ['Gamma', 'orders_reader'] })
      await catalog.createUser({ username: 'u_sqllab', roles: ['sql_lab'] })
      await catalog.createUser({ username: 'u_analyst', roles: ['Gamma', 'sql_lab', 'examples_access'] })
      await catalog.createUser({ username: 'u_none', roles: [] })

      const matrix: Array<[string, readonly string[]]> = [
        ['admin', TOOL_NAMES],
        ['u_alpha', toolsIn(READ_TOOLS, WRITE_TOOLS)],
        ['u_gamma', READ_TOOLS],
        ['u_orders', READ_TOOLS],
        ['u_sqllab', toolsIn(ALWAYS, SQL_TOOLS)],
        ['u_analyst', toolsIn(READ_TOOLS, SQL_TOOLS)],
        ['u_none', ALWAYS]
      ]

      t.test('each role sees and may call exactly its tools', async t => {
        for (const [username, allowed] of matrix) {
          t.same(await toolsOf(server, username), allowed, `${username}: tools/list`)
          for (const tool of TOOL_NAMES) {
            const result = await call(server, username, tool, ARGS[tool])
            if (allowed.includes(tool)) {
              t.not(result._meta?.permission_denied, true, `${username} may call ${tool}`)
            } else {
              t.equal(result.isError, true, `${username} may not call ${tool}`)
              t.equal(result._meta.permission_denied, true, `${username} → ${tool}: permission_denied`)
              t.match(result.content[0].text, new RegExp(`${tool} needs the permission (can_read|can_write|can_execute_sql_query) on (Chart|Dashboard|Dataset|Database|SQLLab)`))
            }
          }
        }
      })

      const listed = async (username: string, tool: string, key: string, field: string): Promise<unknown[]> =>
        ((await call(server, username, tool, { page_size: 100, order_column: 'id' })).structuredContent?.[key] as Array<Record<string, unknown>> ?? []).map(item => item[field])

      t.test('lists only ever hold what the user may see', async t => {
        const expected: Record<string, Record<string, unknown[]>> = {
          admin: { datasets: ['orders', 'customers', 'products', 'order_details'], charts: [1, 2, 3, 4, 5, 6, 7, 8], dashboards: ['sales-overview', 'customer-insights'], databases: ['examples'] },
          u_alpha: { datasets: ['orders', 'customers', 'products', 'order_details'], charts: [1, 2, 3, 4, 5, 6, 7, 8], dashboards: ['sales-overview'], databases: ['examples'] },
          u_gamma: { datasets: [], charts: [], dashboards: [], databases: [] },
          u_orders: { datasets: ['orders'], charts: [1, 2, 3, 4], dashboards: ['sales-overview'], databases: ['examples'] },
          u_analyst: { datasets: ['orders', 'customers', 'products', 'order_details'], charts: [1, 2, 3, 4, 5, 6, 7, 8], dashboards: ['sales-overview'], databases: ['examples'] },
          alice: { dashboards: ['sales-overview', 'customer-insights'] }
        }
        for (const [username, lists] of Object.entries(expected)) {
          if (lists.datasets !== undefined) t.same(await listed(username, 'list_datasets', 'datasets', 'table_name'), lists.datasets, `${username}: datasets`)
          if (lists.charts !== undefined) t.same(await listed(username, 'list_charts', 'charts', 'id'), lists.charts, `${username}: charts`)
          if (lists.dashboards !== undefined) t.same(await listed(username, 'list_dashboards', 'dashboards', 'slug'), lists.dashboards, `${username}: dashboards`)
          if (lists.databases !== undefined) t.same(await listed(username, 'list_databases', 'databases', 'database_name'), lists.databases, `${username}: databases`)
        }
        t.same(await listed('alice', 'list_dashboards', 'dashboards', 'slug'), ['sales-overview', 'customer-insights'], 'owners see their drafts')
      })

      t.test('objects a user may not see are indistinguishable from missing ones', async t => {
        const forbidden = await call(server, 'u_orders', 'get_chart_info', { identifier: 6 })
        const missing = await call(server, 'u_orders', 'get_chart_info', { identifier: 99_999 })
        t.equal(forbidden.isError, true)
        t.equal(forbidden._meta.error_type, 'not_found')
        t.notOk('permission_denied' in forbidden._meta)
        t.equal(forbidden.content[0].text.replace('6', 'N'), missing.content[0].text.replace('99999', 'N'), 'same words as for a chart that does not exist')
        const draft = await call(server, 'u_alpha', 'get_dashboard_info', { identifier: 'customer-insights' })
        t.equal(draft._meta.error_type, 'not_found', 'drafts of others are not found')
        const dataset = await call(server, 'u_gamma', 'get_dataset_info', { identifier: 'orders' })
        t.equal(dataset._meta.error_type, 'not_found')
      })

      t.test('filters and counts do not reveal hidden objects', async t => {
        const dashboardsWithChart = async (username: string, chart: number): Promise<number> =>
          (await call(server, username, 'list_dashboards', { filters: [{ col: 'charts', opr: 'eq', value: chart }] })).structuredContent.total_count
        t.equal(await dashboardsWithChart('u_orders', 1), 1, 'a visible chart finds its dashboard')
        for (const chart of [5, 6, 99_999]) t.equal(await dashboardsWithChart('u_orders', chart), 0, `hidden chart ${chart} looks like a missing one`)
        t.equal(await dashboardsWithChart('admin', 5), 1, 'the chart is on the dashboard for those who may see it')
        const onDraft = (await call(server, 'u_orders', 'list_charts', { filters: [{ col: 'dashboards', opr: 'eq', value: 2 }] })).structuredContent
        t.equal(onDraft.total_count, 0, 'a hidden draft dashboard holds no charts for this filter')
        const ownerView = (await call(server, 'alice', 'list_charts', { filters: [{ col: 'dashboards', opr: 'eq', value: 2 }] })).structuredContent
        t.ok(ownerView.total_count > 0, 'its owner finds the charts on it')
        const unlisted = (await call(server, 'u_orders', 'list_dashboards', { filters: [{ col: 'charts', opr: 'nin', value: [5, 6] }] })).structuredContent
        t.equal(unlisted.total_count, 1, 'excluding hidden charts excludes nothing')
        const listedCount = (await call(server, 'u_orders', 'list_dashboards', { select_columns: ['id', 'chart_count'] })).structuredContent.dashboards
        t.same(listedCount, [{ id: 1, chart_count: 4 }], 'chart_count in lists counts visible charts only')
        const detail = (await call(server, 'u_orders', 'get_dashboard_info', { identifier: 'sales-overview' })).structuredContent
        t.equal(detail.chart_count, detail.charts.length, 'chart_count in details matches the charts shown')
        t.equal((await call(server, 'admin', 'get_dashboard_info', { identifier: 'sales-overview' })).structuredContent.chart_count, 6)
      })

      t.test('details only show the visible part of an object', async t => {
        const dashboard = (await call(server, 'u_orders', 'get_dashboard_info', { identifier: 'sales-overview' })).structuredContent
        t.same(dashboard.charts.map((chart: { id: number }) => chart.id), [1, 2, 3, 4], 'only the charts on accessible datasets')
        const database = (await call(server, 'u_orders', 'get_database_info', { identifier: 'examples' })).structuredContent
        t.same(database.datasets.map((d: { table_name: string }) => d.table_name), ['orders'])
        t.same(database.tables, [], 'table names need database access')
        const chart = (await call(server, 'u_orders', 'get_chart_info', { identifier: 4 })).structuredContent
        t.same(chart.dashboards.map((d: { slug: string }) => d.slug), ['sales-overview'], 'a draft dashboard showing the chart is not revealed')
        const info = (await call(server, 'u_orders', 'get_instance_info')).structuredContent
        t.match(info.instance_summary, { total_dashboards: 1, total_charts: 4, total_datasets: 1, total_databases: 1, total_users: null, total_roles: null })
        t.same(info.popular_content.top_creators, [], 'who made what is for administrators')
        const adminInfo = (await call(server, 'admin', 'get_instance_info')).structuredContent
        t.match(adminInfo.instance_summary, { total_dashboards: 2, total_charts: 8, total_users: 9 })
      })

      t.test('SQL needs both the SQL permission and database access', async t => {
        const analyst = await call(server, 'u_analyst', 'execute_sql', ARGS.execute_sql)
        t.same(analyst.structuredContent.rows, [{ n: 120_000 }])
        const sqlOnly = await call(server, 'u_sqllab', 'execute_sql', ARGS.execute_sql)
        t.equal(sqlOnly.isError, true, 'sql_lab alone has no database access')
        t.equal(sqlOnly._meta.error_type, 'not_found')
        const ordersOnly = await catalog.createUser({ username: 'u_sql_orders', roles: ['sql_lab', 'orders_reader', 'Gamma'] })
        t.ok(ordersOnly)
        const datasetAccessOnly = await call(server, 'u_sql_orders', 'execute_sql', ARGS.execute_sql)
        t.equal(datasetAccessOnly._meta.permission_denied, true, 'dataset access does not open the whole database to SQL')
        t.match(datasetAccessOnly.content[0].text, /needs database access/)
      })

      t.test('writes need can_write on the class and ownership, or Admin', async t => {
        const profile = async (username: string): Promise<AccessProfile> => {
          const user = await catalog.findUserByUsername(username)
          if (user === undefined) throw new Error(`no user ${username}`)
          const { superuser, grants } = await catalog.permissionsOfUser(user.id)
          return new AccessProfile(user.id, superuser, grants)
        }
        const alpha = await profile('u_alpha')
        const alphaId = (await catalog.findUserByUsername('u_alpha'))?.id ?? -1
        t.ok(alpha.mayModify('Chart', [alphaId]), 'Alpha may change its own chart')
        t.notOk(alpha.mayModify('Chart', [alphaId + 1000]), 'Alpha may not change a chart owned by someone else')
        t.ok(alpha.mayModify('Dashboard', [1, alphaId]), 'co-owners may change a dashboard')
        t.ok((await profile('admin')).mayModify('Dataset', []), 'Admin may change anything, even unowned objects')
        const gammaId = (await catalog.findUserByUsername('u_gamma'))?.id ?? -1
        t.notOk((await profile('u_gamma')).mayModify('Chart', [gammaId]), 'Gamma cannot write even what it owns')
        t.notOk((await profile('u_sqllab')).mayModify('Dataset', [(await catalog.findUserByUsername('u_sqllab'))?.id ?? -1]), 'sql_lab cannot write')
      })

      t.test('permission changes take effect on the next request', async t => {
        await catalog.grantPermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id })
        t.same(await listed('u_gamma', 'list_datasets', 'datasets', 'table_name'), ['orders'])
        await catalog.revokePermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id })
        t.same(await listed('u_gamma', 'list_datasets', 'datasets', 'table_name'), [])
        await catalog.addUserToRole('u_none', 'Gamma')
        t.same(await toolsOf(server, 'u_none'), READ_TOOLS)
      })
    })
  })
}
