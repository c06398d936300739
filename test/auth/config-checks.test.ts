import { generateKeyPairSync } from 'node:crypto'
import path from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.ts'
import { ConfigError, resolveConfig } from '../../src/config.ts'
import { loadServiceConfig } from '../../src/server.ts'
import { testConfig } from '../helpers/config.ts'
import { testKey } from '../helpers/keys.ts'

// Fail closed: every unsafe or ambiguous authentication setup stops start-up, naming it.

function problems (values: Record<string, unknown>): string[] {
  try {
    resolveConfig([{ source: 'environment', values }])
    return []
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
}

const rsa = testKey('config-rsa')
const ec = testKey('config-ec', 'ES256')
const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
const base = { MCP_AUTH_ENABLED: 'true', MCP_JWT_AUDIENCE: 'https://analytics.test/mcp' }

t.test('each unsafe setup is refused with a message naming it', async t => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['auth without an audience', { MCP_AUTH_ENABLED: 'true', MCP_JWT_PUBLIC_KEY: rsa.publicPem }, /^MCP_JWT_AUDIENCE: required when MCP_AUTH_ENABLED is on/],
    ['auth without key material', base, /^MCP_AUTH_ENABLED: no key material/],
    ['HS256 without a secret', { ...base, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_PUBLIC_KEY: rsa.publicPem }, /MCP_JWT_SECRET: required with MCP_JWT_ALGORITHM=HS256/],
    ['HS256 with a secret and a public key', { ...base, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: 's'.repeat(32), MCP_JWT_PUBLIC_KEY: rsa.publicPem }, /MCP_JWT_ALGORITHM: HS256 verifies with MCP_JWT_SECRET only/],
    ['HS256 with a secret and a JWKS', { ...base, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: 's'.repeat(32), MCP_JWKS_URI: 'https://idp.test/jwks' }, /algorithm confusion/],
    ['RS256 with only a secret', { ...base, MCP_JWT_SECRET: 's'.repeat(32) }, /MCP_JWT_SECRET: not used with MCP_JWT_ALGORITHM=RS256/],
    ['RS256 with a JWKS and a public key', { ...base, MCP_JWKS_URI: 'https://idp.test/jwks', MCP_JWT_PUBLIC_KEY: rsa.publicPem }, /either MCP_JWKS_URI or MCP_JWT_PUBLIC_KEY, not both/],
    ['RS256 with an EC key', { ...base, MCP_JWT_PUBLIC_KEY: ec.publicPem }, /MCP_JWT_PUBLIC_KEY: is an ec key but RS256 needs an RSA key/],
    ['ES256 with an RSA key', { ...base, MCP_JWT_ALGORITHM: 'ES256', MCP_JWT_PUBLIC_KEY: rsa.publicPem }, /needs an EC key/],
    ['a public key that is not PEM', { ...base, MCP_JWT_PUBLIC_KEY: 'ssh-rsa AAAA' }, /MCP_JWT_PUBLIC_KEY \(environment\): expected a PEM-encoded public key/],
    ['a broken PEM', { ...base, MCP_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' }, /not a readable PEM public key/],
    ['a short HS256 secret', { ...base, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: 'short' }, /MCP_JWT_SECRET \(environment\): must be at least 32 characters/],
    ['dev user with auth', { ...base, MCP_JWT_PUBLIC_KEY: rsa.publicPem, MCP_DEV_USERNAME: 'admin' }, /^MCP_DEV_USERNAME: must not be set when authentication is on/],
    ['dev user with API keys', { MCP_API_KEY_ENABLED: 'true', MCP_DEV_USERNAME: 'admin' }, /^MCP_DEV_USERNAME: must not be set/],
    ['several issuers without a resolver', { ...base, MCP_JWT_PUBLIC_KEY: rsa.publicPem, MCP_JWT_ISSUER: 'https://a.test/,https://b.test/' }, /^MCP_JWT_ISSUER: several issuers need MCP_USER_RESOLVER/],
    ['no authentication on a public bind', { MCP_SERVICE_HOST: '0.0.0.0' }, /^MCP_SERVICE_HOST: 0\.0\.0\.0 is reachable from other machines but authentication is off/],
    ['token exchange without authentication', { MCP_TOKEN_EXCHANGE_ENABLED: 'true', MCP_TOKEN_SIGNING_KEY: rsa.privatePem }, /^MCP_TOKEN_EXCHANGE_ENABLED: exchanged tokens are only useful with authentication on/],
    ['token exchange without a signing key', { MCP_API_KEY_ENABLED: 'true', MCP_TOKEN_EXCHANGE_ENABLED: 'true' }, /^MCP_TOKEN_SIGNING_KEY: required with MCP_TOKEN_EXCHANGE_ENABLED/],
    ['token exchange with a public key', { MCP_API_KEY_ENABLED: 'true', MCP_TOKEN_EXCHANGE_ENABLED: 'true', MCP_TOKEN_SIGNING_KEY: rsa.publicPem }, /MCP_TOKEN_SIGNING_KEY \(environment\): not a readable PEM private key/],
    ['ES256 exchange with an RSA key', { MCP_API_KEY_ENABLED: 'true', MCP_TOKEN_EXCHANGE_ENABLED: 'true', MCP_TOKEN_SIGNING_ALGORITHM: 'ES256', MCP_TOKEN_SIGNING_KEY: rsa.privatePem }, /MCP_TOKEN_SIGNING_KEY: is an rsa key but ES256 needs an EC key/],
    ['an authorization server that is not a URL', { ...base, MCP_JWT_PUBLIC_KEY: rsa.publicPem, MCP_AUTHORIZATION_SERVERS: 'login.example.com' }, /MCP_AUTHORIZATION_SERVERS/],
    ['a bad API key prefix', { MCP_API_KEY_ENABLED: 'true', MCP_API_KEY_PREFIX: 'My_Prefix' }, /MCP_API_KEY_PREFIX \(environment\): expected 2 to 16 lowercase letters or digits/],
    ['a role mapping that is not JSON', { MCP_JIT_ROLE_MAPPING: '{analysts: Admin}' }, /MCP_JIT_ROLE_MAPPING \(environment\): expected a JSON object/],
    ['ES256 with a P-384 key', { ...base, MCP_JWT_ALGORITHM: 'ES256', MCP_JWT_PUBLIC_KEY: testKey('p384', 'ES384').publicPem }, /MCP_JWT_PUBLIC_KEY: is a key on curve secp384r1 but ES256 needs prime256v1/],
    ['ES384 with a P-256 key', { ...base, MCP_JWT_ALGORITHM: 'ES384', MCP_JWT_PUBLIC_KEY: ec.publicPem }, /needs secp384r1/],
    ['a 1024-bit RSA key', { ...base, MCP_JWT_PUBLIC_KEY: weakRsa }, /MCP_JWT_PUBLIC_KEY: is a 1024-bit RSA key; use at least 2048 bits/],
    ['a JWKS over plain HTTP', { ...base, MCP_JWKS_URI: 'http://keycloak.auth.svc:8080/realms/acme/protocol/openid-connect/certs' }, /^MCP_JWKS_URI: http:\/\/keycloak\.auth\.svc:8080 is plain HTTP/],
    ['a function from the environment', { MCP_AUTH_FACTORY: 'myFactory' }, /MCP_AUTH_FACTORY \(environment\): expected a function \(set it in a JavaScript config file\)/]
  ]
  for (const [name, values, expected] of cases) {
    const found = problems(values)
    t.ok(found.some(problem => expected.test(problem)), `${name}: ${found.join(' | ') || 'accepted'}`)
  }
})

t.test('good setups are accepted', async t => {
  t.same(problems({ ...base, MCP_JWT_PUBLIC_KEY: rsa.publicPem }), [])
  t.same(problems({ ...base, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: 's'.repeat(32) }), [])
  t.same(problems({ ...base, MCP_JWKS_URI: 'https://idp.test/jwks', MCP_JWT_ALGORITHM: 'ES256' }), [])
  t.same(problems({ ...base, MCP_JWT_ALGORITHM: 'ES256', MCP_JWT_PUBLIC_KEY: ec.publicPem }), [])
  t.same(problems({ ...base, MCP_JWT_ALGORITHM: 'ES384', MCP_JWT_PUBLIC_KEY: testKey('p384', 'ES384').publicPem }), [])
  t.same(problems({ ...base, MCP_JWKS_URI: 'http://127.0.0.1:8080/certs' }), [], 'plain HTTP on loopback')
  t.same(problems({ ...base, MCP_JWKS_URI: 'http://keycloak.auth.svc:8080/certs', MCP_JWKS_ALLOW_HTTP: 'true' }), [], 'plain HTTP when allowed explicitly')
  t.same(problems({ MCP_API_KEY_ENABLED: 'true', MCP_SERVICE_HOST: '0.0.0.0' }), [], 'API keys alone secure a public bind')
  t.same(problems({ MCP_SERVICE_HOST: '0.0.0.0', MCP_ALLOW_UNAUTHENTICATED_REMOTE: 'true' }), [], 'the explicit opt-in')
  t.same(problems({ MCP_API_KEY_ENABLED: 'true', MCP_TOKEN_EXCHANGE_ENABLED: 'true', MCP_TOKEN_SIGNING_KEY: rsa.privatePem }), [])
})

t.test('a JIT role mapping naming unknown roles stops start-up', async t => {
  const config = testConfig(t.testdir(), { MCP_AUTH_ENABLED: true, MCP_JWT_AUDIENCE: ['a'], MCP_JWT_PUBLIC_KEY: rsa.publicPem, MCP_JIT_PROVISIONING: true, MCP_JIT_ROLE_MAPPING: { admins: ['Superuser'] } })
  await t.rejects(buildApp(config, { logger: false }), { message: /MCP_JIT_ROLE_MAPPING: unknown role\(s\) Superuser/ })
})

t.test('MCP_AUTH_FACTORY from a JavaScript config file', async t => {
  const dir = t.testdir({
    'ok.mjs': `export const MCP_AUTH_FACTORY = (app) => ({
      verify: async (token) => {
        if (token === 'let-me-in') return { username: 'alice', scopes: ['mcp:read'] }
        if (token === 'claims-please') return { claims: { sub: 'bob' } }
        throw new Error('no such token')
      }
    })
    export default { MCP_SERVICE_URL: 'https://analytics.test' }`,
    'throws.mjs': "export const MCP_AUTH_FACTORY = () => { throw new Error('vault unreachable: secret=hunter2') }",
    'bad.mjs': 'export const MCP_AUTH_FACTORY = () => 42'
  })
  const dataDir = path.join(dir, 'data')
  const examplesPath = testConfig(dataDir).examplesPath
  const load = async (file: string) => await loadServiceConfig({ configFile: path.join(dir, file), env: { MCP_DATA_DIR: dataDir, MCP_EXAMPLES_PATH: examplesPath, MCP_LOG_LEVEL: 'silent' } })

  t.test('its verifier takes precedence over the built-in JWT configuration', async t => {
    const app = await buildApp(await load('ok.mjs'), { logger: false })
    t.teardown(() => app.close())
    const call = async (token: string) => await app.inject({ method: 'POST', url: '/mcp', headers: { host: 'localhost', 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` }, payload: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_instance_info', arguments: {} } } })
    const alice = await call('let-me-in')
    t.match(alice.json().result.structuredContent.current_user, { username: 'alice', auth_method: 'custom', scopes: ['mcp:read'] })
    const bob = await call('claims-please')
    t.equal(bob.json().result.structuredContent.current_user.username, 'bob', 'claims go through user resolution')
    const refused = await call('anything-else')
    t.equal(refused.statusCode, 401)
    t.notMatch(refused.body, /no such token/)
  })

  t.test('a factory that throws stops start-up (never a fallback to no authentication)', async t => {
    await t.rejects(async () => await buildApp(await load('throws.mjs'), { logger: false }), { name: 'ConfigError', message: /MCP_AUTH_FACTORY: the custom auth factory threw/ })
    try {
      await buildApp(await load('throws.mjs'), { logger: false })
    } catch (err) {
      t.notMatch((err as Error).message, /hunter2/, 'its message (which may hold secrets) is not repeated')
    }
  })

  t.test('a factory that returns no verifier stops start-up', async t => {
    await t.rejects(async () => await buildApp(await load('bad.mjs'), { logger: false }), { message: /the factory must return a verifier/ })
  })
})
