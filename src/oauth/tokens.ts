import { randomBytes, randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { createJwtVerifier } from '../auth/jwt.ts'
import type { TokenVerifier } from '../auth/jwt.ts'
import type { SigningKey } from '../auth/signing-key.ts'

/** A 256-bit random value, URL-safe: codes, refresh tokens, client secrets, request ids. */
export function randomToken (): string {
  return randomBytes(32).toString('base64url')
}

export interface AccessTokenOptions {
  key: SigningKey
  /** `iss`: the authorization server (MCP_SERVICE_URL). */
  issuer: string
  /** `aud`: the MCP endpoint, the only resource these tokens are for (RFC 8707). */
  audience: string
  ttlSeconds: number
  clockSkewMs: number
}

/** What an access token says about its holder. */
export interface AccessTokenSubject {
  username: string
  userId: number
  clientId: string
  scopes: readonly string[]
  grantId: string
}

/**
 * The access tokens of the built-in authorization server: JWTs (RFC 9068 `at+jwt`) signed with
 * the key every replica shares, for this MCP endpoint only. Each names its grant (`gid`), so
 * revoking the grant, or deactivating the user, ends it before it expires.
 */
export class AccessTokens {
  readonly issuer: string
  readonly audience: string
  readonly ttlSeconds: number
  readonly key: SigningKey
  readonly verify: TokenVerifier
  private readonly sign: (payload: Record<string, unknown>) => string

  constructor (options: AccessTokenOptions) {
    this.issuer = options.issuer
    this.audience = options.audience
    this.ttlSeconds = options.ttlSeconds
    this.key = options.key
    this.sign = createSigner({ key: options.key.privatePem, algorithm: options.key.algorithm, kid: options.key.kid, iss: options.issuer, aud: options.audience, expiresIn: options.ttlSeconds * 1000, header: { typ: 'at+jwt', alg: options.key.algorithm } })
    this.verify = createJwtVerifier({
      algorithm: options.key.algorithm,
      key: options.key.publicPem,
      issuers: [options.issuer],
      audiences: [options.audience],
      clockSkewMs: options.clockSkewMs,
      maxLifetimeMs: options.ttlSeconds * 1000,
      requiredClaims: ['sub', 'gid', 'uid', 'client_id']
    })
  }

  issue (subject: AccessTokenSubject): string {
    return this.sign({
      sub: subject.username,
      uid: subject.userId,
      client_id: subject.clientId,
      scope: subject.scopes.join(' '),
      gid: subject.grantId,
      jti: randomUUID()
    })
  }
}
