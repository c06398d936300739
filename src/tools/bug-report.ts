import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { SERVICE_VERSION } from '../version.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool } from './tool.ts'

/**
 * What a bug report must not carry, whoever forwards it: credentials first (tokens, keys,
 * passwords, credentials in URLs), then personal and network details. Each kind found is named
 * in `redactions_applied` so the reader knows something was there. Every pattern runs in
 * linear time (test/regex-safety.test.ts): the ones that would backtrack on long runs of word
 * characters are matched per whitespace-separated token, anchored, instead of over the text.
 */
const TOKEN_REDACTIONS: ReadonlyArray<{ kind: string, redact: (core: string) => string | undefined }> = [
  { kind: 'jwt', redact: core => /^eyJ[\w-]+\.[\w-]+\.[\w-]*$/.test(core) ? '[REDACTED JWT]' : undefined },
  { kind: 'url_credentials', redact: withoutUrlCredentials },
  { kind: 'email', redact: core => /^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$/.test(core) ? '[REDACTED EMAIL]' : undefined }
]

const TEXT_REDACTIONS: ReadonlyArray<{ kind: string, pattern: RegExp, replacement: string }> = [
  { kind: 'bearer_token', pattern: /\b(Bearer|Key)\s+[\w.~+/=-]{8,}/gi, replacement: '$1 [REDACTED]' },
  { kind: 'secret_assignment', pattern: /\b(password|passwd|pwd|secret|token|api[_-]?key|client[_-]?secret)(\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi, replacement: '$1$2[REDACTED]' },
  { kind: 'api_key', pattern: /\b[a-z0-9]{2,16}_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{16,}\b/g, replacement: '[REDACTED API KEY]' },
  { kind: 'private_key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, replacement: '[REDACTED PRIVATE KEY]' },
  { kind: 'ip_address', pattern: /\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b/g, replacement: '[REDACTED IP]' }
]

/** Quotes, brackets and sentence punctuation around a token are not part of it. */
const WRAPPING = new Set(['"', "'", '`', '(', ')', '[', ']', '{', '}', '<', '>', ',', ';', '!', '?'])
const TRAILING = new Set([...WRAPPING, '.', ':'])

/** A URL with its user and password taken out, when it had any. */
function withoutUrlCredentials (core: string): string | undefined {
  if (!core.includes('://') || !core.includes('@')) return undefined
  let url: URL
  try {
    url = new URL(core)
  } catch {
    return undefined
  }
  if (url.username === '' && url.password === '') return undefined
  return `${url.protocol}//[REDACTED]@${url.host}${url.pathname === '/' && !core.endsWith('/') ? '' : url.pathname}${url.search}${url.hash}`
}

function redactToken (token: string, kinds: Set<string>): string {
  let start = 0
  let end = token.length
  while (start < end && WRAPPING.has(token[start] ?? '')) start++
  while (end > start && TRAILING.has(token[end - 1] ?? '')) end--
  const core = token.slice(start, end)
  for (const { kind, redact } of TOKEN_REDACTIONS) {
    const replaced = redact(core)
    if (replaced === undefined) continue
    kinds.add(kind)
    return `${token.slice(0, start)}${replaced}${token.slice(end)}`
  }
  return token
}

/** `text` without what the redactions name, and the kinds that were found. */
export function redactText (text: string): { text: string, kinds: string[] } {
  const kinds = new Set<string>()
  let result = text.split(/(\s+)/).map(part => /^\s*$/.test(part) ? part : redactToken(part, kinds)).join('')
  for (const { kind, pattern, replacement } of TEXT_REDACTIONS) {
    const next = result.replace(pattern, replacement)
    if (next !== result) kinds.add(kind)
    result = next
  }
  return { text: result, kinds: [...kinds] }
}

const FIELDS = [
  ['tool_name', 'Tool'],
  ['mcp_call_id', 'Call id'],
  ['llm_used', 'Model'],
  ['error_message', 'Error message'],
  ['steps_to_reproduce', 'Steps to reproduce'],
  ['additional_context', 'Additional context']
] as const

export const generateBugReport = (): Tool => defineTool({
  name: 'generate_bug_report',
  title: 'Write a bug report',
  description: 'Write a bug report about this service for the user to send to its administrators: the tool, the error, the steps and the context you give, with tokens, keys, passwords, emails and addresses taken out, and whom to send it to. Nothing is sent or stored: show the report to the user.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  // Like Superset's (its one unprotected tool): anyone who can reach the server may write a report.
  input: z.strictObject({
    tool_name: z.string().max(200).optional().describe('the tool that misbehaved'),
    error_message: z.string().max(4000).optional().describe('the error as shown'),
    llm_used: z.string().max(200).optional().describe('the model and client, e.g. "Claude Sonnet in Claude Desktop"'),
    steps_to_reproduce: z.string().max(4000).optional(),
    additional_context: z.string().max(4000).optional(),
    mcp_call_id: z.string().max(200).optional().describe('the call_id in the failed result\'s _meta, which the server\'s logs carry')
  }),
  output: z.object({
    report: z.string().describe('Markdown, ready to paste'),
    redactions_applied: z.array(z.string()).describe('kinds of sensitive text taken out'),
    support_contact: z.string().nullable().describe('whom to send it to (MCP_BUG_REPORT_CONTACT)')
  }),
  run: async (args, context) => {
    const kinds = new Set<string>()
    const lines = [`# Bug report: ${context.config.MCP_APP_NAME}`, '', `- Service: analytics-mcp ${SERVICE_VERSION}`, `- Written: ${new Date().toISOString()}`]
    for (const [key, label] of FIELDS) {
      const value = args[key]
      if (value === undefined || value.trim() === '') continue
      const redacted = redactText(value.trim())
      for (const kind of redacted.kinds) kinds.add(kind)
      lines.push('', `## ${label}`, '', redacted.text)
    }
    const contact = context.config.MCP_BUG_REPORT_CONTACT ?? null
    lines.push('', contact === null ? 'Send this report to the administrators of this service.' : `Send this report to ${contact}.`)
    return { report: lines.join('\n'), redactions_applied: [...kinds], support_contact: contact }
  },
  render: result => `${result.report}${result.redactions_applied.length === 0 ? '' : `\n\n(Taken out: ${result.redactions_applied.join(', ')}.)`}`
})
