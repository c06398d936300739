import t from 'tap'
import { createDecoder } from 'fast-jwt'
import { createApiKey } from '../../src/auth/api-keys.ts'
import { startTestServer } from '../helpers/app.ts'
import { callWith, INVALID_TOKEN_BODY } from '../helpers/auth.ts'
import { testKey } from '../helpers/keys.ts'

// Preset-style exchange: POST /v1/auth/ with an API key's name and secret returns a
// short-lived JWT signed by the service, which the service then accepts as a bearer token.

const decode = createDecoder({ complete: true })

t.test('token exchange', async t => {
  const signing = testKey('service-signing')
  const server = await startTestServer(t, {
    MCP_API_KEY_ENABLED: true,
    MCP_TOKEN_EXCHANGE_ENABLED: true,
    MCP_TOKEN_SIGNING_KEY: signing.privatePem,
    MCP_TOKEN_TTL: 600,
    MCP_SERVICE_URL: 'https://analytics.test'
  })
  const { catalog } = server.app
  const alice = await catalog.findUserByUsername('alice')
  if (alice === undefined) throw new Error('demo user missing')
  const issued = await createApiKey(catalog, { prefix: 'amcp', name: 'notebook', userId: alice.id, scopes: ['mcp:read'], expiresOn: null })
  const secretPart = issued.key.split('_').slice(2).join('_')
  const exchange = async (body: unknown): Promise<{ status: number, json: any, headers: Headers }> => {
    const response = await fetch(new URL('/v1/auth/', server.url), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) })
    return { status: response.status, json: await response.json(), headers: response.headers }
  }

  t.test('name and secret give a short-lived token the service accepts', async t => {
    for (const body of [{ name: 'notebook', secret: secretPart }, { name: 'notebook', secret: issued.key }, { name: issued.record.key_id, secret: secretPart }]) {
      const response = await exchange(body)
      t.equal(response.status, 200)
      t.equal(response.headers.get('cache-control'), 'no-store')
      const token: string = response.json.payload.access_token
      t.equal(response.json.payload.token_type, 'Bearer')
      t.equal(response.json.payload.expires_in, 600)
      const { header, payload } = decode(token) as { header: Record<string, unknown>, payload: Record<string, unknown> }
      t.match(header, { alg: 'RS256', typ: 'JWT' })
      t.match(payload, { sub: 'alice', iss: 'https://analytics.test', aud: 'https://analytics.test/mcp', scope: 'mcp:read', client_id: 'api-key:notebook', akid: issued.record.key_id })
      t.equal((payload.exp as number) - (payload.iat as number), 600)
      const me = await callWith(server, `Bearer ${token}`, 'get_instance_info')
      t.match(me.json.result.structuredContent.current_user, { username: 'alice', auth_method: 'exchanged_token', scopes: ['mcp:read'] })
    }
  })

  t.test('the token carries the key\'s scopes', async t => {
    const token = (await exchange({ name: 'notebook', secret: secretPart })).json.payload.access_token as string
    t.equal((await callWith(server, `Bearer ${token}`, 'execute_sql', { database_id: 1, sql: 'SELECT 1' })).status, 403)
  })

  t.test('bad credentials get one generic 401; a bad body gets 400', async t => {
    for (const body of [{ name: 'notebook', secret: 'wrong' }, { name: 'nobody', secret: secretPart }, { name: 'notebook', secret: `${issued.key.slice(0, -1)}x` }]) {
      const response = await exchange(body)
      t.equal(response.status, 401)
      t.same(response.json, { error: 'invalid_client', error_description: 'Invalid API token name or secret' })
    }
    t.equal((await exchange({ name: 'notebook' })).status, 400)
    t.equal((await exchange('just a string')).status, 400)
  })

  t.test('exchanges and exchanged tokens record the key\'s last use', async t => {
    const unused = await createApiKey(catalog, { prefix: 'amcp', name: 'report-job', userId: alice.id, scopes: null, expiresOn: null })
    t.equal((await catalog.findApiKey('report-job'))?.last_used_on, null)
    const response = await exchange({ name: 'report-job', secret: unused.key })
    t.equal(response.status, 200)
    t.type((await catalog.findApiKey('report-job'))?.last_used_on, 'string', 'the exchange counts as a use')
    const unscoped = await callWith(server, `Bearer ${response.json.payload.access_token as string}`, 'execute_sql', { database_id: 1, sql: 'SELECT 1 AS one' })
    t.same(unscoped.json.result.structuredContent.rows, [{ one: 1 }], 'a key without scopes gives a token limited by roles only')
    await catalog.revokeApiKey(unused.record.id)
  })

  t.test('a user made inactive after the exchange loses the token; expired keys are refused', async t => {
    const bob = await catalog.findUserByUsername('bob')
    if (bob === undefined) throw new Error('demo user missing')
    const bobs = await createApiKey(catalog, { prefix: 'amcp', name: 'bob-key', userId: bob.id, scopes: null, expiresOn: null })
    const token = (await exchange({ name: 'bob-key', secret: bobs.key })).json.payload.access_token as string
    t.equal((await callWith(server, `Bearer ${token}`)).status, 200)
    await catalog.setUserActive('bob', false)
    t.teardown(async () => { await catalog.setUserActive('bob', true) })
    t.equal((await callWith(server, `Bearer ${token}`)).status, 401, 'the token dies with the account')
    t.equal((await exchange({ name: 'bob-key', secret: bobs.key })).status, 401, 'and no new token is issued')
    const expired = await createApiKey(catalog, { prefix: 'amcp', name: 'old-key', userId: alice.id, scopes: null, expiresOn: '2020-01-01T00:00:00.000Z' })
    t.equal((await exchange({ name: 'old-key', secret: expired.key })).status, 401, 'an expired key cannot be exchanged')
  })

  t.test('revoking the key ends its exchanged tokens too', async t => {
    const token = (await exchange({ name: 'notebook', secret: secretPart })).json.payload.access_token as string
    t.equal((await callWith(server, `Bearer ${token}`)).status, 200)
    await catalog.revokeApiKey(issued.record.id)
    const refused = await callWith(server, `Bearer ${token}`)
    t.equal(refused.status, 401)
    t.same(refused.json, INVALID_TOKEN_BODY)
    t.equal((await exchange({ name: 'notebook', secret: secretPart })).status, 401, 'and no new token is issued')
  })

  t.test('a token signed by another key under the service issuer is refused', async t => {
    const forged = (await import('../helpers/keys.ts')).signWith(testKey('impostor'), { sub: 'admin', iss: 'https://analytics.test', aud: 'https://analytics.test/mcp', akid: issued.record.key_id, exp: Math.floor(Date.now() / 1000) + 600 })
    t.equal((await callWith(server, `Bearer ${forged}`)).status, 401)
  })

  t.test('the public key is published as a JWKS', async t => {
    const jwks = await (await fetch(new URL('/.well-known/jwks.json', server.url))).json() as { keys: Array<Record<string, unknown>> }
    t.equal(jwks.keys.length, 1)
    t.match(jwks.keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig' })
    t.notOk('d' in (jwks.keys[0] ?? {}), 'no private part')
  })

  t.test('off by default', async t => {
    const plain = await startTestServer(t)
    t.equal((await fetch(new URL('/v1/auth/', plain.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 404)
  })
})
