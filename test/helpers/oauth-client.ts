import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthClientProvider, OAuthTokens } from '@modelcontextprotocol/client'
import type { Browser } from 'playwright-core'
import type { Test } from 'tap'
import { followAuthorization } from './oauth-browser.ts'
import type { AuthorizationOutcome } from './oauth-browser.ts'
import { DEFAULT_PASSWORD } from './oidc-provider.ts'

// The SDK v2 client's own OAuth support, as an MCP client app uses it: an OAuthClientProvider
// that keeps its registration and tokens in memory and "opens the browser" by recording the URL.

export class MemoryOAuthProvider implements OAuthClientProvider {
  readonly redirectUrl: string
  readonly clientMetadataUrl: string | undefined
  private information: OAuthClientInformationMixed | undefined
  private stored: OAuthTokens | undefined
  private verifier = ''
  /** The authorization URL the SDK last asked to open. */
  authorizationUrl: URL | undefined

  constructor (redirectUrl: string, clientMetadataUrl?: string) {
    this.redirectUrl = redirectUrl
    this.clientMetadataUrl = clientMetadataUrl
  }

  get clientMetadata (): OAuthClientMetadata {
    return {
      client_name: 'SDK v2 test client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none'
    }
  }

  clientInformation (): OAuthClientInformationMixed | undefined { return this.information }
  saveClientInformation (information: OAuthClientInformationMixed): void { this.information = information }
  tokens (): OAuthTokens | undefined { return this.stored }
  saveTokens (tokens: OAuthTokens): void { this.stored = tokens }
  redirectToAuthorization (url: URL): void { this.authorizationUrl = url }
  saveCodeVerifier (verifier: string): void { this.verifier = verifier }
  codeVerifier (): string { return this.verifier }
  invalidateCredentials (scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'client') this.information = undefined
    if (scope === 'all' || scope === 'tokens') this.stored = undefined
  }

  /** What the client was registered as (DCR) or identifies as (CIMD). */
  get clientId (): string | undefined { return this.information?.client_id }
  /** Replace the stored access token, e.g. with an expired one, keeping the refresh token. */
  spoilAccessToken (token: string): void {
    if (this.stored !== undefined) this.stored = { ...this.stored, access_token: token }
  }
}

export interface OAuthConnection {
  client: Client
  outcome: AuthorizationOutcome
}

/**
 * The whole first connection: connect → 401 → the SDK discovers, registers and asks to open the
 * authorization URL → the person signs in at the provider and decides on our consent page in
 * Chromium → finishAuth with the redirect → connect again with the tokens.
 */
export async function connectWithOAuth (t: Test, browser: Browser, mcpUrl: string, provider: MemoryOAuthProvider, person: { username: string, screenshotName?: string }): Promise<OAuthConnection> {
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })
  const probe = new Client({ name: 'analytics-mcp-oauth-tests', version: '1.0.0' })
  await t.rejects(probe.connect(first), UnauthorizedError, 'the first connection needs authorization')
  if (provider.authorizationUrl === undefined) throw new Error('the SDK did not ask to open an authorization URL')
  const outcome = await followAuthorization(browser, provider.authorizationUrl, { username: person.username, password: DEFAULT_PASSWORD, decision: 'allow', screenshotName: person.screenshotName })
  await first.finishAuth(outcome.url.searchParams)
  const client = new Client({ name: 'analytics-mcp-oauth-tests', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }))
  t.teardown(() => client.close())
  return { client, outcome }
}
