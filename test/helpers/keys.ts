import { createHmac, createPublicKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { createSigner } from 'fast-jwt'

/** A signing key as an identity provider holds it. */
export interface TestKey {
  kid: string
  alg: 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384' | 'PS256'
  privatePem: string
  publicPem: string
  jwk: JsonWebKey
}

const keyCache = new Map<string, TestKey>()

/** An RSA or EC key pair (cached per kid and algorithm: RSA generation is slow). */
export function testKey (kid: string, alg: TestKey['alg'] = 'RS256'): TestKey {
  const cacheKey = `${kid}:${alg}`
  const cached = keyCache.get(cacheKey)
  if (cached !== undefined) return cached
  const pair = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const key: TestKey = {
    kid,
    alg,
    privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem,
    jwk: { ...createPublicKey(publicPem).export({ format: 'jwk' }), kid, alg, use: 'sig' } as JsonWebKey
  }
  keyCache.set(cacheKey, key)
  return key
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** Claims of a good token for `sub`, valid for an hour, with every tool scope (`scope: undefined` drops them). */
export function claimsFor (sub: string, extra: Record<string, unknown> = {}, audience = 'https://analytics.test/mcp', issuer = 'https://idp.test/realms/acme'): Record<string, unknown> {
  return { sub, iss: issuer, aud: audience, iat: nowSeconds(), exp: nowSeconds() + 3600, scope: 'mcp:read mcp:write mcp:sql', ...extra }
}

/** A token signed with a key pair (RS*, ES*, PS*). */
export function signWith (key: TestKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const signer = createSigner({ key: key.privatePem, algorithm: key.alg, kid: key.kid, noTimestamp: true, header: { alg: key.alg, ...header } })
  return signer(claims)
}

/** A token signed with a shared secret (HS*). */
export function signWithSecret (secret: string, claims: Record<string, unknown>, alg: 'HS256' | 'HS384' | 'HS512' = 'HS256'): string {
  const signer = createSigner({ key: secret, algorithm: alg, noTimestamp: true })
  return signer(claims)
}

const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A token built by hand: any header, any payload, any signature (for forgeries). */
export function handmade (header: unknown, payload: unknown, signature = ''): string {
  return `${part(header)}.${part(payload)}.${signature}`
}

/** The classic algorithm-confusion forgery: HS256 "signed" with the RSA public key as the secret. */
export function hmacWithPublicKey (key: TestKey, claims: Record<string, unknown>, secret: string = key.publicPem, alg: 'sha256' | 'sha512' = 'sha256'): string {
  const header = { alg: alg === 'sha256' ? 'HS256' : 'HS512', typ: 'JWT', kid: key.kid }
  const input = `${part(header)}.${part(claims)}`
  return `${input}.${createHmac(alg, secret).update(input).digest('base64url')}`
}

/** Any header and payload, with a genuine RS256 signature by `key` (for malformed claims a signer refuses). */
export function signRaw (key: TestKey, header: Record<string, unknown>, payload: unknown): string {
  const input = `${part(header)}.${part(payload)}`
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key.privatePem).toString('base64url')}`
}

/** A token whose header claims `alg` but is signed with RS256 by `key`. */
export function mislabelled (key: TestKey, alg: string, claims: Record<string, unknown>): string {
  return signRaw(key, { alg, typ: 'JWT', kid: key.kid }, claims)
}
