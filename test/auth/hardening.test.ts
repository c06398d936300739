import { createHmac } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import { createApiKey } from '../../src/auth/api-keys.ts'
import { AuthFailureLimit, clientAddressKey } from '../../src/auth/failure-limit.ts'
import { MemoryTokenBuckets } from '../../src/store/token-buckets.ts'
import { buildApp } from '../../src/app.ts'
import { loggerOptions } from '../../src/logger.ts'
import { startTestServer } from '../helpers/app.ts'
import type { RunningServer } from '../helpers/app.ts'
import { callWith, INVALID_TOKEN_BODY, jwtSettings, SECRET } from '../helpers/auth.ts'
import { testConfig } from '../helpers/config.ts'
import { claimsFor, signWithSecret, testKey } from '../helpers/keys.ts'
import { RedisServer } from '../helpers/redis.ts'
import { post, toolCall } from '../helpers/rpc.ts'
import type { RawResponse } from '../helpers/rpc.ts'

// Red-team findings on authentication: tokens that never expire or live too long, and
// credential guessing that was never slowed down (MCP_AUTH_FAILURE_LIMIT).

const HS256 = jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] })
const now = (): number => Math.floor(Date.now() / 1000)
const DAY = 86_400

/** An HS256 token over payload JSON written by hand, so numbers like 1e309 reach the server as written. */
function hs256 (payloadJson: string): string {
  const input = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(payloadJson).toString('base64url')}`
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
}

// fast-jwt's signer drops `iat` when asked not to stamp one, so tokens here are signed by hand.
const bearer = (claims: Record<string, unknown>): string => `Bearer ${hs256(JSON.stringify(claims))}`
const alice = (extra: Record<string, unknown>): Record<string, unknown> => claimsFor('alice', extra)

function refusedLikeAnyBadToken (t: Test, response: RawResponse, what: string): void {
  t.equal(response.status, 401, `${what}: 401`)
  t.same(response.json, INVALID_TOKEN_BODY, `${what}: the generic body`)
  t.match(response.headers.get('www-authenticate'), /^Bearer .*error="invalid_token"/, `${what}: an RFC 6750 challenge`)
}

t.test('token lifetimes', async t => {
  const server = await startTestServer(t, { ...HS256, MCP_JWT_MAX_LIFETIME: DAY, MCP_AUTH_FAILURE_LIMIT: 0 })

  t.test('exp, nbf or iat that is not a finite number is refused', async t => {
    const base = `"sub":"alice","aud":"https://analytics.test/mcp","scope":"mcp:read"`
    const cases: Array<[string, string]> = [
      ['exp 1e309 (Infinity), with iat', `{${base},"iat":${now()},"exp":1e309}`],
      ['exp 1e309 (Infinity), without iat', `{${base},"exp":1e309}`],
      ['nbf -1e309', `{${base},"iat":${now()},"nbf":-1e309,"exp":${now() + 3600}}`],
      ['iat -1e309', `{${base},"iat":-1e309,"exp":${now() + 3600}}`],
      ['iat as a string', `{${base},"iat":"${now()}","exp":${now() + 3600}}`]
    ]
    for (const [what, payload] of cases) {
      t.equal(JSON.parse(payload).exp === Infinity || JSON.parse(payload).nbf === -Infinity || JSON.parse(payload).iat !== undefined, true, `${what}: the payload parses as intended`)
      refusedLikeAnyBadToken(t, await callWith(server, `Bearer ${hs256(payload)}`), what)
    }
    const control = `{${base},"iat":${now()},"exp":${now() + 3600}}`
    t.equal((await callWith(server, `Bearer ${hs256(control)}`)).status, 200, 'the same token with a finite exp is accepted')
  })

  t.test('MCP_JWT_MAX_LIFETIME bounds exp − iat, or exp − now without iat', async t => {
    const cases: Array<[string, Record<string, unknown>, number]> = [
      ['valid for 1 h', alice({ iat: now(), exp: now() + 3600 }), 200],
      ['valid for 2 days', alice({ iat: now(), exp: now() + 2 * DAY }), 401],
      ['issued 36 h ago, 1 h left: lived too long', alice({ iat: now() - 36 * 3600, exp: now() + 3600 }), 401],
      ['issued 23 h ago, 30 min left', alice({ iat: now() - 23 * 3600, exp: now() + 1800 }), 200],
      ['no iat, exp in 2 days', alice({ iat: undefined, exp: now() + 2 * DAY }), 401],
      ['no iat, exp in 23 h', alice({ iat: undefined, exp: now() + 23 * 3600 }), 200],
      ['a day and 30 s: within the 60 s clock skew', alice({ iat: now(), exp: now() + DAY + 30 }), 200],
      ['a day and 2 min: beyond the clock skew', alice({ iat: now(), exp: now() + DAY + 120 }), 401]
    ]
    for (const [what, claims, status] of cases) {
      const response = await callWith(server, bearer(claims))
      if (status === 401) refusedLikeAnyBadToken(t, response, what)
      else t.equal(response.status, 200, `${what}: accepted`)
    }
  })

  t.test('the default lifetime is a day', async t => {
    const defaults = await startTestServer(t, HS256)
    t.equal((await callWith(defaults, bearer(alice({ iat: now(), exp: now() + 3 * DAY })))).status, 401, '3 days: refused')
    t.equal((await callWith(defaults, bearer(alice({ iat: now(), exp: now() + 12 * 3600 })))).status, 200, '12 h: accepted')
  })
})

t.test('why a lifetime was refused is logged only with MCP_JWT_DEBUG_ERRORS', async t => {
  for (const debug of [true, false]) {
    const lines: string[] = []
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const settings = { ...HS256, MCP_JWT_DEBUG_ERRORS: debug, MCP_LOG_LEVEL: 'info' }
    const server = await startTestServer(t, settings, { logger: { ...loggerOptions(testConfig(t.testdir(), settings)), stream } })
    const infinite = await callWith(server, `Bearer ${hs256(`{"sub":"alice","aud":"https://analytics.test/mcp","exp":1e309}`)}`)
    const long = await callWith(server, bearer(alice({ iat: now(), exp: now() + 30 * DAY })))
    t.same([infinite.json, long.json], [INVALID_TOKEN_BODY, INVALID_TOKEN_BODY], 'the client never learns why')
    const logged = lines.join('')
    if (debug) {
      t.match(logged, /"reason":"exp is not a finite number"/)
      t.match(logged, /"reason":"token lifetime 2592000 s exceeds 86400 s \(MCP_JWT_MAX_LIFETIME\)"/)
    } else {
      t.notMatch(logged, /finite|lifetime/, 'no reason without MCP_JWT_DEBUG_ERRORS')
    }
  }
})

t.test('tokens from the token exchange live MCP_TOKEN_TTL and are accepted', async t => {
  const server = await startTestServer(t, {
    MCP_API_KEY_ENABLED: true,
    MCP_TOKEN_EXCHANGE_ENABLED: true,
    MCP_TOKEN_SIGNING_KEY: testKey('hardening-signing').privatePem,
    MCP_TOKEN_TTL: DAY,
    MCP_SERVICE_URL: 'https://analytics.test'
  })
  const user = await server.app.catalog.findUserByUsername('alice')
  if (user === undefined) throw new Error('demo user missing')
  const issued = await createApiKey(server.app.catalog, { prefix: 'amcp', name: 'day-long', userId: user.id, scopes: null, expiresOn: null })
  const response = await fetch(new URL('/v1/auth/', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'day-long', secret: issued.key }) })
  const { payload } = await response.json() as { payload: { access_token: string, expires_in: number } }
  t.equal(payload.expires_in, DAY, 'the longest MCP_TOKEN_TTL')
  t.equal((await callWith(server, `Bearer ${payload.access_token}`)).status, 200, 'the exchanged token is accepted')
})

// ---- MCP_AUTH_FAILURE_LIMIT ----------------------------------------------------------------

interface KeyServer extends RunningServer {
  good: string
  bad: string
}

async function keyServer (t: Test, settings: Record<string, unknown>): Promise<KeyServer> {
  const server = await startTestServer(t, { MCP_API_KEY_ENABLED: true, MCP_SERVICE_URL: 'https://analytics.test', ...settings })
  const admin = await server.app.catalog.findUserByUsername('admin')
  if (admin === undefined) throw new Error('demo user missing')
  const { key } = await createApiKey(server.app.catalog, { prefix: 'amcp', name: `key-${Math.random()}`, userId: admin.id, scopes: null, expiresOn: null })
  return { ...server, good: `Key ${key}`, bad: `Key ${key.slice(0, -4)}AAAA` }
}

let nextId = 1
const callFrom = async (server: RunningServer, authorization: string | undefined, forwardedFor?: string): Promise<RawResponse> =>
  await post(server.url, toolCall('health_check', {}, nextId++), { ...(authorization === undefined ? {} : { authorization }), ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) })

function throttled (t: Test, response: RawResponse, what: string): void {
  t.equal(response.status, 429, `${what}: 429`)
  const retryAfter = Number(response.headers.get('retry-after'))
  t.ok(retryAfter >= 1 && retryAfter <= 60, `${what}: Retry-After ${retryAfter} s`)
  t.match(response.json, { jsonrpc: '2.0', id: null, error: { code: -32000, message: /^Too many failed authentications from this address: at most \d+ per minute \(MCP_AUTH_FAILURE_LIMIT\)\. Retry in \d+ s\.$/, data: { retry_after_seconds: retryAfter } } }, `${what}: a JSON-RPC error like the rate limit's`)
}

async function metricValue (server: RunningServer, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(new URL('/metrics', server.origin))).text()
  const line = text.split('\n').find(entry => entry.startsWith(`${name}${labels} `))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

t.test('failed authentications are limited per client address', async t => {
  t.test('5 wrong keys, then even a valid key gets 429 until the budget refills', async t => {
    const server = await keyServer(t, { MCP_AUTH_FAILURE_LIMIT: 5 })
    for (let i = 1; i <= 5; i++) t.equal((await callFrom(server, server.bad)).status, 401, `wrong key ${i}: 401`)
    throttled(t, await callFrom(server, server.good), 'a valid key after 5 failures')
    throttled(t, await callFrom(server, server.bad), 'another wrong key')
    throttled(t, await callFrom(server, `Bearer ${'x'.repeat(40)}`), 'a forged bearer token')
    const anonymous = await callFrom(server, undefined)
    t.equal(anonymous.status, 401, 'a request without a credential is not a guess: still the 401 that says how to authenticate')
    t.equal(await metricValue(server, 'mcp_auth_throttled_total'), 3, 'mcp_auth_throttled_total counts the refused requests')
    t.equal(await metricValue(server, 'mcp_auth_attempts_total', '{method="api_key",outcome="rejected"}'), 5, 'throttled requests are refused before the credential is checked')
  })

  t.test('the budget refills at the limit per minute', async t => {
    let clock = 0
    const limit = new AuthFailureLimit(60, new MemoryTokenBuckets(() => clock))
    for (let i = 0; i < 59; i++) await limit.failed('192.0.2.1')
    for (let i = 0; i < 10; i++) t.equal(await limit.refusal('192.0.2.1'), undefined, `59 failures, look ${i + 1}: allowed, looking takes nothing`)
    await limit.failed('192.0.2.1')
    t.match(await limit.refusal('192.0.2.1'), { statusCode: 429, code: 'MCP_ERR_AUTH_THROTTLED', retryAfterSeconds: 1 }, '60 failures: refused, one token a second')
    clock += 1000
    t.equal(await limit.refusal('192.0.2.1'), undefined, 'a second later one more attempt is allowed')
    t.equal(await limit.refusal('192.0.2.2'), undefined, 'other addresses have their own budget')
    await limit.failed('192.0.2.1')
    t.match(await limit.refusal('192.0.2.1'), { retryAfterSeconds: 1 }, 'and its failure spends it again')
  })

  t.test('valid credentials never spend the budget', async t => {
    const server = await keyServer(t, { MCP_AUTH_FAILURE_LIMIT: 5 })
    for (let i = 1; i <= 30; i++) t.equal((await callFrom(server, server.good)).status, 200, `valid request ${i}`)
    for (let i = 1; i <= 4; i++) {
      t.equal((await callFrom(server, server.bad)).status, 401, `wrong key ${i}`)
      t.equal((await callFrom(server, server.good)).status, 200, `a valid key between failures ${i}`)
    }
    t.equal((await callFrom(server, server.bad)).status, 401, 'the 5th failure')
    throttled(t, await callFrom(server, server.good), 'after the 5th failure')
  })

  t.test('0 turns it off', async t => {
    const server = await keyServer(t, { MCP_AUTH_FAILURE_LIMIT: 0 })
    const statuses = []
    for (let i = 0; i < 50; i++) statuses.push((await callFrom(server, server.bad)).status)
    t.ok(statuses.every(status => status === 401), '50 wrong keys: 50 × 401')
    t.equal((await callFrom(server, server.good)).status, 200, 'a valid key still works')
  })

  t.test('behind a trusted proxy, X-Forwarded-For names the client', async t => {
    const server = await keyServer(t, { MCP_AUTH_FAILURE_LIMIT: 5, MCP_TRUSTED_PROXIES: ['127.0.0.1'] })
    for (let i = 0; i < 5; i++) await callFrom(server, server.bad, '203.0.113.7')
    throttled(t, await callFrom(server, server.good, '203.0.113.7'), 'the guessing client')
    t.equal((await callFrom(server, server.good, '198.51.100.2')).status, 200, 'another client behind the same proxy is unaffected')
    t.equal((await callFrom(server, server.bad, '198.51.100.2')).status, 401, 'and has its own budget')
    t.equal((await callFrom(server, server.good)).status, 200, 'the proxy itself (no X-Forwarded-For) is unaffected')
  })

  t.test('without trusted proxies, X-Forwarded-For is ignored', async t => {
    const server = await keyServer(t, { MCP_AUTH_FAILURE_LIMIT: 5 })
    for (let i = 1; i <= 5; i++) t.equal((await callFrom(server, server.bad, `203.0.113.${i}`)).status, 401, `wrong key ${i} with a made-up X-Forwarded-For`)
    throttled(t, await callFrom(server, server.good, '198.51.100.9'), 'a spoofed header does not dodge the limit')
  })

  t.test('expired and forged JWTs count', async t => {
    const server = await startTestServer(t, { ...HS256, MCP_AUTH_FAILURE_LIMIT: 3 })
    t.equal((await callFrom(server, bearer(alice({ exp: now() - 3600 })))).status, 401, 'expired')
    t.equal((await callFrom(server, `Bearer ${signWithSecret('another-secret-of-at-least-32-characters!!', alice({}))}`)).status, 401, 'forged')
    t.equal((await callFrom(server, `Bearer ${hs256('{"sub":"alice","exp":1e309}')}`)).status, 401, 'never expires')
    throttled(t, await callFrom(server, bearer(alice({}))), 'a valid token after 3 failures')
  })

  t.test('insufficient scope is no failure', async t => {
    const server = await startTestServer(t, { ...HS256, MCP_AUTH_FAILURE_LIMIT: 2, MCP_REQUIRED_SCOPES: ['mcp:admin'] })
    for (let i = 1; i <= 4; i++) t.equal((await callFrom(server, bearer(alice({})))).status, 403, `valid token without the required scope ${i}: 403`)
    t.equal((await callFrom(server, bearer(alice({ scope: 'mcp:read mcp:admin' })))).status, 200, 'the budget is untouched')
  })

  t.test('POST /v1/auth/ failures count, and the exchange is refused once the budget is spent', async t => {
    const server = await keyServer(t, {
      MCP_AUTH_FAILURE_LIMIT: 5,
      MCP_TOKEN_EXCHANGE_ENABLED: true,
      MCP_TOKEN_SIGNING_KEY: testKey('hardening-exchange').privatePem
    })
    const secret = server.good.slice('Key '.length)
    const name = (await server.app.catalog.findApiKeyByKeyId(secret.split('_')[1] ?? ''))?.name ?? ''
    const exchange = async (body: unknown): Promise<Response> => await fetch(new URL('/v1/auth/', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    t.equal((await exchange({ name, secret })).status, 200, 'a good exchange spends nothing')
    for (let i = 1; i <= 3; i++) t.equal((await exchange({ name, secret: 'wrong' })).status, 401, `bad exchange ${i}`)
    t.equal((await callFrom(server, server.bad)).status, 401, 'a wrong key on /mcp')
    t.equal((await exchange({ name: 'nobody', secret })).status, 401, 'an unknown key name')
    const refused = await exchange({ name, secret })
    t.equal(refused.status, 429, 'then even the right secret gets 429')
    t.ok(Number(refused.headers.get('retry-after')) >= 1, 'with Retry-After')
    t.match(await refused.json(), { error: 'MCP_ERR_AUTH_THROTTLED', message: /Too many failed authentications/ })
    throttled(t, await callFrom(server, server.good), '/mcp from the same address')
  })
})

t.test('client addresses: IPv4 in IPv6 form is IPv4, IPv6 clients are limited per /64', async t => {
  t.equal(clientAddressKey('203.0.113.7'), '203.0.113.7')
  t.equal(clientAddressKey('::ffff:203.0.113.7'), '203.0.113.7')
  t.equal(clientAddressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(clientAddressKey('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64', 'leading zeros and :: do not make another bucket')
  t.equal(clientAddressKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(clientAddressKey('::1'), '0:0:0:0::/64')
  t.equal(clientAddressKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'the zone is not part of the address')
})

t.test('with Redis, the budget is shared by the replicas and Redis failures fail open', async t => {
  const redis = await RedisServer.start(t)
  const dir = t.testdir()
  const settings = { MCP_API_KEY_ENABLED: true, MCP_SERVICE_URL: 'https://analytics.test', MCP_AUTH_FAILURE_LIMIT: 5, MCP_STORE_CONFIG: { enabled: true, key_prefix: 'hardening:', CACHE_REDIS_URL: redis.url } }
  const replicas: RunningServer[] = []
  for (let i = 0; i < 2; i++) {
    const app = await buildApp(testConfig(dir, settings), { logger: false })
    t.teardown(() => app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    replicas.push({ app, url: new URL(`${origin}/mcp`), origin })
  }
  const [a, b] = replicas as [RunningServer, RunningServer]
  for (const replica of replicas) {
    for (let i = 0; await metricValue(replica, 'mcp_redis_up') !== 1; i++) {
      if (i > 200) throw new Error('Redis did not come up')
      await sleep(50)
    }
  }
  const admin = await a.app.catalog.findUserByUsername('admin')
  if (admin === undefined) throw new Error('demo user missing')
  const { key } = await createApiKey(a.app.catalog, { prefix: 'amcp', name: 'shared', userId: admin.id, scopes: null, expiresOn: null })
  const good = `Key ${key}`
  const bad = `Key ${key.slice(0, -4)}AAAA`

  for (let i = 1; i <= 3; i++) t.equal((await callFrom(a, bad)).status, 401, `wrong key ${i} on replica A`)
  for (let i = 4; i <= 5; i++) t.equal((await callFrom(b, bad)).status, 401, `wrong key ${i} on replica B`)
  throttled(t, await callFrom(a, good), 'replica A after 5 failures across both')
  throttled(t, await callFrom(b, good), 'replica B too')
  t.match(await redis.cli('--scan', '--pattern', 'hardening:authfail:v1:*'), /hardening:authfail:v1:127\.0\.0\.1/, 'one bucket per address, under the key prefix')

  await redis.kill()
  for (let i = 0; await metricValue(a, 'mcp_redis_up') !== 0; i++) {
    if (i > 200) throw new Error('Redis did not go down')
    await sleep(50)
  }
  t.equal((await callFrom(a, good)).status, 200, 'Redis down: the limiter fails open')
  t.equal((await callFrom(a, bad)).status, 401, 'wrong keys are still refused')
  t.ok(await metricValue(a, 'mcp_redis_errors_total', '{operation="rate_limit"}') >= 2, 'mcp_redis_errors_total{operation="rate_limit"} counts the failed looks and spends')
})
