import { copyFileSync, mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { loggerOptions } from '../../src/logger.ts'
import { buildWithConfig } from '../helpers/app.ts'
import { SECRET } from '../helpers/auth.ts'
import { testConfig } from '../helpers/config.ts'
import { sharedExamplesFile } from '../helpers/examples.ts'
import { JSON_HEADERS } from '../helpers/rpc.ts'

/** The fuzzed servers, their callers, and what a leaking answer looks like. */

/** The servers' link-signing key: no answer may ever show it. */
export const LINK_SECRET = 'fuzz-link-secret-0123456789abcdefghijklmnopqrstuvwxyz'

const CALL_TIMEOUT_MS = 60_000

/** What a leaking response looks like: stack frames, paths of this machine, library error names, secrets. */
const LEAKS: ReadonlyArray<[string, RegExp]> = [
  ['a stack frame', /\bat [^\n"]*\.(?:ts|js|mjs|cjs):\d+/],
  ['node:internal', /node:internal/],
  ['a path of this machine', /\/work\//],
  ['node_modules', /node_modules/],
  ['ZodError', /ZodError/],
  ['SqliteError', /SqliteError/],
  ['TypeError', /TypeError/],
  ['Cannot read properties', /Cannot read propert/],
  ['undefined is not', /undefined is not/],
  ['the link secret', new RegExp(LINK_SECRET)],
  ['the JWT secret', new RegExp(SECRET.replace(/[.*+?^${}()|[\]\\!]/g, '\\$&'))]
]

export function leaksIn (text: string): string[] {
  return LEAKS.filter(([, pattern]) => pattern.test(text)).map(([what]) => `the response contains ${what}`)
}

/** Who calls: a server, a credential, and the tools its tools/list shows. */
export interface Principal {
  label: string
  url: URL
  headers: Record<string, string>
  /** Tools this principal's tools/list shows. */
  listed: ReadonlySet<string>
  /** Calls per tool (the restricted users share the runs). */
  runs: number
}

export interface Answer {
  status: number
  text: string
  json: any
  ms: number
}

export async function postText (url: URL, body: string, headers: Record<string, string>): Promise<Answer> {
  const started = performance.now()
  const response = await fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })
  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, text, json, ms: performance.now() - started }
}

/** The `_meta` of a 2026-07-28 request. */
export const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {}
}

/** A tools/call in either era, with `argsText` spliced in verbatim as `arguments`. */
export async function callTool (principal: Principal, tool: string, argsText: string, id: number, modern: boolean): Promise<Answer> {
  const meta = modern ? `,"_meta":${JSON.stringify(MODERN_META)}` : ''
  const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":${argsText}${meta}}}`
  const headers = modern ? { ...principal.headers, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': tool } : principal.headers
  return await postText(principal.url, body, headers)
}

/** A 2025-era request's JSON-RPC answer. */
export async function rpc (principal: Pick<Principal, 'url' | 'headers'>, method: string, params: unknown): Promise<any> {
  const answer = await postText(principal.url, JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }), { ...principal.headers, 'mcp-protocol-version': '2025-11-25' })
  return answer.json
}

/** The structured result of a call that must succeed (setting up the run). */
export async function structured (principal: Principal, tool: string, args: Record<string, unknown>): Promise<Record<string, any>> {
  const answer = await callTool(principal, tool, JSON.stringify(args), 1, false)
  const result = answer.json?.result
  if (result === undefined || result.isError === true) throw new Error(`${tool} failed while preparing the fuzz run: ${answer.text.slice(0, 300)}`)
  return result.structuredContent
}

/** What the servers logged about failed calls, by call id: the error behind an internal_error. */
const LOGGED_ERRORS = new Map<string, string>()

/** A log destination that keeps the errors of tool calls (only level error and up is logged). */
function errorLog (): Writable {
  return new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (line.trim() === '') continue
        const entry = JSON.parse(line) as { call_id?: string, err?: { type?: string, message?: string, stack?: string } }
        const frame = entry.err?.stack?.split('\n').find(part => part.trim().startsWith('at '))?.trim()
        if (entry.call_id !== undefined && entry.err !== undefined) LOGGED_ERRORS.set(entry.call_id, `${entry.err.type ?? 'Error'}: ${entry.err.message ?? ''}${frame === undefined ? '' : ` (${frame})`}`)
      }
      done()
    }
  })
}

/** The logged error behind an internal_error answer, if the server logged one. */
export function loggedError (answer: Answer): string | undefined {
  const callId = answer.json?.result?._meta?.call_id
  return typeof callId === 'string' ? LOGGED_ERRORS.get(callId) : undefined
}

/** The real app listening on a free port, on its own data directory and copy of the example data. */
export async function startServer (t: Test, dataDir: string, settings: Record<string, unknown>): Promise<{ url: URL, app: FastifyInstance }> {
  mkdirSync(dataDir, { recursive: true })
  // A private copy: no bug found here can harm the example data other tests share.
  const examples = path.join(dataDir, 'examples.db')
  copyFileSync(sharedExamplesFile(), examples)
  // No load shedding: two apps and the client share this event loop, and a 503 while the other
  // app starts (or a 100 KB argument is parsed) says nothing about the inputs.
  const config = testConfig(dataDir, { MCP_EXAMPLES_PATH: examples, MCP_LINK_SECRET: LINK_SECRET, MCP_EVENT_LOOP_MAX_DELAY_MS: 0, MCP_LOG_LEVEL: 'error', ...settings })
  const app = await buildWithConfig(t, config, { logger: { ...loggerOptions(config), stream: errorLog() } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { app, url: new URL(`http://127.0.0.1:${port}/mcp`) }
}

/** Text safe to print in TAP: line and paragraph separators (which end a TAP line) and other controls escaped. */
export function printable (text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f\u2028\u2029]/g, char => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A long body or argument list, shortened for a report. */
export function shortened (text: string): string {
  return text.length > 2_000 ? `${text.slice(0, 1_000)} …(${text.length} characters)… ${text.slice(-200)}` : text
}
