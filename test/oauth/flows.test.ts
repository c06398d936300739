import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import t from 'tap'
import { chromiumAvailable, consent, launchChromium, openAuthorization, screenshot, signInAtIdp } from '../helpers/oauth-browser.ts'
import { connectWithOAuth, MemoryOAuthProvider } from '../helpers/oauth-client.ts'
import { postForm, startOAuthEnvironment, startReplicatedOAuthEnvironment } from '../helpers/oauth-server.ts'
import { json, startHttpsServer } from '../helpers/https-server.ts'
import { DEFAULT_PASSWORD } from '../helpers/oidc-provider.ts'
import { post } from '../helpers/rpc.ts'

// The whole OAuth flow as MCP client apps run it, against the built-in authorization server:
// the SDK v2 client's OAuth support, a real OpenID provider for the sign-in (oidc-provider) and
// Debian's Chromium for the person's part (the provider's login page, our consent page).
// Screenshots of the consent page: .artifacts/screenshots/oauth-consent-*.png

t.setTimeout(400_000)

/** Where the client app listens for the redirect (the browser is answered without it: nothing listens). */
const REDIRECT = 'http://127.0.0.1:53682/callback'

function toolNames (result: { tools: Array<{ name: string }> }): string[] {
  return result.tools.map(tool => tool.name)
}

async function grantCount (app: { catalog: { store: { db: any } } }): Promise<number> {
  const row = await app.catalog.store.db.selectFrom('oauth_grants').select(({ fn }: any) => fn.countAll().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

/** A public client registered by DCR, as a client app does before its first authorization. */
async function registerClient (origin: string, name: string): Promise<{ client_id: string }> {
  const response = await fetch(`${origin}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: name, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })
  })
  return await response.json() as { client_id: string }
}

if (chromiumAvailable(t)) {
  t.test('SDK v2 client registered by Dynamic Client Registration: sign-in, calls as the user, refresh, reuse, revoke', async t => {
    const browser = await launchChromium(t)
    const env = await startOAuthEnvironment(t)
    const provider = new MemoryOAuthProvider(REDIRECT)
    const { client, outcome } = await connectWithOAuth(t, browser, env.resource, provider, { username: 'alice', screenshotName: 'dcr' })

    t.match(provider.clientId, /^[\w-]{16,}$/, 'the SDK registered itself and got a client id')
    t.match(outcome.consentText, /SDK v2 test client/, 'the consent page names the client')
    t.match(outcome.consentText, /registered itself/, 'and says its name is not verified')
    t.match(outcome.consentText, /127\.0\.0\.1:53682/, 'and the host its answer goes to')
    t.match(outcome.consentText, /mcp:sql/, 'and the scopes it asks for')
    t.match(outcome.consentText, /alice/, 'and whom it acts for')
    t.same(outcome.problems, [], 'no console error or CSP violation on our pages')
    t.equal(outcome.url.searchParams.get('iss'), env.origin, 'the redirect names the issuer (RFC 9207)')

    const tools = toolNames(await client.listTools())
    t.ok(tools.includes('execute_sql'), 'alice (Alpha + sql_lab) gets the SQL tools')
    const whoami = await client.callTool({ name: 'get_instance_info', arguments: {} })
    t.match(JSON.stringify(whoami.structuredContent), /alice/, 'tools run as alice')
    const sql = await client.callTool({ name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT 1 AS one' } })
    t.notOk(sql.isError, 'and she runs SQL')

    // The access token expired: on the 401 the SDK refreshes and retries.
    const firstTokens = provider.tokens()
    t.ok(firstTokens?.refresh_token, 'a refresh token was issued')
    provider.spoilAccessToken('expired.access.token')
    const again = await client.callTool({ name: 'health_check', arguments: {} })
    t.notOk(again.isError, 'a call after the access token went bad succeeds after a refresh')
    t.not(provider.tokens()?.refresh_token, firstTokens?.refresh_token, 'the refresh token rotated')

    const revoked = await postForm(`${env.origin}/oauth/revoke`, { token: String(provider.tokens()?.refresh_token), client_id: String(provider.clientId) })
    t.equal(revoked.status, 200, 'the client revokes its refresh token (sign-out)')
    const afterRevoke = await post(env.resource, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${String(provider.tokens()?.access_token)}` })
    t.equal(afterRevoke.status, 401, 'and the access token of that sign-in stops working at once')
    await t.rejects(client.listTools(), 'the SDK client can no longer call: it must sign in again')
  })

  t.test('SDK v2 client identified by a Client ID Metadata Document; bob gets bob\'s tools', async t => {
    const browser = await launchChromium(t)
    const host = await startHttpsServer(t)
    const documentUrl = `${host.origin}/oauth/client-metadata.json`
    host.route('/oauth/client-metadata.json', json({
      client_id: documentUrl,
      client_name: 'Hosted MCP client',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none'
    }, { 'cache-control': 'max-age=300' }))
    const env = await startOAuthEnvironment(t, { settings: { MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES: true, MCP_OAUTH_CIMD_CA_FILE: host.caFile } })
    const provider = new MemoryOAuthProvider(REDIRECT, documentUrl)
    const { client, outcome } = await connectWithOAuth(t, browser, env.resource, provider, { username: 'bob', screenshotName: 'cimd' })

    t.equal(provider.clientId, documentUrl, 'the client id is its metadata document\'s URL (no registration)')
    t.match(outcome.consentText, /Hosted MCP client/, 'the consent page shows the document\'s client name')
    t.match(outcome.consentText, new RegExp(`localhost:${new URL(host.origin).port}`), 'and where the document is hosted')
    t.same(outcome.problems, [], 'no console error or CSP violation')
    const tools = toolNames(await client.listTools())
    t.ok(tools.includes('list_dashboards'), 'bob (Gamma) reads dashboards')
    t.notOk(tools.includes('execute_sql'), 'but gets no SQL tool: his roles, not the scopes asked for, decide')
    const refused = await client.callTool({ name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT 1' } })
    t.ok(refused.isError, 'calling it anyway is refused')
    t.equal(host.hits('/oauth/client-metadata.json'), 1, 'the document was fetched once and cached')
  })

  t.test('missing authorization is a clear page, not a loop; Deny tells the client', async t => {
    const browser = await launchChromium(t)
    const env = await startOAuthEnvironment(t, { settings: { MCP_OAUTH_SUPPORT_CONTACT: '#data-platform on Slack' } })
    const client = await registerClient(env.origin, 'Browser test client')
    const authorizeUrl = (): string => `${env.origin}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'st-1' }).toString()}`

    // carol signs in at the provider, but the catalog has no user for her.
    const carol = await openAuthorization(browser, authorizeUrl())
    await signInAtIdp(carol.page, 'carol', DEFAULT_PASSWORD)
    const noAccess = await carol.page.locator('main').innerText()
    t.match(noAccess, /You have no access to analytics here/, 'carol sees that she has no access')
    t.match(noAccess, /no analytics account for carol/, 'and why')
    t.match(noAccess, /#data-platform on Slack/, 'and whom to ask')
    const back = new URL(await carol.page.locator('a[href*="error=access_denied"]').getAttribute('href') ?? 'http://missing')
    t.equal(back.searchParams.get('state'), 'st-1', 'the link back to the application carries error=access_denied and the state')
    await screenshot(carol.page, 'oauth-no-access')
    await carol.close()

    // The provider itself refuses the person (a conditional-access policy, say).
    env.idp.setLoginError('access_denied')
    const refused = await openAuthorization(browser, authorizeUrl())
    await signInAtIdp(refused.page, 'alice', DEFAULT_PASSWORD)
    t.match(await refused.page.locator('main').innerText(), /did not succeed[\s\S]*access_denied/, 'the upstream refusal names the step and the provider\'s answer')
    await refused.close()
    env.idp.setLoginError(undefined)

    // alice reaches the consent page and says no.
    const denied = await openAuthorization(browser, authorizeUrl())
    await signInAtIdp(denied.page, 'alice', DEFAULT_PASSWORD)
    await consent(denied.page, 'deny')
    const deniedUrl = await denied.redirected
    t.equal(deniedUrl.searchParams.get('error'), 'access_denied', 'Deny sends the client error=access_denied')
    t.equal(deniedUrl.searchParams.get('code'), null, 'and no code')
    await denied.close()
    t.equal(await grantCount(env.app), 0, 'nothing was issued for carol, the refused sign-in or the denial')
  })

  t.test('a consent CSRF attempt is refused; the real Allow works once', async t => {
    const browser = await launchChromium(t)
    const env = await startOAuthEnvironment(t)
    const client = await registerClient(env.origin, 'CSRF test client')
    const window = await openAuthorization(browser, `${env.origin}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString()}`)
    await signInAtIdp(window.page, 'alice', DEFAULT_PASSWORD)
    const form = window.page.locator('form[action$="/oauth/consent"]')
    const requestId = await form.locator('input[name="request"]').getAttribute('value') ?? ''
    const csrf = await form.locator('input[name="csrf"]').getAttribute('value') ?? ''

    const withoutCookie = await postForm(`${env.origin}/oauth/consent`, { request: requestId, csrf, decision: 'allow' })
    t.equal(withoutCookie.status, 403, 'the form fields alone (no cookie of the person\'s browser) are refused')
    t.equal(withoutCookie.headers.get('location'), null, 'no redirect, no code')

    // An attacker's page in the person's own browser auto-submits the form to our consent endpoint.
    const attacker = await window.context.newPage()
    await attacker.route('http://attacker.test/**', async route => {
      await route.fulfill({ contentType: 'text/html', body: `<form id="f" method="post" action="${env.origin}/oauth/consent"><input name="request" value="${requestId}"><input name="csrf" value="guessed"><input name="decision" value="allow"></form>` })
    })
    await attacker.goto('http://attacker.test/')
    const [attempt] = await Promise.all([attacker.waitForNavigation(), attacker.evaluate('document.getElementById("f").submit()')])
    t.equal(attempt?.status(), 403, 'a cross-site form post from the attacker\'s page is refused')
    t.notOk(attacker.url().startsWith(REDIRECT), 'and never reaches the client with a code')
    await attacker.close()
    t.equal(await grantCount(env.app), 0, 'nothing was issued')

    await consent(window.page, 'allow', 'after-csrf')
    const allowed = await window.redirected
    t.ok(allowed.searchParams.get('code'), 'the person\'s own Allow still works')
    const replay = await window.context.request.post(`${env.origin}/oauth/consent`, { form: { request: requestId, csrf, decision: 'allow' }, maxRedirects: 0 })
    t.equal(replay.status(), 403, 'the same form posted again (with the cookie) issues nothing more')
    await window.close()
    t.equal(await grantCount(env.app), 1, 'one grant in all')
  })

  t.test('two replicas on one PostgreSQL catalog behind one URL: authorize on A, token on B, calls on either', async t => {
    const browser = await launchChromium(t)
    // authorize and consent on replica 0, the upstream callback and the token call on replica 1, /mcp alternating.
    const env = await startReplicatedOAuthEnvironment(t, 2, (request, index) => {
      const path = new URL(request.url ?? '/', 'http://front').pathname
      if (path === '/oauth/authorize' || path === '/oauth/consent' || path === '/oauth/register') return 0
      if (path === '/oauth/callback' || path === '/oauth/token') return 1
      return index
    })
    const provider = new MemoryOAuthProvider(REDIRECT)
    const { client } = await connectWithOAuth(t, browser, env.resource, provider, { username: 'alice', screenshotName: 'replicas' })
    for (let call = 0; call < 4; call++) {
      const result = await client.callTool({ name: 'health_check', arguments: {} })
      t.notOk(result.isError, `call ${call + 1} succeeds`)
    }
    const servedBy = (path: string): number[] => [...new Set(env.proxy.served.filter(entry => entry.path === path).map(entry => entry.replica))]
    t.same(servedBy('/oauth/authorize'), [0], 'the authorization request reached replica A')
    t.same(servedBy('/oauth/callback'), [1], 'the upstream sign-in came back to replica B')
    t.same(servedBy('/oauth/token'), [1], 'the token call went to replica B')
    t.same(servedBy('/mcp').sort(), [0, 1], 'and MCP calls were answered by both')
    const jwksA = await (await fetch(`http://127.0.0.1:${(env.replicas[0]!.server.address() as { port: number }).port}/.well-known/jwks.json`)).json()
    const jwksB = await (await fetch(`http://127.0.0.1:${(env.replicas[1]!.server.address() as { port: number }).port}/.well-known/jwks.json`)).json()
    t.same(jwksA, jwksB, 'both replicas publish the same signing key (generated once into the catalog)')
  })
}

t.test('an SDK v2 client without OAuth support is told where to sign in', async t => {
  const env = await startOAuthEnvironment(t)
  const client = new Client({ name: 'no-oauth', version: '1.0.0' })
  await t.rejects(client.connect(new StreamableHTTPClientTransport(new URL(env.resource))), /401|Unauthorized/i, 'a 401, with the metadata URL in its challenge')
})
