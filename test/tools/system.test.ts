import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { bothEras, TOOL_NAMES } from '../helpers/tools.ts'

// health_check and get_instance_info over HTTP, in both protocol eras.

t.test('system tools', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { structuredFrom }) => {
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
      t.same(info.feature_availability.available_tools, TOOL_NAMES)
      t.equal(info.dashboard_breakdown.published, 1)
    })
  })
})
