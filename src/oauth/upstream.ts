import * as oidc from 'openid-client'
import { isLoopbackHost } from '../hosts.ts'

export interface UpstreamOptions {
  issuer: string
  clientId: string
  clientSecret?: string | undefined
  scopes: readonly string[]
  /** Where the provider sends the browser back: MCP_SERVICE_URL/oauth/callback. */
  redirectUri: string
  /** Plain HTTP was allowed (loopback, or MCP_OAUTH_UPSTREAM_ALLOW_HTTP). */
  allowHttp: boolean
}

/** What this service keeps between sending the browser to the provider and its return. */
export interface UpstreamChecks {
  codeVerifier: string
  nonce: string
  state: string
}

/** The upstream step failed; `step` says which, for the person and the log. */
export class UpstreamError extends Error {
  readonly step: 'discovery' | 'sign-in' | 'token'
  constructor (step: 'discovery' | 'sign-in' | 'token', message: string) {
    super(message)
    this.name = 'UpstreamError'
    this.step = step
  }
}

/** Seconds one request to the provider may take. */
const UPSTREAM_TIMEOUT_SECONDS = 10
/** A failed discovery is retried on the next sign-in after this long, not on every request. */
const DISCOVERY_RETRY_MS = 5000

/**
 * The organisation's OpenID Connect provider, through openid-client (a certified relying-party
 * library): discovery from its well-known document, the authorization request with our own
 * PKCE and nonce, and the code exchange with ID-token validation. Only the claims come out.
 */
export class UpstreamProvider {
  readonly issuer: string
  private readonly options: UpstreamOptions
  private configuration: Promise<oidc.Configuration> | undefined
  private failedAt = 0

  constructor (options: UpstreamOptions) {
    this.options = options
    this.issuer = options.issuer
  }

  /** The provider's configuration, discovered once; a failure is kept a few seconds, then retried. */
  async discover (): Promise<oidc.Configuration> {
    if (this.configuration !== undefined) return await this.configuration
    if (Date.now() - this.failedAt < DISCOVERY_RETRY_MS) throw new UpstreamError('discovery', `the sign-in provider ${this.issuer} could not be reached a moment ago`)
    const { issuer, clientId, clientSecret } = this.options
    const insecure = new URL(issuer).protocol === 'http:' && (this.options.allowHttp || isLoopbackHost(new URL(issuer).hostname))
    this.configuration = oidc.discovery(new URL(issuer), clientId, clientSecret, clientSecret === undefined ? oidc.None() : undefined, {
      timeout: UPSTREAM_TIMEOUT_SECONDS,
      ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {})
    })
    try {
      return await this.configuration
    } catch (err) {
      this.configuration = undefined
      this.failedAt = Date.now()
      throw new UpstreamError('discovery', `the sign-in provider ${issuer} could not be discovered: ${(err as Error).message}`)
    }
  }

  /** Where to send the browser to sign in, and what to check when it comes back. */
  async authorizationUrl (state: string): Promise<{ url: string, checks: UpstreamChecks }> {
    const configuration = await this.discover()
    const codeVerifier = oidc.randomPKCECodeVerifier()
    const nonce = oidc.randomNonce()
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.options.redirectUri,
      scope: this.options.scopes.join(' '),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256'
    })
    return { url: url.href, checks: { codeVerifier, nonce, state } }
  }

  /**
   * The callback's URL (with the provider's code) → the signed-in person's claims: the ID
   * token's, with the UserInfo endpoint's added where it has one (groups often live there).
   */
  async claimsFromCallback (callbackUrl: URL, checks: UpstreamChecks): Promise<Record<string, unknown>> {
    const configuration = await this.discover()
    let tokens
    try {
      tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, { pkceCodeVerifier: checks.codeVerifier, expectedNonce: checks.nonce, expectedState: checks.state, idTokenExpected: true })
    } catch (err) {
      throw new UpstreamError('token', `the sign-in provider's answer was not accepted: ${(err as Error).message}`)
    }
    const idClaims = tokens.claims()
    if (idClaims === undefined) throw new UpstreamError('token', 'the sign-in provider returned no ID token')
    const claims: Record<string, unknown> = { ...idClaims }
    if (configuration.serverMetadata().userinfo_endpoint !== undefined) {
      try {
        const info = await oidc.fetchUserInfo(configuration, tokens.access_token, idClaims.sub)
        // The ID token's own claims win: they are signed.
        for (const [name, value] of Object.entries(info)) if (!(name in claims)) claims[name] = value
      } catch {
        // The ID token alone still names the person.
      }
    }
    return claims
  }
}
