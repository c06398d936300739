import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Catalog } from '../catalog/catalog.ts'
import type { AuthorizationServer } from '../plugins/oauth-server.ts'
import { PKCE_VALUE, resourceProblem, singleValued } from './browser-flow.ts'
import type { OAuthClient } from './clients.ts'
import { OAuthError } from './errors.ts'
import { secretHash } from './store.ts'
import type { Grant } from './store.ts'
import { randomToken } from './tokens.ts'

export interface TokenEndpointContext {
  server: AuthorizationServer
  catalog: Catalog
  resourceUrl: string
  refreshTtlSeconds: number
}

/** A token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  scope: string
}

const INVALID_GRANT = 'The authorization code or refresh token is invalid, expired, revoked, or was issued to another client'

/** S256 (RFC 7636 §4.6): BASE64URL(SHA256(verifier)) must be the challenge the authorization request sent. */
function pkceMatches (verifier: string, challenge: string): boolean {
  return PKCE_VALUE.test(verifier) && createHash('sha256').update(verifier).digest('base64url') === challenge
}

function formDecoded (part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '))
  } catch {
    throw new OAuthError('invalid_client', 'Malformed HTTP Basic client credentials', 401)
  }
}

/** The client's credentials: HTTP Basic (client_secret_basic) or the form (client_secret_post, or client_id alone). */
function clientCredentials (request: FastifyRequest, form: Record<string, string>): { clientId: string, secret: string | undefined } {
  const header = request.headers.authorization
  if (header !== undefined && /^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon === -1) throw new OAuthError('invalid_client', 'Malformed HTTP Basic client credentials', 401)
    // RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined.
    const clientId = formDecoded(decoded.slice(0, colon))
    const secret = formDecoded(decoded.slice(colon + 1))
    if (form.client_id !== undefined && form.client_id !== clientId) throw new OAuthError('invalid_request', 'client_id differs from the authenticated client')
    return { clientId, secret }
  }
  if (form.client_id === undefined || form.client_id === '') throw new OAuthError('invalid_client', 'Client authentication failed: send client_id (and the secret of a confidential client)', 401)
  return { clientId: form.client_id, secret: form.client_secret }
}

/**
 * The token endpoint (authorization_code with PKCE, refresh_token with rotation) and the
 * revocation endpoint (RFC 7009). Every refusal is an RFC 6749 error and issues nothing.
 */
export class TokenEndpoint {
  private readonly context: TokenEndpointContext

  constructor (context: TokenEndpointContext) {
    this.context = context
  }

  /** The client making the call, authenticated as its registration requires. */
  async client (request: FastifyRequest, form: Record<string, string>): Promise<OAuthClient> {
    const { clientId, secret } = clientCredentials(request, form)
    let client: OAuthClient | undefined
    try {
      client = await this.context.server.clients.find(clientId)
    } catch {
      client = undefined
    }
    if (client === undefined || !this.context.server.clients.authenticated(client, secret)) throw new OAuthError('invalid_client', 'Client authentication failed', 401)
    return client
  }

  async token (request: FastifyRequest): Promise<TokenResponse> {
    const form = singleValued(request.body)
    if (form === undefined) throw new OAuthError('invalid_request', 'Send the parameters form-encoded, each once')
    const client = await this.client(request, form)
    if (form.grant_type === 'authorization_code') return await this.fromCode(client, form)
    if (form.grant_type === 'refresh_token') return await this.fromRefreshToken(client, form)
    throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token')
  }

  private async fromCode (client: OAuthClient, form: Record<string, string>): Promise<TokenResponse> {
    const { code, redirect_uri: redirectUri, code_verifier: verifier } = form
    if (code === undefined || verifier === undefined) throw new OAuthError('invalid_request', 'code and code_verifier are required')
    if (resourceProblem(form.resource, this.context.resourceUrl)) throw new OAuthError('invalid_target', `This server issues tokens for ${this.context.resourceUrl} only`)
    const redemption = await this.context.server.store.redeemCode(secretHash(code))
    if (!redemption.ok) throw new OAuthError('invalid_grant', INVALID_GRANT)
    const { grant } = redemption
    // The code is spent either way: a thief without the verifier cannot retry, nor can anyone else.
    if (grant.client_id !== client.client_id || (redirectUri ?? redemption.redirect_uri) !== redemption.redirect_uri || !pkceMatches(verifier, redemption.code_challenge ?? '')) {
      await this.context.server.store.revokeGrant(grant.id, 'code presented with a wrong client, redirect URI or PKCE verifier')
      throw new OAuthError('invalid_grant', INVALID_GRANT)
    }
    return await this.issue(grant, grant.scopes.split(' '))
  }

  private async fromRefreshToken (client: OAuthClient, form: Record<string, string>): Promise<TokenResponse> {
    const refreshToken = form.refresh_token
    if (refreshToken === undefined) throw new OAuthError('invalid_request', 'refresh_token is required')
    if (resourceProblem(form.resource, this.context.resourceUrl)) throw new OAuthError('invalid_target', `This server issues tokens for ${this.context.resourceUrl} only`)
    const { store } = this.context.server
    const tokenHash = secretHash(refreshToken)
    // Checked before the token is used up, so a refused request (another client, wider scopes)
    // does not spend it: the client's retry would otherwise look like reuse.
    const grantId = await store.grantOfRefreshToken(tokenHash)
    const owner = grantId === undefined ? undefined : await store.findGrant(grantId)
    if (owner === undefined) throw new OAuthError('invalid_grant', INVALID_GRANT)
    if (owner.client_id !== client.client_id) {
      await store.revokeGrant(owner.id, 'refresh token presented by another client')
      throw new OAuthError('invalid_grant', INVALID_GRANT)
    }
    const granted = owner.scopes.split(' ')
    // A refresh may ask for fewer scopes (RFC 6749 §6), never more.
    const asked = form.scope === undefined || form.scope.trim() === '' ? granted : form.scope.trim().split(/\s+/)
    if (asked.some(scope => !granted.includes(scope))) throw new OAuthError('invalid_scope', `The sign-in granted ${granted.join(' ')} only`)
    const redemption = await store.rotateRefreshToken(tokenHash)
    if (!redemption.ok) throw new OAuthError('invalid_grant', INVALID_GRANT)
    const { grant } = redemption
    return await this.issue(grant, asked)
  }

  private async issue (grant: Grant, scopes: readonly string[]): Promise<TokenResponse> {
    const user = await this.context.catalog.findUserById(grant.user_id)
    if (user === undefined || !user.active) {
      await this.context.server.store.revokeGrant(grant.id, 'user deactivated')
      throw new OAuthError('invalid_grant', 'The user of this sign-in is deactivated')
    }
    const refreshToken = randomToken()
    await this.context.server.store.addRefreshToken(grant.id, secretHash(refreshToken), this.context.refreshTtlSeconds)
    const { tokens } = this.context.server
    return {
      access_token: tokens.issue({ username: user.username, userId: user.id, clientId: grant.client_id, scopes, grantId: grant.id }),
      token_type: 'Bearer',
      expires_in: tokens.ttlSeconds,
      refresh_token: refreshToken,
      scope: scopes.join(' ')
    }
  }

  /** RFC 7009: the grant behind an access or refresh token ends; unknown tokens are no error. */
  async revoke (request: FastifyRequest): Promise<{ grant: string | undefined }> {
    const form = singleValued(request.body)
    if (form === undefined) throw new OAuthError('invalid_request', 'Send the parameters form-encoded, each once')
    const client = await this.client(request, form)
    const token = form.token
    if (token === undefined || token === '') throw new OAuthError('invalid_request', 'token is required')
    const { store, tokens } = this.context.server
    let grantId: string | undefined
    if (token.split('.').length === 3) {
      try {
        grantId = String((await tokens.verify(token)).claims.gid)
      } catch {
        grantId = undefined
      }
    } else {
      grantId = await store.grantOfRefreshToken(secretHash(token))
    }
    if (grantId === undefined) return { grant: undefined }
    const grant = await store.findGrant(grantId)
    // Another client's token is not revoked for it (RFC 7009 §2.1), and nothing says so.
    if (grant === undefined || grant.client_id !== client.client_id) return { grant: undefined }
    await store.revokeGrant(grant.id, 'revoked by the client')
    return { grant: grant.id }
  }
}
