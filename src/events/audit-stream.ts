import type { RedisConnection } from '../store/redis.ts'

/** One tool call, as operators read it back from the stream (`XRANGE <prefix>audit - +`). */
export interface AuditEntry {
  call_id: string
  tool: string
  user: string
  user_id: number
  auth_method: string
  client_id?: string | undefined
  outcome: string
  error_type?: string | undefined
  cache?: string | undefined
  duration_ms: number
  replica: string
}

/**
 * The audit trail of tool calls in a Redis Stream shared by all replicas: capped at exactly
 * `maxEvents` entries and at `ttlSeconds` of age. Writes are
 * fire-and-forget: a request never waits for, or fails because of, the audit stream. Without
 * Redis the trail is the `audit: tool_call` lines of the JSON log.
 */
export class AuditStream {
  private readonly redis: RedisConnection
  private readonly maxEvents: number
  private readonly ttlSeconds: number
  private readonly onError: (error: Error) => void

  constructor (redis: RedisConnection, options: { maxEvents: number, ttlSeconds: number }, onError: (error: Error) => void) {
    this.redis = redis
    this.maxEvents = options.maxEvents
    this.ttlSeconds = options.ttlSeconds
    this.onError = onError
  }

  record (entry: AuditEntry): void {
    const fields = Object.entries(entry).filter(([, value]) => value !== undefined).flatMap(([name, value]) => [name, String(value)])
    const oldest = `${Date.now() - this.ttlSeconds * 1000}-0`
    this.redis.client.pipeline()
      .xadd('audit', 'MAXLEN', String(this.maxEvents), '*', ...fields)
      .xtrim('audit', 'MINID', oldest)
      .expire('audit', this.ttlSeconds)
      .exec()
      .then(results => {
        const failed = results?.find(([error]) => error !== null)?.[0]
        if (failed !== undefined && failed !== null) this.onError(failed)
      }, (error: unknown) => { this.onError(error as Error) })
  }
}
