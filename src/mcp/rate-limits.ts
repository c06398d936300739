import type { RateLimitConfig } from '../config.ts'
import type { BucketLimit, TokenBuckets } from '../store/token-buckets.ts'
import type { Principal } from '../tools/tool.ts'

export type RateDecision =
  | { allowed: true }
  /** limited: over the rate; unavailable: Redis could not answer and fail_open is false. */
  | { allowed: false, reason: 'limited' | 'unavailable', retryAfterSeconds: number, limit: BucketLimit }

export interface RateLimitHooks {
  refused?: (scope: 'principal' | 'tool', tool?: string) => void
  storeError?: (error: Error) => void
}

/**
 * MCP_RATE_LIMIT_CONFIG: token buckets per principal (every MCP request) and per principal
 * and tool (tool_limits), in Redis when it is configured (so the limit holds across replicas)
 * or in this process. A principal is a catalog user, however they authenticate.
 */
export class RateLimits {
  private readonly config: RateLimitConfig
  private readonly buckets: TokenBuckets
  private readonly hooks: RateLimitHooks
  private readonly requestLimit: BucketLimit
  private readonly toolLimits: ReadonlyMap<string, BucketLimit>

  constructor (config: RateLimitConfig, buckets: TokenBuckets, hooks: RateLimitHooks = {}) {
    this.config = config
    this.buckets = buckets
    this.hooks = hooks
    this.requestLimit = { capacity: config.burst, perMinute: config.requests_per_minute }
    this.toolLimits = new Map(Object.entries(config.tool_limits).map(([tool, limit]) => [
      tool, { capacity: limit.burst ?? Math.max(1, Math.ceil(limit.per_minute / 6)), perMinute: limit.per_minute }
    ]))
  }

  /** One MCP request (or one page opened from a link) by this principal. */
  async forRequest (principal: Pick<Principal, 'user'>): Promise<RateDecision> {
    if (!this.config.enabled) return { allowed: true }
    return await this.take(`ratelimit:principal:${principal.user.id}`, this.requestLimit, 'principal')
  }

  /** One call of `tool` by this principal; allowed when the tool has no limit of its own. */
  async forTool (tool: string, principal: Principal): Promise<RateDecision> {
    const limit = this.toolLimits.get(tool)
    if (!this.config.enabled || limit === undefined) return { allowed: true }
    return await this.take(`ratelimit:tool:${tool}:${principal.user.id}`, limit, 'tool', tool)
  }

  private async take (key: string, limit: BucketLimit, scope: 'principal' | 'tool', tool?: string): Promise<RateDecision> {
    const result = await this.buckets.take(key, limit)
    if (result.allowed === true) return { allowed: true }
    if (result.allowed === undefined) {
      this.hooks.storeError?.(result.error)
      if (this.config.fail_open) return { allowed: true }
      this.hooks.refused?.(scope, tool)
      return { allowed: false, reason: 'unavailable', retryAfterSeconds: 1, limit }
    }
    this.hooks.refused?.(scope, tool)
    return { allowed: false, reason: 'limited', retryAfterSeconds: Math.max(1, Math.ceil(result.retryAfterMs / 1000)), limit }
  }
}
