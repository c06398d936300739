import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { jwtSettings, SECRET } from './helpers/auth.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { rawRequest } from './helpers/rpc.ts'

// Plain tools/list and tools/call requests are answered without the SDK's per-request server.
// Each answer must be the one the SDK gives: compared here with the same request carrying an
// extra _meta key, which the plain path declines, so the SDK answers it.

const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'equality-test', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {}
}
const ACCEPT = 'application/json, text/event-stream'

function request (era: 'legacy' | 'modern', id: string | number, extraMeta: Record<string, unknown> | undefined, authorization: string, call?: { name: string, arguments?: unknown }): { headers: Record<string, string>, body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: ACCEPT, authorization, 'mcp-protocol-version': era === 'modern' ? '2026-07-28' : '2025-11-25' }
  if (era === 'modern') headers['mcp-method'] = call === undefined ? 'tools/list' : 'tools/call'
  if (era === 'modern' && call !== undefined) headers['mcp-name'] = call.name
  const meta = era === 'modern' ? { ...MODERN_META, ...extraMeta } : extraMeta
  const params = { ...call, ...(meta === undefined ? {} : { _meta: meta }) }
  return { headers, body: JSON.stringify({ jsonrpc: '2.0', id, method: call === undefined ? 'tools/list' : 'tools/call', ...(Object.keys(params).length === 0 ? {} : { params }) }) }
}

/** What differs between two runs of the same call: its id, the time it ran, how long it took. */
const VOLATILE_KEYS = new Set(['call_id', 'timestamp', 'execution_time_ms'])

/** A call's answer without what differs per run. */
function comparable (text: string): unknown {
  return JSON.parse(text, (key, value: unknown) => {
    if (VOLATILE_KEYS.has(key)) return undefined
    return typeof value === 'string' ? value.replace(/\bin \d+(\.\d+)? ms\b/g, 'in N ms') : value
  })
}

t.test('the serialised tools/list is the SDK\'s answer, for every era and permission set', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET }))
  const principals = [
    ['admin', 'mcp:read mcp:write mcp:sql'], ['alice', 'mcp:read mcp:write mcp:sql'], ['bob', 'mcp:read mcp:write mcp:sql'], ['alice', 'mcp:read']
  ] as const
  for (const [user, scope] of principals) {
    const authorization = `Bearer ${signWithSecret(SECRET, claimsFor(user, { scope }))}`
    for (const era of ['legacy', 'modern'] as const) {
      for (const id of [7, 'req-1']) {
        const fast = request(era, id, undefined, authorization)
        const sdk = request(era, id, { 'example.com/trace': 'x' }, authorization)
        const [copy, original] = await Promise.all([
          rawRequest(server.url, { method: 'POST', headers: fast.headers, body: fast.body }),
          rawRequest(server.url, { method: 'POST', headers: sdk.headers, body: sdk.body })
        ])
        const what = `${user} (${scope}), ${era}, id ${JSON.stringify(id)}`
        t.equal(copy.status, 200, `${what}: 200`)
        t.same(JSON.parse(copy.text), JSON.parse(original.text), `${what}: the same answer as the SDK's`)
        t.equal(copy.headers.get('content-type'), original.headers.get('content-type'), `${what}: the same content type`)
      }
    }
  }
  const bob = `Bearer ${signWithSecret(SECRET, claimsFor('bob'))}`
  const listed = JSON.parse((await rawRequest(server.url, { method: 'POST', ...request('legacy', 1, undefined, bob) })).text)
  t.notOk(listed.result.tools.some((tool: { name: string }) => tool.name === 'execute_sql'), 'each permission set gets its own list (bob has no SQL tool)')
})

t.test('a plain tools/call is answered as the SDK answers it: results, tool errors, refusals', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET }))
  const calls: ReadonlyArray<readonly [string, { name: string, arguments?: Record<string, unknown> }]> = [
    ['alice', { name: 'list_dashboards', arguments: {} }],
    ['alice', { name: 'list_dashboards', arguments: { page_size: 2, search: 'sales' } }],
    ['alice', { name: 'get_dataset_info', arguments: { identifier: 'orders' } }],
    ['alice', { name: 'get_dataset_info', arguments: { identifier: 'no-such-dataset' } }],
    ['alice', { name: 'get_dataset_info', arguments: { identifier: 'orders', bogus: 1 } }],
    ['alice', { name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT 1 AS one' } }],
    ['bob', { name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT 1 AS one' } }],
    ['alice', { name: 'get_instance_info' }]
  ]
  for (const [user, call] of calls) {
    const authorization = `Bearer ${signWithSecret(SECRET, claimsFor(user))}`
    for (const era of ['legacy', 'modern'] as const) {
      const fast = request(era, 3, undefined, authorization, call)
      const sdk = request(era, 3, { 'example.com/trace': 'x' }, authorization, call)
      const copy = await rawRequest(server.url, { method: 'POST', headers: fast.headers, body: fast.body })
      const original = await rawRequest(server.url, { method: 'POST', headers: sdk.headers, body: sdk.body })
      const what = `${user}: ${call.name} ${JSON.stringify(call.arguments ?? null)}, ${era}`
      t.equal(copy.status, original.status, `${what}: the same status`)
      t.same(comparable(copy.text), comparable(original.text), `${what}: the same answer as the SDK's`)
      t.equal(copy.headers.get('content-type'), original.headers.get('content-type'), `${what}: the same content type`)
    }
  }
  const unknown = await rawRequest(server.url, { method: 'POST', ...request('legacy', 4, undefined, `Bearer ${signWithSecret(SECRET, claimsFor('alice'))}`, { name: 'no_such_tool', arguments: {} }) })
  t.equal(JSON.parse(unknown.text).error?.code, -32602, 'an unknown tool is the SDK\'s invalid params error')
})

t.test('anything but the plain request goes to the SDK, with its errors', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET }))
  const authorization = `Bearer ${signWithSecret(SECRET, claimsFor('admin'))}`
  const send = async (headers: Record<string, string>, body: unknown): Promise<{ status: number, json: any }> => {
    const response = await rawRequest(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization, ...headers }, body: JSON.stringify(body) })
    return { status: response.status, json: response.text === '' ? undefined : JSON.parse(response.text) }
  }
  const noAccept = await send({ accept: 'application/json', 'mcp-protocol-version': '2025-11-25' }, { jsonrpc: '2.0', id: 1, method: 'tools/list' })
  t.equal(noAccept.status, 406, 'an Accept without text/event-stream: the SDK\'s 406')
  const badCursor = await send({ accept: ACCEPT, 'mcp-protocol-version': '2025-11-25' }, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { cursor: 5 } })
  t.equal(badCursor.json.error?.code, -32602, 'a cursor of the wrong type: the SDK\'s invalid params')
  const wrongMethodHeader = await send({ accept: ACCEPT, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' }, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } })
  t.not(wrongMethodHeader.status, 200, 'an Mcp-Method header that contradicts the body: refused as the SDK refuses it')
  const nullId = await send({ accept: ACCEPT, 'mcp-protocol-version': '2025-11-25' }, { jsonrpc: '2.0', id: null, method: 'tools/list' })
  t.not(nullId.status, 200, 'a null id: not answered as a request')
})
