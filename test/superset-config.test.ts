import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import { ConfigError, resolveConfig } from '../src/config.ts'
import { startTestServer } from './helpers/app.ts'
import { freePort } from './helpers/ports.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

// A Superset user's MCP settings (superset_config.py's MCP_* keys, as a config file): the keys
// that mean nothing here start with a warning each, the ones we implement work, and a typo or a
// restriction we lack still stops start-up, naming the key.

const BIN = path.join(import.meta.dirname, '..', 'bin', 'analytics-mcp.js')

const SUPERSET_CONFIG = {
  MCP_STATELESS_HTTP: true,
  MCP_SESSION_CONFIG: { SESSION_COOKIE_HTTPONLY: true, SESSION_COOKIE_SAMESITE: 'Lax' },
  MCP_CSRF_CONFIG: { WTF_CSRF_ENABLED: true, WTF_CSRF_TIME_LIMIT: null },
  MCP_FACTORY_CONFIG: { name: 'Superset MCP', instructions: null },
  MCP_TOOL_WORKERS: 4,
  MCP_METADATA_TOOL_WORKERS: 5,
  MCP_RBAC_ENABLED: true,
  MCP_DISABLED_TOOLS: ['execute_sql', 'open_sql_lab_with_context', 'delete_dataset'],
  MCP_API_KEY_CREATE_URL: '/profile/',
  MCP_CACHE_CONFIG: { enabled: true, dangerously_share_cache_across_principals: false, call_tool_ttl: 600 },
  MCP_STORE_CONFIG: { enabled: false, CACHE_REDIS_URL: null, WRAPPER_TYPE: 'key_value.aio.wrappers.prefix_keys.PrefixKeysWrapper', event_store_max_events: 100, event_store_ttl: 3600 },
  MCP_RESPONSE_SIZE_CONFIG: { enabled: true, max_bytes: 50_000, warn_threshold_pct: 80, max_list_items: 2, excluded_tools: ['health_check', 'generate_explore_link', 'open_sql_lab_with_context', 'search_tools'] }
}

const EXPECTED_WARNINGS = [
  'MCP_STATELESS_HTTP', 'MCP_SESSION_CONFIG', 'MCP_CSRF_CONFIG', 'MCP_FACTORY_CONFIG', 'MCP_TOOL_WORKERS', 'MCP_METADATA_TOOL_WORKERS',
  'MCP_CACHE_CONFIG.dangerously_share_cache_across_principals', 'MCP_STORE_CONFIG.WRAPPER_TYPE'
]

/** The package's bin with a config file: its JSON log lines, and the port once /readyz answers (or its exit). */
async function runBin (t: Test, config: Record<string, unknown>): Promise<{ logs: Array<Record<string, any>>, port: number | undefined, code: number | null, stderr: string }> {
  const dir = t.testdir()
  const file = path.join(dir, 'superset.config.json')
  writeFileSync(file, JSON.stringify(config))
  const port = await freePort()
  const child = spawn(process.execPath, [BIN, 'run', '--config', file], {
    env: { PATH: process.env.PATH, MCP_DATA_DIR: dir, MCP_EXAMPLES_PATH: sharedExamplesFile(), MCP_SERVICE_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += String(chunk) })
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const logs = (): Array<Record<string, any>> => stdout.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as Record<string, any>)
  for (let attempt = 0; attempt < 400; attempt++) {
    if (child.exitCode !== null) return { logs: logs(), port: undefined, code: child.exitCode, stderr }
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(response => response.status, () => 0)
    if (status === 200) return { logs: logs(), port, code: null, stderr }
    await sleep(50)
  }
  throw new Error(`the bin neither started nor stopped: ${stderr}`)
}

async function rpc (port: number, method: string, params?: unknown): Promise<any> {
  const response = await fetch(`http://127.0.0.1:${port}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })
  })
  const text = await response.text()
  // A call with a progress token is answered as an event stream: its last message is the result.
  if (text.startsWith('event:')) return JSON.parse(text.split('\n').filter(line => line.startsWith('data: ')).map(line => line.slice(6)).find(data => data.includes('"result"')) ?? 'null')
  return JSON.parse(text)
}

t.test('a Superset config starts: one warning per key that means nothing here, and the keys we share work', async t => {
  const { logs, port, stderr } = await runBin(t, SUPERSET_CONFIG)
  t.ok(port !== undefined, `the bin started (${stderr.slice(0, 300)})`)
  const ignored = logs.filter(line => line.event === 'setting_ignored').map(line => String(line.msg))
  for (const name of EXPECTED_WARNINGS) {
    const lines = ignored.filter(message => message.startsWith(`${name} (config file `))
    t.equal(lines.length, 1, `one warning for ${name}`)
    t.match(lines[0], /Superset's (setting|key), ignored: \S.{20,}/, `${name}: the warning says why`)
  }
  t.equal(ignored.length, EXPECTED_WARNINGS.length, 'and no other')
  t.ok(logs.some(line => /MCP_DISABLED_TOOLS names Superset tools this release does not have.*delete_dataset/.test(String(line.msg))), 'a disabled Superset tool we lack is a warning')
  if (port === undefined) return

  const initialize = await rpc(port, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'test', version: '1' } })
  const instructions = String(initialize.result.instructions)
  t.match(instructions, /get_dataset_info/, 'the instructions name the tools that are on')
  t.notMatch(instructions, /execute_sql|open_sql_lab_with_context/, 'and never a disabled one')
  const names = (await rpc(port, 'tools/list')).result.tools.map((tool: { name: string }) => tool.name)
  t.notOk(names.includes('execute_sql') || names.includes('open_sql_lab_with_context'), 'disabled tools are not listed')
  t.ok(names.includes('list_charts'))
  const refused = await rpc(port, 'tools/call', { name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT 1' } })
  t.match(JSON.stringify(refused), /Unknown tool|unknown tool/, 'a disabled tool called by name is an unknown tool')
  const page = (await rpc(port, 'tools/call', { name: 'list_charts', arguments: { page_size: 10 } })).result.structuredContent
  t.equal(page.charts.length, 2, 'max_list_items caps a page')
  t.equal(page.page_size, 2, 'and the answer gives the page_size applied')
  t.equal(page.total_pages, 4, 'with the pages counted at that size')
})

t.test('max_bytes is the limit in bytes: the smaller of it and token_limit applies', async t => {
  const config = (size: Record<string, unknown>): number => resolveConfig([{ source: 'config file', values: { MCP_RESPONSE_SIZE_CONFIG: size } }]).MCP_RESPONSE_SIZE_CONFIG.token_limit
  t.equal(config({ max_bytes: 35_000 }), 10_000, '35,000 bytes are 10,000 tokens at 3.5 bytes per token')
  t.equal(config({ max_bytes: 35_000, token_limit: 5_000 }), 5_000, 'a smaller token_limit still wins')
  t.equal(config({}), 25_000, 'without max_bytes, token_limit (25,000)')
})

t.test('a typo, or a Superset restriction we lack, still stops start-up naming the key', async t => {
  const refusal = (values: Record<string, unknown>): string => {
    try {
      resolveConfig([{ source: 'config file', origin: 'superset.config.json', values }])
    } catch (err) {
      t.ok(err instanceof ConfigError)
      return (err as Error).message
    }
    return 'started'
  }
  t.match(refusal({ MCP_DISABLE_TOOLS: ['execute_sql'] }), /MCP_DISABLE_TOOLS \(config file superset\.config\.json\): unknown setting; did you mean MCP_DISABLED_TOOLS\?/)
  t.match(refusal({ MCP_STATELES_HTTP: true }), /MCP_STATELES_HTTP .*unknown setting; did you mean MCP_STATELESS_HTTP\?/, 'the nearest name may be a Superset key we take')
  t.match(refusal({ MCP_RESPONSE_SIZE_CONFIG: { max_byte: 50_000 } }), /MCP_RESPONSE_SIZE_CONFIG.*unknown key max_byte \(did you mean max_bytes\?\)/)
  t.match(refusal({ MCP_CACHE_CONFIG: { dangerously_share_cache_across_principal: true } }), /unknown key dangerously_share_cache_across_principal \(did you mean dangerously_share_cache_across_principals\?\)/)
  t.match(refusal({ MCP_DATASET_ROLE_ALLOWLIST: { Gamma: [] } }), /MCP_DATASET_ROLE_ALLOWLIST .*Superset's setting, not available in analytics-mcp: per-role dataset allow-lists.*start-up stops rather than run less restricted/)
  t.match(refusal({ MCP_EMBEDDED_GUEST_AUTH_ENABLED: true }), /MCP_EMBEDDED_GUEST_AUTH_ENABLED .*not available/)

  const { code, stderr } = await runBin(t, { MCP_DISABLED_TOOLS: ['exeucte_sql'] })
  t.not(code, 0, 'a misspelt disabled tool stops the bin')
  t.match(stderr, /MCP_DISABLED_TOOLS: no tool named exeucte_sql; did you mean execute_sql\?/)
})

t.test('MCP_RBAC_ENABLED off: class permissions are not checked; what a user may see still is', async t => {
  const listed = async (settings: Record<string, unknown>): Promise<string[]> => {
    const server = await startTestServer(t, { MCP_DEV_USERNAME: 'bob', ...settings })
    const port = Number(server.url.port)
    return (await rpc(port, 'tools/list')).result.tools.map((tool: { name: string }) => tool.name)
  }
  const withRbac = await listed({})
  const without = await listed({ MCP_RBAC_ENABLED: false })
  t.notOk(withRbac.includes('execute_sql'), 'bob (Gamma) has no SQL Lab permission: execute_sql is not his')
  t.ok(without.includes('execute_sql') && without.length > withRbac.length, `with RBAC off he is offered every tool (${without.length} against ${withRbac.length})`)
  const server = await startTestServer(t, { MCP_DEV_USERNAME: 'bob', MCP_RBAC_ENABLED: false })
  const dashboards = (await rpc(Number(server.url.port), 'tools/call', { name: 'list_dashboards', arguments: {} })).result.structuredContent
  const admin = await startTestServer(t, {})
  const all = (await rpc(Number(admin.url.port), 'tools/call', { name: 'list_dashboards', arguments: {} })).result.structuredContent
  t.ok(dashboards.total_count < all.total_count, `bob still sees only his dashboards (${dashboards.total_count} of ${all.total_count})`)
})

t.test('MCP_API_KEY_CREATE_URL: a refused API key says where to make a new one; a refused token does not', async t => {
  const server = await startTestServer(t, {
    MCP_AUTH_ENABLED: true,
    MCP_SERVICE_URL: 'https://analytics.example.com',
    MCP_JWT_AUDIENCE: ['https://analytics.example.com/mcp'],
    MCP_JWT_ALGORITHM: 'HS256',
    MCP_JWT_SECRET: 'a-test-secret-that-is-at-least-32-characters',
    MCP_API_KEY_ENABLED: true,
    MCP_API_KEY_CREATE_URL: '/profile/',
    MCP_ALLOWED_HOSTS: ['127.0.0.1']
  })
  const refusedWith = async (authorization: string): Promise<{ status: number, body: any, header: string }> => {
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
    return { status: response.status, body: await response.json(), header: response.headers.get('www-authenticate') ?? '' }
  }
  const key = await refusedWith('Bearer amcp_notarealkey_0123456789abcdef')
  t.equal(key.status, 401)
  t.match(JSON.stringify(key.body), /The API key is invalid, expired or revoked; create a new one at https:\/\/analytics\.example\.com\/profile\//)
  t.match(key.header, /create a new one at https:\/\/analytics\.example\.com\/profile\//, 'in the challenge too')
  const token = await refusedWith('Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl')
  t.equal(token.status, 401)
  t.match(JSON.stringify(token.body), /The access token is invalid/)
  t.notMatch(JSON.stringify(token.body), /profile/, 'a refused JWT gets the generic answer')
})

t.test('MCP_STRUCTURED_OUTPUT_ENABLED off: no outputSchema listed and no structuredContent returned, on every path', async t => {
  const server = await startTestServer(t, { MCP_STRUCTURED_OUTPUT_ENABLED: false })
  const port = Number(server.url.port)
  const { tools } = (await rpc(port, 'tools/list')).result
  t.ok(tools.length > 20 && tools.every((tool: Record<string, unknown>) => tool.outputSchema === undefined), 'no tool lists an outputSchema')
  const plain = (await rpc(port, 'tools/call', { name: 'list_dashboards', arguments: {} })).result
  t.equal(plain.structuredContent, undefined, 'a plain call: text only')
  t.match(plain.content[0].text, /dashboards? match/, 'the text carries the answer')
  // A progress token takes the call through the SDK's own handler instead of the plain path.
  const viaSdk = (await rpc(port, 'tools/call', { name: 'list_dashboards', arguments: {}, _meta: { progressToken: 'p1' } })).result
  t.equal(viaSdk.structuredContent, undefined, 'a call through the SDK: text only')
  t.match(viaSdk.content[0].text, /dashboards? match/)
  const template = await rpc(port, 'resources/read', { uri: 'dataset://orders' })
  t.match(template.result.contents[0].text, /"table_name":"orders"/, 'resource templates still read the structured result inside the server')

  const on = await startTestServer(t, {})
  const listed = (await rpc(Number(on.url.port), 'tools/list')).result.tools
  t.ok(listed.every((tool: Record<string, unknown>) => tool.outputSchema !== undefined), 'on (our default): every tool lists its outputSchema')
  t.ok((await rpc(Number(on.url.port), 'tools/call', { name: 'list_dashboards', arguments: {} })).result.structuredContent !== undefined)
})
