import { CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY } from '@modelcontextprotocol/server'
import type { ListToolsResult } from '@modelcontextprotocol/server'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * tools/list answered from a serialised copy. The list depends only on the caller's permission
 * set, and re-serialising its ~90 KB through a per-request SDK server and web Response was most
 * of what a tools/list cost. Only the plain request every client sends is answered here (no
 * cursor, no extra _meta, supported version headers, an Accept the SDK would accept); anything
 * else goes to the SDK, so its validation and errors stay the protocol's. The answer is the
 * SDK's, byte for byte in content (test/tool-list-answers.test.ts compares the two).
 */
export type Era = 'legacy' | 'modern'

const MODERN_VERSION = '2026-07-28'
const LEGACY_VERSIONS = new Set(['2025-11-25', '2025-06-18'])
const MODERN_META_KEYS = new Set([PROTOCOL_VERSION_META_KEY, CLIENT_INFO_META_KEY, CLIENT_CAPABILITIES_META_KEY])
const ENVELOPE_KEYS = new Set(['jsonrpc', 'id', 'method', 'params'])

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

/** A plain tools/list that can be answered from the serialised copy: its era and id; undefined: the SDK answers. */
export function plainToolsList (body: Record<string, unknown>, headers: IncomingHttpHeaders): { era: Era, id: string | number } | undefined {
  const id = body.id
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isSafeInteger(id))) return undefined
  const era = plainToolsListEra(body, headers)
  return era === undefined ? undefined : { era, id }
}

function plainToolsListEra (body: Record<string, unknown>, headers: IncomingHttpHeaders): Era | undefined {
  if (body.method !== 'tools/list' || !onlyKeys(body, ENVELOPE_KEYS)) return undefined
  const accept = header(headers, 'accept')
  if (accept === undefined || !accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined
  const params = body.params
  if (params !== undefined && (!isPlainObject(params) || !onlyKeys(params, new Set(['_meta'])))) return undefined
  const meta = params?._meta
  if (meta !== undefined && !isPlainObject(meta)) return undefined
  const version = header(headers, 'mcp-protocol-version')
  if (version === MODERN_VERSION) {
    if (header(headers, 'mcp-method') !== 'tools/list' || meta === undefined || !onlyKeys(meta, MODERN_META_KEYS)) return undefined
    const info = meta[CLIENT_INFO_META_KEY]
    const plain = meta[PROTOCOL_VERSION_META_KEY] === MODERN_VERSION && isPlainObject(meta[CLIENT_CAPABILITIES_META_KEY]) &&
      isPlainObject(info) && typeof info.name === 'string' && typeof info.version === 'string'
    return plain ? 'modern' : undefined
  }
  if (version !== undefined && LEGACY_VERSIONS.has(version) && (meta === undefined || Object.keys(meta).length === 0)) return 'legacy'
  return undefined
}

export interface ToolListAnswerOptions {
  serverInfo: { name: string, title: string, version: string }
  /** MCP_CACHE_CONFIG.list_tools_ttl in ms: the modern era's cache hint. */
  ttlMs: number
}

export class ToolListAnswers {
  private readonly options: ToolListAnswerOptions
  /** Per listing (one per permission set, owned by the Toolset) and era: the serialised result. */
  private readonly serialised = new WeakMap<ListToolsResult['tools'], { legacy?: string, modern?: string }>()

  constructor (options: ToolListAnswerOptions) {
    this.options = options
  }

  /** The whole JSON-RPC response body for `listing`, in the SDK's key order. */
  answer (listing: ListToolsResult, era: Era, id: string | number): string {
    let entry = this.serialised.get(listing.tools)
    if (entry === undefined) {
      entry = {}
      this.serialised.set(listing.tools, entry)
    }
    let result = entry[era]
    if (result === undefined) {
      result = JSON.stringify(era === 'legacy'
        ? { tools: listing.tools }
        : { tools: listing.tools, resultType: 'complete', ttlMs: this.options.ttlMs, cacheScope: 'private', _meta: { [SERVER_INFO_META_KEY]: this.options.serverInfo } })
      entry[era] = result
    }
    return `{"result":${result},"jsonrpc":"2.0","id":${JSON.stringify(id)}}`
  }
}
