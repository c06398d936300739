import t from 'tap'
import { ClusterEvents } from '../src/events/cluster-events.ts'
import type { ServiceEvent } from '../src/events/cluster-events.ts'
import { startTestServer } from './helpers/app.ts'
import { connectClient } from './helpers/client.ts'

// Change notifications on one replica (no Redis): subscriptions/listen streams, capabilities
// per era, and a shutdown that ends open streams instead of waiting for them.

t.test('subscribed clients hear of catalog changes on their replica', async t => {
  const server = await startTestServer(t)
  const client = await connectClient(t, server.url, 'modern')
  const heard: string[] = []
  client.setNotificationHandler('notifications/resources/updated', notification => { heard.push(notification.params.uri) })
  client.setNotificationHandler('notifications/tools/list_changed', () => { heard.push('tools') })
  const subscription = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['instance://metadata'] })
  t.same(subscription.honoredFilter, { toolsListChanged: true, resourceSubscriptions: ['instance://metadata'] }, 'both kinds are honoured in the 2026-07-28 era')
  const orders = await server.app.catalog.findDataset('orders')
  if (orders === undefined) throw new Error('example data missing')
  await server.app.catalog.createChart({ slice_name: 'Announced', viz_type: 'table', dataset_id: orders.id, params: {} })
  for (let i = 0; i < 100 && heard.length < 1; i++) await new Promise(resolve => setTimeout(resolve, 10))
  t.same(heard, ['instance://metadata'], 'a content change updates instance://metadata, and does not claim tool lists changed')
  await server.app.catalog.createRole('auditors')
  for (let i = 0; i < 100 && heard.length < 3; i++) await new Promise(resolve => setTimeout(resolve, 10))
  t.same(heard.slice(1), ['tools', 'instance://metadata'], 'an access change may change tool lists')
  await subscription.close()
})

t.test('legacy clients are not promised notifications they cannot get', async t => {
  const server = await startTestServer(t)
  const legacy = await connectClient(t, server.url, 'legacy')
  t.match(legacy.getServerCapabilities(), { tools: { listChanged: false }, resources: { subscribe: false } })
  const modern = await connectClient(t, server.url, 'modern')
  t.match(modern.getServerCapabilities(), { tools: { listChanged: true }, resources: { subscribe: true } })
})

t.test('shutdown ends open subscriptions instead of waiting for them', async t => {
  const server = await startTestServer(t)
  const client = await connectClient(t, server.url, 'modern')
  const subscription = await client.listen({ toolsListChanged: true })
  await server.app.close()
  t.equal(await subscription.closed !== undefined, true, 'the subscription ended')
  t.ok(['graceful', 'remote'].includes(await subscription.closed), `ended by the server (${await subscription.closed})`)
})

t.test('cluster events: local delivery at once, own messages not delivered twice', async t => {
  const events = new ClusterEvents(undefined)
  const received: Array<[ServiceEvent, string]> = []
  const stop = events.subscribe((event, origin) => received.push([event, origin]))
  t.equal(await events.publish({ type: 'catalog_changed', change: 'content' }), true)
  t.same(received, [[{ type: 'catalog_changed', change: 'content' }, 'local']])
  stop()
  await events.publish({ type: 'catalog_changed', change: 'access' })
  t.equal(received.length, 1, 'an unsubscribed listener hears nothing more')
})

t.test('a connection with no request in progress does not hold up shutdown', async t => {
  const server = await startTestServer(t)
  const { createConnection } = await import('node:net')
  // A client pool opens connections ahead of use; Node counts them as busy until they send a request.
  const idle = createConnection({ host: '127.0.0.1', port: Number(new URL(server.origin).port) })
  await new Promise(resolve => idle.once('connect', resolve))
  const closedByServer = new Promise(resolve => idle.once('close', resolve))
  await server.app.close()
  await closedByServer
  t.pass('the server closed the unused connection and finished closing')
})

t.test('listen streams are capped per user and end with their credential', async t => {
  const { claimsFor, signWithSecret } = await import('./helpers/keys.ts')
  const { jwtSettings, SECRET } = await import('./helpers/auth.ts')
  const server = await startTestServer(t, {
    ...jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [], MCP_JWT_CLOCK_SKEW: 0 }),
    MCP_LISTEN_STREAMS_PER_PRINCIPAL: 2
  })
  const token = (username: string, seconds = 3600): Record<string, string> => ({ authorization: `Bearer ${signWithSecret(SECRET, claimsFor(username, { exp: Math.floor(Date.now() / 1000) + seconds }))}` })
  const alice = await connectClient(t, server.url, 'modern', token('alice'))
  const first = await alice.listen({ toolsListChanged: true })
  const second = await alice.listen({ toolsListChanged: true })
  await t.rejects(alice.listen({ toolsListChanged: true }), 'a third stream for alice is refused (429)')
  const bob = await connectClient(t, server.url, 'modern', token('bob'))
  const bobs = await bob.listen({ toolsListChanged: true })
  t.ok(bobs, 'bob is not affected by alice\'s streams')
  await first.close()
  for (let i = 0; i < 50; i++) await new Promise(resolve => setTimeout(resolve, 10))
  const third = await alice.listen({ toolsListChanged: true })
  t.ok(third, 'closing one makes room for another')

  t.test('deactivating a user ends their streams', async t => {
    await server.app.catalog.setUserActive('bob', false)
    t.teardown(async () => { await server.app.catalog.setUserActive('bob', true) })
    t.equal(await bobs.closed, 'remote', 'bob\'s stream was ended by the server')
  })

  t.test('a stream ends when its token expires', async t => {
    const brief = await connectClient(t, server.url, 'modern', token('admin', 2))
    const stream = await brief.listen({ toolsListChanged: true })
    t.equal(await stream.closed, 'remote', 'ended by the server when the token expired')
  })
  await second.close()
  await third.close()
})
