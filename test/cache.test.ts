import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import t from 'tap'
import { estimateTokens } from '../src/mcp/size-guard.ts'
import { principalFingerprint } from '../src/cache/response-cache.ts'
import { AccessProfile } from '../src/catalog/access.ts'
import { Catalog } from '../src/catalog/catalog.ts'
import { MemoryCacheStore } from '../src/store/cache-store.ts'
import { startTestServer } from './helpers/app.ts'
import { CATALOG_BACKENDS, catalogSettings } from './helpers/catalogs.ts'
import type { RunningServer } from './helpers/app.ts'
import { callWith, jwtSettings, SECRET } from './helpers/auth.ts'
import { connectClient, textOf } from './helpers/client.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { post } from './helpers/rpc.ts'

// The per-principal response cache (MCP_CACHE_CONFIG) in memory, one replica. The Redis
// backend and two replicas are in redis.test.ts.

const bearer = (username: string, scope = 'mcp:read mcp:write mcp:sql'): string => `Bearer ${signWithSecret(SECRET, claimsFor(username, { scope }))}`

interface Call { status: number, result: Record<string, any> }

async function call (server: RunningServer, username: string, tool: string, args: Record<string, unknown> = {}): Promise<Call> {
  const response = await callWith(server, bearer(username), tool, args)
  return { status: response.status, result: response.json?.result ?? {} }
}

const cacheStatus = (call: Call): Record<string, unknown> | undefined => call.result._meta?.cache_status

for (const backend of CATALOG_BACKENDS) {
  t.test(backend, async t => {
    t.test('the response cache', async t => {
      const server = await startTestServer(t, {
        ...await catalogSettings(backend),
        ...jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }),
        MCP_CACHE_CONFIG: { enabled: true, excluded_tools: [] }
      })
      const { catalog } = server.app
      const orders = await catalog.findDataset('orders')
      if (orders === undefined) throw new Error('example data missing')

      t.test('the same call by the same principal is a hit, with its age', async t => {
        const first = await call(server, 'alice', 'list_charts', { page_size: 5 })
        t.same(cacheStatus(first), { hit: false }, 'the first call computes')
        const second = await call(server, 'alice', 'list_charts', { page_size: 5 })
        t.equal(cacheStatus(second)?.hit, true, 'the second is served from the cache')
        t.type(cacheStatus(second)?.age_seconds, 'number')
        t.same(second.result.structuredContent, first.result.structuredContent, 'with the same content')
        t.match(textOf(second.result), /From the response cache, computed \d+ s ago\. Pass force_refresh: true/)
        const reordered = await call(server, 'alice', 'list_charts', { request: { page_size: 5 } })
        t.equal(cacheStatus(reordered)?.hit, true, 'the Superset request wrapper is the same call')
        const other = await call(server, 'alice', 'list_charts', { page_size: 6 })
        t.equal(cacheStatus(other)?.hit, false, 'other arguments are another entry')
      })

      t.test('a hit never crosses principals', async t => {
        await call(server, 'admin', 'list_dashboards', {})
        t.equal(cacheStatus(await call(server, 'admin', 'list_dashboards', {}))?.hit, true)
        const alice = await call(server, 'alice', 'list_dashboards', {})
        t.equal(cacheStatus(alice)?.hit, false, 'alice does not get admin\'s entry')
        await catalog.createUser({ username: 'gina', roles: ['Gamma'] })
        const gina = await call(server, 'gina', 'list_dashboards', {})
        t.equal(cacheStatus(gina)?.hit, false)
        t.equal(gina.result.structuredContent.total_count, 0, 'and sees only what her roles allow')
        const narrow = await callWith(server, bearer('admin', 'mcp:read'), 'list_dashboards', {})
        t.equal(narrow.json.result._meta.cache_status.hit, false, 'the same user with other scopes is another principal')
      })

      t.test('permissions are checked before the cache', async t => {
        await call(server, 'admin', 'get_dataset_info', { identifier: 'orders' })
        t.equal(cacheStatus(await call(server, 'admin', 'get_dataset_info', { identifier: 'orders' }))?.hit, true)
        await catalog.createUser({ username: 'nobody', roles: [] })
        const refused = await call(server, 'nobody', 'get_dataset_info', { identifier: 'orders' })
        t.equal(refused.result.isError, true)
        t.equal(refused.result._meta.permission_denied, true, 'no role, no answer, cached or not')
        t.equal(cacheStatus(refused), undefined, 'and no cache status: the cache was never consulted')
        const unscoped = await callWith(server, bearer('admin', 'mcp:sql'), 'get_dataset_info', { identifier: 'orders' })
        t.equal(unscoped.status, 403, 'a missing scope is refused before anything runs')
      })

      t.test('a permission change is a miss; taking access away takes the answer away', async t => {
        await catalog.createUser({ username: 'dora', roles: ['Gamma'] })
        await catalog.grantPermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id })
        t.teardown(async () => { await catalog.revokePermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id }) })
        const seen = await call(server, 'dora', 'get_dataset_info', { identifier: 'orders' })
        t.notOk(seen.result.isError, 'dora sees orders through Gamma')
        t.equal(cacheStatus(await call(server, 'dora', 'get_dataset_info', { identifier: 'orders' }))?.hit, true)
        await catalog.revokePermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id })
        const gone = await call(server, 'dora', 'get_dataset_info', { identifier: 'orders' })
        t.equal(gone.result.isError, true, 'after the revoke the cached answer is not served')
        t.equal(gone.result._meta.error_type, 'not_found')
        await catalog.addUserToRole('dora', 'Alpha')
        const widened = await call(server, 'dora', 'list_datasets', {})
        t.equal(cacheStatus(widened)?.hit, false, 'a new role is a new fingerprint')
      })

      t.test('writes invalidate: a new chart shows in the next list_charts', async t => {
        const before = await call(server, 'admin', 'list_charts', { page_size: 100 })
        t.equal(cacheStatus(await call(server, 'admin', 'list_charts', { page_size: 100 }))?.hit, true)
        await catalog.createChart({ slice_name: 'Written after caching', viz_type: 'table', dataset_id: orders.id, params: {} })
        const after = await call(server, 'admin', 'list_charts', { page_size: 100 })
        t.equal(cacheStatus(after)?.hit, false, 'the write is a miss')
        t.equal(after.result.structuredContent.total_count, before.result.structuredContent.total_count + 1)
        t.ok(after.result.structuredContent.charts.some((chart: { slice_name: string }) => chart.slice_name === 'Written after caching'))
      })

      t.test('force_refresh recomputes and stores; use_cache=false neither reads nor stores', async t => {
        const args = { identifier: 'sales-overview' }
        await call(server, 'admin', 'get_dashboard_info', args)
        const forced = await call(server, 'admin', 'get_dashboard_info', { ...args, force_refresh: true })
        t.same(cacheStatus(forced), { hit: false, bypass: 'force_refresh' })
        t.equal(cacheStatus(await call(server, 'admin', 'get_dashboard_info', args))?.hit, true, 'the refreshed result is cached')
        const fresh = await call(server, 'admin', 'get_dashboard_info', { ...args, use_cache: 'false' })
        t.same(cacheStatus(fresh), { hit: false, bypass: 'use_cache' }, '"false" as a string works too')
        const bad = await call(server, 'admin', 'get_dashboard_info', { ...args, use_cache: 'maybe' })
        t.equal(bad.result.isError, true)
        t.match(textOf(bad.result), /use_cache must be true or false/)
      })

      t.test('tools that can change anything are never cached, whatever excluded_tools says', async t => {
        // excluded_tools is [] here: only the rule on readOnlyHint keeps these out.
        const cache = server.app.responseCache
        if (cache === undefined) throw new Error('the cache should be on')
        const { toolset } = server.app
        const mutating = toolset.names.filter(name => toolset.get(name)?.annotations.readOnlyHint === false)
        t.ok(mutating.includes('execute_sql'), 'execute_sql can change data (DML on allowed databases)')
        for (const name of toolset.names) {
          const tool = toolset.get(name)
          if (tool === undefined) continue
          const expected = tool.annotations.readOnlyHint && !tool.volatile
          t.equal(cache.cacheable(tool), expected, `${name}: ${expected ? 'read-only, cacheable' : tool.volatile ? 'this replica now, never cached' : 'can change things, never cached'}`)
        }
        t.equal(toolset.get('health_check')?.volatile, true, 'health_check reports this replica now: a cached answer could be another replica\'s')
        const sql = { database_id: 'examples', sql: 'SELECT COUNT(*) AS n FROM orders' }
        await call(server, 'admin', 'execute_sql', sql)
        const again = await call(server, 'admin', 'execute_sql', sql)
        t.same(cacheStatus(again), { hit: false }, 'execute_sql twice: computed twice')
        const listed = (await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: bearer('admin') })).json.result.tools as Array<{ name: string, inputSchema: { properties: Record<string, unknown> } }>
        t.ok('force_refresh' in (listed.find(tool => tool.name === 'list_charts')?.inputSchema.properties ?? {}), 'read-only tools take use_cache and force_refresh')
        t.notOk('force_refresh' in (listed.find(tool => tool.name === 'execute_sql')?.inputSchema.properties ?? {}), 'execute_sql does not')
      })

      t.test('the metrics count hits and misses per tool', async t => {
        const metrics = await (await fetch(new URL('/metrics', server.origin))).text()
        t.match(metrics, /mcp_cache_requests_total\{tool="list_charts",result="hit"\} [1-9]/)
        t.match(metrics, /mcp_cache_requests_total\{tool="list_charts",result="miss"\} [1-9]/)
        t.match(metrics, /mcp_cache_requests_total\{tool="get_dashboard_info",result="bypass"\} [1-9]/)
        t.match(metrics, /mcp_cache_requests_total\{tool="execute_sql",result="uncacheable"\} [1-9]/)
      })
    })

    t.test('instance://metadata is per principal, cached like tool results', async t => {
      const server = await startTestServer(t, {
        ...await catalogSettings(backend),
        ...jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }),
        MCP_CACHE_CONFIG: { enabled: true }
      })
      await server.app.catalog.createUser({ username: 'gus', roles: ['Gamma'] })
      const read = async (username: string): Promise<Record<string, any>> => {
        const client = await connectClient(t, server.url, 'modern', { authorization: bearer(username) })
        const listed = await client.listResources()
        t.same(listed.resources.map(resource => resource.uri), ['instance://metadata', 'chart://configs', 'ui://analytics-mcp/chart-viewer'])
        const [contents] = (await client.readResource({ uri: 'instance://metadata' })).contents
        return JSON.parse(contents !== undefined && 'text' in contents ? contents.text : '{}') as Record<string, any>
      }
      const admin = await read('admin')
      t.match(admin, { user: 'admin', counts: { databases: 1, datasets: 4, dashboards: 2 } })
      t.same(admin.databases, [{ id: 1, name: 'examples', backend: 'sqlite', sql_allowed: true }])
      const gus = await read('gus')
      t.match(gus, { user: 'gus', counts: { databases: 0, datasets: 0, charts: 0, dashboards: 0 }, datasets: [] }, 'a Gamma user without data access sees nothing')
      const unknown = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'resources/read', params: { uri: 'instance://nope' } }, { authorization: bearer('admin') })
      t.equal(unknown.json.error.code, -32602, 'an unknown resource is invalid params (the 2026-07-28 rule)')
      t.equal(unknown.json.error.data?.uri, 'instance://nope', 'naming the URI')
      const noScope = await post(server.url, { jsonrpc: '2.0', id: 4, method: 'resources/read', params: { uri: 'instance://metadata' } }, { authorization: bearer('admin', 'mcp:sql') })
      t.equal(noScope.status, 403, 'resources need mcp:read')
    })

    t.test('what a catalog write does not announce', async t => {
      const server = await startTestServer(t, { ...await catalogSettings(backend), MCP_CACHE_CONFIG: { enabled: true } })
      const { catalog } = server.app
      const call = async (tool: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> => (await callWith(server, undefined, tool, args)).json.result

      t.test('DDL or DML through execute_sql makes table lists fresh', async t => {
        const file = path.join(t.testdir(), 'scratch.db')
        new BetterSqlite3(file).exec('CREATE TABLE a (x INTEGER)').close()
        await catalog.createDatabase({ database_name: 'scratch', backend: 'sqlite', connection: file, allow_dml: true })
        t.same((await call('get_database_info', { identifier: 'scratch' })).structuredContent.tables.map((table: { name: string }) => table.name), ['a'])
        t.equal((await call('get_database_info', { identifier: 'scratch' }))._meta.cache_status.hit, true)
        const created = await call('execute_sql', { database_id: 'scratch', sql: 'CREATE TABLE b (y TEXT)' })
        t.notOk(created.isError, 'the DDL ran')
        const after = await call('get_database_info', { identifier: 'scratch' })
        t.equal(after._meta.cache_status.hit, false, 'the next get_database_info is computed again')
        t.same(after.structuredContent.tables.map((table: { name: string }) => table.name), ['a', 'b'])
        await call('execute_sql', { database_id: 'scratch', sql: 'SELECT COUNT(*) FROM a' })
        t.equal((await call('get_database_info', { identifier: 'scratch' }))._meta.cache_status.hit, true, 'a query that changes nothing keeps the cache')
        const tool = server.app.toolset.get('get_database_info')
        if (tool === undefined) throw new Error('tool missing')
        t.equal(server.app.responseCache?.ttlFor(tool), 60, 'and changes made outside (ETL) show within a minute: its table list is cached 60 s at most')
      })

      t.test('a statement that changes nothing flushes no cache and tells no replica', async t => {
        const file = path.join(t.testdir(), 'noop.db')
        new BetterSqlite3(file).exec('CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1)').close()
        await catalog.createDatabase({ database_name: 'noop', backend: 'sqlite', connection: file, allow_dml: true })
        const announced: string[] = []
        const stop = catalog.onChange(change => announced.push(change))
        t.teardown(stop)
        await call('get_database_info', { identifier: 'examples' })
        const version = (await catalog.contentState()).version
        const noOps = [
          ['examples', 'DROP TABLE IF EXISTS no_such_table'],
          ['noop', 'DROP TABLE IF EXISTS no_such_table'],
          ['noop', 'UPDATE a SET x = 2 WHERE x = 99'],
          ['noop', 'DELETE FROM a WHERE 0'],
          ['noop', 'CREATE TABLE IF NOT EXISTS a (x INTEGER)']
        ]
        for (const [database, sql] of noOps) {
          const result = await call('execute_sql', { database_id: database, sql })
          t.notOk(result.isError, `${sql} runs on ${database ?? ''}`)
        }
        t.equal((await catalog.contentState()).version, version, 'the content version did not move')
        t.same(announced, [], 'no content event went out')
        t.equal((await call('get_database_info', { identifier: 'examples' }))._meta.cache_status.hit, true, 'the cached answer is still used')
        const changed = await call('execute_sql', { database_id: 'noop', sql: 'UPDATE a SET x = 3 RETURNING x' })
        t.same(changed.structuredContent.rows, [{ x: 3 }])
        t.equal((await catalog.contentState()).version, version + 1, 'a change that returns rows counts as a change')
        t.same(announced, ['content'])
      })

      t.test('joining a role that grants nothing still changes what get_instance_info shows', async t => {
        await call('get_instance_info')
        t.equal((await call('get_instance_info'))._meta.cache_status.hit, true)
        await catalog.createRole('auditors')
        await catalog.addUserToRole('admin', 'auditors')
        const after = await call('get_instance_info')
        t.equal(after._meta.cache_status.hit, false)
        t.same(after.structuredContent.current_user.roles, ['Admin', 'auditors'])
        t.equal(after.structuredContent.instance_summary.total_roles, 6)
      })
    })

    t.test('a write through another Catalog object is seen on the next call', async t => {
      const server = await startTestServer(t, { ...await catalogSettings(backend), MCP_CACHE_CONFIG: { enabled: true } })
      const other = await Catalog.open(server.app.config.catalogLocation, { upgrade: false })
      t.teardown(async () => { await other.close() })
      const call = async (tool: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> => (await callWith(server, undefined, tool, args)).json.result
      const orders = await other.findDataset('orders')
      if (orders === undefined) throw new Error('example data missing')
      const before = await call('list_charts', { page_size: 100 })
      t.equal((await call('list_charts', { page_size: 100 }))._meta.cache_status.hit, true)
      await other.createChart({ slice_name: 'Written by another catalog', viz_type: 'table', dataset_id: orders.id, params: {} })
      await server.app.catalog.caughtUp()
      const after = await call('list_charts', { page_size: 100 })
      t.equal(after._meta.cache_status.hit, false, 'the other object\'s write is a miss')
      t.equal(after.structuredContent.total_count, before.structuredContent.total_count + 1)
      t.ok(after.structuredContent.charts.some((chart: { slice_name: string }) => chart.slice_name === 'Written by another catalog'))
      t.equal((await call('get_instance_info'))._meta.cache_status.hit, false)
      t.equal((await call('get_instance_info'))._meta.cache_status.hit, true)
      await other.createRole('outside_auditors')
      await other.addUserToRole('admin', 'outside_auditors')
      await server.app.catalog.caughtUp()
      const info = await call('get_instance_info')
      t.equal(info._meta.cache_status.hit, false, 'an access change made elsewhere is a miss')
      t.same(info.structuredContent.current_user.roles, ['Admin', 'outside_auditors'])
    })

    t.test('a cached answer is not shared across service versions or size settings', async t => {
      const dir = t.testdir()
      const { ResponseCache } = await import('../src/cache/response-cache.ts')
      const settings = await catalogSettings(backend)
      const catalog = await Catalog.open(backend === 'sqlite' ? path.join(dir, 'catalog.db') : String(settings.MCP_CATALOG_URL), { upgrade: true })
      t.teardown(async () => { await catalog.close() })
      const server = await startTestServer(t, settings)
      const config = server.app.config.MCP_CACHE_CONFIG
      const user = await server.app.catalog.findUserByUsername('admin')
      if (user === undefined) throw new Error('demo user missing')
      const principal = { user, authMethod: 'dev' as const, access: new AccessProfile(user.id, true, []) }
      const store = new MemoryCacheStore(1_000_000)
      const keys = await Promise.all(['0.1.0|size:25000', '0.2.0|size:25000', '0.1.0|size:off'].map(async context => await new ResponseCache(store, config, catalog, context).keyFor('tool', 'list_charts', {}, principal)))
      t.equal(new Set(keys).size, 3, 'each context has its own keys')
    })
  })
}

t.test('excluded tools and oversized results are not cached', async t => {
  const server = await startTestServer(t, { MCP_CACHE_CONFIG: { enabled: true, excluded_tools: ['list_dashboards'], max_item_size: 4096 } })
  const call = async (tool: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> => (await callWith(server, undefined, tool, args)).json.result
  await call('list_dashboards')
  t.same((await call('list_dashboards'))._meta.cache_status, { hit: false }, 'an excluded tool is computed every time')
  await call('list_charts', { page_size: 100 })
  t.equal((await call('list_charts', { page_size: 100 }))._meta.cache_status.hit, false, 'a result over max_item_size (4 KiB) is not stored')
  await call('list_databases')
  t.equal((await call('list_databases'))._meta.cache_status.hit, true, 'a small one is')
  await call('health_check')
  t.same((await call('health_check'))._meta.cache_status, { hit: false }, 'health_check is never cached')
})

t.test('without the cache, results say nothing about it', async t => {
  const server = await startTestServer(t)
  const result = (await callWith(server, undefined, 'list_charts', { force_refresh: true })).json.result
  t.notOk(result.isError, 'the cache arguments are accepted (and ignored) when the cache is off')
  t.equal(result._meta.cache_status, undefined)
  t.equal(server.app.responseCache, undefined)
})

t.test('principal fingerprints', async t => {
  const server = await startTestServer(t)
  const user = await server.app.catalog.findUserByUsername('alice')
  if (user === undefined) throw new Error('demo user missing')
  const base = { user, authMethod: 'jwt' as const, scopes: ['mcp:read'], access: new AccessProfile(user.id, false, [{ permission: 'can_read', resource: 'Chart', resource_id: null }]) }
  const same = principalFingerprint(base)
  t.equal(principalFingerprint({ ...base, scopes: ['mcp:read'] }), same, 'stable for the same principal')
  t.not(principalFingerprint({ ...base, scopes: ['mcp:read', 'mcp:sql'] }), same, 'scopes count')
  t.not(principalFingerprint({ ...base, scopes: undefined }), same, 'unscoped is different from scoped')
  t.not(principalFingerprint({ ...base, access: new AccessProfile(user.id, false, [{ permission: 'can_read', resource: 'Dashboard', resource_id: null }]) }), same, 'grants count')
  t.not(principalFingerprint({ ...base, access: new AccessProfile(user.id, true, []) }), same, 'superuser counts')
  t.not(principalFingerprint({ ...base, authMethod: 'api_key' }), same, 'the credential kind counts (results report it)')
  t.not(principalFingerprint({ ...base, user: { ...user, roles: ['Alpha,Gamma'] } }), principalFingerprint({ ...base, user: { ...user, roles: ['Alpha', 'Gamma'] } }), 'fields are kept apart whatever they hold')
})

t.test('the memory store is an LRU bounded by bytes, with TTLs', async t => {
  const store = new MemoryCacheStore(1000)
  await store.set('a', 'x'.repeat(200), 60)
  await store.set('b', 'x'.repeat(200), 60)
  t.equal(await store.get('a'), 'x'.repeat(200), 'a is read, so b is now the least recent')
  await store.set('c', 'x'.repeat(200), 60)
  t.equal(await store.get('b'), undefined, 'b was evicted to stay under 1000 bytes')
  t.ok(store.size.bytes <= 1000)
  t.equal(await store.get('a'), 'x'.repeat(200))
  await store.set('huge', 'x'.repeat(600), 60)
  t.equal(await store.get('huge'), undefined, 'an entry bigger than the whole budget is not stored')
  await store.set('short', 'y', 0)
  t.equal(await store.get('short'), undefined, 'a TTL of 0 stores nothing')
  await store.set('a', 'z', 60)
  t.equal(await store.get('a'), 'z', 'a key can be replaced')
})

t.test('the cache note is left out when it would take a result over the size limit', async t => {
  const unlimited = await startTestServer(t)
  const first = (await callWith(unlimited, undefined, 'get_dataset_info', { identifier: 'orders' })).json.result
  const tokens = estimateTokens({ text: textOf(first), structured: first.structuredContent })
  for (const [limit, noted] of [[tokens, false], [tokens + 100, true]] as const) {
    const server = await startTestServer(t, { MCP_CACHE_CONFIG: { enabled: true }, MCP_RESPONSE_SIZE_CONFIG: { token_limit: limit } })
    const miss = (await callWith(server, undefined, 'get_dataset_info', { identifier: 'orders' })).json.result
    t.equal(miss.structuredContent.response_truncation, undefined, `limit ${limit}: the result fits as it is`)
    const hit = (await callWith(server, undefined, 'get_dataset_info', { identifier: 'orders' })).json.result
    t.equal(hit._meta.cache_status.hit, true)
    t.equal(/From the response cache/.test(textOf(hit)), noted, noted ? 'with room to spare the note is added' : 'at the limit the note is left out')
    t.ok(estimateTokens({ text: textOf(hit), structured: hit.structuredContent }) <= limit, 'the hit stays within the limit')
  }
})
