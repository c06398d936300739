import t from 'tap'
import { connectClient } from './helpers/client.ts'
import { cli } from './helpers/cli.ts'
import { startTestServer } from './helpers/app.ts'
import { RedisServer } from './helpers/redis.ts'

// An administrator's `analytics-mcp roles …` on a shared catalog reaches the running replicas
// through Redis: their clients with an open subscriptions/listen stream hear of it.

t.test('CLI changes are announced to running replicas', async t => {
  const redis = await RedisServer.start(t)
  const dir = t.testdir()
  const store = { enabled: true, CACHE_REDIS_URL: redis.url, key_prefix: 'cli-events:' }
  const server = await startTestServer(t, { MCP_DATA_DIR: dir, MCP_STORE_CONFIG: store })
  const client = await connectClient(t, server.url, 'modern')
  const heard: string[] = []
  client.setNotificationHandler('notifications/tools/list_changed', () => { heard.push('tools/list_changed') })
  client.setNotificationHandler('notifications/resources/updated', notification => { heard.push(`resources/updated ${notification.params.uri}`) })
  const subscription = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['instance://metadata'] })
  t.teardown(() => subscription.close())
  // The subscriber of a fresh replica may still be connecting: wait until Redis counts it.
  for (let i = 0; i < 100 && (await redis.cli('PUBSUB', 'NUMSUB', 'cli-events:events')).split('\n')[1] !== '1'; i++) await new Promise(resolve => setTimeout(resolve, 20))

  const env = { MCP_DATA_DIR: dir, MCP_STORE_CONFIG: JSON.stringify(store) }
  const granted = await cli(['roles', 'grant', 'Gamma', 'can_read', '--on', 'SQLLab'], env)
  t.equal(granted.code, 0, granted.err)
  t.equal(granted.err, '', 'no warning: Redis took the announcement')
  for (let i = 0; i < 100 && heard.length < 2; i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.same(heard, ['tools/list_changed', 'resources/updated instance://metadata'], 'the subscribed client hears that tool lists may have changed')

  const unreachable = { ...store, CACHE_REDIS_URL: 'redis://127.0.0.1:1', connect_timeout_ms: 200 }
  const offline = await cli(['roles', 'revoke', 'Gamma', 'can_read', '--on', 'SQLLab'], { MCP_DATA_DIR: dir, MCP_STORE_CONFIG: JSON.stringify(unreachable) })
  t.equal(offline.code, 0, 'the change itself is done without Redis')
  t.match(offline.err, /warning: Redis \(MCP_STORE_CONFIG\) could not be reached: running replicas were not notified/)
  const readOnly = await cli(['roles', 'list'], { MCP_DATA_DIR: dir, MCP_STORE_CONFIG: JSON.stringify(unreachable) })
  t.equal(readOnly.err, '', 'a command that changes nothing does not try')
})
