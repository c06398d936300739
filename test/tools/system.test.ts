import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { callWith, jwtSettings, SECRET } from '../helpers/auth.ts'
import { claimsFor, signWithSecret } from '../helpers/keys.ts'
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

t.test('health_check shows the runtime and kernel versions to administrators only', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }))
  const health = async (username: string): Promise<Record<string, any>> =>
    (await callWith(server, `Bearer ${signWithSecret(SECRET, claimsFor(username))}`, 'health_check')).json.result.structuredContent
  const admin = await health('admin')
  t.equal(admin.node_version, process.version, 'admin: the Node version')
  t.match(admin.platform, /\S+ \S+ \S+/, 'admin: OS, kernel release and architecture')
  for (const username of ['alice', 'bob']) {
    const other = await health(username)
    t.equal(other.node_version, null, `${username}: no Node version`)
    t.equal(other.platform, null, `${username}: no kernel string`)
    t.match(other, { status: 'healthy', service: 'analytics-mcp MCP Service', version: admin.version, checks: { catalog: 'ok' } }, `${username}: status, name and version as before`)
    t.type(other.uptime_seconds, 'number', `${username}: uptime`)
    t.notMatch(JSON.stringify(other), new RegExp(process.version.replaceAll('.', '\\.')), `${username}: the Node version is nowhere in the result`)
  }
})
