import { TOOL_NAMES } from '../helpers/tools.ts'
import { Writable } from 'node:stream'
import t from 'tap'
import { createJwtVerifier, TokenRejectedError } from '../../src/auth/jwt.ts'
import { loggerOptions } from '../../src/logger.ts'
import { startTestServer } from '../helpers/app.ts'
import type { RunningServer } from '../helpers/app.ts'
import { AUDIENCE, callWith, INVALID_TOKEN_BODY, ISSUER, jwtSettings, SECRET } from '../helpers/auth.ts'
import { connectClient, ERAS, textOf } from '../helpers/client.ts'
import { testConfig } from '../helpers/config.ts'
import { JwksServer } from '../helpers/jwks-server.ts'
import { claimsFor, signWith, signWithSecret, testKey } from '../helpers/keys.ts'
import type { TestKey } from '../helpers/keys.ts'
import { post } from '../helpers/rpc.ts'

// Bearer JWT authentication: each supported algorithm, user resolution, scopes, RFC 6750
// challenges and RFC 9728 metadata, over real HTTP.

const whoAmI = async (server: RunningServer, authorization: string): Promise<Record<string, any> | undefined> =>
  (await callWith(server, authorization, 'get_instance_info')).json?.result?.structuredContent?.current_user

t.test('every supported algorithm, with the SDK client in both eras', async t => {
  const cases: Array<{ name: string, settings: Record<string, unknown>, token: string }> = []
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    cases.push({ name: `${alg} shared secret`, settings: { MCP_JWT_ALGORITHM: alg, MCP_JWT_SECRET: SECRET }, token: signWithSecret(SECRET, claimsFor('alice'), alg) })
  }
  for (const alg of ['RS256', 'RS384', 'RS512', 'ES256', 'ES384'] as const) {
    const key = testKey(`static-${alg}`, alg)
    cases.push({ name: `${alg} static public key`, settings: { MCP_JWT_ALGORITHM: alg, MCP_JWT_PUBLIC_KEY: key.publicPem }, token: signWith(key, claimsFor('alice')) })
  }
  const jwks = await JwksServer.start(t)
  for (const alg of ['RS256', 'ES256'] as const) {
    const key = testKey(`jwks-${alg}`, alg)
    jwks.keys.push(key.jwk)
    cases.push({ name: `${alg} JWKS`, settings: { MCP_JWT_ALGORITHM: alg, MCP_JWKS_URI: jwks.url }, token: signWith(key, claimsFor('alice')) })
  }

  for (const { name, settings, token } of cases) {
    t.test(name, async t => {
      const server = await startTestServer(t, jwtSettings(settings))
      for (const era of ERAS) {
        const client = await connectClient(t, server.url, era, { authorization: `Bearer ${token}` })
        const { tools } = await client.listTools()
        t.ok(tools.some(tool => tool.name === 'execute_sql'), `${era}: tools/list works for alice`)
        const info = await client.callTool({ name: 'get_instance_info', arguments: {} })
        t.match(info.structuredContent, { current_user: { username: 'alice', auth_method: 'jwt' } }, `${era}: calls run as alice`)
      }
      const anonymous = await callWith(server, undefined)
      t.equal(anonymous.status, 401, 'without a token: 401')
    })
  }
})

t.test('user resolution follows the Superset guide, and can be configured', async t => {
  const key = testKey('users')
  const token = (claims: Record<string, unknown>): string => `Bearer ${signWith(key, { ...claimsFor('unused'), sub: undefined, ...claims })}`

  t.test('default order: sub, client_id, email, username; the first non-empty claim decides', async t => {
    const server = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem }))
    t.equal((await whoAmI(server, token({ sub: 'alice', email: 'bob@example.com' })))?.username, 'alice')
    t.equal((await whoAmI(server, token({ client_id: 'bob' })))?.username, 'bob', 'machine-to-machine tokens name the user in client_id')
    t.equal((await whoAmI(server, token({ email: 'alice@example.com' })))?.username, 'alice', 'an email is matched against user emails')
    t.equal((await whoAmI(server, token({ username: 'bob' })))?.username, 'bob')
    const unknownFirst = await callWith(server, token({ sub: 'f3b9c2e0-0000-4000-8000-000000000000', email: 'alice@example.com' }), 'get_instance_info')
    t.equal(unknownFirst.status, 401, 'an unknown first claim is refused, not skipped (never another identity)')
    t.same(unknownFirst.json, INVALID_TOKEN_BODY)
  })

  t.test('MCP_USER_CLAIMS changes the order (Keycloak: preferred_username)', async t => {
    const server = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_USER_CLAIMS: ['preferred_username', 'email'] }))
    t.equal((await whoAmI(server, token({ sub: 'f3b9c2e0', preferred_username: 'bob' })))?.username, 'bob')
  })

  t.test('several issuers need an issuer-aware MCP_USER_RESOLVER', async t => {
    const resolver = (claims: Record<string, unknown>, context: { issuer: string | undefined }): string | undefined =>
      context.issuer === ISSUER ? String(claims.sub) : context.issuer === 'https://partner.test/' ? `partner-${String(claims.sub)}` : undefined
    const server = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_JWT_ISSUER: [ISSUER, 'https://partner.test/'], MCP_USER_RESOLVER: resolver }))
    await server.app.catalog.createUser({ username: 'partner-alice', roles: ['Gamma'] })
    t.equal((await whoAmI(server, `Bearer ${signWith(key, claimsFor('alice'))}`))?.username, 'alice')
    t.equal((await whoAmI(server, `Bearer ${signWith(key, claimsFor('alice', {}, AUDIENCE, 'https://partner.test/'))}`))?.username, 'partner-alice', 'the same sub from the other issuer is another user')
  })

  t.test('inactive users are refused', async t => {
    const server = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem }))
    await server.app.catalog.createUser({ username: 'carol', roles: ['Admin'], active: false })
    const refused = await callWith(server, token({ sub: 'carol' }))
    t.equal(refused.status, 401)
    t.same(refused.json, INVALID_TOKEN_BODY)
  })

  t.test('just-in-time provisioning creates users with mapped roles (off by default)', async t => {
    const server = await startTestServer(t, jwtSettings({
      MCP_JWT_PUBLIC_KEY: key.publicPem,
      MCP_USER_CLAIMS: ['preferred_username'],
      MCP_JIT_PROVISIONING: true,
      MCP_JIT_ROLE_MAPPING: { analysts: ['Alpha', 'examples_access'], 'sql-users': ['sql_lab'] },
      MCP_JIT_DEFAULT_ROLES: ['Gamma']
    }))
    const newcomer = token({ preferred_username: 'dana', email: 'dana@example.com', given_name: 'Dana', groups: ['analysts', 'unmapped'] })
    const me = await whoAmI(server, newcomer)
    t.match(me, { username: 'dana', email: 'dana@example.com', first_name: 'Dana' })
    t.same(me?.roles, ['Alpha', 'Gamma', 'examples_access'], 'default and mapped roles, unmapped groups ignored')
    t.equal((await whoAmI(server, newcomer))?.username, 'dana', 'the next call finds the user')
    const single = await whoAmI(server, token({ preferred_username: 'finn', groups: 'sql-users' }))
    t.same(single?.roles, ['Gamma', 'sql_lab'], 'a string claim is one group')
    const sneaky = await whoAmI(server, token({ preferred_username: 'gil', groups: 'not analysts' }))
    t.same(sneaky?.roles, ['Gamma'], 'a group name containing a mapped one is not that group')
    const prototype = await whoAmI(server, token({ preferred_username: 'hal', groups: ['toString', '__proto__', 'constructor'] }))
    t.same(prototype?.roles, ['Gamma'], 'names from the object prototype map to nothing')

    const off = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_USER_CLAIMS: ['preferred_username'] }))
    t.equal((await callWith(off, token({ preferred_username: 'erin' }))).status, 401, 'without provisioning an unknown user is refused')
  })
})

t.test('scopes', async t => {
  const key = testKey('scopes')
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem }))
  const bearer = (scope?: unknown, claim = 'scope'): string => `Bearer ${signWith(key, claimsFor('admin', { scope: undefined, ...(scope === undefined ? {} : { [claim]: scope }) }))}`

  t.test('tools/list shows only the tools the scopes cover', async t => {
    const readOnly = await connectClient(t, server.url, 'legacy', { authorization: bearer('mcp:read') })
    const names = (await readOnly.listTools()).tools.map(tool => tool.name)
    t.notOk(names.includes('execute_sql'))
    t.ok(names.includes('list_charts'))
    const sql = await connectClient(t, server.url, 'modern', { authorization: bearer(['mcp:read', 'mcp:sql'], 'scp') })
    t.ok((await sql.listTools()).tools.some(tool => tool.name === 'execute_sql'), 'scp as a list works too')
    const write = await connectClient(t, server.url, 'legacy', { authorization: bearer('mcp:write') })
    t.ok((await write.listTools()).tools.some(tool => tool.name === 'list_charts'), 'mcp:write implies mcp:read')
  })

  t.test('a token without scope claims has no scopes, unless MCP_ALLOW_UNSCOPED_TOKENS', async t => {
    const unscoped = await connectClient(t, server.url, 'legacy', { authorization: bearer() })
    t.same((await unscoped.listTools()).tools.map(tool => tool.name), ['health_check'], 'fail closed: only the tool that needs no scope')
    const refused = await callWith(server, bearer(), 'list_charts')
    t.equal(refused.status, 403)
    t.equal(refused.json.error, 'insufficient_scope')
    const lenient = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_ALLOW_UNSCOPED_TOKENS: true }))
    const roles = await connectClient(t, lenient.url, 'legacy', { authorization: bearer() })
    t.equal((await roles.listTools()).tools.length, TOOL_NAMES.length, 'with the setting, roles alone limit it')
    t.equal((await callWith(lenient, bearer(''), 'list_charts')).status, 403, 'an empty scope claim is still no scopes')
  })

  t.test('a scope claim of the wrong type is a refused token, never "unrestricted"', async t => {
    const lenient = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_ALLOW_UNSCOPED_TOKENS: true }))
    for (const [claim, value] of [['scope', 42], ['scope', {}], ['scope', null], ['scp', [1, 2]], ['scp', 'mcp:read'], ['scp', true]] as const) {
      const response = await callWith(lenient, bearer(value, claim), 'execute_sql', { database_id: 1, sql: 'SELECT 1' })
      if (claim === 'scp' && value === 'mcp:read') {
        t.equal(response.status, 403, 'scp as a string is read as scopes')
        continue
      }
      t.equal(response.status, 401, `${claim}: ${JSON.stringify(value)}`)
      t.same(response.json, INVALID_TOKEN_BODY)
    }
  })

  t.test('scope items a header cannot carry are dropped', async t => {
    const response = await callWith(server, bearer(['mcp:read', 'x"y', 'a\r\nSet-Cookie: z=1', 'ü']), 'execute_sql', { database_id: 1, sql: 'SELECT 1' })
    t.equal(response.status, 403)
    t.equal(response.headers.get('www-authenticate'), 'Bearer realm="analytics-mcp", error="insufficient_scope", error_description="This needs the scopes: mcp:read mcp:sql", scope="mcp:read mcp:sql", resource_metadata="https://analytics.test/.well-known/oauth-protected-resource/mcp"')
    t.equal(response.json.scope, 'mcp:read mcp:sql')
  })

  t.test('calling a tool outside the scopes is 403 insufficient_scope naming every scope needed', async t => {
    const refused = await callWith(server, bearer('mcp:read'), 'execute_sql', { database_id: 1, sql: 'SELECT 1' })
    t.equal(refused.status, 403)
    t.same(refused.json, { error: 'insufficient_scope', error_description: 'This needs the scopes: mcp:read mcp:sql', scope: 'mcp:read mcp:sql' })
    t.equal(refused.headers.get('www-authenticate'), 'Bearer realm="analytics-mcp", error="insufficient_scope", error_description="This needs the scopes: mcp:read mcp:sql", scope="mcp:read mcp:sql", resource_metadata="https://analytics.test/.well-known/oauth-protected-resource/mcp"')
    const allowed = await callWith(server, bearer('mcp:read mcp:sql'), 'execute_sql', { database_id: 1, sql: 'SELECT 1 AS one' })
    t.same(allowed.json.result.structuredContent.rows, [{ one: 1 }])
  })

  t.test('MCP_REQUIRED_SCOPES must be on every token', async t => {
    const strict = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_REQUIRED_SCOPES: ['mcp:read'] }))
    const none = await callWith(strict, bearer())
    t.equal(none.status, 403)
    t.equal(none.json.scope, 'mcp:read')
    t.equal((await callWith(strict, bearer('mcp:read'))).status, 200)
  })
})

t.test('challenges and protected-resource metadata (RFC 6750, RFC 9728)', async t => {
  const key = testKey('challenges')
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem }))

  t.test('no credentials: 401 that says how to authenticate, without an error code', async t => {
    const response = await callWith(server, undefined)
    t.equal(response.status, 401)
    t.equal(response.headers.get('www-authenticate'), 'Bearer realm="analytics-mcp", resource_metadata="https://analytics.test/.well-known/oauth-protected-resource/mcp", scope="mcp:read mcp:write mcp:sql"')
    t.same(response.json, { error: 'unauthorized', error_description: 'Authentication required: send Authorization: Bearer <token>' })
  })

  t.test('a bad token: 401 invalid_token with the same pointers', async t => {
    const response = await callWith(server, 'Bearer not-a-token')
    t.equal(response.status, 401)
    t.match(response.headers.get('www-authenticate'), /^Bearer realm="analytics-mcp", error="invalid_token", error_description="The access token is invalid", resource_metadata="https:\/\/analytics\.test\/\.well-known\/oauth-protected-resource\/mcp", scope="mcp:read mcp:write mcp:sql"$/)
    t.same(response.json, INVALID_TOKEN_BODY)
  })

  t.test('the metadata names this resource, the issuer as authorization server, and the scopes', async t => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const response = await fetch(new URL(path, server.url))
      t.equal(response.status, 200, path)
      t.equal(response.headers.get('access-control-allow-origin'), '*')
      t.same(await response.json(), {
        resource: AUDIENCE,
        authorization_servers: [ISSUER],
        scopes_supported: ['mcp:read', 'mcp:write', 'mcp:sql'],
        bearer_methods_supported: ['header'],
        resource_name: 'analytics-mcp'
      })
    }
    const prefixed = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_SERVICE_URL: 'https://tools.example.com/analytics', MCP_JWT_AUDIENCE: ['https://tools.example.com/analytics/mcp'] }))
    for (const path of ['/.well-known/oauth-protected-resource/analytics/mcp', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await fetch(new URL(path, prefixed.url))
      t.equal(response.status, 200, `behind a path prefix: ${path}`)
      t.equal((await response.json() as { resource: string }).resource, 'https://tools.example.com/analytics/mcp')
    }
    t.match((await callWith(prefixed, undefined)).headers.get('www-authenticate'), /resource_metadata="https:\/\/tools\.example\.com\/analytics\/\.well-known\/oauth-protected-resource\/mcp"/, 'the challenge points under MCP_SERVICE_URL, where the ingress routes to the service')
    const explicit = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_AUTHORIZATION_SERVERS: ['https://login.example.com/'] }))
    const metadata = await (await fetch(new URL('/.well-known/oauth-protected-resource/mcp', explicit.url))).json() as { authorization_servers: string[] }
    t.same(metadata.authorization_servers, ['https://login.example.com/'])
  })

  t.test('development mode publishes no metadata and needs no token', async t => {
    const dev = await startTestServer(t)
    t.equal((await fetch(new URL('/.well-known/oauth-protected-resource/mcp', dev.url))).status, 404)
    t.equal((await callWith(dev, undefined)).status, 200)
  })

  t.test('probes stay open; other methods on /mcp need a token too', async t => {
    t.equal((await fetch(new URL('/healthz', server.url))).status, 200)
    t.equal((await fetch(new URL('/metrics', server.url))).status, 200)
    const get = await fetch(server.url, { method: 'GET' })
    t.equal(get.status, 401)
    const initialize = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })
    t.equal(initialize.status, 401)
  })
})

t.test('why a token was refused is logged only with MCP_JWT_DEBUG_ERRORS', async t => {
  const key: TestKey = testKey('debug')
  const expired = `Bearer ${signWith(key, claimsFor('alice', { exp: Math.floor(Date.now() / 1000) - 3600 }))}`
  for (const debug of [true, false]) {
    const lines: string[] = []
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const settings = jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_JWT_DEBUG_ERRORS: debug, MCP_LOG_LEVEL: 'info' })
    const server = await startTestServer(t, settings, { logger: { ...loggerOptions(testConfig(t.testdir(), settings)), stream } })
    const response = await callWith(server, expired)
    t.same(response.json, INVALID_TOKEN_BODY, 'the client never learns why')
    const logged = lines.join('')
    t.match(logged, /authentication failed/)
    if (debug) t.match(logged, /"reason":"token expired"/, 'debug: the reason is in the log')
    else t.notMatch(logged, /expired/, 'otherwise it is not')
    t.notMatch(logged, new RegExp(expired.slice(7, 60)), 'the token itself is never logged')
  }
})

t.test('an audience without this resource\'s URL is allowed, with a warning at start-up', async t => {
  const key = testKey('audience')
  for (const audiences of [['account', 'analytics-mcp'], [AUDIENCE]]) {
    const lines: string[] = []
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const settings = jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem, MCP_JWT_AUDIENCE: audiences, MCP_LOG_LEVEL: 'info' })
    const server = await startTestServer(t, settings, { logger: { ...loggerOptions(testConfig(t.testdir(), settings)), stream } })
    const warned = /MCP_JWT_AUDIENCE does not hold this service's resource URL/.test(lines.join(''))
    t.equal(warned, audiences[0] !== AUDIENCE, `audiences ${audiences.join(', ')}: ${warned ? 'warned' : 'no warning'}`)
    const token = `Bearer ${signWith(key, claimsFor('alice', { aud: audiences[1] ?? audiences[0] }))}`
    t.equal((await callWith(server, token)).status, 200, 'tokens for the configured audience work')
  }
})

t.test('the audit log names the authentication method and client', async t => {
  const key = testKey('audit')
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_PUBLIC_KEY: key.publicPem }))
  const result = await callWith(server, `Bearer ${signWith(key, claimsFor('alice', { azp: 'claude-desktop', scope: 'mcp:read' }))}`, 'get_instance_info')
  t.match(result.json.result.structuredContent.current_user, { username: 'alice', auth_method: 'jwt', scopes: ['mcp:read'] })
  t.match(textOf(result.json.result), /You are alice/)
})

t.test('a token accepted once is remembered only until it expires, and only that exact token', async t => {
  const verify = createJwtVerifier({ algorithm: 'HS256', key: SECRET, issuers: [ISSUER], audiences: [AUDIENCE], clockSkewMs: 0, maxLifetimeMs: 3_600_000 })
  const now = Math.floor(Date.now() / 1000)
  const shortLived = signWithSecret(SECRET, claimsFor('alice', { exp: now + 2 }, AUDIENCE, ISSUER))
  t.equal((await verify(shortLived)).claims.sub, 'alice')
  t.equal((await verify(shortLived)).claims.sub, 'alice', 'the second check is answered from memory')
  // The same claims with one signature character changed: never taken for the remembered token.
  const forged = `${shortLived.slice(0, -2)}${shortLived.endsWith('A') ? 'B' : 'A'}${shortLived.slice(-1)}`
  await t.rejects(verify(forged), TokenRejectedError)
  await new Promise(resolve => setTimeout(resolve, (now + 2) * 1000 - Date.now() + 50))
  await t.rejects(verify(shortLived), TokenRejectedError, 'once past exp, the remembered token is refused')
})
