import fc from 'fast-check'
import type { Arbitrary } from 'fast-check'
import { encodeArguments, hostileValue } from './arbitraries.ts'
import type { Answer, Principal } from './http.ts'
import { leaksIn, MODERN_META, rpc } from './http.ts'

/**
 * JSON-RPC envelopes for POST /mcp: served methods with valid params, params broken in one
 * place, params of the wrong shape (those must be -32602), other protocol methods, and unknown
 * methods (those must be -32601), with odd ids, in both protocol eras.
 */

/** Methods the service serves (in the 2025 era): bad params of these are -32602. */
const SERVED_METHODS = ['initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/read', 'resources/templates/list', 'prompts/list', 'prompts/get', 'completion/complete']
/** Methods of the protocol whose answer depends on the era and capabilities: any well-formed answer. */
const OTHER_METHODS = ['server/discover', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'sampling/createMessage', 'roots/list', 'elicitation/create', 'tasks/get', 'tasks/list']
const UNKNOWN_METHODS = ['tools/delete', 'tools', 'TOOLS/LIST', 'tools/list ', ' ping', 'rpc.discover', 'admin/shutdown', 'constructor', '__proto__', 'toString', 'hasOwnProperty', '', '/', 'tools/call/x', 'resources/read\u0000', 'ping\n']

export interface EnvelopeSurface {
  prompts: string[]
  templates: string[]
}

export interface EnvelopeMessage {
  body: string
  headers: Record<string, string>
  /** What the answer must be, when the message says so: -32601 (unknown method) or -32602 (bad params). */
  expect?: 'method_not_found' | 'invalid_params' | undefined
}

export async function envelopeSurface (admin: Principal): Promise<EnvelopeSurface> {
  const prompts = (await rpc(admin, 'prompts/list', {})).result.prompts as Array<{ name: string }>
  const templates = (await rpc(admin, 'resources/templates/list', {})).result.resourceTemplates as Array<{ uriTemplate: string }>
  return { prompts: prompts.map(prompt => prompt.name), templates: templates.map(template => template.uriTemplate) }
}

/** Params that a served method accepts (before one value of them is broken). */
function validParams (method: string, surface: EnvelopeSurface): Arbitrary<Record<string, unknown>> {
  const uri = fc.constantFrom('instance://metadata', 'dataset://orders', 'dataset://1', 'chart://1', 'dashboard://sales-overview', 'database://examples', 'ui://analytics-mcp/chart-viewer.html', 'dataset://nope', 'nope://x')
  switch (method) {
    case 'initialize': return fc.record({ protocolVersion: fc.constantFrom('2025-11-25', '2025-06-18', '2024-11-05', '1999-01-01'), capabilities: fc.constant({}), clientInfo: fc.constant({ name: 'fuzz', version: '1' }) })
    case 'tools/call': return fc.record({ name: fc.constantFrom('health_check', 'list_charts', 'get_chart_info', 'nope'), arguments: fc.constantFrom({}, { identifier: 1 }) })
    case 'tools/list': case 'resources/list': case 'resources/templates/list': case 'prompts/list':
      return fc.record({ cursor: fc.constantFrom('', 'abc', '1') }, { requiredKeys: [] })
    case 'resources/read': return fc.record({ uri })
    case 'prompts/get': return fc.record({ name: fc.constantFrom(...surface.prompts, 'nope'), arguments: fc.constantFrom({}, { dataset: 'orders' }, { chart_type: 'pie' }) }, { requiredKeys: ['name'] })
    case 'completion/complete': return fc.oneof(
      fc.record({ ref: fc.constantFrom(...surface.prompts.map(name => ({ type: 'ref/prompt', name })), { type: 'ref/prompt', name: 'nope' }), argument: fc.record({ name: fc.constantFrom('dataset', 'chart_type', 'user_type', 'nope'), value: fc.constantFrom('', 'or', 'x') }) }),
      fc.record({ ref: fc.constantFrom(...surface.templates.map(template => ({ type: 'ref/resource', uri: template })), { type: 'ref/resource', uri: 'nope://{x}' }), argument: fc.record({ name: fc.constantFrom('identifier', 'nope'), value: fc.constantFrom('', 'or', '1') }) })
    )
    default: return fc.constant({})
  }
}

/** Params of a served method with the field the method needs given the wrong type (or left out). */
function invalidParams (method: string): Arbitrary<unknown> | undefined {
  const wrong = fc.constantFrom<unknown>(5, -1, true, null, [], ['x'], {}, { a: 1 })
  const wrongString = fc.constantFrom<unknown>(5, true, [], {}, ['x'])
  switch (method) {
    case 'initialize': return fc.oneof(fc.constant(undefined), fc.record({ protocolVersion: wrongString, capabilities: fc.constant({}), clientInfo: fc.constant({ name: 'fuzz', version: '1' }) }), fc.record({ protocolVersion: fc.constant('2025-11-25'), capabilities: wrong.filter(value => value !== null && typeof value !== 'object'), clientInfo: fc.constant({ name: 'fuzz', version: '1' }) }))
    case 'tools/list': case 'resources/list': case 'resources/templates/list': case 'prompts/list': return fc.record({ cursor: wrongString })
    case 'tools/call': return fc.oneof(fc.constant({}), fc.record({ name: wrongString }), fc.record({ name: fc.constant('health_check'), arguments: fc.constantFrom<unknown>(5, 'x', true, [1]) }))
    case 'resources/read': return fc.oneof(fc.constant({}), fc.record({ uri: wrongString }))
    case 'prompts/get': return fc.oneof(fc.constant({}), fc.record({ name: wrongString }))
    case 'completion/complete': return fc.oneof(fc.constant({}), fc.record({ ref: wrong, argument: fc.constant({ name: 'x', value: '' }) }), fc.record({ ref: fc.constant({ type: 'ref/prompt', name: 'quickstart' }), argument: wrong }))
    default: return undefined
  }
}

const HEADER_SAFE = /^[\x21-\x7e]{1,200}$/
/** Which body field the 2026-07-28 Mcp-Name header mirrors. */
const MCP_NAME_SOURCE: Readonly<Record<string, string>> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' }

/** One POST /mcp body: a served, other or unknown method, with valid, broken or wrong-typed params and ids. */
export function envelopeMessage (surface: EnvelopeSurface): Arbitrary<EnvelopeMessage> {
  const id = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 1_000_000 }), weight: 8 }, { arbitrary: fc.constantFrom<unknown>('fuzz-1', '', 0, -1), weight: 2 }, { arbitrary: fc.constantFrom<unknown>(null, 1.5, {}, [], true, undefined), weight: 1 })
  const served = fc.constantFrom(...SERVED_METHODS).chain(method => fc.oneof(
    { arbitrary: validParams(method, surface).map(params => ({ method, params, expect: undefined })), weight: 3 },
    {
      arbitrary: fc.tuple(validParams(method, surface), fc.nat(), hostileValue).map(([params, index, value]) => {
        const keys = Object.keys(params)
        return { method, params: keys.length === 0 ? { cursor: value } : { ...params, [keys[index % keys.length] as string]: value }, expect: undefined }
      }),
      weight: 3
    },
    ...(invalidParams(method) === undefined ? [] : [{ arbitrary: (invalidParams(method) as Arbitrary<unknown>).map(params => ({ method, params, expect: 'invalid_params' as const })), weight: 3 }]),
    { arbitrary: fc.constantFrom<unknown>(5, 'x', true).map(params => ({ method, params, expect: undefined })), weight: 1 }
  ))
  const other = fc.tuple(fc.constantFrom(...OTHER_METHODS), fc.constantFrom<unknown>(undefined, {}, { level: 'debug' }, { uri: 'instance://metadata' }, { requestId: 1 }, 5)).map(([method, params]) => ({ method, params, expect: undefined }))
  const unknown = fc.tuple(fc.oneof(fc.constantFrom(...UNKNOWN_METHODS), fc.string({ maxLength: 20 }).filter(name => !SERVED_METHODS.includes(name) && !OTHER_METHODS.includes(name))), fc.constantFrom<unknown>(undefined, {}, { name: 'health_check' }))
    .map(([method, params]) => ({ method, params, expect: 'method_not_found' as const }))
  return fc.tuple(fc.oneof({ arbitrary: served, weight: 6 }, { arbitrary: other, weight: 1 }, { arbitrary: unknown, weight: 2 }), id, fc.boolean())
    .map(([{ method, params, expect }, requestId, modern]) => {
      const withMeta = modern && params !== null && typeof params === 'object' && !Array.isArray(params) ? { ...params, _meta: MODERN_META } : params
      const message: Record<string, unknown> = { jsonrpc: '2.0', method, ...(requestId === undefined ? {} : { id: requestId }), ...(withMeta === undefined ? {} : { params: withMeta }) }
      // The 2026-07-28 headers mirror the body where they can (a header cannot carry every string).
      const named = (params as Record<string, unknown> | undefined)?.[MCP_NAME_SOURCE[method] ?? '']
      const headers: Record<string, string> = modern
        ? { 'mcp-protocol-version': '2026-07-28', ...(HEADER_SAFE.test(method) ? { 'mcp-method': method } : {}), ...(typeof named === 'string' && HEADER_SAFE.test(named) ? { 'mcp-name': named } : {}) }
        : {}
      // Only a 2025-era request with a usable id is held to a code: the 2026 transport checks its
      // headers and _meta first, and answers those problems in its own words.
      const usableId = typeof requestId === 'string' || Number.isInteger(requestId)
      return { body: encodeArguments(message), headers, expect: usableId && !modern ? expect : undefined }
    })
}

/** What is wrong with the answer to one envelope message (empty: nothing). */
export function envelopeProblems (message: EnvelopeMessage, answer: Answer): string[] {
  const problems = leaksIn(answer.text)
  if (answer.status >= 500) return [...problems, `HTTP ${answer.status}`]
  if (answer.status === 202) return answer.text === '' ? problems : [...problems, 'a 202 with a body']
  const body = answer.json
  // The 2026-07-28 transport answers an unknown method with 404.
  const modernNotFound = answer.status === 404 && message.headers['mcp-protocol-version'] === '2026-07-28' && body?.error?.code === -32601
  if (![200, 400].includes(answer.status) && !modernNotFound) problems.push(`HTTP ${answer.status}, not 200, 202 or 400`)
  if (body === undefined || body.jsonrpc !== '2.0') return [...problems, 'the body is not a JSON-RPC message']
  if (body.error === undefined) {
    if (body.result === undefined) problems.push('neither a result nor an error')
    else if (message.expect !== undefined) problems.push(`a result, where ${message.expect === 'method_not_found' ? '-32601' : '-32602'} was due`)
    return problems
  }
  const code = body.error.code as unknown
  if (!Number.isInteger(code)) problems.push('the JSON-RPC error has no integer code')
  if (code === -32603) problems.push('a JSON-RPC internal error (-32603)')
  if (typeof body.error.message !== 'string' || body.error.message === '') problems.push('the JSON-RPC error has no message')
  if (message.expect === 'method_not_found' && code !== -32601) problems.push(`error ${String(code)}, not -32601, for an unknown method`)
  if (message.expect === 'invalid_params' && code !== -32602) problems.push(`error ${String(code)}, not -32602, for bad params of a served method`)
  return problems
}
