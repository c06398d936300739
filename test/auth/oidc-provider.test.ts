import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { callWith } from '../helpers/auth.ts'
import { startOidcProvider } from '../helpers/oidc-provider.ts'
import { post } from '../helpers/rpc.ts'

// The resource-server mode against a real, OpenID-certified identity provider: its discovery,
// its JWKS and the JWT access tokens it issues to service accounts for our resource (RFC 8707),
// not tokens this suite signs itself.

const RESOURCE = 'https://analytics.example/mcp'
const alice = { client_id: 'alice', client_secret: 'alice-service-account-secret' }
const bob = { client_id: 'bob', client_secret: 'bob-service-account-secret' }

t.test('tokens of a real OpenID provider', async t => {
  const idp = await startOidcProvider(t, { resource: RESOURCE, clients: [alice, bob], scopes: ['mcp:read', 'mcp:sql'] })
  const server = await startTestServer(t, {
    MCP_AUTH_ENABLED: true,
    MCP_SERVICE_URL: 'https://analytics.example',
    MCP_JWKS_URI: idp.jwksUri,
    MCP_JWT_ISSUER: [idp.issuer],
    MCP_JWT_AUDIENCE: [RESOURCE],
    MCP_JWT_ALGORITHM: 'RS256',
    // A service account's token names it in client_id (there is no end user).
    MCP_USER_CLAIMS: ['client_id']
  })

  const issued = await idp.clientToken(alice)
  t.equal(issued.status, 200, 'the provider issues a token for our resource')
  const token = String(issued.body.access_token)
  t.equal(token.split('.').length, 3, 'a JWT access token')

  const listed = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${token}` })
  t.equal(listed.status, 200, 'the server accepts it: key from the provider\'s JWKS, issuer and audience checked')
  const tools = (listed.json.result.tools as Array<{ name: string }>).map(tool => tool.name)
  t.ok(tools.includes('execute_sql'), 'alice (Alpha + sql_lab) gets the SQL tools her roles and the token\'s mcp:sql scope allow')

  const call = await callWith(server, `Bearer ${token}`, 'get_instance_info', {})
  t.notOk(call.json.result.isError, 'and calls tools as alice')

  const readOnly = await idp.clientToken(alice, { scope: 'mcp:read' })
  const readTools = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${String(readOnly.body.access_token)}` })
  t.notOk((readTools.json.result.tools as Array<{ name: string }>).some(tool => tool.name === 'execute_sql'), 'alice with a token scoped mcp:read only gets no SQL tool: the scope narrows her roles')

  const gamma = await idp.clientToken(bob)
  const gammaTools = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${String(gamma.body.access_token)}` })
  t.notOk((gammaTools.json.result.tools as Array<{ name: string }>).some(tool => tool.name === 'execute_sql'), 'bob (Gamma) gets no SQL tool even with mcp:sql: the scope never widens his roles')

  const otherResource = await idp.clientToken(alice, { resource: 'https://other.example/mcp' })
  t.not(otherResource.status, 200, 'the provider refuses a token for a resource it does not know')

  const tampered = `${token.slice(0, -4)}${token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`
  const refused = await callWith(server, `Bearer ${tampered}`, 'health_check', {})
  t.equal(refused.status, 401, 'a token whose signature the provider\'s keys do not verify is refused')
  t.match(refused.headers.get('www-authenticate') ?? '', /invalid_token/)
})
