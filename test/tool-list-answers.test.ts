import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { jwtSettings, SECRET } from './helpers/auth.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { rawRequest } from './helpers/rpc.ts'

// tools/list is answered from a serialised copy for the plain request clients send. Each answer
// must be the one the SDK gives: compared here with the same request carrying an extra _meta
// key, which the copy declines, so the SDK answers it.

const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'equality-test', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {}
}
const ACCEPT = 'application/json, text/event-stream'

function request (era: 'legacy' | 'modern', id: string | number, extraMeta: Record<string, unknown> | undefined, authorization: string): { headers: Record<string, string>, body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: ACCEPT, authorization, 'mcp-protocol-version': era === 'modern' ? '2026-07-28' : '2025-11-25' }
  if (era === 'modern') headers['mcp-method'] = 'tools/list'
  const meta = era === 'modern' ? { ...MODERN_META, ...extraMeta } : extraMeta
  return { headers, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', ...(meta === undefined ? {} : { params: { _meta: meta } }) }) }
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
