import type { FastifyRequest } from 'fastify'
import { accessProfileOf } from '../catalog/access.ts'
import type { Catalog } from '../catalog/catalog.ts'
import type { UserRecord } from '../catalog/records.ts'
import type { AuthMethod, Principal } from '../tools/tool.ts'
import { ApiKeyRejectedError, isApiKeyShaped, recordApiKeyUse, usableKey, verifyApiKey } from './api-keys.ts'
import { insufficientScope, invalidCredentials, missingCredentials } from './challenge.ts'
import type { ChallengeContext } from './challenge.ts'
import type { ServiceTokens } from './exchange.ts'
import type { AccessTokens } from '../oauth/tokens.ts'
import { MAX_TOKEN_LENGTH, peekToken, TokenRejectedError } from './jwt.ts'
import type { TokenVerifier } from './jwt.ts'
import { MalformedScopeError, missingScopes, scopesFromClaims } from './scopes.ts'
import { resolveUser, UserRejectedError } from './users.ts'
import { CatalogUnavailable } from '../errors.ts'
import type { UserResolutionOptions } from './users.ts'

/** Turns a request into a principal, or throws an AuthChallengeError (401/403). */
export interface Authenticator {
  authenticate: (request: FastifyRequest) => Promise<Principal>
}

/** The principal of a request: user, scopes and RBAC profile. */
export async function principalFor (catalog: Catalog, user: UserRecord, authMethod: AuthMethod, scopes?: readonly string[], clientId?: string, expiresAt?: number): Promise<Principal> {
  return { user, authMethod, scopes, clientId, expiresAt, access: await accessProfileOf(catalog, user.id) }
}

/** When a token stops being valid (its `exp`, in ms), if it says. */
function expiryOf (claims: Readonly<Record<string, unknown>>): number | undefined {
  return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined
}

/** What a custom verifier (MCP_AUTH_FACTORY) returns for a valid token. */
export interface CustomVerification {
  /** The catalog user, when the verifier knows it; otherwise `claims` go through user resolution. */
  username?: string
  claims?: Record<string, unknown>
  scopes?: string[]
}

export type CustomVerifier = (token: string, request: FastifyRequest) => Promise<CustomVerification> | CustomVerification

export interface CredentialAuthenticatorOptions {
  catalog: Catalog
  challenge: ChallengeContext
  users: UserResolutionOptions
  requiredScopes: readonly string[]
  /** Read a JWT without scope claims as unrestricted (roles only) instead of as no scopes. */
  allowUnscopedTokens: boolean
  /** Log the reason a credential was refused (MCP_JWT_DEBUG_ERRORS). */
  debugErrors: boolean
  jwt?: TokenVerifier | undefined
  custom?: CustomVerifier | undefined
  serviceTokens?: ServiceTokens | undefined
  /** The built-in authorization server's access tokens, and whether a grant still holds. */
  oauth?: { tokens: AccessTokens, grantActive: (grantId: string) => Promise<boolean> } | undefined
  /** API key prefix when API keys are accepted. */
  apiKeyPrefix?: string | undefined
  onAttempt?: (method: AuthMethod | 'none', outcome: 'success' | 'rejected' | 'insufficient_scope') => void
}

interface Credential {
  method: AuthMethod
  user: UserRecord
  scopes: readonly string[] | undefined
  clientId: string | undefined
  /** When the credential expires (ms since the epoch), if it does. */
  expiresAt?: number | undefined
}

/** Why a credential was refused; kept for the server log. */
class Refusal extends Error {
  readonly method: AuthMethod | 'none'
  constructor (method: AuthMethod | 'none', reason: string) {
    super(reason)
    this.method = method
  }
}

/**
 * Authentication when it is on. Credentials, in order:
 * - `Authorization: Key <api key>`, or `Bearer <prefix>_...` (API keys, when enabled);
 * - `Bearer <access token of the built-in authorization server>` (MCP_OAUTH_SERVER_ENABLED);
 * - `Bearer <token issued by POST /v1/auth/>` (this service's own tokens, when enabled);
 * - `Bearer <token>` checked by MCP_AUTH_FACTORY's verifier, else by the JWT verifier.
 * The user must be an active catalog user; the credential's scopes must hold
 * MCP_REQUIRED_SCOPES. Every refusal is the same generic 401 (or 403 for scopes).
 */
export class CredentialAuthenticator implements Authenticator {
  private readonly options: CredentialAuthenticatorOptions

  constructor (options: CredentialAuthenticatorOptions) {
    this.options = options
  }

  async authenticate (request: FastifyRequest): Promise<Principal> {
    const header = request.headers.authorization
    if (header === undefined || header.trim() === '') {
      this.options.onAttempt?.('none', 'rejected')
      throw missingCredentials(this.options.challenge)
    }
    let credential: Credential
    try {
      credential = await this.credentialFrom(header, request)
    } catch (err) {
      if (err instanceof CatalogUnavailable) throw err
      const method = err instanceof Refusal ? err.method : 'none'
      this.options.onAttempt?.(method, 'rejected')
      if (this.options.debugErrors) {
        request.log.warn({ auth_method: method, reason: (err as Error).message, source_ip: request.ip, user_agent: request.headers['user-agent'] }, 'authentication failed')
      } else {
        request.log.info({ auth_method: method }, 'authentication failed')
      }
      throw invalidCredentials(this.options.challenge, method === 'api_key')
    }
    const missing = missingScopes(credential.scopes ?? [], this.options.requiredScopes)
    if (missing.length > 0) {
      this.options.onAttempt?.(credential.method, 'insufficient_scope')
      throw insufficientScope(this.options.challenge, [...(credential.scopes ?? []), ...this.options.requiredScopes])
    }
    this.options.onAttempt?.(credential.method, 'success')
    return await principalFor(this.options.catalog, credential.user, credential.method, credential.scopes, credential.clientId, credential.expiresAt)
  }

  private async credentialFrom (header: string, request: FastifyRequest): Promise<Credential> {
    const space = header.indexOf(' ')
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase()
    const value = space === -1 ? '' : header.slice(space + 1).trim()
    if (value === '') throw new Refusal('none', 'empty credential')
    if (value.length > MAX_TOKEN_LENGTH) throw new Refusal('none', `credential longer than ${MAX_TOKEN_LENGTH} characters`)
    const { apiKeyPrefix } = this.options
    if (scheme === 'key') {
      if (apiKeyPrefix === undefined) throw new Refusal('api_key', 'API keys are not enabled (MCP_API_KEY_ENABLED)')
      return await this.fromApiKey(value, apiKeyPrefix)
    }
    if (scheme !== 'bearer') throw new Refusal('none', `unsupported authorization scheme "${scheme}"`)
    if (apiKeyPrefix !== undefined && isApiKeyShaped(value, apiKeyPrefix)) return await this.fromApiKey(value, apiKeyPrefix)
    return await this.fromBearer(value, request)
  }

  private async fromApiKey (key: string, prefix: string): Promise<Credential> {
    let record
    try {
      record = await verifyApiKey(this.options.catalog, key, prefix)
    } catch (err) {
      if (err instanceof CatalogUnavailable) throw err
      throw new Refusal('api_key', err instanceof ApiKeyRejectedError ? err.message : 'API key check failed')
    }
    const user = this.activeUser('api_key', await this.options.catalog.findUserById(record.user_id))
    await recordApiKeyUse(this.options.catalog, record)
    return { method: 'api_key', user, scopes: record.scopes ?? undefined, clientId: `api-key:${record.name}`, expiresAt: record.expires_on === null ? undefined : Date.parse(record.expires_on) }
  }

  private async fromBearer (token: string, request: FastifyRequest): Promise<Credential> {
    const { serviceTokens, custom, jwt, catalog, oauth } = this.options
    // Only our own tokens are told apart by their claims: no need to decode a token twice otherwise.
    const peeked = oauth !== undefined || serviceTokens !== undefined ? peekToken(token)?.claims : undefined
    // Both kinds of our own tokens have our issuer; the authorization server's name a grant.
    if (oauth !== undefined && peeked?.iss === oauth.tokens.issuer && peeked.gid !== undefined) return await this.fromAccessToken(oauth, token)
    if (serviceTokens !== undefined && peeked?.iss === serviceTokens.issuer) {
      const { claims } = await this.verified('exchanged_token', serviceTokens.verify, token)
      const key = await catalog.findApiKeyByKeyId(String(claims.akid))
      try {
        if (key === undefined) throw new ApiKeyRejectedError('the API key of this token no longer exists')
        usableKey(key)
      } catch (err) {
        throw new Refusal('exchanged_token', (err as Error).message)
      }
      const user = this.activeUser('exchanged_token', await catalog.findUserByUsername(String(claims.sub)))
      await recordApiKeyUse(catalog, key)
      // This service's own tokens carry the key's scopes, or none for a key without scopes.
      return { method: 'exchanged_token', user, scopes: this.scopesOf('exchanged_token', claims), clientId: typeof claims.client_id === 'string' ? claims.client_id : undefined, expiresAt: expiryOf(claims) }
    }
    if (custom !== undefined) {
      let verification: CustomVerification
      try {
        verification = await custom(token, request)
      } catch (err) {
        throw new Refusal('custom', `the custom verifier refused the token: ${(err as Error).message}`)
      }
      if (verification === null || typeof verification !== 'object') throw new Refusal('custom', 'the custom verifier returned no verification')
      const claims = verification.claims ?? {}
      const user = verification.username !== undefined
        ? this.activeUser('custom', await catalog.findUserByUsername(verification.username))
        : await this.userFromClaims('custom', claims)
      return { method: 'custom', user, scopes: verification.scopes ?? this.scopesOf('custom', claims), clientId: typeof claims.client_id === 'string' ? claims.client_id : undefined, expiresAt: expiryOf(claims) }
    }
    if (jwt === undefined) throw new Refusal('jwt', 'bearer tokens are not accepted (MCP_AUTH_ENABLED is off); use an API key')
    const { claims } = await this.verified('jwt', jwt, token)
    const user = await this.userFromClaims('jwt', claims)
    const clientId = [claims.client_id, claims.azp].find((value): value is string => typeof value === 'string')
    // An identity provider's token without scope claims gets no scopes (fail closed), unless
    // MCP_ALLOW_UNSCOPED_TOKENS says its roles alone should limit it.
    const scopes = this.scopesOf('jwt', claims) ?? (this.options.allowUnscopedTokens ? undefined : [])
    return { method: 'jwt', user, scopes, clientId, expiresAt: expiryOf(claims) }
  }

  /** An access token of the built-in authorization server: valid only while its grant and its user are. */
  private async fromAccessToken (oauth: NonNullable<CredentialAuthenticatorOptions['oauth']>, token: string): Promise<Credential> {
    const { claims } = await this.verified('oauth', oauth.tokens.verify, token)
    if (!await oauth.grantActive(String(claims.gid))) throw new Refusal('oauth', 'the sign-in (grant) of this token was revoked or has ended')
    const user = this.activeUser('oauth', typeof claims.uid === 'number' ? await this.options.catalog.findUserById(claims.uid) : undefined)
    if (user.username !== claims.sub) throw new Refusal('oauth', 'the token names another user than its user id')
    return { method: 'oauth', user, scopes: this.scopesOf('oauth', claims) ?? [], clientId: String(claims.client_id), expiresAt: expiryOf(claims) }
  }

  private scopesOf (method: AuthMethod, claims: Readonly<Record<string, unknown>>): string[] | undefined {
    try {
      return scopesFromClaims(claims)
    } catch (err) {
      throw new Refusal(method, err instanceof MalformedScopeError ? err.message : 'unreadable scopes')
    }
  }


  private async verified (method: AuthMethod, verify: TokenVerifier, token: string): Promise<{ claims: Readonly<Record<string, unknown>> }> {
    try {
      return await verify(token)
    } catch (err) {
      throw new Refusal(method, err instanceof TokenRejectedError ? err.reason : `token check failed: ${(err as Error).message}`)
    }
  }

  private async userFromClaims (method: AuthMethod, claims: Readonly<Record<string, unknown>>): Promise<UserRecord> {
    try {
      return await resolveUser(this.options.catalog, claims, this.options.users)
    } catch (err) {
      if (err instanceof CatalogUnavailable) throw err
      throw new Refusal(method, err instanceof UserRejectedError ? err.message : `user resolution failed: ${(err as Error).message}`)
    }
  }

  private activeUser (method: AuthMethod, user: UserRecord | undefined): UserRecord {
    if (user === undefined) throw new Refusal(method, 'the credential names no catalog user')
    if (!user.active) throw new Refusal(method, `user "${user.username}" is inactive`)
    return user
  }
}
