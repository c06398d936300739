import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { post, toolCall } from './helpers/rpc.ts'

t.test('development mode runs every call as MCP_DEV_USERNAME', async t => {
  const server = await startTestServer(t, { MCP_DEV_USERNAME: 'alice' })
  const info = await post(server.url, toolCall('get_instance_info', {}))
  t.match(info.json.result.structuredContent.current_user, { username: 'alice', roles: ['Alpha', 'sql_lab'] })

  t.test('deactivating the user takes effect at once, without leaking why', async t => {
    await server.app.catalog.store.run("UPDATE users SET active = 0 WHERE username = 'alice'")
    const refused = await post(server.url, toolCall('get_instance_info', {}))
    t.equal(refused.status, 503)
    t.equal(refused.json.error.message, 'Service unavailable: the configured user is missing or inactive')
    const health = await fetch(new URL('/healthz', server.url))
    t.equal(health.status, 200, 'probes are unaffected')
  })
})
