import type { Redis } from 'ioredis'

/** A bucket's size and refill rate. */
export interface BucketLimit {
  /** Tokens the bucket holds when full: requests allowed at once. */
  capacity: number
  /** Tokens added per minute: the sustained rate. */
  perMinute: number
}

export type TakeResult =
  | { allowed: true }
  | { allowed: false, retryAfterMs: number }
  /** The store could not answer (Redis down); the caller applies its fail-open policy. */
  | { allowed: undefined, error: Error }

/** Token buckets by key, shared by all replicas through Redis or kept in this process. */
export interface TokenBuckets {
  readonly kind: 'memory' | 'redis'
  /**
   * Take `cost` tokens (default 1) when the bucket has at least one. A cost of 0 only looks:
   * "would one be allowed now?", writing nothing (the failed-authentication limit asks this
   * of every request and spends only on failures).
   */
  take: (key: string, limit: BucketLimit, cost?: 0 | 1) => Promise<TakeResult>
}

/** How long an idle bucket is kept: the time to refill it completely (then it is full anyway). */
function idleMs (limit: BucketLimit): number {
  return Math.ceil(limit.capacity / limit.perMinute * 60_000) + 1000
}

interface Bucket {
  tokens: number
  at: number
  /** How long this bucket may sit idle before it is full again (its own limit's, not another's). */
  idleMs: number
}

export class MemoryTokenBuckets implements TokenBuckets {
  readonly kind = 'memory'
  private readonly buckets = new Map<string, Bucket>()
  private readonly now: () => number
  private sweepAt = 0

  constructor (now: () => number = Date.now) {
    this.now = now
  }

  async take (key: string, limit: BucketLimit, cost: 0 | 1 = 1): Promise<TakeResult> {
    const now = this.now()
    this.sweep(now)
    const perMs = limit.perMinute / 60_000
    const idle = idleMs(limit)
    const bucket = this.buckets.get(key) ?? { tokens: limit.capacity, at: now, idleMs: idle }
    const tokens = Math.min(limit.capacity, bucket.tokens + (now - bucket.at) * perMs)
    if (tokens >= 1) {
      if (cost > 0) this.buckets.set(key, { tokens: tokens - cost, at: now, idleMs: idle })
      return { allowed: true }
    }
    if (cost > 0) this.buckets.set(key, { tokens, at: now, idleMs: idle })
    return { allowed: false, retryAfterMs: Math.ceil((1 - tokens) / perMs) }
  }

  /** Drop buckets idle long enough to be full again, now and then, so the map stays small. */
  private sweep (now: number): void {
    if (now < this.sweepAt) return
    this.sweepAt = now + 60_000
    for (const [key, bucket] of this.buckets) if (now - bucket.at > bucket.idleMs) this.buckets.delete(key)
  }
}

/**
 * The same bucket as one Lua script, so concurrent replicas update it atomically. Time comes
 * from the Redis server (TIME), so replicas with skewed clocks agree.
 * KEYS[1] bucket; ARGV capacity, tokens per ms, idle expiry (ms), cost (0: look only, write
 * nothing). Returns {allowed, retry ms}.
 */
const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then tokens = capacity; at = now end
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_ms)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((1 - tokens) / per_ms)
end
if cost == 0 then return {allowed, retry} end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {allowed, retry}
`

type TakeCommand = (key: string, capacity: number, perMs: string, idle: number, cost: number) => Promise<[number, number]>

export class RedisTokenBuckets implements TokenBuckets {
  readonly kind = 'redis'
  private readonly take_: TakeCommand

  constructor (client: Redis) {
    // defineCommand runs the script by its SHA (EVALSHA), loading it when Redis lacks it.
    client.defineCommand('analyticsMcpTakeToken', { numberOfKeys: 1, lua: TAKE_SCRIPT })
    const command = (client as unknown as Record<string, TakeCommand>).analyticsMcpTakeToken
    if (command === undefined) throw new Error('ioredis did not define the token bucket command')
    this.take_ = command.bind(client)
  }

  async take (key: string, limit: BucketLimit, cost: 0 | 1 = 1): Promise<TakeResult> {
    try {
      const [allowed, retry] = await this.take_(key, limit.capacity, String(limit.perMinute / 60_000), idleMs(limit), cost)
      return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs: retry }
    } catch (error) {
      return { allowed: undefined, error: error as Error }
    }
  }
}
