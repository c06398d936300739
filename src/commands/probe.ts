import { SERVICE_VERSION } from '../version.ts'
import { parse, UsageError } from './common.ts'
import type { CliIo } from './common.ts'

/**
 * `analytics-mcp probe URL`: the check a container HEALTHCHECK, a smoke test or an operator runs
 * against a live server. It speaks MCP the way a client does (initialize, notifications/initialized,
 * tools/list over Streamable HTTP) with nothing but fetch, so it runs in the production image.
 */

export const PROBE_USAGE = `  analytics-mcp probe URL [--token TOKEN] [--timeout SECONDS]
                                                            check a running server (MCP initialize + tools/list);
                                                            the token may come from MCP_PROBE_TOKEN instead`

/** The protocol version the probe asks for; the server may answer with another it supports. */
export const PROBE_PROTOCOL_VERSION = '2025-11-25'

const DEFAULT_TIMEOUT_SECONDS = 5
/** tools/list pages followed at most: a server that keeps handing out cursors is broken. */
const MAX_PAGES = 100

/** Why the probe failed, in one line that names no secret. */
class ProbeFailure extends Error {}

interface JsonRpcResponse {
  id?: unknown
  result?: Record<string, unknown>
  error?: { code?: unknown, message?: unknown }
}

interface Session {
  url: URL
  headers: Record<string, string>
  signal: AbortSignal
}

export async function probeCommand (args: string[], io: CliIo): Promise<number> {
  const values = parse(args, { token: { type: 'string' }, timeout: { type: 'string' } }, 1)
  const url = probeUrl(values.positionals[0] as string)
  const timeout = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout)
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout ?? ''}"`)
  const token = values.token ?? nonEmpty((io.env ?? process.env).MCP_PROBE_TOKEN)
  // A header cannot carry these, and fetch's complaint would quote the token.
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw new UsageError('the token has characters an Authorization header cannot carry (spaces, line breaks or non-ASCII)')

  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const session: Session = { url, headers, signal: AbortSignal.timeout(timeout * 1000) }
  try {
    const found = await probe(session, token !== undefined)
    io.out(`ok: ${found.server} at ${url.href}, protocol ${found.protocolVersion}, ${found.tools} tool${found.tools === 1 ? '' : 's'}`)
    return 0
  } catch (err) {
    io.err(`probe failed: ${withoutSecret(reason(err, timeout), token)}`)
    return 1
  }
}

function probeUrl (text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`probe needs an http(s) URL such as http://127.0.0.1:5008/mcp, got "${text}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`probe needs an http(s) URL, got ${url.protocol} one`)
  if (url.username !== '' || url.password !== '') throw new UsageError('put the token in --token or MCP_PROBE_TOKEN, not in the URL')
  return url
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

interface ProbeResult {
  /** serverInfo's name and version: "analytics-mcp 0.1.0". */
  server: string
  protocolVersion: string
  tools: number
}

/** initialize, notifications/initialized, tools/list (every page). */
async function probe (session: Session, withToken: boolean): Promise<ProbeResult> {
  const init = await request(session, 'initialize', { protocolVersion: PROBE_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'analytics-mcp-probe', version: SERVICE_VERSION } }, withToken)
  const result = init.message.result ?? {}
  const server = result.serverInfo as { name?: unknown, version?: unknown } | undefined
  if (typeof result.protocolVersion !== 'string' || typeof server?.name !== 'string') throw new ProbeFailure('the initialize result has no protocolVersion or serverInfo: not an MCP server')
  session.headers['mcp-protocol-version'] = result.protocolVersion
  const sessionId = init.response.headers.get('mcp-session-id')
  if (sessionId !== null) session.headers['mcp-session-id'] = sessionId

  await notify(session, 'notifications/initialized')
  if (typeof result.capabilities !== 'object' || result.capabilities === null || !('tools' in result.capabilities)) throw new ProbeFailure('the server offers no tools (no tools capability)')

  let tools = 0
  let cursor: string | undefined
  for (let page = 0; page < MAX_PAGES; page++) {
    const list = (await request(session, 'tools/list', cursor === undefined ? {} : { cursor }, withToken)).message.result ?? {}
    if (!Array.isArray(list.tools)) throw new ProbeFailure('the tools/list result has no tools array')
    tools += list.tools.length
    cursor = typeof list.nextCursor === 'string' && list.nextCursor !== '' ? list.nextCursor : undefined
    if (cursor === undefined) break
  }
  if (cursor !== undefined) throw new ProbeFailure(`tools/list still had a next page after ${MAX_PAGES} pages`)
  if (tools === 0) throw new ProbeFailure('the server lists no tools')
  const version = typeof server.version === 'string' ? ` ${server.version}` : ''
  return { server: `${server.name}${version}`, protocolVersion: result.protocolVersion, tools }
}

let nextId = 1

async function request (session: Session, method: string, params: unknown, withToken: boolean): Promise<{ response: Response, message: JsonRpcResponse }> {
  const id = nextId++
  const response = await post(session, { jsonrpc: '2.0', id, method, params })
  if (!response.ok) throw new ProbeFailure(await httpFailure(response, method, withToken))
  const message = await responseMessage(response, id, method)
  if (message.error !== undefined) {
    const code = typeof message.error.code === 'number' ? ` ${message.error.code}` : ''
    throw new ProbeFailure(`${method}: JSON-RPC error${code}: ${oneLine(String(message.error.message ?? 'no message'))}`)
  }
  if (message.result === undefined || typeof message.result !== 'object' || message.result === null) throw new ProbeFailure(`${method}: the response has neither result nor error: not an MCP server`)
  return { response, message }
}

async function notify (session: Session, method: string): Promise<void> {
  const response = await post(session, { jsonrpc: '2.0', method })
  await response.body?.cancel()
  if (!response.ok) throw new ProbeFailure(`${method}: HTTP ${response.status}${statusText(response)}`)
}

async function post (session: Session, body: unknown): Promise<Response> {
  return await fetch(session.url, { method: 'POST', headers: session.headers, body: JSON.stringify(body), signal: session.signal, redirect: 'manual' })
}

async function httpFailure (response: Response, method: string, withToken: boolean): Promise<string> {
  let text = ''
  try {
    text = await response.text()
  } catch {}
  let detail = ''
  const challenge = response.headers.get('www-authenticate')
  if (response.status === 401 && challenge !== null) {
    const error = /error="([^"]*)"/.exec(challenge)?.[1]
    const description = /error_description="([^"]*)"/.exec(challenge)?.[1]
    const scheme = /^\s*(\S+)/.exec(challenge)?.[1] ?? 'a'
    // RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
    detail = error === undefined ? ` (the server asks for ${scheme} credentials)` : ` (${error}${description === undefined ? '' : `: ${description}`})`
  } else {
    const message = bodyMessage(text)
    if (message !== undefined) detail = ` (${message})`
  }
  if (response.status >= 300 && response.status < 400) detail += ` (redirect to ${response.headers.get('location') ?? 'nowhere'}: probe the final URL)`
  if (response.status === 401 && !withToken) detail += ' (no token given: pass --token or set MCP_PROBE_TOKEN)'
  return `${method}: HTTP ${response.status}${statusText(response)}${detail}`
}

/** The message of a JSON error body (a JSON-RPC error or a coded error), if it has one. */
function bodyMessage (text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: unknown, message?: unknown }
    const error = body.error as { message?: unknown } | string | undefined
    const message = typeof error === 'object' && error !== null ? error.message : typeof body.message === 'string' ? body.message : error
    return typeof message === 'string' && message !== '' ? oneLine(message).slice(0, 200) : undefined
  } catch {
    return undefined
  }
}

function statusText (response: Response): string {
  return response.statusText === '' ? '' : ` ${response.statusText}`
}

/** The JSON-RPC response to request `id`, from a JSON body or from a text/event-stream. */
async function responseMessage (response: Response, id: number, method: string): Promise<JsonRpcResponse> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  if (type === 'text/event-stream') return await eventStreamMessage(response, id, method)
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new ProbeFailure(`${method}: the response is not JSON (content-type ${type === '' ? 'none' : type}): not an MCP endpoint`)
  }
  const message = Array.isArray(body) ? body.find(item => isResponse(item, id)) : body
  if (!isResponse(message, id)) throw new ProbeFailure(`${method}: the JSON response is not a JSON-RPC response to the request: not an MCP endpoint`)
  return message
}

function isResponse (value: unknown, id: number): value is JsonRpcResponse {
  return typeof value === 'object' && value !== null && (value as JsonRpcResponse).id === id
}

/** Reads events until the one answering `id`: a stream may stay open after it. */
async function eventStreamMessage (response: Response, id: number, method: string): Promise<JsonRpcResponse> {
  if (response.body === null) throw new ProbeFailure(`${method}: the event stream is empty`)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (value !== undefined) buffer += value.replace(/\r\n?/g, '\n')
      let end: number
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const event = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = event.split('\n').filter(line => line.startsWith('data:')).map(line => line.slice(5).replace(/^ /, '')).join('\n')
        if (data === '') continue
        let message: unknown
        try {
          message = JSON.parse(data)
        } catch {
          throw new ProbeFailure(`${method}: an event of the stream is not JSON: not an MCP endpoint`)
        }
        if (isResponse(message, id)) return message
      }
      if (done) throw new ProbeFailure(`${method}: the event stream ended without a response`)
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
}

const CONNECTION_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'the connection closed early'
}

/** One line for any failure: ours as they are, fetch's by their cause's code. */
function reason (err: unknown, timeout: number): string {
  if (err instanceof ProbeFailure) return err.message
  const error = err as { name?: unknown, message?: unknown, cause?: { code?: unknown, message?: unknown } }
  if (error.name === 'TimeoutError') return `no answer within ${timeout} s (timeout)`
  const code = typeof error.cause?.code === 'string' ? error.cause.code : undefined
  if (code !== undefined) return `${CONNECTION_ERRORS[code] ?? oneLine(String(error.cause?.message ?? code))} (${code})`
  return oneLine(String(error.cause?.message ?? error.message ?? err))
}

function oneLine (text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

function withoutSecret (line: string, token: string | undefined): string {
  return token === undefined ? line : line.split(token).join('[token]')
}
