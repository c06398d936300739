import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { AUDIENCE, callWith, INVALID_TOKEN_BODY, ISSUER, jwtSettings } from '../helpers/auth.ts'
import { JwksServer } from '../helpers/jwks-server.ts'
import { claimsFor, handmade, hmacWithPublicKey, mislabelled, signRaw, signWith, signWithSecret, testKey } from '../helpers/keys.ts'

// A corpus of forged, broken and misused tokens against an RS256 + JWKS deployment. Every one
// is refused with the same generic answer: the status, the header and the body never say why.

const now = (): number => Math.floor(Date.now() / 1000)

t.test('forged and broken tokens', async t => {
  const key = testKey('idp-2026')
  const jwks = await JwksServer.start(t, [key.jwk])
  // The corpus is far more than MCP_AUTH_FAILURE_LIMIT allows one address (see hardening.test.ts).
  const server = await startTestServer(t, jwtSettings({ MCP_JWKS_URI: jwks.url, MCP_JWKS_REFRESH_INTERVAL: 1, MCP_REQUIRED_SCOPES: [], MCP_AUTH_FAILURE_LIMIT: 0 }))
  await server.app.catalog.createUser({ username: 'mallory-inactive', roles: ['Admin'], active: false })

  const attacker = testKey('attacker')
  // A live server holding the attacker's key: tokens that point at it must not make us call it.
  const attackerJwks = await JwksServer.start(t, [attacker.jwk])
  const ec = testKey('idp-2026', 'ES256')
  const good = claimsFor('alice')
  const valid = signWith(key, good)
  const [validHeader, validPayload, validSignature] = valid.split('.') as [string, string, string]
  const otherToken = signWith(key, claimsFor('bob'))
  const rs256 = (payload: unknown): string => signRaw(key, { alg: 'RS256', typ: 'JWT', kid: key.kid }, payload)

  // Sanity: the genuine token works, so every refusal below is about the forgery.
  const genuine = await callWith(server, `Bearer ${valid}`)
  t.equal(genuine.status, 200, 'the genuine token is accepted')

  const forgeries: Array<[string, string]> = [
    ['alg none', handmade({ alg: 'none', typ: 'JWT' }, good)],
    ['alg None', handmade({ alg: 'None', typ: 'JWT' }, good)],
    ['alg NONE with a signature', handmade({ alg: 'NONE', typ: 'JWT', kid: key.kid }, good, validSignature)],
    ['alg none with a kid', handmade({ alg: 'none', kid: key.kid }, good)],
    ['HS256 signed with the RSA public key (PEM)', hmacWithPublicKey(key, good)],
    ['HS256 signed with the RSA public key (JWK JSON)', hmacWithPublicKey(key, good, JSON.stringify(key.jwk))],
    ['HS512 signed with the RSA public key', hmacWithPublicKey(key, good, key.publicPem, 'sha512')],
    ['HS256 signed with an empty secret', hmacWithPublicKey(key, good, '')],
    ['RS384 (not the pinned algorithm)', signWith(testKey('idp-2026', 'RS384'), good)],
    ['RS512 (not the pinned algorithm)', signWith(testKey('idp-2026', 'RS512'), good)],
    ['ES256 key under the RSA kid', signWith(ec, good)],
    ['PS256 with the right key', signWith(testKey('idp-2026', 'PS256'), good)],
    ['RS256 signature labelled RS512', mislabelled(key, 'RS512', good)],
    ['RS256 signature labelled ES256', mislabelled(key, 'ES256', good)],
    ['signed by an attacker key under the real kid', signWith({ ...attacker, kid: key.kid }, good)],
    ['attacker key with an embedded jwk header', signWith(attacker, good, { jwk: attacker.jwk })],
    ['attacker key with a jku header', signWith(attacker, good, { jku: attackerJwks.url })],
    ['attacker key and kid with a jku header', signWith({ ...attacker, kid: 'attacker' }, good, { jku: attackerJwks.url, kid: 'attacker' })],
    ['attacker key with an x5u header', signWith(attacker, good, { x5u: attackerJwks.url })],
    ['unknown kid', signWith({ ...key, kid: 'never-published' }, good)],
    ['another unknown kid right after', signWith({ ...key, kid: 'never-published-2' }, good)],
    ['no kid', signWith({ ...key, kid: undefined as unknown as string }, good)],
    ['kid path traversal', signWith({ ...key, kid: '../../../../etc/passwd' }, good)],
    ['kid SQL injection', signWith({ ...key, kid: "' OR '1'='1" }, good)],
    ['expired an hour ago', signWith(key, { ...good, exp: now() - 3600 })],
    ['expired beyond the clock skew', signWith(key, { ...good, exp: now() - 120 })],
    ['not valid for another hour (nbf)', signWith(key, { ...good, nbf: now() + 3600 })],
    ['issued in the future (iat)', rs256({ ...good, iat: now() + 3600 })],
    ['no exp', signWith(key, { ...good, exp: undefined })],
    ['exp as a string', rs256({ ...good, exp: String(now() + 3600) })],
    ['exp null', rs256({ ...good, exp: null })],
    ['exp in milliseconds far in the future but iat in the future', rs256({ ...good, iat: now() + 7200, exp: (now() + 3600) * 1000 })],
    ['wrong issuer', signWith(key, { ...good, iss: 'https://evil.test/realms/acme' })],
    ['issuer with a trailing slash', signWith(key, { ...good, iss: `${ISSUER}/` })],
    ['no issuer', signWith(key, { ...good, iss: undefined })],
    ['issuer as a list', rs256({ ...good, iss: [ISSUER] })],
    ['wrong audience', signWith(key, { ...good, aud: 'https://other-service.test/mcp' })],
    ['audience list without this service', signWith(key, { ...good, aud: ['https://a.test', 'https://b.test'] })],
    ['empty audience list', signWith(key, { ...good, aud: [] })],
    ['no audience', signWith(key, { ...good, aud: undefined })],
    ['audience with a different case', signWith(key, { ...good, aud: AUDIENCE.toUpperCase() })],
    // The second-to-last character carries six signature bits (the last one also padding bits):
    // it is always replaced by a different one (it was compared with the last, so 1 run in 64 sent the token unchanged).
    ['flipped signature byte', `${validHeader}.${validPayload}.${validSignature.slice(0, -2)}${validSignature.at(-2) === 'A' ? 'B' : 'A'}${validSignature.slice(-1)}`],
    ['payload swapped under a valid signature', `${validHeader}.${otherToken.split('.')[1] ?? ''}.${validSignature}`],
    ['admin claims pasted over alice\'s signature', `${validHeader}.${Buffer.from(JSON.stringify({ ...good, sub: 'admin' })).toString('base64url')}.${validSignature}`],
    ['truncated in half', valid.slice(0, Math.floor(valid.length / 2))],
    ['signature missing', `${validHeader}.${validPayload}.`],
    ['two segments', `${validHeader}.${validPayload}`],
    ['four segments', `${valid}.${validSignature}`],
    ['not base64', `${validHeader}.@@@###.${validSignature}`],
    ['header is not JSON', `${Buffer.from('not json').toString('base64url')}.${validPayload}.${validSignature}`],
    ['payload is not JSON', `${validHeader}.${Buffer.from('{broken').toString('base64url')}.${validSignature}`],
    ['payload is an array', rs256([1, 2, 3])],
    ['payload is null', rs256(null)],
    ['oversized (10 kB, over the 8 kB token limit)', signWith(key, { ...good, padding: 'x'.repeat(10_000) })],
    ['unknown critical header', signWith(key, good, { crit: ['exp-v2'], 'exp-v2': 1 })],
    ['HS256 with a guessed secret', signWithSecret('secret', good)],
    ['unknown user', signWith(key, { ...good, sub: 'mallory' })],
    ['inactive user', signWith(key, { ...good, sub: 'mallory-inactive' })],
    ['empty subject and nothing else', signWith(key, { ...good, sub: '' })],
    ['numeric subject', rs256({ ...good, sub: 12345 })],
    ['scope claim that is a number', signWith(key, { ...good, scope: 42 })],
    ['scp claim with non-strings', signWith(key, { ...good, scope: undefined, scp: [{ admin: true }] })],
    ['token for another service of the same issuer', signWith(key, { ...good, aud: 'https://analytics.test/other' })],
    ['random bytes', Buffer.from('definitely not a JWT at all').toString('base64')]
  ]
  t.ok(forgeries.length >= 50, `${forgeries.length} forged or broken tokens`)

  const challenge = 'Bearer realm="analytics-mcp", error="invalid_token", error_description="The access token is invalid", resource_metadata="https://analytics.test/.well-known/oauth-protected-resource/mcp", scope="mcp:read mcp:write mcp:sql"'
  const answers: string[] = []
  for (const [name, token] of forgeries) {
    const response = await callWith(server, `Bearer ${token}`)
    t.equal(response.status, 401, `${name}: 401`)
    t.same(response.json, INVALID_TOKEN_BODY, `${name}: the generic body`)
    t.equal(response.headers.get('www-authenticate'), challenge, `${name}: the same invalid_token challenge`)
    answers.push(response.text, JSON.stringify([...response.headers]))
  }
  t.equal(attackerJwks.requests, 0, 'jku, x5u and jwk headers are never followed')

  const schemes: Array<[string, string]> = [
    ['empty Bearer', 'Bearer '],
    ['Bearer and spaces', 'Bearer      '],
    ['Basic credentials', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
    ['Token scheme', `Token ${valid}`],
    ['Key scheme while API keys are off', 'Key amcp_abcdefghijkl_abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq'],
    ['Bearer API key while API keys are off', 'Bearer amcp_abcdefghijkl_abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq'],
    ['the token without a scheme', valid]
  ]
  for (const [name, header] of schemes) {
    const response = await callWith(server, header)
    t.equal(response.status, 401, `${name}: 401`)
    t.same(response.json, INVALID_TOKEN_BODY, `${name}: the generic body`)
  }

  // Near misses that are valid: the checks must not be stricter than the standards.
  const accepted: Array<[string, string]> = [
    ['audience list holding this service', signWith(key, { ...good, aud: ['https://other.test', AUDIENCE] })],
    ['expired 30 s ago, within the 60 s clock skew', signWith(key, { ...good, exp: now() - 30 })],
    ['nbf 30 s ahead, within the clock skew', signWith(key, { ...good, nbf: now() + 30 })],
    ['iat 30 s ahead, within the clock skew', signWith(key, { ...good, iat: now() + 30 })],
    ['scp as a list instead of scope', signWith(key, { ...good, scope: undefined, scp: ['mcp:read'] })]
  ]
  for (const [name, token] of accepted) t.equal((await callWith(server, `Bearer ${token}`)).status, 200, `${name}: accepted`)

  t.test('a token bigger than any header Node accepts is refused before it reaches the service', async t => {
    const response = await callWith(server, `Bearer ${signWith(key, { ...good, padding: 'x'.repeat(20_000) })}`)
    t.equal(response.status, 431)
    t.notMatch(response.text, /alice|x{100}/)
  })

  t.test('no refusal reveals its reason', async t => {
    t.equal(answers.length, forgeries.length * 2)
    t.notMatch(answers.join('\n'), /expired|signature|kid|issuer|audience|algorithm|alice|mallory|inactive|scope claim|stack|\.ts:/i)
    t.equal(new Set(answers.filter((_, i) => i % 2 === 0)).size, 1, 'every body is the same')
  })

  t.test('the server still serves after the whole corpus', async t => {
    t.equal((await callWith(server, `Bearer ${valid}`)).status, 200)
    const metrics = await (await fetch(new URL('/metrics', server.url))).text()
    t.match(metrics, /mcp_auth_attempts_total\{method="jwt",outcome="rejected"\} \d+/)
  })
})
