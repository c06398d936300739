import t from 'tap'
import type { Test } from 'tap'
import { specTypeSchemas } from '@modelcontextprotocol/server'
import { CHECKED_METHODS, invalidParamsMessage } from '../src/mcp/request-params.ts'
import { startTestServer } from './helpers/app.ts'
import type { RunningServer } from './helpers/app.ts'
import type { Era } from './helpers/client.ts'
import { post } from './helpers/rpc.ts'
import type { RawResponse } from './helpers/rpc.ts'

// Requests whose params do not match the MCP schema are the client's mistake: -32602 Invalid
// params with a message that names the field, in both protocol eras, for every request method
// the SDK knows; never -32603, never the zod issue list.

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {}
}

/** The SDK's own list of client requests, read independently of the code under test. */
const SDK_METHODS = ((specTypeSchemas.ClientRequest as unknown as { options: Array<{ shape: { method: { value: string } } }> }).options)
  .map(option => option.shape.method.value)

let nextId = 1

/** One request as a client of `era` sends it: 2026-07-28 requests carry the envelope and headers. */
async function send (server: RunningServer, era: Era, method: string, params: unknown): Promise<RawResponse> {
  const id = nextId++
  if (era === 'legacy') return await post(server.url, { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) })
  const body = params !== null && typeof params === 'object' && !Array.isArray(params) ? params as Record<string, unknown> : {}
  const name = [body.name, body.uri].find(value => typeof value === 'string')
  const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(typeof name === 'string' ? { 'mcp-name': name } : {}) }
  return await post(server.url, { jsonrpc: '2.0', id, method, params: { ...body, _meta: { ...META, ...(body._meta as object | undefined) } } }, headers)
}

/**
 * Wrong shapes of each method's params, and what the message must name. A bad `_meta` is
 * caught earlier, by the JSON-RPC message check (-32600), for every method.
 */
const WRONG: Record<string, Array<{ params: unknown, names: RegExp, code?: number }>> = {
  initialize: [
    { params: undefined, names: /params\.protocolVersion is required \(a string\)/ },
    { params: { protocolVersion: 5, capabilities: {}, clientInfo: { name: 'raw', version: '1' } }, names: /params\.protocolVersion must be a string, not an integer/ },
    { params: { protocolVersion: '2025-11-25', capabilities: [], clientInfo: 'raw' }, names: /params\.capabilities must be an object, not an array; params\.clientInfo must be an object, not a string/ }
  ],
  ping: [{ params: { _meta: { progressToken: { nested: true } } }, names: /not a valid JSON-RPC message/, code: -32600 }],
  'server/discover': [{ params: { _meta: { progressToken: [1] } }, names: /not a valid JSON-RPC message/, code: -32600 }],
  'completion/complete': [
    { params: { ref: 5, argument: { name: 'dataset', value: 'o' } }, names: /params\.ref must be an object, not an integer/ },
    { params: { ref: { type: 'ref/unknown' }, argument: { name: 'dataset', value: 'o' } }, names: /params\.ref\.type must be one of "ref\/prompt", "ref\/resource"/ },
    { params: { ref: { type: 'ref/prompt', name: 'create_chart_guided' } }, names: /params\.argument is required \(an object\)/ }
  ],
  'logging/setLevel': [{ params: { level: 'loud' }, names: /params\.level must be one of "debug"/ }],
  'prompts/get': [
    { params: { name: 5 }, names: /params\.name must be a string, not an integer/ },
    { params: { name: 'create_chart_guided', arguments: { dataset: 5 } }, names: /params\.arguments\.dataset must be a string, not an integer/ }
  ],
  'prompts/list': [{ params: { cursor: 5 }, names: /params\.cursor must be a string, not an integer/ }],
  'resources/list': [{ params: { cursor: false }, names: /params\.cursor must be a string, not a boolean/ }],
  'resources/templates/list': [{ params: { cursor: {} }, names: /params\.cursor must be a string, not an object/ }],
  'resources/read': [
    { params: { uri: 5 }, names: /params\.uri must be a string, not an integer/ },
    { params: {}, names: /params\.uri is required \(a string\)/ }
  ],
  'resources/subscribe': [{ params: { uri: 5 }, names: /params\.uri must be a string/ }],
  'resources/unsubscribe': [{ params: {}, names: /params\.uri is required/ }],
  'subscriptions/listen': [{ params: {}, names: /notifications/ }],
  'tools/call': [
    { params: { name: 5 }, names: /params\.name must be a string, not an integer/ },
    { params: {}, names: /params\.name is required \(a string\)/ },
    { params: { name: 'health_check', arguments: 'none' }, names: /params\.arguments must be an object, not a string/ }
  ],
  'tools/list': [{ params: { cursor: 5 }, names: /params\.cursor must be a string, not an integer/ }]
}

/** A correct request of each method this server serves, per era. */
const RIGHT: Record<string, { eras: readonly Era[], params: unknown, result: (result: any) => boolean }> = {
  initialize: { eras: ['legacy'], params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } }, result: result => result.protocolVersion === '2025-11-25' },
  ping: { eras: ['legacy'], params: undefined, result: result => typeof result === 'object' },
  'server/discover': { eras: ['modern'], params: {}, result: result => Array.isArray(result.supportedVersions) },
  'completion/complete': { eras: ['legacy', 'modern'], params: { ref: { type: 'ref/prompt', name: 'create_chart_guided' }, argument: { name: 'dataset', value: 'o' } }, result: result => Array.isArray(result.completion.values) },
  'prompts/get': { eras: ['legacy', 'modern'], params: { name: 'create_chart_guided', arguments: {} }, result: result => Array.isArray(result.messages) },
  'prompts/list': { eras: ['legacy', 'modern'], params: {}, result: result => Array.isArray(result.prompts) },
  'resources/list': { eras: ['legacy', 'modern'], params: {}, result: result => Array.isArray(result.resources) },
  'resources/templates/list': { eras: ['legacy', 'modern'], params: {}, result: result => Array.isArray(result.resourceTemplates) },
  'resources/read': { eras: ['legacy', 'modern'], params: { uri: 'instance://metadata' }, result: result => Array.isArray(result.contents) },
  'tools/call': { eras: ['legacy', 'modern'], params: { name: 'health_check', arguments: {} }, result: result => result.structuredContent?.status === 'healthy' },
  'tools/list': { eras: ['legacy', 'modern'], params: {}, result: result => Array.isArray(result.tools) }
}

function noZodDump (t: Test, response: RawResponse): void {
  t.notMatch(response.text, /ZodError|"issues"|\\"code\\":\s*\\"invalid_type|"code":"invalid_type"|invalid_union|Invalid input:/, 'no zod issue list in the answer')
  t.notMatch(response.text, /\.ts:\d+|at \w+ \(|node_modules/, 'no stack trace')
}

t.test('every request method of the SDK is checked, with a case here', async t => {
  t.ok(SDK_METHODS.length >= 15, `the SDK lists ${SDK_METHODS.length} client requests`)
  t.same([...CHECKED_METHODS].sort(), [...SDK_METHODS].sort(), 'request-params checks exactly the SDK\'s request set')
  for (const method of SDK_METHODS) t.ok(WRONG[method] !== undefined, `${method} has wrong-shape cases in this test`)
})

t.test('wrong params are -32602 naming the field, in both eras', async t => {
  const server = await startTestServer(t)
  for (const era of ['legacy', 'modern'] as const) {
    for (const method of SDK_METHODS) {
      const served = RIGHT[method]?.eras.includes(era) ?? false
      for (const { params, names, code = -32602 } of WRONG[method] ?? []) {
        const label = `${era} ${method} ${JSON.stringify(params) ?? '(no params)'}`
        const response = await send(server, era, method, params)
        t.not(response.json?.error?.code, -32603, `${label}: not an internal error`)
        noZodDump(t, response)
        if (response.json?.error?.code === -32601) {
          t.notOk(served, `${label}: -32601 only for a method this server does not serve in this era`)
          continue
        }
        t.equal(response.json?.error?.code, code, `${label}: ${code}`)
        t.match(response.json?.error?.message, names, `${label}: ${String(response.json?.error?.message)}`)
        t.equal(response.json?.id, nextId - 1, `${label}: answers the request id`)
      }
    }
  }
})

t.test('the defects the red team found', async t => {
  const server = await startTestServer(t)
  const initialize = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'initialize' })
  t.same(initialize.json, { jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'Invalid params for initialize: params.protocolVersion is required (a string); params.capabilities is required (an object); params.clientInfo is required (an object)' } })
  const list = await post(server.url, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { cursor: 5 } })
  t.same(list.json.error, { code: -32602, message: 'Invalid params for tools/list: params.cursor must be a string, not an integer' })
  const read = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'resources/read', params: { uri: 5 } })
  t.same(read.json.error, { code: -32602, message: 'Invalid params for resources/read: params.uri must be a string, not an integer' })
})

t.test('correct requests still work, in both eras', async t => {
  const server = await startTestServer(t)
  for (const [method, { eras, params, result }] of Object.entries(RIGHT)) {
    for (const era of eras) {
      const response = await send(server, era, method, params)
      t.equal(response.status, 200, `${era} ${method}: 200`)
      t.ok(response.json?.result !== undefined && result(response.json.result), `${era} ${method}: a result (${response.text.slice(0, 200)})`)
    }
  }
})

t.test('unknown methods stay -32601', async t => {
  const server = await startTestServer(t)
  for (const era of ['legacy', 'modern'] as const) {
    const response = await send(server, era, 'tools/destroy', { cursor: 5 })
    t.equal(response.json?.error?.code, -32601, `${era}: -32601`)
  }
})

t.test('a fuzzed batch of params never gets -32603', async t => {
  const server = await startTestServer(t)
  const values: unknown[] = [5, -1.5, '', 'x', true, null, [], [1, 'a'], {}, { a: 1 }]
  const fields = ['cursor', 'uri', 'name', 'arguments', 'ref', 'argument', 'protocolVersion', 'capabilities', 'clientInfo', 'level', '_meta']
  let seed = 7
  const pick = <T>(list: readonly T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return list[seed % list.length] as T
  }
  for (let i = 0; i < 300; i++) {
    const method = pick(SDK_METHODS)
    const params: Record<string, unknown> = { ...(RIGHT[method]?.params as object | undefined) }
    params[pick(fields)] = pick(values)
    const era = pick(['legacy', 'modern'] as const)
    const response = await send(server, era, method, params)
    if (response.json?.error === undefined) continue
    t.not(response.json.error.code, -32603, `${era} ${method} ${JSON.stringify(params)}: ${String(response.json.error.message)}`)
    noZodDump(t, response)
  }
})

t.test('messages stay short when a client sends long keys', async t => {
  const message = invalidParamsMessage('tools/call', { name: 'x', arguments: {}, _meta: { progressToken: { ['k'.repeat(5000)]: 1 } } }) ?? ''
  t.ok(message.length <= 600, `${message.length} characters`)
  t.equal(invalidParamsMessage('tools/call', { name: 'x' }), undefined, 'valid params: no message')
  t.equal(invalidParamsMessage('x/unknown', 5), undefined, 'a method the SDK does not know is not judged here')
})
