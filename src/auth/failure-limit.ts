import { isIP } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AuthThrottledError } from '../errors.ts'
import type { BucketLimit, TokenBuckets } from '../store/token-buckets.ts'

/**
 * MCP_AUTH_FAILURE_LIMIT: a token bucket of failed authentications per client address (the
 * limit per minute, and as many at once). A failure takes a token; while the bucket is empty,
 * every request from that address that carries a credential is refused with 429 before the
 * credential is checked, so guessing stops even when the next guess would be right. Successful
 * authentications only look at the bucket, so a busy client that authenticates well is never
 * slowed.
 *
 * The buckets are those of MCP_RATE_LIMIT_CONFIG (in Redis when configured, shared by the
 * replicas); the look before a credential is checked takes nothing (cost 0).
 */

/**
 * The bucket key of a client address. An IPv4 client in IPv6 form is the IPv4 address; an IPv6
 * client is its /64, since one host (or one customer of a provider) gets a whole /64 and could
 * otherwise change address for every guess.
 */
export function clientAddressKey (address: string): string {
  // An IPv6 zone (fe80::1%eth0) names the interface, not the client.
  const zone = address.indexOf('%')
  const bare = zone === -1 ? address : address.slice(0, zone)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)
  if (mapped !== null) return mapped[1] as string
  if (isIP(bare) !== 6) return bare
  const [head = '', tail] = bare.toLowerCase().split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array.from({ length: 8 - left.length - right.length }, () => '0'), ...right]
  return `${groups.slice(0, 4).map(group => group.replace(/^0+(?=.)/, '')).join(':')}::/64`
}

/** Refused before the credential was checked: retry after `retryAfterSeconds`. */
export type ThrottledError = FastifyError & { retryAfterSeconds: number }

export interface AuthFailureLimitHooks {
  /** A request refused because its address is out of budget. */
  throttled?: () => void
  /** The store could not answer: the limiter fails open. */
  storeError?: (error: Error) => void
}

export class AuthFailureLimit {
  /** Failed authentications per minute and at once; 0: off. */
  readonly perMinute: number
  private readonly limit: BucketLimit
  private readonly buckets: TokenBuckets
  private readonly hooks: AuthFailureLimitHooks

  constructor (perMinute: number, buckets: TokenBuckets, hooks: AuthFailureLimitHooks = {}) {
    this.perMinute = perMinute
    this.limit = { capacity: perMinute, perMinute }
    this.buckets = buckets
    this.hooks = hooks
  }

  get enabled (): boolean {
    return this.perMinute > 0
  }

  /** Before a credential from `address` is checked: the error to answer with, if it is out of budget. */
  async refusal (address: string): Promise<ThrottledError | undefined> {
    if (!this.enabled) return undefined
    const result = await this.buckets.take(this.keyOf(address), this.limit, 0)
    if (result.allowed === true) return undefined
    if (result.allowed === undefined) {
      this.hooks.storeError?.(result.error)
      return undefined
    }
    this.hooks.throttled?.()
    const retryAfterSeconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000))
    return Object.assign(new AuthThrottledError(this.perMinute, retryAfterSeconds), { retryAfterSeconds })
  }

  /** A credential from `address` was refused. */
  async failed (address: string): Promise<void> {
    if (!this.enabled) return
    const result = await this.buckets.take(this.keyOf(address), this.limit, 1)
    if (result.allowed === undefined) this.hooks.storeError?.(result.error)
  }

  private keyOf (address: string): string {
    return `authfail:v1:${clientAddressKey(address)}`
  }
}

/** 429 with Retry-After for a client address out of its failure budget (MCP_AUTH_FAILURE_LIMIT). */
export async function refuseThrottled (limit: AuthFailureLimit, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const refusal = await limit.refusal(request.ip)
  if (refusal === undefined) return
  request.log.info({ source_ip: request.ip, retry_after_seconds: refusal.retryAfterSeconds }, 'authentication throttled: too many failures from this address')
  reply.header('retry-after', String(refusal.retryAfterSeconds))
  throw refusal
}
