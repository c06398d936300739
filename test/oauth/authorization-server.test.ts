import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ConfigError } from '../../src/config.ts'
import { secretHash } from '../../src/oauth/store.ts'
import { randomToken } from '../../src/oauth/tokens.ts'
import { build } from '../helpers/app.ts'
import { cli } from '../helpers/cli.ts'
import { testConfig } from '../helpers/config.ts'
import { json, startHttpsServer } from '../helpers/https-server.ts'
import { pkcePair, postForm, startOAuthEnvironment } from '../helpers/oauth-server.ts'
import type { OAuthEnvironment } from '../helpers/oauth-server.ts'
import { freePort } from '../helpers/ports.ts'
import { post } from '../helpers/rpc.ts'

// The authorization server's endpoints over real HTTP, and every abuse the issue lists: each
// refused, nothing issued. Codes are minted through the store (what the consent page does), so
// the token endpoint is tested without a browser; flows.test.ts runs the browser part.

t.setTimeout(240_000)

const REDIRECT = 'http://127.0.0.1:8976/callback'

/** Abuse cases tried in this file (printed for the closing note of issue 13). */
let abuseCases = 0
function abuse (): void { abuseCases++ }
t.teardown(() => { console.log(`# abuse cases refused: ${abuseCases}`) })

async function register (env: OAuthEnvironment, metadata: Record<string, unknown> = {}): Promise<{ status: number, body: Record<string, any>, headers: Headers }> {
  const response = await fetch(`${env.origin}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Abuse test client', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', ...metadata })
  })
  return { status: response.status, body: await response.json() as Record<string, any>, headers: response.headers }
}

/** A code for `username`, as Allow on the consent page creates it. */
async function mintCode (env: OAuthEnvironment, clientId: string, challenge: string, username = 'alice', scopes = 'mcp:read mcp:write mcp:sql'): Promise<{ code: string, grantId: string }> {
  const server = env.app.oauthServer!
  const user = await env.app.catalog.findUserByUsername(username)
  const code = randomToken()
  const grantId = randomUUID()
  await server.store.createGrant(
    { id: grantId, user_id: user!.id, client_id: clientId, client_name: 'Abuse test client', scopes, resource: env.resource },
    { hash: secretHash(code), redirect_uri: REDIRECT, code_challenge: challenge }, 60)
  return { code, grantId }
}

async function redeem (env: OAuthEnvironment, fields: Record<string, string>): Promise<{ status: number, body: Record<string, any> }> {
  return await postForm(`${env.origin}/oauth/token`, { grant_type: 'authorization_code', redirect_uri: REDIRECT, ...fields })
}

async function mcpStatus (env: OAuthEnvironment, accessToken: string): Promise<number> {
  return (await post(env.resource, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${accessToken}` })).status
}

/** GET /oauth/authorize without following redirects. */
async function authorize (env: OAuthEnvironment, params: Record<string, string>): Promise<{ status: number, location: string | null, text: string }> {
  const response = await fetch(`${env.origin}/oauth/authorize?${new URLSearchParams(params).toString()}`, { redirect: 'manual' })
  return { status: response.status, location: response.headers.get('location'), text: await response.text() }
}

function grantCount (env: OAuthEnvironment): Promise<number> {
  return env.app.catalog.store.db.selectFrom('oauth_grants').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow().then(row => Number(row.n))
}

t.test('metadata: RFC 8414, OpenID-style discovery, RFC 9728 pointing here, and the JWKS', async t => {
  const env = await startOAuthEnvironment(t)
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    const response = await fetch(`${env.origin}${path}`)
    t.equal(response.status, 200, path)
    const metadata = await response.json() as Record<string, any>
    t.match(metadata, {
      issuer: env.origin,
      authorization_endpoint: `${env.origin}/oauth/authorize`,
      token_endpoint: `${env.origin}/oauth/token`,
      registration_endpoint: `${env.origin}/oauth/register`,
      revocation_endpoint: `${env.origin}/oauth/revoke`,
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
      response_types_supported: ['code'],
      scopes_supported: ['mcp:read', 'mcp:write', 'mcp:sql']
    }, `${path} describes the authorization server`)
  }
  const resource = await (await fetch(`${env.origin}/.well-known/oauth-protected-resource/mcp`)).json() as Record<string, any>
  t.equal(resource.authorization_servers[0], env.origin, 'the protected-resource metadata names this server first')
  const challenge = await post(env.resource, { jsonrpc: '2.0', id: 1, method: 'tools/list' })
  t.equal(challenge.status, 401, '/mcp without a token: 401')
  t.match(challenge.headers.get('www-authenticate') ?? '', /resource_metadata="[^"]+oauth-protected-resource\/mcp"/, 'pointing at the metadata')

  const client = await register(env)
  const { verifier, challenge: pkce } = pkcePair()
  const { code } = await mintCode(env, client.body.client_id, pkce)
  const issued = await redeem(env, { code, code_verifier: verifier, client_id: client.body.client_id })
  const jwks = await (await fetch(`${env.origin}/.well-known/jwks.json`)).json() as { keys: Array<{ kid: string }> }
  t.ok(jwks.keys.some(key => key.kid === (JSON.parse(Buffer.from(String(issued.body.access_token).split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid: string }).kid), 'access tokens are signed with a key the JWKS publishes')
})

t.test('start-up refuses an authorization server that cannot work, naming the setting', async t => {
  const dir = t.testdir()
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x' }, /MCP_OAUTH_UPSTREAM_ISSUER: required/],
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'https://idp.example.com' }, /MCP_OAUTH_UPSTREAM_CLIENT_ID: required/],
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'http://idp.example.com', MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x' }, /MCP_OAUTH_UPSTREAM_ISSUER: http:\/\/idp.example.com is plain HTTP/],
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'https://idp.example.com', MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x', MCP_OAUTH_UPSTREAM_SCOPES: ['profile'] }, /MCP_OAUTH_UPSTREAM_SCOPES: must include openid/],
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'https://idp.example.com', MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x', MCP_SERVICE_HOST: '0.0.0.0' }, /MCP_SERVICE_URL: required with MCP_OAUTH_SERVER_ENABLED/],
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'https://idp.example.com', MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x', MCP_SERVICE_HOST: '0.0.0.0', MCP_SERVICE_URL: 'http://mcp.example.com' }, /MCP_SERVICE_URL: http:\/\/mcp.example.com is plain HTTP/],
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'https://idp.example.com', MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x', MCP_OAUTH_CLIENTS: [{ client_id: 'portal', client_name: 'Portal', redirect_uris: ['http://portal.example.com/cb'] }] }, /MCP_OAUTH_CLIENTS: client "portal": redirect URI "http:\/\/portal.example.com\/cb"/],
    [{ MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'https://idp.example.com', MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x', MCP_OAUTH_ACCESS_TOKEN_TTL: 5 }, /MCP_OAUTH_ACCESS_TOKEN_TTL/]
  ]
  for (const [settings, message] of cases) {
    t.throws(() => testConfig(dir, settings), { name: ConfigError.name, message }, `refused: ${String(message)}`)
  }
})

t.test('Dynamic Client Registration: validated, rate-limited', async t => {
  const env = await startOAuthEnvironment(t, { settings: { MCP_OAUTH_DCR_PER_HOUR: 6 } })
  const ok = await register(env)
  t.equal(ok.status, 201, 'a public client registers')
  t.match(ok.body, { client_id: /^[\w-]{16,}$/, client_name: 'Abuse test client', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })
  t.notOk('client_secret' in ok.body, 'a public client gets no secret')
  const confidential = await register(env, { token_endpoint_auth_method: 'client_secret_basic' })
  t.match(confidential.body, { client_secret: /^.{32,}$/ }, 'a confidential client gets its secret once')

  for (const [metadata, error, what] of [
    [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri', 'a javascript: redirect URI'],
    [{ redirect_uris: ['http://attacker.example/callback'] }, 'invalid_redirect_uri', 'plain http to a non-loopback host'],
    [{ redirect_uris: [`${REDIRECT}#fragment`] }, 'invalid_redirect_uri', 'a redirect URI with a fragment']
  ] as const) {
    abuse()
    const refused = await register(env, metadata)
    t.equal(refused.status, 400, `${what}: refused`)
    t.equal(refused.body.error, error)
  }
  const notJson = await fetch(`${env.origin}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2' })
  t.equal(notJson.status, 400, 'a registration that is not JSON: 400')

  // Two accepted so far, three refused (refusals count too: a flood is a flood); the next ones hit the limit.
  abuse()
  let last = await register(env)
  while (last.status === 201 || last.status === 400) last = await register(env)
  t.equal(last.status, 429, 'a registration flood from one address is cut off')
  t.equal(last.body.error, 'too_many_requests')
  t.ok(Number(last.headers.get('retry-after')) >= 1, 'with Retry-After')
})

t.test('authorize: only registered redirect URIs, PKCE S256, this resource', async t => {
  const env = await startOAuthEnvironment(t)
  const client = (await register(env)).body
  const { challenge } = pkcePair()
  const good = { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 'xyz', resource: env.resource }

  const started = await authorize(env, good)
  t.equal(started.status, 302, 'a good request goes to the upstream provider')
  t.ok(started.location?.startsWith(env.idp.authorizationEndpoint), 'its authorization endpoint')

  for (const [redirect, what] of [
    ['http://127.0.0.1.evil.example:8976/callback', 'a look-alike host'],
    ['http://127.0.0.1:8976/callback/extra', 'an extra path'],
    ['http://127.0.0.1:8976/callbacks', 'a longer path'],
    ['http://localhost.attacker.example/callback', 'another host'],
    ['https://127.0.0.1:8976/callback', 'another scheme']
  ] as const) {
    abuse()
    const refused = await authorize(env, { ...good, redirect_uri: redirect })
    t.equal(refused.status, 400, `${what}: refused on a page`)
    t.equal(refused.location, null, 'never redirected to it')
    t.match(refused.text, /did not register/)
  }
  const otherPort = await authorize(env, { ...good, redirect_uri: 'http://127.0.0.1:41234/callback' })
  t.equal(otherPort.status, 302, 'a loopback redirect on another port is the same redirect (RFC 8252)')

  for (const [params, error, what] of [
    [{ code_challenge: undefined }, 'invalid_request', 'no PKCE challenge'],
    [{ code_challenge_method: 'plain' }, 'invalid_request', 'PKCE plain'],
    [{ code_challenge: 'short' }, 'invalid_request', 'a malformed challenge'],
    [{ resource: 'https://other.example/mcp' }, 'invalid_target', 'a resource of another server'],
    [{ response_type: 'token' }, 'unsupported_response_type', 'the implicit flow'],
    [{ scope: 'admin:everything' }, 'invalid_scope', 'only unknown scopes']
  ] as const) {
    abuse()
    const params_ = Object.fromEntries(Object.entries({ ...good, ...params }).filter(([, value]) => value !== undefined)) as Record<string, string>
    const refused = await authorize(env, params_)
    t.equal(refused.status, 302, `${what}: sent back to the client`)
    const back = new URL(refused.location ?? 'http://missing')
    t.equal(`${back.origin}${back.pathname}`, REDIRECT)
    t.equal(back.searchParams.get('error'), error, `with error=${error}`)
    t.equal(back.searchParams.get('state'), 'xyz', 'and its state')
  }
  const unknown = await authorize(env, { ...good, client_id: 'nobody-registered-this' })
  t.equal(unknown.status, 400, 'an unknown client: a page, no redirect')
  t.match(unknown.text, /not known here/)
  t.equal(await grantCount(env), 0, 'nothing was issued')
})

t.test('the token endpoint: PKCE, single-use codes, redirect and resource binding', async t => {
  const env = await startOAuthEnvironment(t)
  const client = (await register(env)).body
  const other = (await register(env)).body

  const { verifier, challenge } = pkcePair()
  const wrongVerifier = await mintCode(env, client.client_id, challenge)
  abuse()
  const wrong = await redeem(env, { code: wrongVerifier.code, code_verifier: pkcePair().verifier, client_id: client.client_id })
  t.equal(wrong.status, 400, 'a wrong PKCE verifier is refused')
  t.equal(wrong.body.error, 'invalid_grant')
  t.notOk(await env.app.oauthServer!.store.grantActive(wrongVerifier.grantId), 'and the code is spent: its grant is revoked')

  const missing = await mintCode(env, client.client_id, challenge)
  abuse()
  const noVerifier = await redeem(env, { code: missing.code, client_id: client.client_id })
  t.equal(noVerifier.status, 400, 'a code without a verifier is refused')
  t.notOk('access_token' in noVerifier.body)

  const foreign = await mintCode(env, client.client_id, challenge)
  abuse()
  const byOther = await redeem(env, { code: foreign.code, code_verifier: verifier, client_id: other.client_id })
  t.equal(byOther.body.error, 'invalid_grant', 'another client cannot redeem the code')
  const afterTheft = await redeem(env, { code: foreign.code, code_verifier: verifier, client_id: client.client_id })
  t.equal(afterTheft.body.error, 'invalid_grant', 'and the code is dead for its own client too')

  const misdirected = await mintCode(env, client.client_id, challenge)
  abuse()
  const elsewhere = await redeem(env, { code: misdirected.code, code_verifier: verifier, client_id: client.client_id, redirect_uri: 'http://127.0.0.1:8976/other' })
  t.equal(elsewhere.body.error, 'invalid_grant', 'a redirect_uri other than the authorization request\'s is refused')

  const otherServer = await mintCode(env, client.client_id, challenge)
  abuse()
  const target = await redeem(env, { code: otherServer.code, code_verifier: verifier, client_id: client.client_id, resource: 'https://other.example/mcp' })
  t.equal(target.body.error, 'invalid_target', 'a token for another server\'s resource is refused')

  const good = await mintCode(env, client.client_id, challenge)
  const issued = await redeem(env, { code: good.code, code_verifier: verifier, client_id: client.client_id, resource: env.resource })
  t.equal(issued.status, 200, 'the right verifier, client, redirect and resource: tokens')
  t.match(issued.body, { token_type: 'Bearer', expires_in: 900, scope: 'mcp:read mcp:write mcp:sql', access_token: /^ey/, refresh_token: /^.{32,}$/ })
  t.equal(await mcpStatus(env, issued.body.access_token), 200, 'the access token works on /mcp')

  abuse()
  const replay = await redeem(env, { code: good.code, code_verifier: verifier, client_id: client.client_id })
  t.equal(replay.body.error, 'invalid_grant', 'a code used twice is refused')
  t.equal(await mcpStatus(env, issued.body.access_token), 401, 'and what the first use issued is revoked with it')
  abuse()
  const refreshAfterReplay = await postForm(`${env.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: issued.body.refresh_token, client_id: client.client_id })
  t.equal(refreshAfterReplay.body.error, 'invalid_grant', 'its refresh token too')

  abuse()
  const forged = await mcpStatus(env, `${String(issued.body.access_token).slice(0, -6)}AAAAAA`)
  t.equal(forged, 401, 'a token with a changed signature is refused')
})

t.test('refresh: rotation, reuse revokes the family, scopes only narrow, other clients refused', async t => {
  const env = await startOAuthEnvironment(t)
  const client = (await register(env)).body
  const other = (await register(env)).body
  const { verifier, challenge } = pkcePair()
  const { code } = await mintCode(env, client.client_id, challenge)
  const first = (await redeem(env, { code, code_verifier: verifier, client_id: client.client_id })).body

  const refresh = (token: string, extra: Record<string, string> = {}): Promise<{ status: number, body: Record<string, any> }> =>
    postForm(`${env.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: client.client_id, ...extra })

  abuse()
  const widened = await refresh(first.refresh_token, { scope: 'mcp:read mcp:admin' })
  t.equal(widened.body.error, 'invalid_scope', 'a refresh cannot widen the scopes')
  const narrowed = await refresh(first.refresh_token, { scope: 'mcp:read' })
  t.equal(narrowed.status, 200, 'it can narrow them')
  t.equal(narrowed.body.scope, 'mcp:read')
  t.not(narrowed.body.refresh_token, first.refresh_token, 'a new refresh token every time')
  const listed = await post(env.resource, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${String(narrowed.body.access_token)}` })
  t.notOk((listed.json.result.tools as Array<{ name: string }>).some(tool => tool.name === 'execute_sql'), 'the narrowed token has no SQL tool')
  const second = await refresh(narrowed.body.refresh_token)
  t.equal(second.status, 200, 'the rotated token refreshes')

  abuse()
  const stolen = await postForm(`${env.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: second.body.refresh_token, client_id: other.client_id })
  t.equal(stolen.body.error, 'invalid_grant', 'another client presenting the refresh token is refused')
  t.equal(await mcpStatus(env, second.body.access_token), 401, 'and the family is revoked: its access token stops working')

  // A fresh family, then a rotated refresh token comes back: a copy was stolen.
  const again = await mintCode(env, client.client_id, challenge)
  const family = (await redeem(env, { code: again.code, code_verifier: verifier, client_id: client.client_id })).body
  const rotated = (await refresh(family.refresh_token)).body
  abuse()
  const reuse = await refresh(family.refresh_token)
  t.equal(reuse.body.error, 'invalid_grant', 'a rotated refresh token used again is refused')
  t.equal(await mcpStatus(env, rotated.access_token), 401, 'the newest access token of the family stops working')
  t.equal((await refresh(rotated.refresh_token)).body.error, 'invalid_grant', 'and the newest refresh token too')
})

t.test('a deactivated user\'s tokens stop at once; revocation ends a sign-in', async t => {
  const env = await startOAuthEnvironment(t)
  const client = (await register(env)).body
  const { verifier, challenge } = pkcePair()
  const bob = await mintCode(env, client.client_id, challenge, 'bob')
  const tokens = (await redeem(env, { code: bob.code, code_verifier: verifier, client_id: client.client_id })).body
  t.equal(await mcpStatus(env, tokens.access_token), 200, 'bob is connected')
  await env.app.catalog.setUserActive('bob', false)
  abuse()
  t.equal(await mcpStatus(env, tokens.access_token), 401, 'deactivated: his access token is refused on the next call')
  abuse()
  const refreshed = await postForm(`${env.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id })
  t.equal(refreshed.body.error, 'invalid_grant', 'and his refresh token issues nothing')
  await env.app.catalog.setUserActive('bob', true)
  t.equal(await mcpStatus(env, tokens.access_token), 401, 'reactivating him does not bring that sign-in back')

  const alice = await mintCode(env, client.client_id, challenge, 'alice')
  const aliceTokens = (await redeem(env, { code: alice.code, code_verifier: verifier, client_id: client.client_id })).body
  const revoked = await postForm(`${env.origin}/oauth/revoke`, { token: aliceTokens.access_token, client_id: client.client_id })
  t.equal(revoked.status, 200, 'the client revokes its access token (RFC 7009)')
  t.equal(await mcpStatus(env, aliceTokens.access_token), 401, 'which stops working')
  t.equal((await postForm(`${env.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: aliceTokens.refresh_token, client_id: client.client_id })).body.error, 'invalid_grant', 'with its whole sign-in')
  const unknown = await postForm(`${env.origin}/oauth/revoke`, { token: 'not-a-token', client_id: client.client_id })
  t.equal(unknown.status, 200, 'revoking an unknown token answers 200, as RFC 7009 says')

  // An operator ends every sign-in of a user (a lost laptop) without deactivating the account.
  const admin = await mintCode(env, client.client_id, challenge, 'admin')
  const adminTokens = (await redeem(env, { code: admin.code, code_verifier: verifier, client_id: client.client_id })).body
  const cliEnv = { MCP_DATA_DIR: env.app.config.MCP_DATA_DIR, MCP_LOG_LEVEL: 'silent' }
  const listed = await cli(['oauth', 'sign-ins', '--user', 'admin'], cliEnv)
  t.equal(listed.code, 0, listed.err)
  t.match(listed.out, new RegExp(`${admin.grantId}\tAbuse test client\t${client.client_id}\tmcp:read mcp:write mcp:sql\tsigned in .*\tactive until`), 'oauth sign-ins lists the grant, its client and scopes')
  const ended = await cli(['oauth', 'revoke', '--user', 'admin'], cliEnv)
  t.match(ended.out, /Ended 1 OAuth sign-in\(s\) of admin/, 'oauth revoke ends it')
  t.equal(await mcpStatus(env, adminTokens.access_token), 401, 'and the access token stops working at once')
  t.match((await cli(['oauth', 'sign-ins', '--user', 'admin'], cliEnv)).out, /revoked .*\(revoked by an operator\)/, 'the listing says who ended it')
  const nobody = await cli(['oauth', 'revoke', '--user', 'nobody'], cliEnv)
  t.equal(nobody.code, 2, 'an unknown user is a usage error')
  t.match(nobody.err, /no user named "nobody"/)
})

t.test('Client ID Metadata Documents: private addresses, slow and huge documents refused', async t => {
  const host = await startHttpsServer(t)
  host.route('/client.json', json({ client_id: `${host.origin}/client.json`, client_name: 'Hosted client', redirect_uris: [REDIRECT] }))
  const strict = await startOAuthEnvironment(t, { settings: { MCP_OAUTH_CIMD_CA_FILE: host.caFile } })
  const { challenge } = pkcePair()
  const params = (clientId: string): Record<string, string> => ({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' })

  abuse()
  const loopback = await authorize(strict, params(`${host.origin}/client.json`))
  t.equal(loopback.status, 400, 'a client id URL resolving to loopback: refused')
  t.match(loopback.text, /non-public address/)
  t.equal(host.hits('/client.json'), 0, 'without a request to it')
  for (const url of ['https://169.254.169.254/latest/meta-data/client', 'https://10.0.0.1/client.json', 'https://[::1]/client.json']) {
    abuse()
    const refused = await authorize(strict, params(url))
    t.equal(refused.status, 400, `${url}: refused`)
  }

  const trusting = await startOAuthEnvironment(t, { settings: { MCP_OAUTH_CIMD_CA_FILE: host.caFile, MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES: true } })
  const hosted = await authorize(trusting, params(`${host.origin}/client.json`))
  t.equal(hosted.status, 302, 'the same document on an allowed host is used')

  host.route('/slow.json', () => { /* never answers */ })
  abuse()
  const slow = await authorize(trusting, params(`${host.origin}/slow.json`))
  t.equal(slow.status, 400, 'a document that never comes: refused (after 5 s)')
  t.match(slow.text, /no complete answer/)

  host.route('/huge.json', (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ client_id: `${host.origin}/huge.json`, redirect_uris: [REDIRECT], padding: 'x'.repeat(200_000) }))
  })
  abuse()
  const huge = await authorize(trusting, params(`${host.origin}/huge.json`))
  t.equal(huge.status, 400, 'a 200 KB document: refused')
  t.match(huge.text, /larger than 65536 bytes/)

  host.route('/impostor.json', json({ client_id: 'https://claude.ai/oauth/client.json', client_name: 'Claude', redirect_uris: [REDIRECT] }))
  abuse()
  const impostor = await authorize(trusting, params(`${host.origin}/impostor.json`))
  t.equal(impostor.status, 400, 'a document naming another client_id than its URL: refused')

  abuse()
  const again = await authorize(trusting, params(`${host.origin}/slow.json`))
  t.equal(again.status, 400, 'a failed document is not fetched again at once (no amplification)')
  t.equal(host.hits('/slow.json'), 1, 'one request reached the slow host')
  t.equal(await grantCount(trusting) + await grantCount(strict), 0, 'nothing was issued')
})

t.test('confidential clients: pre-registered with a secret from the environment, and registered ones', async t => {
  process.env.TEST_PORTAL_CLIENT_SECRET = 'portal-secret-0123456789abcdef'
  t.teardown(() => { delete process.env.TEST_PORTAL_CLIENT_SECRET })
  const env = await startOAuthEnvironment(t, {
    settings: { MCP_OAUTH_CLIENTS: [{ client_id: 'internal-portal', client_name: 'Internal portal', redirect_uris: [REDIRECT], client_secret_env: 'TEST_PORTAL_CLIENT_SECRET' }] }
  })
  const basic = (id: string, secret: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}` })
  const { verifier, challenge } = pkcePair()

  const started = await authorize(env, { response_type: 'code', client_id: 'internal-portal', redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' })
  t.equal(started.status, 302, 'the pre-registered client starts a sign-in')
  const first = await mintCode(env, 'internal-portal', challenge)
  abuse()
  const noSecret = await postForm(`${env.origin}/oauth/token`, { grant_type: 'authorization_code', code: first.code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: 'internal-portal' })
  t.equal(noSecret.status, 401, 'without its secret: 401')
  t.equal(noSecret.body.error, 'invalid_client')
  t.match(noSecret.headers.get('www-authenticate') ?? '', /^Basic /, 'with a Basic challenge')
  abuse()
  const wrongSecret = await postForm(`${env.origin}/oauth/token`, { grant_type: 'authorization_code', code: first.code, code_verifier: verifier, redirect_uri: REDIRECT }, basic('internal-portal', 'not-the-secret-at-all'))
  t.equal(wrongSecret.body.error, 'invalid_client', 'with a wrong secret: refused')
  abuse()
  const malformed = await postForm(`${env.origin}/oauth/token`, { grant_type: 'authorization_code', code: first.code, code_verifier: verifier, redirect_uri: REDIRECT }, { authorization: `Basic ${Buffer.from('bad%zz:x').toString('base64')}` })
  t.equal(malformed.status, 401, 'malformed Basic credentials: 401, not a server error')
  const issued = await postForm(`${env.origin}/oauth/token`, { grant_type: 'authorization_code', code: first.code, code_verifier: verifier, redirect_uri: REDIRECT }, basic('internal-portal', 'portal-secret-0123456789abcdef'))
  t.equal(issued.status, 200, 'with its secret in HTTP Basic: tokens (the refused attempts did not spend the code)')
  const posted = await postForm(`${env.origin}/oauth/token`, { grant_type: 'refresh_token', refresh_token: issued.body.refresh_token, client_id: 'internal-portal', client_secret: 'portal-secret-0123456789abcdef' })
  t.equal(posted.status, 200, 'client_secret_post works too')

  const registered = (await register(env, { token_endpoint_auth_method: 'client_secret_basic' })).body
  const code = await mintCode(env, registered.client_id, challenge)
  const viaBasic = await postForm(`${env.origin}/oauth/token`, { grant_type: 'authorization_code', code: code.code, code_verifier: verifier, redirect_uri: REDIRECT }, basic(registered.client_id, registered.client_secret))
  t.equal(viaBasic.status, 200, 'a registered confidential client authenticates with the secret it was given')
  abuse()
  const unsupported = await postForm(`${env.origin}/oauth/token`, { grant_type: 'password', username: 'alice', password: 'x', client_id: registered.client_id, client_secret: registered.client_secret })
  t.equal(unsupported.body.error, 'unsupported_grant_type', 'the password grant does not exist here')

  t.throws(() => testConfig(t.testdir(), { MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: 'https://idp.example.com', MCP_OAUTH_UPSTREAM_CLIENT_ID: 'x', MCP_OAUTH_CLIENTS: [{ client_id: 'a', client_name: 'A', redirect_uris: [REDIRECT] }, { client_id: 'a', client_name: 'A again', redirect_uris: [REDIRECT] }] }),
    { message: /client_id "a" is listed twice/ }, 'a client listed twice stops start-up')
})

t.test('an unreachable upstream provider: a page naming it, and the client told to retry later', async t => {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const app = await build(t, { MCP_SERVICE_URL: origin, MCP_OAUTH_SERVER_ENABLED: true, MCP_OAUTH_UPSTREAM_ISSUER: `http://127.0.0.1:${await freePort()}`, MCP_OAUTH_UPSTREAM_CLIENT_ID: 'analytics-mcp' })
  await app.listen({ host: '127.0.0.1', port })
  const env = { app, origin, resource: `${origin}/mcp` } as unknown as OAuthEnvironment
  t.equal((await fetch(`${origin}/healthz`)).status, 200, 'the service starts and serves anyway (the provider may come up later)')
  const client = (await register(env)).body
  const { challenge } = pkcePair()
  const down = await authorize(env, { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 's' })
  t.equal(down.status, 502, 'a 502 page, not a redirect loop')
  t.match(down.text, /The sign-in service cannot be reached/, 'naming the step that failed')
  t.match(down.text, /error=temporarily_unavailable/, 'with a link back telling the client to retry later')
  t.notMatch(down.text, /ECONNREFUSED|at \w+ \(/, 'no error internals')
})
