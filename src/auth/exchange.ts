import { randomUUID } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { ApiKeyRecord } from '../catalog/records.ts'
import { createJwtVerifier } from './jwt.ts'
import type { TokenVerifier } from './jwt.ts'
import { signingKeyOf } from './signing-key.ts'

export interface ServiceTokenOptions {
  privateKeyPem: string
  algorithm: 'RS256' | 'ES256'
  /** `iss` of the tokens: this service's URL. */
  issuer: string
  /** `aud` of the tokens: this service's resource URL (only this service accepts them). */
  audience: string
  ttlSeconds: number
  clockSkewMs: number
}

/**
 * Tokens this service signs itself, for the Preset-style exchange of an API key (name and
 * secret) for a short-lived JWT. Only this service accepts them (its issuer and audience),
 * and each names its API key (`akid`), so revoking the key also ends its tokens.
 */
export class ServiceTokens {
  readonly issuer: string
  readonly audience: string
  readonly ttlSeconds: number
  readonly kid: string
  readonly verify: TokenVerifier
  private readonly sign: (payload: Record<string, unknown>) => string
  private readonly jwk: JsonWebKey

  constructor (options: ServiceTokenOptions) {
    const key = signingKeyOf(options.privateKeyPem, options.algorithm)
    const publicPem = key.publicPem
    this.kid = key.kid
    this.issuer = options.issuer
    this.audience = options.audience
    this.ttlSeconds = options.ttlSeconds
    this.jwk = key.jwk
    this.sign = createSigner({ key: options.privateKeyPem, algorithm: options.algorithm, kid: this.kid, iss: options.issuer, aud: options.audience, expiresIn: options.ttlSeconds * 1000 })
    this.verify = createJwtVerifier({
      algorithm: options.algorithm,
      key: publicPem,
      issuers: [options.issuer],
      audiences: [options.audience],
      clockSkewMs: options.clockSkewMs,
      // This service signs these tokens for exactly ttlSeconds: anything longer is not one of ours.
      maxLifetimeMs: options.ttlSeconds * 1000,
      requiredClaims: ['sub', 'akid']
    })
  }

  /** A token for the user of an API key, with the key's scopes. */
  issue (key: ApiKeyRecord): { accessToken: string, expiresIn: number } {
    const accessToken = this.sign({
      sub: key.username,
      client_id: `api-key:${key.name}`,
      akid: key.key_id,
      jti: randomUUID(),
      ...(key.scopes === null ? {} : { scope: key.scopes.join(' ') })
    })
    return { accessToken, expiresIn: this.ttlSeconds }
  }

  /** The public key as a JWKS, so other services can verify these tokens too. */
  jwks (): { keys: JsonWebKey[] } {
    return { keys: [this.jwk] }
  }
}
