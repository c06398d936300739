import { TOOL_NAMES } from './helpers/tools.ts'
import t from 'tap'
import type { Test } from 'tap'
import { startTestServer } from './helpers/app.ts'
import type { RunningServer } from './helpers/app.ts'
import { post, toolCall } from './helpers/rpc.ts'

// Every malformed request gets a clear JSON error, never a stack trace, and the server
// keeps serving afterwards.

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } }
}

async function stillServes (t: Test, server: RunningServer): Promise<void> {
  const response = await post(server.url, toolCall('health_check', {}))
  t.equal(response.status, 200, 'the server still answers')
  t.equal(response.json?.result?.structuredContent?.status, 'healthy')
}

function noInternals (t: Test, text: string): void {
  t.notMatch(text, /\.ts:\d+|at \w+ \(|node_modules|Error:/, 'the body carries no stack trace or internals')
}

t.test('transport', async t => {
  const server = await startTestServer(t)

  t.test('legacy initialize answers JSON without a session', async t => {
    const response = await post(server.url, INITIALIZE)
    t.equal(response.status, 200)
    t.match(response.headers.get('content-type'), /^application\/json/)
    t.equal(response.headers.get('mcp-session-id'), null, 'stateless: no Mcp-Session-Id')
    t.equal(response.json.result.protocolVersion, '2025-11-25')
    t.equal(response.json.result.serverInfo.name, 'analytics-mcp')
  })

  t.test('2025-06-18 clients are served too', async t => {
    const response = await post(server.url, { ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: '2025-06-18' } })
    t.equal(response.json.result.protocolVersion, '2025-06-18')
  })

  t.test('calls work without a prior initialize, on any replica', async t => {
    const response = await post(server.url, { jsonrpc: '2.0', id: 7, method: 'tools/list' }, { 'mcp-protocol-version': '2025-11-25' })
    t.equal(response.status, 200)
    t.match(response.headers.get('content-type'), /^application\/json/)
    t.equal(response.json.id, 7)
    t.equal(response.json.result.tools.length, TOOL_NAMES.length)
  })

  t.test('notifications are accepted with 202 and no body', async t => {
    const response = await post(server.url, { jsonrpc: '2.0', method: 'notifications/initialized' })
    t.equal(response.status, 202)
    t.equal(response.text, '')
  })

  t.test('modern requests carry _meta and Mcp-Method headers and get JSON', async t => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {}
    }
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'health_check' }
    const response = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'health_check', arguments: {}, _meta: meta } }, headers)
    t.equal(response.status, 200)
    t.match(response.headers.get('content-type'), /^application\/json/)
    t.equal(response.json.result.structuredContent.status, 'healthy')

    const discover = await post(server.url, { jsonrpc: '2.0', id: 4, method: 'server/discover', params: { _meta: meta } }, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' })
    t.equal(discover.status, 200)
    t.ok(discover.json.result.supportedVersions.includes('2026-07-28'))

    const mismatch = await post(server.url, { jsonrpc: '2.0', id: 5, method: 'tools/list', params: { _meta: meta } }, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' })
    t.equal(mismatch.status, 400, 'an Mcp-Method header that contradicts the body is refused')
    t.equal(mismatch.json.error.code, -32020)
  })

  t.test('GET and DELETE answer 405', async t => {
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(server.url, { method, headers: { accept: 'application/json, text/event-stream' } })
      t.equal(response.status, 405, `${method} /mcp`)
      t.equal(response.headers.get('allow'), 'POST')
      const body = await response.json() as { error: { message: string } }
      t.match(body.error.message, /POST only/)
    }
    await stillServes(t, server)
  })
})

t.test('bad requests', async t => {
  const server = await startTestServer(t, { MCP_MAX_REQUEST_BYTES: 4096 })

  t.test('malformed JSON is a JSON-RPC parse error', async t => {
    const response = await post(server.url, '{"jsonrpc": "2.0", "id": 1, "method": ')
    t.equal(response.status, 400)
    t.equal(response.json.jsonrpc, '2.0')
    t.equal(response.json.error.code, -32700)
    t.match(response.json.error.message, /not valid JSON/)
    noInternals(t, response.text)
    await stillServes(t, server)
  })

  t.test('an empty body is a parse error', async t => {
    const response = await post(server.url, '')
    t.equal(response.status, 400)
    t.equal(response.json.error.code, -32700)
  })

  t.test('prototype-poisoning JSON is refused, saying why', async t => {
    const response = await post(server.url, '{"jsonrpc":"2.0","id":1,"method":"tools/list","__proto__":{"polluted":true}}')
    t.equal(response.status, 400)
    t.equal(response.json.error.code, -32700)
    t.match(response.json.error.message, /"__proto__" key .* refused \(prototype poisoning\)/)
    t.equal(({} as Record<string, unknown>).polluted, undefined)
    // Found by the fuzzer (FUZZ_SEED=193906546): a tool argument named "constructor" holding "prototype" was
    // refused as "not valid JSON", which it is; the answer now says what the parser refused.
    const nested = await post(server.url, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_dashboard_layout', arguments: { identifier: 'Sales Overview', constructor: { prototype: 'x' } } } }))
    t.equal(nested.status, 400)
    t.equal(nested.json.error.code, -32700)
    t.match(nested.json.error.message, /"constructor" object with a "prototype" key/)
    t.notMatch(nested.json.error.message, /not valid JSON/)
    const plain = await post(server.url, '{"jsonrpc":"2.0","id":3,"method":"tools/list"')
    t.match(plain.json.error.message, /not valid JSON/, 'truncated JSON is still "not valid JSON"')
    await stillServes(t, server)
  })

  t.test('a non-JSON content type gets 415', async t => {
    const response = await post(server.url, 'method=tools/list', { 'content-type': 'application/x-www-form-urlencoded' })
    t.equal(response.status, 415)
    t.match(response.json.error.message, /application\/json/)
    await stillServes(t, server)
  })

  t.test('an Accept header without both JSON and SSE gets 406', async t => {
    const response = await post(server.url, INITIALIZE, { accept: 'text/html' })
    t.equal(response.status, 406)
    t.ok(response.json.error, 'a JSON-RPC error body')
    await stillServes(t, server)
  })

  t.test('batches and non-JSON-RPC bodies are invalid requests', async t => {
    const batch = await post(server.url, [INITIALIZE, { jsonrpc: '2.0', id: 2, method: 'tools/list' }])
    t.equal(batch.status, 400)
    t.equal(batch.json.error.code, -32600)
    t.match(batch.json.error.message, /batches are not supported/)

    for (const body of [{ hello: 'world' }, 42, 'just a string', null, { jsonrpc: '1.0', id: 1, method: 'tools/list' }]) {
      const response = await post(server.url, JSON.stringify(body))
      t.equal(response.status, 400, `${JSON.stringify(body)} is refused`)
      t.equal(response.json.error.code, -32600)
    }
    await stillServes(t, server)
  })

  t.test('an unknown method is -32601', async t => {
    const response = await post(server.url, { jsonrpc: '2.0', id: 9, method: 'tools/destroy' })
    t.equal(response.json.error.code, -32601)
    t.equal(response.json.id, 9)
  })

  t.test('an unknown tool is -32602', async t => {
    const response = await post(server.url, toolCall('drop_database', {}, 10))
    t.equal(response.json.error.code, -32602)
    t.match(response.json.error.message, /Unknown tool: drop_database/)
  })

  t.test('tool arguments that are not an object are a tool error', async t => {
    const response = await post(server.url, toolCall('list_charts', [1, 2, 3]))
    t.ok(response.json.error !== undefined || response.json.result?.isError === true, 'refused')
    await stillServes(t, server)
  })

  t.test('a body over MCP_MAX_REQUEST_BYTES gets 413', async t => {
    const response = await post(server.url, toolCall('execute_sql', { database_id: 1, sql: `SELECT '${'x'.repeat(10_000)}'` }))
    t.equal(response.status, 413)
    t.match(response.json.error.message, /too large: the limit is 4096 bytes/)
    noInternals(t, response.text)
    await stillServes(t, server)
  })

  t.test('unknown routes are a JSON 404', async t => {
    const response = await fetch(new URL('/nope', server.url))
    t.equal(response.status, 404)
    const body = await response.json() as { message: string }
    t.match(body.message, /POST \/mcp/)
  })
})
