import buildGetJwks from 'get-jwks'

export interface JwksKeyStoreOptions {
  jwksUri: string
  /** How long a key is used before it is refreshed. */
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

interface KnownKey {
  pem: string
  fetchedAt: number
  refreshing: boolean
}

/**
 * Public keys from an identity provider's JWKS, by `kid`, on top of get-jwks (fetching,
 * JWK → PEM), adding what a service needs:
 * - a deadline on every fetch (Node's fetch ignores get-jwks' `timeout`), so a slow JWKS
 *   endpoint never hangs a request;
 * - known keys stay usable while their refresh is in flight or fails (stale-while-revalidate),
 *   so a JWKS outage does not become an authentication outage;
 * - fetches caused by unknown `kid`s are rate-limited: one at a time, and none for a refresh
 *   interval after one that did not find its kid, so forged tokens cannot flood the identity
 *   provider; a rotated-in key is picked up on its first use (rotation without restart).
 * A key removed from the JWKS stops working at its next refresh (get-jwks may serve its copy
 * for up to one more TTL).
 */
export class JwksKeyStore {
  private readonly options: JwksKeyStoreOptions
  private readonly getJwks: ReturnType<typeof buildGetJwks>
  private readonly domain: string
  private readonly known = new Map<string, KnownKey>()
  /** When a fetch for an unknown kid last came back without it (or failed): starts the cooldown. */
  private lastMiss = Number.NEGATIVE_INFINITY
  /** The fetch for an unknown kid in flight; other unknown kids wait for it instead of fetching too. */
  private unknownFetch: Promise<void> | undefined

  constructor (options: JwksKeyStoreOptions) {
    this.options = options
    const url = new URL(options.jwksUri)
    this.domain = `${url.origin}/`
    this.getJwks = buildGetJwks({ jwksPath: `${url.pathname}${url.search}`, ttl: options.ttlMs, max: 100 })
  }

  async publicKey (alg: string, kid: unknown): Promise<string> {
    if (typeof kid !== 'string' || kid === '') throw new KeyUnavailableError('the token has no kid, which JWKS verification needs')
    const cacheKey = `${alg}:${kid}`
    const now = Date.now()
    const known = this.known.get(cacheKey)
    if (known !== undefined) {
      if (now - known.fetchedAt >= this.options.ttlMs && !known.refreshing) this.refresh(cacheKey, alg, kid, known)
      return known.pem
    }
    if (now - this.lastMiss < this.options.refreshIntervalMs) {
      throw new KeyUnavailableError(`unknown kid "${kid}"; a JWKS fetch missed less than ${this.options.refreshIntervalMs / 1000} s ago`)
    }
    if (this.unknownFetch !== undefined) {
      // One fetch at a time for unknown kids: a flood of made-up kids costs one request.
      await this.unknownFetch.catch(() => {})
      const fetched = this.known.get(cacheKey)
      if (fetched !== undefined) return fetched.pem
      throw new KeyUnavailableError(`unknown kid "${kid}"; another JWKS fetch was just made`)
    }
    const lookup = this.fetch(alg, kid).then(pem => {
      this.known.set(cacheKey, { pem, fetchedAt: Date.now(), refreshing: false })
      return pem
    })
    this.unknownFetch = lookup.then(() => {}, () => {
      this.lastMiss = Date.now()
    }).finally(() => {
      this.unknownFetch = undefined
    })
    return await lookup
  }

  /** Refresh a known key in the background; it stays usable meanwhile. */
  private refresh (cacheKey: string, alg: string, kid: string, known: KnownKey): void {
    known.refreshing = true
    this.fetch(alg, kid).then(pem => {
      this.known.set(cacheKey, { pem, fetchedAt: Date.now(), refreshing: false })
    }, (err: unknown) => {
      if (err instanceof KeyUnavailableError && /not in the JWKS/.test(err.message)) this.known.delete(cacheKey)
      else known.refreshing = false
    })
  }

  private async fetch (alg: string, kid: string): Promise<string> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new KeyUnavailableError(`the JWKS endpoint did not answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs)
      timer.unref()
    })
    try {
      const pem = await Promise.race([this.getJwks.getPublicKey({ domain: this.domain, alg, kid }), deadline])
      this.options.onFetch?.('ok')
      return pem
    } catch (err) {
      if (err instanceof KeyUnavailableError) {
        this.options.onFetch?.('failed', err.message)
        throw err
      }
      const code = (err as { code?: string }).code
      if (code === 'JWK_NOT_FOUND') {
        this.options.onFetch?.('not_found', kid)
        throw new KeyUnavailableError(`kid "${kid}" is not in the JWKS`)
      }
      this.options.onFetch?.('failed', (err as Error).message)
      throw new KeyUnavailableError(`the JWKS could not be fetched: ${(err as Error).message}`)
    } finally {
      clearTimeout(timer)
    }
  }
}
