import { createPublicKey } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'

export interface JwksKeyStoreOptions {
  jwksUri: string
  /** How long a fetched key set is used before it is refreshed. */
  ttlMs: number
  /** How long a fetch may take before the caller gets an answer without it. */
  timeoutMs: number
  /** Least time between fetches caused by an unknown `kid`. */
  refreshIntervalMs: number
  /** Observer of fetch outcomes (logs, metrics). */
  onFetch?: (outcome: 'ok' | 'not_found' | 'failed', detail?: string) => void
}

/** Why no key could be found for a token; the message is for server logs only. */
export class KeyUnavailableError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KeyUnavailableError'
  }
}

/** A signing key of the set: its PEM, and the algorithm it is pinned to, when the JWK says. */
interface SigningKey {
  pem: string
  alg: string | undefined
}

/** Bounds on what an identity provider's answer may hold. */
const MAX_JWKS_BYTES = 256 * 1024
const MAX_KEYS = 100

/**
 * Public keys from an identity provider's JWKS, by `kid`. The whole key set is fetched and
 * indexed at once, which is what makes rotation safe under attack:
 * - a token with a rotated-in kid is found by any fetch made after the key was published,
 *   whichever token caused it, so a flood of made-up kids cannot starve a real one;
 * - fetches caused by unknown kids are rate-limited: one at a time, and none within the
 *   refresh interval after a fetch that did not find its kid or failed, so made-up kids
 *   cost the identity provider at most one request per interval;
 * - every fetch has a deadline, so a slow endpoint never hangs a request;
 * - the last good set keeps being served while a refresh is in flight or failing
 *   (stale-while-revalidate), so a JWKS outage does not become an authentication outage;
 * - a key removed from the set stops working at the first successful refresh.
 * Only the configured URI is ever fetched: `jku`, `x5u` and `jwk` token headers are ignored.
 */
export class JwksKeyStore {
  private readonly options: JwksKeyStoreOptions
  private keys = new Map<string, SigningKey>()
  private fetchedAt = Number.NEGATIVE_INFINITY
  /** When the last fetch started: background refreshes are spaced by the refresh interval. */
  private lastAttempt = Number.NEGATIVE_INFINITY
  /** When a fetch last failed or lacked the kid that caused it: unknown kids wait from here. */
  private lastMiss = Number.NEGATIVE_INFINITY
  private lastFailed = false
  private inFlight: Promise<void> | undefined

  constructor (options: JwksKeyStoreOptions) {
    this.options = options
  }

  async publicKey (alg: string, kid: unknown): Promise<string> {
    if (typeof kid !== 'string' || kid === '') throw new KeyUnavailableError('the token has no kid, which JWKS verification needs')
    const now = Date.now()
    if (now - this.fetchedAt >= this.options.ttlMs && this.inFlight === undefined && this.keys.size > 0 && now - this.lastAttempt >= this.options.refreshIntervalMs) {
      void this.refresh().catch(() => {})
    }
    const known = this.lookup(alg, kid)
    if (known !== undefined) return known
    if (this.inFlight === undefined) {
      if (now - this.lastMiss < this.options.refreshIntervalMs) {
        throw new KeyUnavailableError(`unknown kid "${kid}"; a JWKS fetch missed less than ${this.options.refreshIntervalMs / 1000} s ago`)
      }
      void this.refresh().catch(() => {})
    }
    // Wait for the fetch in flight (this one's or another's): it brings the whole set.
    await this.inFlight?.catch(() => {})
    const fetched = this.lookup(alg, kid)
    if (fetched !== undefined) return fetched
    this.lastMiss = Date.now()
    if (this.lastFailed) throw new KeyUnavailableError(`unknown kid "${kid}" and the JWKS could not be fetched`)
    this.options.onFetch?.('not_found', kid)
    throw new KeyUnavailableError(`kid "${kid}" is not in the JWKS`)
  }

  private lookup (alg: string, kid: string): string | undefined {
    const key = this.keys.get(kid)
    return key !== undefined && (key.alg === undefined || key.alg === alg) ? key.pem : undefined
  }

  /** Fetch the set; on failure the previous set stays in use. */
  private async refresh (): Promise<void> {
    this.lastAttempt = Date.now()
    const fetching = this.fetchSet().then(keys => {
      this.keys = keys
      this.fetchedAt = Date.now()
      this.lastFailed = false
      this.options.onFetch?.('ok')
    }, (err: unknown) => {
      this.lastFailed = true
      this.options.onFetch?.('failed', (err as Error).message)
      throw err
    }).finally(() => {
      this.inFlight = undefined
    })
    this.inFlight = fetching
    await fetching
  }

  private async fetchSet (): Promise<Map<string, SigningKey>> {
    let body: string
    try {
      const response = await fetch(this.options.jwksUri, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs)
      })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      body = await response.text()
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : (err as Error).message
      throw new KeyUnavailableError(`the JWKS could not be fetched: ${reason}`)
    }
    if (body.length > MAX_JWKS_BYTES) throw new KeyUnavailableError(`the JWKS is larger than ${MAX_JWKS_BYTES} bytes`)
    let keys: unknown
    try {
      keys = (JSON.parse(body) as { keys?: unknown }).keys
    } catch {
      throw new KeyUnavailableError('the JWKS is not JSON')
    }
    if (!Array.isArray(keys)) throw new KeyUnavailableError('the JWKS has no "keys" list')
    const set = new Map<string, SigningKey>()
    for (const jwk of keys.slice(0, MAX_KEYS) as Array<Record<string, unknown>>) {
      if (jwk === null || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) continue
      try {
        const pem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
        set.set(jwk.kid, { pem, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined })
      } catch {
        // A key this runtime cannot read (or a private one) cannot verify anything: skip it.
      }
    }
    return set
  }
}
