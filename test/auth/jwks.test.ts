import type { JsonWebKey } from 'node:crypto'
import t from 'tap'
import { JwksKeyStore, KeyUnavailableError } from '../../src/auth/jwks.ts'
import { startTestServer } from '../helpers/app.ts'
import { callWith, INVALID_TOKEN_BODY, jwtSettings } from '../helpers/auth.ts'
import { JwksServer } from '../helpers/jwks-server.ts'
import { claimsFor, signWith, testKey } from '../helpers/keys.ts'

// A real JWKS endpoint on loopback: key rotation without restart, unknown kids that cannot
// flood the identity provider, and an identity provider that is down or slow.

const bearer = (kid: string): string => `Bearer ${signWith(testKey(kid), claimsFor('alice'))}`

async function until (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise(resolve => setTimeout(resolve, 10))
}

t.test('keys rotate without a restart', async t => {
  const jwks = await JwksServer.start(t, [testKey('2026-01').jwk])
  const server = await startTestServer(t, jwtSettings({ MCP_JWKS_URI: jwks.url, MCP_JWKS_REFRESH_INTERVAL: 1 }))
  t.equal((await callWith(server, bearer('2026-01'))).status, 200)
  t.equal(jwks.requests, 1, 'the JWKS is fetched once')
  t.equal((await callWith(server, bearer('2026-01'))).status, 200)
  t.equal(jwks.requests, 1, 'and the key is cached by kid')

  // The identity provider publishes a new key and starts signing with it.
  jwks.keys = [testKey('2026-01').jwk, testKey('2026-02').jwk]
  t.equal((await callWith(server, bearer('2026-02'))).status, 200, 'a token signed with the new key is accepted')
  t.equal(jwks.requests, 2, 'after one refetch')
  t.equal((await callWith(server, bearer('2026-01'))).status, 200, 'the old key still works while it is published')
})

t.test('unknown kids cause at most one JWKS fetch per refresh interval', async t => {
  const jwks = await JwksServer.start(t, [testKey('known').jwk])
  const server = await startTestServer(t, jwtSettings({ MCP_JWKS_URI: jwks.url, MCP_JWKS_REFRESH_INTERVAL: 3600 }))
  t.equal((await callWith(server, bearer('known'))).status, 200)
  const before = jwks.requests
  const forged = await Promise.all(Array.from({ length: 20 }, async (_, i) => await callWith(server, bearer(`forged-${i}`))))
  t.ok(forged.every(response => response.status === 401), '20 tokens with made-up kids are refused')
  t.ok(forged.every(response => JSON.stringify(response.json) === JSON.stringify(INVALID_TOKEN_BODY)))
  t.equal(jwks.requests - before, 1, 'with a single JWKS fetch between them')
  t.equal((await callWith(server, bearer('known'))).status, 200, 'known keys are unaffected')
})

t.test('a JWKS endpoint that is down: cached keys keep working, unknown kids are refused', async t => {
  const jwks = await JwksServer.start(t, [testKey('cached').jwk])
  const server = await startTestServer(t, jwtSettings({ MCP_JWKS_URI: jwks.url, MCP_JWKS_REFRESH_INTERVAL: 1, MCP_JWKS_CACHE_TTL: 10 }))
  t.equal((await callWith(server, bearer('cached'))).status, 200)
  jwks.mode = 'down'
  t.equal((await callWith(server, bearer('cached'))).status, 200, 'the cached key is used')
  const unknown = await callWith(server, bearer('new-during-outage'))
  t.equal(unknown.status, 401)
  t.same(unknown.json, INVALID_TOKEN_BODY)
  const metrics = await (await fetch(new URL('/metrics', server.url))).text()
  t.match(metrics, /mcp_jwks_fetches_total\{outcome="failed"\} [1-9]/, 'the failure is counted')
  jwks.mode = 'ok'
})

t.test('made-up kids cannot starve a rotated-in key', async t => {
  const jwks = await JwksServer.start(t, [testKey('current').jwk])
  const store = new JwksKeyStore({ jwksUri: jwks.url, ttlMs: 3_600_000, timeoutMs: 1000, refreshIntervalMs: 3_600_000 })
  await store.publicKey('RS256', 'current')
  jwks.keys = [testKey('current').jwk, testKey('rotated').jwk]
  // A junk kid starts the one fetch allowed; the real new kid arrives while it is in flight.
  const junk = store.publicKey('RS256', 'junk-1')
  const rotated = store.publicKey('RS256', 'rotated')
  await t.rejects(junk, KeyUnavailableError, 'the junk kid is refused')
  t.match(await rotated, /BEGIN PUBLIC KEY/, 'the rotated-in key came with the same fetch')
  await t.rejects(store.publicKey('RS256', 'junk-2'), /missed less than/, 'further junk waits for the refresh interval')
  t.match(await store.publicKey('RS256', 'rotated'), /BEGIN PUBLIC KEY/, 'while the new key keeps working')
  t.equal(jwks.requests, 2, 'two fetches in all: the first, and the one the junk caused')
})

t.test('a token refused during a JWKS outage works once the JWKS is back', async t => {
  const jwks = await JwksServer.start(t, [testKey('early').jwk])
  jwks.mode = 'down'
  const server = await startTestServer(t, jwtSettings({ MCP_JWKS_URI: jwks.url, MCP_JWKS_REFRESH_INTERVAL: 1 }))
  const token = bearer('early')
  t.equal((await callWith(server, token)).status, 401, 'no key can be fetched')
  jwks.mode = 'ok'
  await new Promise(resolve => setTimeout(resolve, 1100))
  t.equal((await callWith(server, token)).status, 200, 'the same token is accepted: the refusal was not cached')
})

t.test('only usable signing keys of the set are used', async t => {
  const signing = testKey('sig')
  const jwks = await JwksServer.start(t, [
    { ...testKey('enc').jwk, use: 'enc' },
    { ...testKey('es').jwk, alg: 'ES256' },
    { kty: 'oct', k: 'c2VjcmV0', kid: 'symmetric' } as unknown as JsonWebKey,
    { kty: 'RSA', kid: 'broken', n: 'AQAB' } as unknown as JsonWebKey,
    signing.jwk
  ])
  const store = new JwksKeyStore({ jwksUri: jwks.url, ttlMs: 3_600_000, timeoutMs: 1000, refreshIntervalMs: 0 })
  t.match(await store.publicKey('RS256', 'sig'), /BEGIN PUBLIC KEY/)
  await t.rejects(store.publicKey('RS256', 'enc'), KeyUnavailableError, 'an encryption key never verifies a signature')
  await t.rejects(store.publicKey('RS256', 'es'), KeyUnavailableError, 'a key pinned to another algorithm is not used for RS256')
  await t.rejects(store.publicKey('RS256', 'symmetric'), KeyUnavailableError, 'a symmetric key in a JWKS is ignored')
  await t.rejects(store.publicKey('RS256', 'broken'), KeyUnavailableError, 'an unreadable key is skipped, the rest of the set still works')
})

t.test('answers that are not a key set are failures, and the last good set stays', async t => {
  const jwks = await JwksServer.start(t, [testKey('kept').jwk])
  const outcomes: string[] = []
  const store = new JwksKeyStore({ jwksUri: jwks.url, ttlMs: 1, timeoutMs: 1000, refreshIntervalMs: 0, onFetch: outcome => outcomes.push(outcome) })
  await store.publicKey('RS256', 'kept')
  for (const body of ['not json', '{"nokeys": true}', JSON.stringify({ keys: [], padding: 'x'.repeat(300 * 1024) })]) {
    jwks.body = body
    await t.rejects(store.publicKey('RS256', 'other'), /could not be fetched/, `refused: ${body.slice(0, 16)}`)
    t.match(await store.publicKey('RS256', 'kept'), /BEGIN PUBLIC KEY/, 'the last good key still works')
  }
  t.ok(outcomes.filter(outcome => outcome === 'failed').length >= 3, 'each bad answer is counted as a failed fetch')
})

t.test('a slow JWKS endpoint does not hang requests', async t => {
  const jwks = await JwksServer.start(t, [testKey('fast').jwk])
  const server = await startTestServer(t, jwtSettings({ MCP_JWKS_URI: jwks.url, MCP_JWKS_TIMEOUT: 1, MCP_JWKS_REFRESH_INTERVAL: 1 }))
  t.equal((await callWith(server, bearer('fast'))).status, 200)
  jwks.mode = 'slow'
  const response = await callWith(server, bearer('arrives-while-slow'))
  t.equal(response.status, 401, 'the request is answered (refused: its key cannot be fetched)')
  t.ok(jwks.pending > 0, 'while the JWKS endpoint still has not answered')
  t.equal((await callWith(server, bearer('fast'))).status, 200, 'cached keys still work')
})

t.test('the key store, directly', async t => {
  const jwks = await JwksServer.start(t, [testKey('one').jwk])
  const store = new JwksKeyStore({ jwksUri: jwks.url, ttlMs: 50, timeoutMs: 1000, refreshIntervalMs: 0 })

  t.test('a key removed from the JWKS stops working after its refresh', async t => {
    const pem = await store.publicKey('RS256', 'one')
    t.match(pem, /BEGIN PUBLIC KEY/)
    jwks.keys = [testKey('two').jwk]
    let refused = false
    for (let i = 0; i < 100 && !refused; i++) {
      await new Promise(resolve => setTimeout(resolve, 60))
      try {
        await store.publicKey('RS256', 'one')
      } catch (err) {
        refused = err instanceof KeyUnavailableError
      }
    }
    t.ok(refused, 'the removed key is no longer served')
  })

  t.test('a known key is served while its refresh is slow', async t => {
    jwks.keys = [testKey('two').jwk]
    await store.publicKey('RS256', 'two')
    jwks.mode = 'slow'
    await new Promise(resolve => setTimeout(resolve, 60))
    const before = jwks.requests
    t.match(await store.publicKey('RS256', 'two'), /BEGIN PUBLIC KEY/, 'the stale key is returned at once')
    await until(() => jwks.requests > before)
    t.equal(jwks.requests, before + 1, 'and refreshed in the background')
    jwks.mode = 'ok'
  })

  t.test('tokens without a kid are refused for JWKS verification', async t => {
    await t.rejects(store.publicKey('RS256', undefined), KeyUnavailableError)
  })
})
