import { CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY } from '@modelcontextprotocol/server'
import type { CallToolResult, ListToolsResult } from '@modelcontextprotocol/server'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * The plain requests clients send most — tools/list, and tools/call without progress — answered
 * without a per-request SDK server, transport and web Request/Response, which were most of what
 * such a call cost. "Plain" is narrow on purpose: supported version headers, an Accept the SDK
 * accepts, no cursor, no _meta beyond the 2026-07-28 envelope, Mcp-Method/Mcp-Name headers that
 * agree with the body, a known tool. Everything else goes to the SDK, so its validation and its
 * errors stay the protocol's. Each answer is the SDK's (test/plain-requests.test.ts sends every
 * kind both ways and compares).
 */
export type Era = 'legacy' | 'modern'

export type PlainRequest =
  | { method: 'tools/list', era: Era, id: string | number }
  | { method: 'tools/call', era: Era, id: string | number, name: string, arguments: Record<string, unknown> | undefined }

const MODERN_VERSION = '2026-07-28'
const LEGACY_VERSIONS = new Set(['2025-11-25', '2025-06-18'])
const MODERN_META_KEYS = new Set([PROTOCOL_VERSION_META_KEY, CLIENT_INFO_META_KEY, CLIENT_CAPABILITIES_META_KEY])
const ENVELOPE_KEYS = new Set(['jsonrpc', 'id', 'method', 'params'])
const LIST_PARAMS = new Set(['_meta'])
const CALL_PARAMS = new Set(['name', 'arguments', '_meta'])

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function onlyKeys (value: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const key of Object.keys(value)) if (!allowed.has(key)) return false
  return true
}

function header (headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return typeof value === 'string' ? value : undefined
}

/** The era a request's headers and _meta put it in, when they are the plain ones; undefined otherwise. */
function plainEra (meta: unknown, method: string, headers: IncomingHttpHeaders): Era | undefined {
  if (meta !== undefined && !isPlainObject(meta)) return undefined
  const version = header(headers, 'mcp-protocol-version')
  if (version === MODERN_VERSION) {
    if (header(headers, 'mcp-method') !== method || meta === undefined || !onlyKeys(meta, MODERN_META_KEYS)) return undefined
    const info = meta[CLIENT_INFO_META_KEY]
    const plain = meta[PROTOCOL_VERSION_META_KEY] === MODERN_VERSION && isPlainObject(meta[CLIENT_CAPABILITIES_META_KEY]) &&
      isPlainObject(info) && typeof info.name === 'string' && typeof info.version === 'string'
    return plain ? 'modern' : undefined
  }
  if (version !== undefined && LEGACY_VERSIONS.has(version) && (meta === undefined || Object.keys(meta).length === 0)) return 'legacy'
  return undefined
}

/** The request, when it is one of the plain ones; undefined: the SDK answers it. */
export function plainRequest (body: Record<string, unknown>, headers: IncomingHttpHeaders): PlainRequest | undefined {
  const { id, method, params } = body
  if (method !== 'tools/list' && method !== 'tools/call') return undefined
  if (!onlyKeys(body, ENVELOPE_KEYS)) return undefined
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isSafeInteger(id))) return undefined
  const accept = header(headers, 'accept')
  if (accept === undefined || !accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined
  if (params !== undefined && !isPlainObject(params)) return undefined
  const era = plainEra(params?._meta, method, headers)
  if (era === undefined) return undefined
  if (method === 'tools/list') return params === undefined || onlyKeys(params, LIST_PARAMS) ? { method, era, id } : undefined
  if (params === undefined || !onlyKeys(params, CALL_PARAMS) || typeof params.name !== 'string') return undefined
  const args = params.arguments
  if (args !== undefined && !isPlainObject(args)) return undefined
  if (era === 'modern' && header(headers, 'mcp-name') !== params.name) return undefined
  return { method, era, id, name: params.name, arguments: args }
}

export interface PlainAnswerOptions {
  serverInfo: { name: string, title: string, version: string }
  /** MCP_CACHE_CONFIG.list_tools_ttl in ms: the modern era's cache hint on tools/list. */
  listTtlMs: number
}

/** The JSON-RPC answers to plain requests, as the SDK's server would write them. */
export class PlainAnswers {
  private readonly options: PlainAnswerOptions
  /** Per listing (one per permission set, owned by the Toolset) and era: the serialised result. */
  private readonly lists = new WeakMap<ListToolsResult['tools'], { legacy?: string, modern?: string }>()

  constructor (options: PlainAnswerOptions) {
    this.options = options
  }

  toolsList (listing: ListToolsResult, era: Era, id: string | number): string {
    let entry = this.lists.get(listing.tools)
    if (entry === undefined) {
      entry = {}
      this.lists.set(listing.tools, entry)
    }
    let result = entry[era]
    if (result === undefined) {
      result = JSON.stringify(era === 'legacy'
        ? { tools: listing.tools }
        : { tools: listing.tools, resultType: 'complete', ttlMs: this.options.listTtlMs, cacheScope: 'private', _meta: { [SERVER_INFO_META_KEY]: this.options.serverInfo } })
      entry[era] = result
    }
    return envelope(result, id)
  }

  /**
   * A tools/call result. Our tools' output schemas and structured results are objects, so the
   * SDK's projection (wrapping non-object structured content) leaves them as they are; the
   * modern era adds the server's identity to _meta and resultType.
   */
  toolsCall (result: CallToolResult, era: Era, id: string | number): string {
    const structured = result.structuredContent
    if (structured !== undefined && !isPlainObject(structured)) throw new Error('a tool returned non-object structuredContent')
    if (era === 'legacy') return envelope(JSON.stringify(result), id)
    const { _meta: meta, ...rest } = result
    return envelope(JSON.stringify({ _meta: { ...meta, [SERVER_INFO_META_KEY]: this.options.serverInfo }, ...rest, resultType: 'complete' }), id)
  }
}

function envelope (result: string, id: string | number): string {
  return `{"result":${result},"jsonrpc":"2.0","id":${JSON.stringify(id)}}`
}
