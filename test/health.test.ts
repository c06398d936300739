import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { post, toolCall } from './helpers/rpc.ts'

// /healthz (liveness) and /readyz (readiness): what Kubernetes probes.

t.test('health probes', async t => {
  const server = await startTestServer(t)
  const health = await fetch(new URL('/healthz', server.url))
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const ready = await fetch(new URL('/readyz', server.url))
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready', checks: { catalog: 'ok' } })

  await server.app.catalog.close()
  const notReady = await fetch(new URL('/readyz', server.url))
  t.equal(notReady.status, 503, 'a dead catalog makes the replica not ready')
  t.same(await notReady.json(), { status: 'not_ready', checks: { catalog: 'unavailable' } })
  const stillAlive = await fetch(new URL('/healthz', server.url))
  t.equal(stillAlive.status, 200, 'liveness does not depend on the catalog')

  const mcp = await post(server.url, toolCall('list_charts', {}))
  t.equal(mcp.status, 500, 'MCP calls fail cleanly while the catalog is down')
  // Authentication runs before the body is read, so the id is not known yet (JSON-RPC: null).
  t.same(mcp.json, { jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal server error' } })
})

t.test('a slow readiness check times out instead of hanging the probe', async t => {
  const server = await startTestServer(t)
  server.app.registerReadinessCheck('slow', () => new Promise(() => {}))
  const ready = await fetch(new URL('/readyz', server.url))
  t.equal(ready.status, 503)
  t.same((await ready.json() as { checks: unknown }).checks, { catalog: 'ok', slow: 'unavailable' })
})
