import type { FastifyBaseLogger } from 'fastify'
import type { ResponseSizeConfig } from '../config.ts'
import { ToolError } from '../errors.ts'
import type { Tool, ToolOutcome } from '../tools/tool.ts'

/**
 * Token estimate: UTF-8 bytes / 3.5. The server cannot know the client's tokenizer; JSON
 * and English text run at 3.5–4 bytes per token in common tokenizers, so dividing by 3.5
 * errs on the side of a smaller response. Non-ASCII text costs more bytes per character and
 * more tokens too, which bytes track better than characters. 25,000 tokens ≈ 87,500 bytes.
 */
export const BYTES_PER_TOKEN = 3.5

/** What a client receives of a result: the text and the structured content, as JSON. */
export function resultBytes (outcome: ToolOutcome): number {
  return Buffer.byteLength(JSON.stringify({ content: [{ type: 'text', text: outcome.text }], structuredContent: outcome.structured }))
}

/** resultBytes of a result of `bytes` once `\n\n${note}` is appended to its text: the note's JSON-escaped bytes less its quotes. */
export function bytesWithNote (bytes: number, note: string): number {
  return bytes + Buffer.byteLength(JSON.stringify(`\n\n${note}`)) - 2
}

/** The token estimate of a result of `bytes` (resultBytes). */
function tokensOf (bytes: number): number {
  return Math.ceil(bytes / BYTES_PER_TOKEN)
}

export function estimateTokens (outcome: ToolOutcome): number {
  return tokensOf(resultBytes(outcome))
}

export interface SizeGuardHooks {
  action?: (tool: string, action: 'warned' | 'truncated' | 'refused') => void
}

const format = (n: number): string => n.toLocaleString('en-US')

/**
 * MCP_RESPONSE_SIZE_CONFIG: keeps results inside the model's context budget. Over the warning
 * threshold: a log line and a metric. Over the limit: tools with a list of items (rows, list
 * pages) return the largest prefix that fits and say so first; other tools answer "response
 * too large" with ways to ask for less. Never a silent cut.
 */
export class SizeGuard {
  private readonly config: ResponseSizeConfig
  private readonly excluded: ReadonlySet<string>
  private readonly hooks: SizeGuardHooks

  constructor (config: ResponseSizeConfig, hooks: SizeGuardHooks = {}) {
    this.config = config
    this.excluded = new Set(config.excluded_tools)
    this.hooks = hooks
  }

  /** Whether a result of `bytes` (resultBytes) may be sent as it is. */
  fits (tool: Tool, bytes: number): boolean {
    return !this.config.enabled || this.excluded.has(tool.name) || tokensOf(bytes) <= this.config.token_limit
  }

  apply (tool: Tool, outcome: ToolOutcome, log: FastifyBaseLogger): ToolOutcome {
    if (!this.config.enabled || this.excluded.has(tool.name)) return outcome
    const limit = this.config.token_limit
    const tokens = estimateTokens(outcome)
    if (tokens <= limit) {
      if (tokens * 100 > limit * this.config.warn_threshold_pct) {
        this.hooks.action?.(tool.name, 'warned')
        log.warn({ tool: tool.name, estimated_tokens: tokens, token_limit: limit }, `response uses more than ${this.config.warn_threshold_pct}% of the token limit`)
      }
      return outcome
    }
    const cut = tool.truncation === undefined ? undefined : this.largestPrefix(tool, tool.truncation, outcome, tokens)
    if (cut !== undefined) {
      this.hooks.action?.(tool.name, 'truncated')
      log.warn({ tool: tool.name, estimated_tokens: tokens, token_limit: limit, returned: cut.returned, available: cut.available }, 'response truncated to fit the token limit')
      return outcome.images === undefined ? cut.outcome : { ...cut.outcome, images: outcome.images }
    }
    this.hooks.action?.(tool.name, 'refused')
    log.warn({ tool: tool.name, estimated_tokens: tokens, token_limit: limit }, 'response too large')
    throw tooLarge(tool, tokens, limit)
  }

  /** Binary search for the most items whose result (notice included) fits; undefined if not even none. */
  private largestPrefix (tool: Tool, truncation: NonNullable<Tool['truncation']>, outcome: ToolOutcome, tokens: number): { outcome: ToolOutcome, returned: number, available: number } | undefined {
    const limit = this.config.token_limit
    const available = truncation.count(outcome.structured)
    const build = (keep: number): ToolOutcome => truncation.keep(outcome.structured, keep, {
      returned: keep,
      available,
      estimated_tokens: tokens,
      token_limit: limit,
      hint: truncation.hint
    })
    let best: ToolOutcome | undefined
    let bestCount = -1
    let low = 0
    let high = available - 1
    while (low <= high) {
      const middle = Math.floor((low + high) / 2)
      const candidate = build(middle)
      if (estimateTokens(candidate) <= limit) {
        best = candidate
        bestCount = middle
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    if (best === undefined) return undefined
    return { outcome: best, returned: bestCount, available }
  }
}

/** The notice a truncated result carries, in its structured content and first in its text. */
export interface ResponseTruncation {
  returned: number
  available: number
  estimated_tokens: number
  token_limit: number
  hint: string
}

export function truncationNotice (notice: ResponseTruncation, noun: string): string {
  return `Response truncated to fit the context budget: ${format(notice.returned)} of ${format(notice.available)} ${noun} returned (the full result was ~${format(notice.estimated_tokens)} tokens; the limit is ${format(notice.token_limit)}). ${notice.hint}`
}

/** Superset's "Response too large" error, with the tool's ways to ask for less. */
function tooLarge (tool: Tool, tokens: number, limit: number): ToolError {
  const reduction = Math.ceil((1 - limit / tokens) * 100)
  const hints = tool.sizeHints.slice(0, 5).map((hint, index) => `${index + 1}. ${hint}`)
  return new ToolError('response_too_large', [
    `Response too large: ~${format(tokens)} tokens (limit: ${format(limit)})`,
    '',
    'This response would overwhelm the LLM context window.',
    'Please modify your query to reduce the response size:',
    '',
    ...hints,
    '',
    `Tool: ${tool.name}`,
    `Reduction needed: ~${reduction}%`
  ].join('\n'))
}
