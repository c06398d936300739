import t from 'tap'
import { ConfigError } from '../src/config.ts'
import { build, startTestServer } from './helpers/app.ts'
import { callWith, jwtSettings, SECRET } from './helpers/auth.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { TOOL_CALLS } from './helpers/tool-calls.ts'
import { bothEras, MUTATING_TOOLS, TOOL_NAMES } from './helpers/tools.ts'
import type { Structured } from './helpers/tools.ts'

// MCP_TOOL_SEARCH_CONFIG: tools/list shows the pinned tools and search_tools + call_tool; the
// model finds a tool, then calls it through call_tool, with the same checks as a direct call.

const SEARCH = { MCP_TOOL_SEARCH_CONFIG: { enabled: true } }

t.test('tool search: a handful of definitions listed, every tool found and callable through call_tool', async t => {
  const server = await startTestServer(t, SEARCH)
  const full = await startTestServer(t)
  await bothEras(t, server.url, async (t, { client, structuredFrom, call, era }) => {
    const { tools } = await client.listTools()
    t.same(tools.map(tool => tool.name), ['health_check', 'get_instance_info', 'search_tools', 'call_tool'], 'the pinned tools, then search and call')
    const everything = await structuredFrom(t)('search_tools', {})
    t.same(everything.tools.map((tool: Structured) => tool.name).sort(), [...TOOL_NAMES].sort(), 'without a query: every tool the caller may call')
    t.equal(everything.total_available, TOOL_NAMES.length)

    const dashboards = await structuredFrom(t)('search_tools', { query: 'add a chart to a dashboard' })
    t.equal(dashboards.tools[0]?.name, 'add_chart_to_existing_dashboard', 'ranked: the tool for the task first')
    t.ok(dashboards.count <= 5, 'max_results (5)')
    t.ok(dashboards.tools[0].inputSchema?.properties?.chart_id !== undefined, 'with its input schema (include_schemas)')
    t.match(dashboards.tools[0].annotations, { readOnlyHint: false }, 'and its annotations, for the client to judge the call')

    // The model-facing path, for every tool: search its name, then call it through call_tool.
    for (const name of TOOL_NAMES) {
      const found = await structuredFrom(t)('search_tools', { query: name })
      t.equal(found.tools[0]?.name, name, `search_tools "${name}" finds it first`)
      // The good calls change the catalog (run once per server): the modern era calls the read-only ones again.
      if (era === 'modern' && MUTATING_TOOLS.includes(name)) continue
      const args = TOOL_CALLS[name].good[0] ?? {}
      // As a JSON object's text (the listed schema) in one era, as an object in the other.
      const proxied = await call('call_tool', { name, arguments: era === 'legacy' ? JSON.stringify(args) : args })
      t.notOk(proxied.isError, `call_tool ${name}: ${JSON.stringify(proxied.content).slice(0, 160)}`)
    }
    const direct = await callWith(full, undefined, 'get_dataset_info', { identifier: 'orders' })
    const proxied = await call('call_tool', { name: 'get_dataset_info', arguments: { identifier: 'orders' } })
    t.same(proxied.structuredContent, direct.json.result.structuredContent, 'a proxied result is the tool\'s own')

    for (const [args, message] of [
      [{ name: 'call_tool', arguments: {} }, /call_tool calls the other tools, not call_tool/],
      [{ name: 'search_tools' }, /not search_tools/],
      [{ name: 'no_such_tool' }, /Unknown tool: no_such_tool.*search_tools/s],
      [{ arguments: {} }, /takes \{"name"/],
      [{ name: 'health_check', arguments: [1] }, /takes \{"name"/],
      [{ name: 'health_check', extra: 1 }, /unknown: extra/]
    ] as const) {
      const refused = await call('call_tool', args)
      t.equal(refused.isError, true, `call_tool ${JSON.stringify(args)} is refused`)
      t.match((refused.content as Array<{ text: string }>)[0]?.text, message)
    }
  })
})

t.test('tools/list bytes with and without tool search', async t => {
  const list = async (settings: Record<string, unknown>): Promise<number> => {
    const app = await build(t, settings)
    const response = await app.inject({ method: 'POST', url: '/mcp', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }, payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' } })
    return Buffer.byteLength(response.body)
  }
  const without = await list({})
  const withSearch = await list(SEARCH)
  t.comment(`tools/list: ${without} bytes with every tool (${TOOL_NAMES.length}), ${withSearch} bytes with tool search (4 tools)`)
  t.ok(withSearch * 5 < without, `tool search lists under a fifth of the bytes (${withSearch} against ${without})`)
})

t.test('RBAC and scopes apply to a proxied call exactly as to a direct one', async t => {
  const server = await startTestServer(t, { ...SEARCH, ...jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }) })
  const as = (username: string, scope?: string): string => `Bearer ${signWithSecret(SECRET, claimsFor(username, scope === undefined ? {} : { scope }))}`
  const outcome = async (authorization: string, tool: string, args: Record<string, unknown>): Promise<{ isError: boolean, text: string, type: unknown }> => {
    const response = (await callWith(server, authorization, tool, args)).json
    const result = response.result ?? { isError: true, content: [{ text: JSON.stringify(response) }] }
    return { isError: result.isError === true, text: result.content[0].text as string, type: result._meta?.error_type }
  }
  const sql = { database_id: 1, sql: 'SELECT 1 AS n' }
  for (const [who, authorization] of [['bob (Gamma, no SQL Lab)', as('bob')], ['alice with a read-only token', as('alice', 'mcp:read')]] as const) {
    const direct = await outcome(authorization, 'execute_sql', sql)
    const proxied = await outcome(authorization, 'call_tool', { name: 'execute_sql', arguments: sql })
    t.equal(direct.isError, true, `${who}: execute_sql is refused`)
    t.same(proxied, direct, `${who}: the same refusal through call_tool`)
  }
  const allowed = await outcome(as('alice'), 'call_tool', { name: 'execute_sql', arguments: sql })
  t.notOk(allowed.isError, 'alice with mcp:sql runs it through call_tool')
  const bobFinds = (await callWith(server, as('bob'), 'search_tools', {})).json.result.structuredContent.tools.map((tool: Structured) => tool.name)
  t.notOk(bobFinds.includes('execute_sql'), 'search_tools never offers a tool the caller may not call')
  t.ok(bobFinds.includes('list_dashboards'))
})

t.test('MCP_TOOL_SEARCH_CONFIG is checked at start-up', async t => {
  for (const [settings, message] of [
    [{ MCP_TOOL_SEARCH_CONFIG: { enabled: true, always_visible: ['health_chek'] } }, /always_visible: no tool named health_chek/],
    [{ MCP_TOOL_SEARCH_CONFIG: { enabled: true, search_tool_name: 'list_charts' } }, /search_tool_name: list_charts is the name of a tool/],
    [{ MCP_TOOL_SEARCH_CONFIG: { strategy: 'regex' } }, /strategy.*"regex" is not offered/]
  ] as const) {
    const err = await build(t, settings).then(() => undefined, (error: unknown) => error)
    t.ok(err instanceof ConfigError, `refused: ${JSON.stringify(settings)}`)
    t.match((err as Error).message, message)
  }
})
