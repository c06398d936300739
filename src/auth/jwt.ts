import { createDecoder, createVerifier } from 'fast-jwt'
import type { Algorithm } from 'fast-jwt'
import { KeyUnavailableError } from './jwks.ts'

/** A token that passed verification: its header and claims. */
export interface VerifiedToken {
  header: Readonly<Record<string, unknown>>
  claims: Readonly<Record<string, unknown>>
}

export type TokenVerifier = (token: string) => Promise<VerifiedToken>

/** A refused token; `reason` is for the server log (with MCP_JWT_DEBUG_ERRORS), never the client. */
export class TokenRejectedError extends Error {
  readonly reason: string
  constructor (reason: string) {
    super(reason)
    this.name = 'TokenRejectedError'
    this.reason = reason
  }
}

/** Longest token accepted; a bigger one is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192

export interface JwtVerifierOptions {
  /** The one algorithm accepted; tokens naming any other (including `none`) are refused. */
  algorithm: Algorithm
  /** PEM public key or HMAC secret, or a lookup by the token's header (JWKS). */
  key: string | ((header: Readonly<Record<string, unknown>>) => Promise<string>)
  /** Accepted issuers; empty: any. */
  issuers: readonly string[]
  /** Accepted audiences; the token's `aud` (string or list) must name one. */
  audiences: readonly string[]
  /** Tolerance on `exp`, `nbf` and `iat`. */
  clockSkewMs: number
  /** Longest lifetime accepted: `exp` − `iat`, or `exp` − now without `iat` (plus the clock skew). */
  maxLifetimeMs: number
  /** Claims that must be present besides `exp` (e.g. `sub`). */
  requiredClaims?: readonly string[]
}

const REASONS: Readonly<Record<string, string>> = {
  FAST_JWT_MALFORMED: 'malformed token',
  FAST_JWT_INVALID_ALGORITHM: 'algorithm not allowed',
  FAST_JWT_INVALID_SIGNATURE: 'bad signature',
  FAST_JWT_MISSING_SIGNATURE: 'unsigned token',
  FAST_JWT_EXPIRED: 'token expired',
  FAST_JWT_INACTIVE: 'token not yet valid (nbf)',
  FAST_JWT_MISSING_REQUIRED_CLAIM: 'required claim missing',
  FAST_JWT_INVALID_CLAIM_VALUE: 'claim value not accepted (iss or aud)',
  FAST_JWT_INVALID_CLAIM_TYPE: 'claim of the wrong type',
  FAST_JWT_INVALID_PAYLOAD: 'payload is not a JSON object',
  FAST_JWT_INVALID_KEY: 'key does not fit the algorithm',
  FAST_JWT_KEY_FETCHING_ERROR: 'no key for the token',
  FAST_JWT_INVALID_CRIT_HEADER: 'unsupported critical header'
}

const TRANSIENT_REFUSALS: ReadonlySet<string> = new Set(['FAST_JWT_KEY_FETCHING_ERROR', 'FAST_JWT_INACTIVE'])

/** Verified tokens remembered per verifier, and for how long at most. */
const ACCEPTED_TOKENS_KEPT = 1000
const ACCEPTED_TOKEN_MAX_AGE_MS = 60_000

const decodeHeader = createDecoder({ complete: true })

/**
 * The time claims fast-jwt leaves unchecked: `exp`, `nbf` and `iat` must be finite numbers (JSON
 * reads `1e309` as Infinity, which never expires), `iat` not in the future, and the lifetime at
 * most `maxLifetimeMs`, so a stolen long-lived token is not good for years.
 */
function timeClaimProblem (claims: Readonly<Record<string, unknown>>, options: JwtVerifierOptions, now: number): string | undefined {
  const { exp, nbf, iat } = claims
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'exp is not a finite number'
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) return 'nbf is not a finite number'
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) return 'iat is not a finite number'
  if (iat !== undefined && iat * 1000 > now + options.clockSkewMs) return 'token issued in the future (iat)'
  const lifetimeMs = exp * 1000 - (iat === undefined ? now : iat * 1000)
  if (lifetimeMs > options.maxLifetimeMs + options.clockSkewMs) {
    return `token lifetime ${Math.round(lifetimeMs / 1000)} s ${iat === undefined ? '(exp − now, no iat) ' : ''}exceeds ${options.maxLifetimeMs / 1000} s (MCP_JWT_MAX_LIFETIME)`
  }
  return undefined
}

/**
 * A verifier for JWT access tokens (fast-jwt): signature with the pinned algorithm, `exp`
 * required, `nbf` and `iat` within the clock skew, a bounded lifetime, `iss` and `aud` against
 * the lists.
 */
export function createJwtVerifier (options: JwtVerifierOptions): TokenVerifier {
  const { key } = options
  const verify = createVerifier({
    algorithms: [options.algorithm],
    key: typeof key === 'string' ? async () => key : async (decoded: { header: Record<string, unknown> }) => key(decoded.header),
    complete: true,
    // fast-jwt checks iss and aud only when present: a token without them must not slip through.
    requiredClaims: ['exp', ...(options.issuers.length > 0 ? ['iss'] : []), ...(options.audiences.length > 0 ? ['aud'] : []), ...(options.requiredClaims ?? [])],
    clockTolerance: options.clockSkewMs,
    ...(options.issuers.length > 0 ? { allowedIss: [...options.issuers] } : {}),
    ...(options.audiences.length > 0 ? { allowedAud: [...options.audiences] } : {}),
    // Verified tokens are cached (by a hash of the token) until they expire, at most a minute.
    cache: 1000,
    cacheTTL: 60_000,
    // Refusals that can change with time (no key yet: JWKS down or not yet rotated; nbf not
    // reached) are not cached, so a client's token works as soon as they are resolved; other
    // refusals (bad signature, expired, wrong audience) are permanent and cached briefly.
    errorCacheTTL: (error: { code?: string }) => TRANSIENT_REFUSALS.has(error.code ?? '') ? -options.clockSkewMs - 1 : -1
  })

  // Tokens that passed, by their text, until they expire (a minute at most, as fast-jwt's own
  // cache): a client sends the same token on every call, and fast-jwt hashes the token for its
  // cache key on each one, which cost more than the rest of the check.
  const accepted = new Map<string, { verified: VerifiedToken, until: number }>()

  return async function verifyToken (token: string): Promise<VerifiedToken> {
    if (token.length > MAX_TOKEN_LENGTH) throw new TokenRejectedError(`token longer than ${MAX_TOKEN_LENGTH} characters`)
    const seen = accepted.get(token)
    if (seen !== undefined) {
      if (Date.now() < seen.until) return seen.verified
      accepted.delete(token)
    }
    let decoded: { header: Record<string, unknown>, payload: unknown }
    try {
      decoded = await verify(token) as { header: Record<string, unknown>, payload: unknown }
    } catch (err) {
      const cause = (err as { originalError?: unknown }).originalError
      if (cause instanceof KeyUnavailableError) throw new TokenRejectedError(cause.message)
      const code = (err as { code?: string }).code ?? ''
      throw new TokenRejectedError(REASONS[code] ?? `token refused (${code || (err as Error).message})`)
    }
    const claims = decoded.payload
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) throw new TokenRejectedError('payload is not a JSON object')
    const record = claims as Record<string, unknown>
    const now = Date.now()
    const problem = timeClaimProblem(record, options, now)
    if (problem !== undefined) throw new TokenRejectedError(problem)
    const verified = { header: decoded.header, claims: record }
    if (accepted.size >= ACCEPTED_TOKENS_KEPT) accepted.delete(accepted.keys().next().value as string)
    accepted.set(token, { verified, until: Math.min((record.exp as number) * 1000, now + ACCEPTED_TOKEN_MAX_AGE_MS) })
    return verified
  }
}

/** The header and claims of a token without verifying it: only to choose a verifier. */
export function peekToken (token: string): { header: Record<string, unknown>, claims: Record<string, unknown> } | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined
  try {
    const decoded = decodeHeader(token) as { header: Record<string, unknown>, payload: unknown }
    const claims = decoded.payload !== null && typeof decoded.payload === 'object' ? decoded.payload as Record<string, unknown> : {}
    return { header: decoded.header, claims }
  } catch {
    return undefined
  }
}
