import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import type { KoaContextWithOIDC } from 'oidc-provider'
import type { Test } from 'tap'

/** A client of the test identity provider, for the client_credentials grant (service accounts). */
export interface TestClient {
  client_id: string
  client_secret: string
}

/**
 * A confidential client of the provider for the authorization-code flow (PKCE accepted),
 * the way an organisation registers our server's upstream client in Keycloak, Entra or Okta.
 */
export interface TestWebClient {
  client_id: string
  client_secret: string
  redirect_uris: string[]
}

/**
 * A person who can sign in at the provider: the claims its ID token carries (`sub` defaults to
 * the user's key) and a password (default DEFAULT_PASSWORD).
 */
export interface TestUser {
  sub?: string
  preferred_username?: string
  email?: string
  given_name?: string
  family_name?: string
  groups?: string[]
  password?: string
  [claim: string]: unknown
}

/** Every test user's password unless the user names its own. */
export const DEFAULT_PASSWORD = 'secret'

export interface OidcProviderOptions {
  /** The resource server (RFC 8707 resource indicator) client_credentials tokens are for: our MCP endpoint. */
  resource?: string
  /** Service accounts (client_credentials grant). */
  clients?: TestClient[]
  /** Scopes the resource accepts. */
  scopes?: string[]
  /** People who can sign in on the provider's login page, by username. */
  users?: Record<string, TestUser>
  /** Confidential clients for the authorization-code flow. */
  webClients?: TestWebClient[]
  /**
   * Make every sign-in end in this OAuth error (e.g. 'access_denied'), sent back to the
   * client's redirect URI the way a provider does when its policy refuses the person.
   */
  loginError?: string
}

export interface RunningOidcProvider {
  issuer: string
  jwksUri: string
  tokenEndpoint: string
  authorizationEndpoint: string
  /** A JWT access token for `resource` by the client_credentials grant, as a service account gets one. */
  clientToken: (client: TestClient, options?: { resource?: string, scope?: string }) => Promise<{ status: number, body: Record<string, any> }>
  /** From now on, end every sign-in in this OAuth error (undefined: sign people in again). */
  setLoginError: (error: string | undefined) => void
  /** How many people signed in successfully so far (each login form accepted). */
  signIns: () => number
}

/** The claim names each OpenID scope releases; `groups` is its own scope, as in Keycloak or Okta. */
const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: ['preferred_username', 'name', 'given_name', 'family_name'],
  email: ['email', 'email_verified'],
  groups: ['groups']
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, character => `&#${character.charCodeAt(0)};`)
}

/** The provider's own sign-in page: a plain form, no script. */
function loginPage (uid: string, clientId: string, error: string | undefined, username = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to Test IdP</title></head>
<body>
<h1>Test IdP</h1>
<p>Sign in to continue to <strong>${escapeHtml(clientId)}</strong>.</p>
${error === undefined ? '' : `<p role="alert" id="error">${escapeHtml(error)}</p>`}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Username <input name="username" id="username" autocomplete="username" value="${escapeHtml(username)}"></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="sign-in">Sign in</button>
<button type="submit" name="cancel" value="1" id="cancel">Cancel</button>
</form>
</body></html>`
}

async function formBody (request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function sendHtml (response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
  response.end(html)
}

/**
 * A real, OpenID-certified identity provider (panva's oidc-provider) on loopback: discovery,
 * JWKS with its own generated keys, JWT access tokens for a resource indicator, the way
 * Keycloak, Entra ID or Okta issue them to a service account, and an interactive
 * authorization-code flow with its own login page for `users` and `webClients`.
 */
export async function startOidcProvider (t: Test, options: OidcProviderOptions): Promise<RunningOidcProvider> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const users = options.users ?? {}
  const scopes = options.scopes ?? []
  const webClientIds = new Set((options.webClients ?? []).map(client => client.client_id))
  let loginError = options.loginError
  let signIns = 0

  const provider = new Provider(issuer, {
    clients: [
      ...(options.clients ?? []).map(client => ({ ...client, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' as const })),
      ...(options.webClients ?? []).map(client => ({ ...client, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code' as const], token_endpoint_auth_method: 'client_secret_post' as const }))
    ],
    scopes: ['openid', 'offline_access', 'groups', ...scopes],
    claims: SCOPE_CLAIMS,
    // The person's claims in the ID token itself, not only at UserInfo: what our server reads first.
    conformIdTokenClaims: false,
    cookies: { keys: ['test-idp-cookie-key'] },
    findAccount: (_ctx: KoaContextWithOIDC, sub: string) => {
      const entry = Object.entries(users).find(([username, user]) => (user.sub ?? username) === sub)
      if (entry === undefined) return undefined
      const [username, { password: _password, ...claims }] = entry
      return { accountId: sub, claims: () => ({ preferred_username: username, ...claims, sub }) }
    },
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Code-flow clients get an opaque token for UserInfo; service accounts get one for our resource.
        defaultResource: (_ctx: unknown, client: { clientId: string }) => webClientIds.has(client.clientId) ? undefined : options.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (options.resource === undefined || resource !== options.resource) throw new Error(`unknown resource ${resource}`)
          return { scope: scopes.join(' '), audience: resource, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }
        }
      } as any
    }
  })
  // Plain HTTP on loopback is fine for a test; the provider would otherwise insist on TLS for cookies.
  provider.proxy = true
  const providerCallback = provider.callback()

  /** GET /interaction/:uid: the login page (consent for these first-party clients is implied). */
  async function showInteraction (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(request, response)
    sendHtml(response, 200, loginPage(details.uid, String(details.params.client_id), undefined))
  }

  /** POST /interaction/:uid/login: check the password, then sign in and grant what was asked. */
  async function submitLogin (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(request, response)
    const form = await formBody(request)
    if (form.get('cancel') !== null) {
      await provider.interactionFinished(request, response, { error: 'access_denied', error_description: 'The user cancelled the sign-in' }, { mergeWithLastSubmission: false })
      return
    }
    const username = form.get('username') ?? ''
    const user = users[username]
    if (user === undefined || (user.password ?? DEFAULT_PASSWORD) !== form.get('password')) {
      sendHtml(response, 200, loginPage(details.uid, String(details.params.client_id), 'Invalid username or password.', username))
      return
    }
    if (loginError !== undefined) {
      await provider.interactionFinished(request, response, { error: loginError, error_description: 'The identity provider refused the sign-in' }, { mergeWithLastSubmission: false })
      return
    }
    const accountId = user.sub ?? username
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) })
    grant.addOIDCScope(String(details.params.scope ?? 'openid'))
    const claims = details.params.claims === undefined ? [] : Object.keys(JSON.parse(String(details.params.claims)).id_token ?? {})
    if (claims.length > 0) grant.addOIDCClaims(claims)
    const grantId = await grant.save()
    signIns++
    await provider.interactionFinished(request, response, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false })
  }

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const match = /^\/interaction\/([^/?]+)(\/login)?(?:\?|$)/.exec(request.url ?? '')
    if (match === null) {
      void providerCallback(request, response)
      return
    }
    const handler = match[2] === undefined ? showInteraction : submitLogin
    if ((match[2] === undefined) !== (request.method === 'GET')) {
      sendHtml(response, 405, 'method not allowed')
      return
    }
    handler(request, response).catch((err: unknown) => {
      // An expired or unknown interaction: the provider's own wording, as a page.
      if (!response.headersSent) sendHtml(response, 400, `<!doctype html><p>${escapeHtml((err as Error).message)}</p>`)
    })
  })
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json() as { jwks_uri: string, token_endpoint: string, authorization_endpoint: string }
  return {
    issuer,
    jwksUri: discovery.jwks_uri,
    tokenEndpoint: discovery.token_endpoint,
    authorizationEndpoint: discovery.authorization_endpoint,
    async clientToken (client, request = {}) {
      const response = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, resource: request.resource ?? options.resource ?? '', scope: request.scope ?? scopes.join(' ') })
      })
      return { status: response.status, body: await response.json() as Record<string, any> }
    },
    setLoginError (error) { loginError = error },
    signIns: () => signIns
  }
}
