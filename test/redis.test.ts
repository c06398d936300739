import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { buildApp } from '../src/app.ts'
import { jwtSettings, SECRET } from './helpers/auth.ts'
import { connectClient } from './helpers/client.ts'
import { testConfig } from './helpers/config.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { RedisServer, SentinelServer } from './helpers/redis.ts'
import { post, toolCall } from './helpers/rpc.ts'
import type { RawResponse } from './helpers/rpc.ts'

// Redis as the replicas of one deployment share it: the response cache, rate limits,
// cross-replica events and the audit stream, over plain TCP, TLS, ACL users and Sentinel,
// and what happens while Redis is away. Every replica pair below shares one catalog (one
// data directory) and one redis-server, as two pods of one Deployment do.

const PREFIX = 'test:'
/** Eventual things (a reconnect, a pub/sub message, a fire-and-forget write) get this long. */
const EVENTUALLY_MS = 10_000

// ---- replicas -------------------------------------------------------------------------

interface Replica {
  app: FastifyInstance
  /** http://127.0.0.1:<port>/mcp */
  url: URL
  origin: string
}

/** One replica on the catalog in `dir` (startTestServer's pattern, with a data dir of our choosing). */
async function startOn (t: Test, dir: string, settings: Record<string, unknown>): Promise<Replica> {
  const app = await buildApp(testConfig(dir, settings), { logger: false })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`
  return { app, url: new URL(`${origin}/mcp`), origin }
}

/** Two replicas sharing one catalog and the Redis of `settings`; one after the other (the first one loads the example data). */
async function startPair (t: Test, settings: Record<string, unknown>): Promise<[Replica, Replica]> {
  const dir = t.testdir()
  const a = await startOn(t, dir, settings)
  const b = await startOn(t, dir, settings)
  return [a, b]
}

/** Settings with Redis (MCP_STORE_CONFIG) and the response cache on; `store` adds to or overrides the store keys. */
function redisSettings (store: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    MCP_STORE_CONFIG: { enabled: true, key_prefix: PREFIX, ...store },
    MCP_CACHE_CONFIG: { enabled: true },
    ...extra
  }
}

/** HS256 tokens, so that requests can come from different users (admin, alice, bob). */
const JWT = jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] })
const as = (username: string): Record<string, string> => ({ authorization: `Bearer ${signWithSecret(SECRET, claimsFor(username))}` })

// ---- calls and what they say ------------------------------------------------------------

let nextId = 1
async function call (replica: Replica, tool: string, args: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<RawResponse> {
  return await post(replica.url, toolCall(tool, args, nextId++), headers)
}

const LIST_CHARTS = { page_size: 100, order_column: 'id' }

interface CacheStatus { hit: boolean, age_seconds?: number, bypass?: string }
const cacheStatus = (response: RawResponse): CacheStatus | undefined => response.json?.result?._meta?.cache_status
const hit = (response: RawResponse): boolean | undefined => cacheStatus(response)?.hit
const chartNames = (response: RawResponse): string[] =>
  ((response.json?.result?.structuredContent?.charts ?? []) as Array<{ slice_name: string }>).map(chart => chart.slice_name)

/** A short description of a response for assertion messages. */
const describe = (response: RawResponse): string => `HTTP ${response.status}: ${response.text.slice(0, 300)}`

/** A tool call answered normally: HTTP 200 and a result that is not an error. */
function assertServed (t: Test, response: RawResponse, what: string): void {
  t.equal(response.status, 200, `${what}: HTTP 200 (${describe(response)})`)
  t.not(response.json?.result?.isError, true, `${what}: a result, not a tool error`)
  t.ok(response.json?.result?.structuredContent !== undefined, `${what}: carries the tool's result`)
}

// ---- operator views: /readyz, /metrics, redis-cli ------------------------------------------

async function readyz (replica: Replica): Promise<{ status: number, body: any }> {
  const response = await fetch(`${replica.origin}/readyz`)
  return { status: response.status, body: await response.json() }
}

/** A sample of /metrics: `mcp_redis_up`, or `mcp_redis_errors_total{operation="cache_get"}`; undefined when absent. */
async function metric (replica: Replica, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const text = await (await fetch(`${replica.origin}/metrics`)).text()
  const wanted = Object.entries(labels)
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]))
    if (wanted.every(([key, value]) => present[key] === value)) return Number(match[3])
  }
  return undefined
}

/** Poll `check` until it returns true (bounded); the last value goes into the failure message. */
async function eventually (t: Test, what: string, check: () => Promise<boolean>, timeoutMs = EVENTUALLY_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) {
      t.pass(what)
      return true
    }
    if (Date.now() > deadline) {
      t.fail(`${what} (not within ${timeoutMs / 1000} s)`)
      return false
    }
    await sleep(50)
  }
}

/** Wait until the replicas report Redis up (their connection is ready): a call before that just misses the cache. */
async function redisUp (t: Test, ...replicas: Replica[]): Promise<void> {
  for (const replica of replicas) {
    await eventually(t, `replica ${replica.origin} reports mcp_redis_up 1`, async () => await metric(replica, 'mcp_redis_up') === 1)
  }
}

/** Every key in this Redis (SCAN, not KEYS: what an operator runs on a live server). */
async function allKeys (redis: RedisServer): Promise<string[]> {
  return (await redis.cli('--scan', '--pattern', '*')).split('\n').filter(line => line !== '')
}

/** `XRANGE stream - +` as a list of field maps (redis-cli prints an entry id, then field, value, field, value …). */
async function auditEntries (redis: RedisServer, stream = `${PREFIX}audit`): Promise<Array<Record<string, string>>> {
  const lines = (await redis.cli('XRANGE', stream, '-', '+')).split('\n').filter(line => line !== '')
  const entries: Array<Record<string, string>> = []
  let fields: string[] = []
  const flush = (): void => {
    const entry: Record<string, string> = {}
    for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i] as string] = fields[i + 1] as string
    entries.push(entry)
  }
  let started = false
  for (const line of lines) {
    if (/^\d{10,}-\d+$/.test(line) && fields.length % 2 === 0) {
      if (started) flush()
      started = true
      fields = []
    } else {
      fields.push(line)
    }
  }
  if (started) flush()
  return entries
}

const xlen = async (redis: RedisServer, stream = `${PREFIX}audit`): Promise<number> => Number(await redis.cli('XLEN', stream))

// ---- the tests ----------------------------------------------------------------------------

t.test('response cache shared by two replicas', async t => {
  const redis = await RedisServer.start(t)
  const [a, b] = await startPair(t, { ...JWT, ...redisSettings({ CACHE_REDIS_URL: redis.url }) })
  await redisUp(t, a, b)
  for (const replica of [a, b]) {
    t.equal(await metric(replica, 'mcp_redis_errors_total', { operation: 'subscribe' }) ?? 0, 0, 'a healthy start counts no Redis error')
  }

  const first = await call(a, 'list_charts', LIST_CHARTS, as('bob'))
  assertServed(t, first, 'bob: list_charts on A')
  t.same(cacheStatus(first), { hit: false }, 'the first call is a miss')

  const second = await call(b, 'list_charts', LIST_CHARTS, as('bob'))
  assertServed(t, second, 'bob: the same call on B')
  t.equal(hit(second), true, 'the same call by the same user on the other replica is served from the shared cache')
  t.type(cacheStatus(second)?.age_seconds, 'number', 'a hit says how old the cached result is')
  t.same(chartNames(second), chartNames(first), 'the cached result is the one computed on A')

  const alice = await call(b, 'list_charts', LIST_CHARTS, as('alice'))
  assertServed(t, alice, 'alice: list_charts on B')
  t.equal(hit(alice), false, "another user never gets bob's cached result")

  t.ok(await a.app.catalog.addUserToRole('bob', 'sql_lab'), 'bob gets the sql_lab role on A')
  const afterRole = await call(b, 'list_charts', LIST_CHARTS, as('bob'))
  assertServed(t, afterRole, 'bob: list_charts on B after the role change')
  t.equal(hit(afterRole), false, 'a role change makes the next call a miss (the permissions are part of the key)')
  t.equal(hit(await call(a, 'list_charts', LIST_CHARTS, as('bob'))), true, 'and that fresh result is shared again')

  const orders = await a.app.catalog.findDataset('orders')
  if (orders === undefined) throw new Error('the example dataset "orders" is missing')
  await a.app.catalog.createChart({ slice_name: 'Created on replica A', viz_type: 'table', dataset_id: orders.id, params: {} })
  const afterWrite = await call(b, 'list_charts', LIST_CHARTS, as('bob'))
  assertServed(t, afterWrite, 'bob: list_charts on B after a chart was created on A')
  t.equal(hit(afterWrite), false, 'a catalog write on A makes the next call on B a miss')
  t.ok(chartNames(afterWrite).includes('Created on replica A'), 'and B lists the new chart')
  const onA = await call(a, 'list_charts', LIST_CHARTS, as('bob'))
  t.equal(hit(onA), true, 'the fresh result computed on B is a hit on A')
  t.ok(chartNames(onA).includes('Created on replica A'), 'and it holds the new chart')

  const forced = await call(b, 'list_charts', { ...LIST_CHARTS, force_refresh: true }, as('bob'))
  assertServed(t, forced, 'force_refresh on B')
  t.same(cacheStatus(forced), { hit: false, bypass: 'force_refresh' }, 'force_refresh computes a fresh result')
  const afterForced = await call(a, 'list_charts', LIST_CHARTS, as('bob'))
  t.equal(hit(afterForced), true, 'the refreshed result replaced the cached one: the next call hits')

  const bypass = await call(a, 'list_charts', { ...LIST_CHARTS, use_cache: false }, as('bob'))
  t.same(cacheStatus(bypass), { hit: false, bypass: 'use_cache' }, 'use_cache: false neither reads nor stores')
})

t.test('catalog changes on one replica reach subscribed clients of another', async t => {
  const redis = await RedisServer.start(t)
  const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url }))
  await redisUp(t, a, b)
  // Both replicas' subscriber connections are on the events channel.
  await eventually(t, `both replicas subscribe to ${PREFIX}events`,
    async () => (await redis.cli('PUBSUB', 'NUMSUB', `${PREFIX}events`)).split('\n')[1] === '2')

  const client = await connectClient(t, b.url, 'modern')
  const updated: string[] = []
  let listChanged = 0
  client.setNotificationHandler('notifications/resources/updated', notification => { updated.push(notification.params.uri) })
  client.setNotificationHandler('notifications/tools/list_changed', () => { listChanged++ })
  const subscription = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['instance://metadata'] })
  t.teardown(() => subscription.close())

  const orders = await a.app.catalog.findDataset('orders')
  if (orders === undefined) throw new Error('the example dataset "orders" is missing')
  await a.app.catalog.createChart({ slice_name: 'Announced chart', viz_type: 'table', dataset_id: orders.id, params: {} })
  await eventually(t, 'a client listening on B hears notifications/resources/updated for instance://metadata after a chart is created on A',
    async () => updated.includes('instance://metadata'))
  t.equal(listChanged, 0, 'a content change does not announce a tool list change')

  t.ok(await a.app.catalog.grantPermission('examples_access', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id }), 'a permission is granted on A')
  await eventually(t, 'the client on B hears notifications/tools/list_changed after a permission change on A', async () => listChanged > 0)
  await subscription.close()
})

t.test('Redis killed and restarted while the replicas serve', async t => {
  const redis = await RedisServer.start(t)
  const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url }))
  await redisUp(t, a, b)
  const before = await readyz(a)
  t.equal(before.status, 200, '/readyz: 200 with Redis up')
  t.equal(before.body.checks?.redis, 'ok', '/readyz: redis ok while it is up')
  assertServed(t, await call(a, 'list_charts', LIST_CHARTS), 'a call before the outage')

  await redis.kill()
  await eventually(t, 'replica A reports mcp_redis_up 0 once Redis is gone', async () => await metric(a, 'mcp_redis_up') === 0)

  for (let i = 0; i < 20; i++) {
    const replica = i % 2 === 0 ? a : b
    const response = await call(replica, i % 4 < 2 ? 'list_charts' : 'get_dataset_info', i % 4 < 2 ? LIST_CHARTS : { identifier: 'orders' })
    assertServed(t, response, `call ${i + 1} of 20 while Redis is down (replica ${i % 2 === 0 ? 'A' : 'B'})`)
    t.not(hit(response), true, `call ${i + 1}: no cache hit without Redis`)
  }

  for (const [name, replica] of [['A', a], ['B', b]] as const) {
    const ready = await readyz(replica)
    t.equal(ready.status, 200, `/readyz on ${name}: still 200 (Redis is not critical)`)
    t.equal(ready.body.checks?.redis, 'degraded', `/readyz on ${name}: redis degraded`)
  }
  t.equal(await metric(a, 'mcp_redis_up'), 0, '/metrics: mcp_redis_up 0 while Redis is down')
  t.ok((await metric(a, 'mcp_redis_errors_total', { operation: 'cache_get' }) ?? 0) > 0, '/metrics: mcp_redis_errors_total{operation="cache_get"} counts the failed lookups')
  t.ok((await metric(a, 'mcp_redis_errors_total', { operation: 'connection' }) ?? 0) > 0, '/metrics: mcp_redis_errors_total{operation="connection"} counts the lost connection')

  await redis.restart()
  await redisUp(t, a, b)
  await eventually(t, `both replicas subscribe to ${PREFIX}events again after the restart`,
    async () => (await redis.cli('PUBSUB', 'NUMSUB', `${PREFIX}events`)).split('\n')[1] === '2')
  const after = await readyz(a)
  t.equal(after.body.checks?.redis, 'ok', '/readyz: redis ok again after the restart')
  const args = { ...LIST_CHARTS, page: 1 }
  const miss = await call(a, 'list_charts', args)
  assertServed(t, miss, 'the first call after the restart')
  t.equal(hit(miss), false, 'the restarted Redis is empty: a miss')
  const again = await call(b, 'list_charts', args)
  t.equal(hit(again), true, 'the same call then hits: the shared cache works again (on the other replica too)')
})

t.test('a Redis that stops answering (paused, not down) is dropped, not waited on', async t => {
  const redis = await RedisServer.start(t)
  const [a] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url }, { MCP_RATE_LIMIT_CONFIG: { enabled: true, requests_per_minute: 100_000, burst: 100_000 } }))
  await redisUp(t, a)
  const pid = Number(/process_id:(\d+)/.exec(await redis.cli('INFO', 'server'))?.[1])
  t.ok(pid > 0, 'the redis-server process id')
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  for (let i = 0; i < 10; i++) assertServed(t, await call(a, 'list_charts', LIST_CHARTS), `call ${i + 1} of 10 while Redis does not answer`)
  await eventually(t, 'the silent connection is declared down (mcp_redis_up 0)', async () => await metric(a, 'mcp_redis_up') === 0)
  t.equal((a.app.redis?.client as unknown as { commandQueue: { length: number } }).commandQueue.length, 0, 'no commands pile up waiting for it')
  process.kill(pid, 'SIGCONT')
  await redisUp(t, a)
  assertServed(t, await call(a, 'list_charts', { ...LIST_CHARTS, page: 2 }), 'a call after it answers again')
  t.equal(hit(await call(a, 'list_charts', { ...LIST_CHARTS, page: 2 })), true, 'and the cache works again')
})

t.test('rate limits are shared by the replicas', async t => {
  const redis = await RedisServer.start(t)

  t.test('per principal: HTTP 429 with Retry-After', async t => {
    const [a, b] = await startPair(t, {
      ...JWT,
      ...redisSettings({ CACHE_REDIS_URL: redis.url, key_prefix: `${PREFIX}principal:` }),
      MCP_RATE_LIMIT_CONFIG: { enabled: true, requests_per_minute: 1, burst: 3 }
    })
    await redisUp(t, a, b)
    const health = async (replica: Replica, user: string): Promise<RawResponse> => await call(replica, 'health_check', {}, as(user))

    for (const [name, replica] of [['A', a], ['A', a], ['B', b]] as const) {
      assertServed(t, await health(replica, 'alice'), `alice within her burst of 3 (on ${name})`)
    }
    for (const [name, replica] of [['B', b], ['A', a]] as const) {
      const refused = await health(replica, 'alice')
      t.equal(refused.status, 429, `alice's 4th+ request on ${name}: HTTP 429 (the burst is counted across replicas)`)
      const retryAfter = Number(refused.headers.get('retry-after'))
      t.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `429 on ${name}: Retry-After is a number of seconds ≥ 1 (got ${refused.headers.get('retry-after')})`)
      t.equal(refused.json?.error?.data?.retry_after_seconds, retryAfter, `429 on ${name}: the JSON-RPC error says the same retry time`)
    }
    assertServed(t, await health(b, 'bob'), 'bob is not limited by alice\'s requests (on B)')
    assertServed(t, await health(a, 'bob'), 'bob is not limited by alice\'s requests (on A)')
  })

  t.test('per tool: a rate_limited tool error', async t => {
    const [a, b] = await startPair(t, {
      ...redisSettings({ CACHE_REDIS_URL: redis.url, key_prefix: `${PREFIX}tool:` }),
      MCP_RATE_LIMIT_CONFIG: { enabled: true, requests_per_minute: 600, burst: 100, tool_limits: { list_charts: { per_minute: 1, burst: 2 } } }
    })
    await redisUp(t, a, b)
    assertServed(t, await call(a, 'list_charts', LIST_CHARTS), 'list_charts 1 of the tool burst of 2 (on A)')
    assertServed(t, await call(b, 'list_charts', LIST_CHARTS), 'list_charts 2 of 2 (on B)')
    for (const [name, replica] of [['A', a], ['B', b]] as const) {
      const limited = await call(replica, 'list_charts', LIST_CHARTS)
      t.equal(limited.status, 200, `3rd+ list_charts on ${name}: HTTP 200 (the request itself is allowed)`)
      t.equal(limited.json?.result?.isError, true, `3rd+ list_charts on ${name}: a tool error`)
      t.equal(limited.json?.result?._meta?.error_type, 'rate_limited', `3rd+ list_charts on ${name}: error_type rate_limited`)
      t.ok((limited.json?.result?._meta?.retry_after_seconds ?? 0) >= 1, `3rd+ list_charts on ${name}: retry_after_seconds ≥ 1`)
    }
    assertServed(t, await call(b, 'get_dataset_info', { identifier: 'orders' }), 'other tools are not limited by list_charts\' limit')
    t.ok((await metric(a, 'mcp_rate_limited_total', { scope: 'tool', tool: 'list_charts' }) ?? 0) >= 1, '/metrics: mcp_rate_limited_total{scope="tool",tool="list_charts"} counts the refusal')
  })
})

t.test('fail_open decides what happens to rate-limited requests while Redis is down', async t => {
  const redis = await RedisServer.start(t)
  await redis.kill()
  const limits = { enabled: true, requests_per_minute: 600, burst: 100 }

  t.test('fail_open false: 503 with Retry-After', async t => {
    const [replica] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url }, { MCP_RATE_LIMIT_CONFIG: { ...limits, fail_open: false } }))
    const refused = await call(replica, 'health_check')
    t.equal(refused.status, 503, `the rate limiter cannot answer: HTTP 503 (${describe(refused)})`)
    t.ok(Number(refused.headers.get('retry-after')) >= 1, `503: Retry-After ≥ 1 (got ${refused.headers.get('retry-after')})`)
    t.ok((await metric(replica, 'mcp_redis_errors_total', { operation: 'rate_limit' }) ?? 0) > 0, '/metrics: mcp_redis_errors_total{operation="rate_limit"} counts it')
  })

  t.test('fail_open true (the default): served', async t => {
    const [replica] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url }, { MCP_RATE_LIMIT_CONFIG: limits }))
    assertServed(t, await call(replica, 'health_check'), 'served without the rate limiter')
    assertServed(t, await call(replica, 'list_charts', LIST_CHARTS), 'a cached tool is served too (a miss)')
  })
})

t.test('TLS (rediss://)', async t => {
  const redis = await RedisServer.start(t, { tls: true })
  t.match(redis.url, /^rediss:\/\//, 'the server speaks TLS only')

  t.test('with tls_ca_file: the cache is shared', async t => {
    const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url, tls_ca_file: redis.caFile }))
    await redisUp(t, a, b)
    t.equal(hit(await call(a, 'list_charts', LIST_CHARTS)), false, 'a miss on A')
    t.equal(hit(await call(b, 'list_charts', LIST_CHARTS)), true, 'a hit on B over TLS')
  })

  t.test('without tls_ca_file: the certificate is not trusted, the service goes on without Redis', async t => {
    const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url, key_prefix: `${PREFIX}noca:` }))
    await eventually(t, 'the failed TLS handshake is counted in mcp_redis_errors_total{operation="connection"}',
      async () => (await metric(a, 'mcp_redis_errors_total', { operation: 'connection' }) ?? 0) > 0)
    for (let i = 0; i < 3; i++) {
      for (const [name, replica] of [['A', a], ['B', b]] as const) {
        const response = await call(replica, 'list_charts', LIST_CHARTS)
        assertServed(t, response, `call ${i + 1} on ${name}`)
        t.equal(hit(response), false, `call ${i + 1} on ${name}: never a hit (nothing reaches an unverified Redis)`)
      }
    }
    t.equal(await metric(a, 'mcp_redis_up'), 0, '/metrics: mcp_redis_up 0')
    t.equal((await readyz(a)).body.checks?.redis, 'degraded', '/readyz: redis degraded')
    t.same((await allKeys(redis)).filter(key => key.startsWith(`${PREFIX}noca:`)), [], 'nothing was written to Redis')
  })
})

t.test('ACL users', async t => {
  const redis = await RedisServer.start(t, { users: [{ name: 'mcp', password: 's3cret pass' }] })
  const withCredentials = (user: string, password: string): string =>
    redis.url.replace('redis://', `redis://${encodeURIComponent(user)}:${encodeURIComponent(password)}@`)

  t.test('the right user and password: the cache is shared', async t => {
    const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: withCredentials('mcp', 's3cret pass') }))
    await redisUp(t, a, b)
    t.equal(hit(await call(a, 'list_charts', LIST_CHARTS)), false, 'a miss on A')
    t.equal(hit(await call(b, 'list_charts', LIST_CHARTS)), true, 'a hit on B, logged in as the ACL user')
    t.ok((await allKeys(redis)).some(key => key.startsWith(`${PREFIX}cache:`)), 'the cached result is in Redis')
  })

  t.test('a wrong password: served without Redis, reported down', async t => {
    const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: withCredentials('mcp', 'wrong'), key_prefix: `${PREFIX}wrong:` }))
    await eventually(t, 'the refused login is counted in mcp_redis_errors_total{operation="connection"}',
      async () => (await metric(a, 'mcp_redis_errors_total', { operation: 'connection' }) ?? 0) > 0)
    for (const [name, replica] of [['A', a], ['B', b], ['A', a], ['B', b]] as const) {
      const response = await call(replica, 'list_charts', LIST_CHARTS)
      assertServed(t, response, `a call on ${name}`)
      t.equal(hit(response), false, `a call on ${name}: no hit`)
    }
    t.equal(await metric(a, 'mcp_redis_up'), 0, '/metrics: mcp_redis_up 0')
    const ready = await readyz(b)
    t.equal(ready.status, 200, '/readyz: 200')
    t.equal(ready.body.checks?.redis, 'degraded', '/readyz: redis degraded')
    t.same((await allKeys(redis)).filter(key => key.startsWith(`${PREFIX}wrong:`)), [], 'nothing was written with the wrong credentials')
  })
})

t.test('Sentinel: the master is found through the sentinels', async t => {
  t.test('a master without passwords (CACHE_REDIS_URL left out)', async t => {
    const redis = await RedisServer.start(t)
    const sentinel = await SentinelServer.start(t, redis, 'mymaster')
    const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: null, sentinels: [`${sentinel.host}:${sentinel.port}`], sentinel_master: 'mymaster' }))
    await redisUp(t, a, b)
    t.equal(hit(await call(a, 'list_charts', LIST_CHARTS)), false, 'a miss on A')
    t.equal(hit(await call(b, 'list_charts', LIST_CHARTS)), true, 'a hit on B through the master the sentinel named')
    t.ok((await allKeys(redis)).some(key => key.startsWith(`${PREFIX}cache:`)), 'the cached result is on the monitored master')
  })

  t.test('a master with an ACL user (credentials from a redis:// URL)', async t => {
    const redis = await RedisServer.start(t, { users: [{ name: 'mcp', password: 's3cret' }] })
    const sentinel = await SentinelServer.start(t, redis, 'analytics')
    // With sentinels only the scheme, credentials and db of the URL are used: its host is a placeholder.
    const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: 'redis://mcp:s3cret@analytics/0', sentinels: [`${sentinel.host}:${sentinel.port}`], sentinel_master: 'analytics' }))
    await redisUp(t, a, b)
    t.equal(hit(await call(a, 'list_charts', LIST_CHARTS)), false, 'a miss on A')
    t.equal(hit(await call(b, 'list_charts', LIST_CHARTS)), true, 'a hit on B, logged in to the master as the ACL user')
  })
})

t.test('every key carries the key prefix', async t => {
  const redis = await RedisServer.start(t)
  const [a, b] = await startPair(t, {
    ...JWT,
    ...redisSettings({ CACHE_REDIS_URL: redis.url, key_prefix: 'deploy-a:' }),
    MCP_RATE_LIMIT_CONFIG: { enabled: true, tool_limits: { list_charts: { per_minute: 60, burst: 10 } } }
  })
  await redisUp(t, a, b)
  await call(a, 'list_charts', LIST_CHARTS, as('alice'))
  await call(b, 'list_charts', LIST_CHARTS, as('alice'))
  await call(b, 'get_dataset_info', { identifier: 'orders' }, as('bob'))
  await eventually(t, 'the audit stream has been written', async () => (await allKeys(redis)).includes('deploy-a:audit'))
  const keys = await allKeys(redis)
  for (const kind of ['cache:', 'ratelimit:principal:', 'ratelimit:tool:list_charts:']) {
    t.ok(keys.some(key => key.startsWith(`deploy-a:${kind}`)), `there are ${kind} keys (under the prefix)`)
  }
  t.same(keys.filter(key => !key.startsWith('deploy-a:')), [], `no key outside the prefix deploy-a: (keys: ${keys.join(', ')})`)
  t.equal((await redis.cli('PUBSUB', 'CHANNELS', '*')).split('\n').filter(line => line !== '').join(','), 'deploy-a:events', 'the events channel carries the prefix too')
})

t.test('audit stream of tool calls', async t => {
  const redis = await RedisServer.start(t)

  t.test('one entry per call, from every replica', async t => {
    const [a, b] = await startPair(t, { ...JWT, ...redisSettings({ CACHE_REDIS_URL: redis.url, key_prefix: `${PREFIX}all:` }) })
    await redisUp(t, a, b)
    const calls: Array<[Replica, string, string]> = [[a, 'list_charts', 'alice'], [b, 'list_charts', 'alice'], [b, 'health_check', 'bob'], [a, 'get_dataset_info', 'admin']]
    for (const [replica, tool, user] of calls) {
      assertServed(t, await call(replica, tool, tool === 'get_dataset_info' ? { identifier: 'orders' } : tool === 'list_charts' ? LIST_CHARTS : {}, as(user)), `${user}: ${tool}`)
    }
    const stream = `${PREFIX}all:audit`
    await eventually(t, `XLEN ${stream} reaches ${calls.length}`, async () => await xlen(redis, stream) >= calls.length)
    t.equal(await xlen(redis, stream), calls.length, 'exactly one entry per call (min(N, event_store_max_events))')
    const entries = await auditEntries(redis, stream)
    t.same(entries.map(entry => [entry.tool, entry.user]), calls.map(([, tool, user]) => [tool, user]), 'each entry names the tool and the user, in call order')
    t.same(entries.map(entry => entry.outcome), ['success', 'success', 'success', 'success'], 'each entry has the outcome')
    t.same(entries.slice(0, 2).map(entry => entry.cache), ['miss', 'hit'], 'entries say whether the cache answered (a miss on A, then a hit on B)')
    t.ok(entries.every(entry => /^[0-9a-f]{16}$/.test(entry.call_id ?? '')), 'each entry has its call id')
    t.equal(new Set(entries.map(entry => entry.replica)).size, 2, 'entries name the replica that served the call (two replicas)')
  })

  t.test('capped at event_store_max_events', async t => {
    const [a, b] = await startPair(t, redisSettings({ CACHE_REDIS_URL: redis.url, key_prefix: `${PREFIX}capped:`, event_store_max_events: 3 }))
    await redisUp(t, a, b)
    for (let i = 0; i < 5; i++) assertServed(t, await call(i % 2 === 0 ? a : b, 'health_check'), `call ${i + 1} of 5`)
    const stream = `${PREFIX}capped:audit`
    // Fire-and-forget: wait for the last call's entry (the newest is the 5th call's), then count.
    await eventually(t, 'the stream holds entries', async () => await xlen(redis, stream) >= 3)
    await sleep(200)
    t.equal(await xlen(redis, stream), 3, 'after 5 calls with event_store_max_events 3, XLEN is 3')
    const entries = await auditEntries(redis, stream)
    t.ok(entries.every(entry => entry.tool === 'health_check' && entry.user === 'admin'), 'the kept entries name the tool and the user')
  })
})
