import { createHash, createPrivateKey, createPublicKey } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'

/** A private key this service signs tokens with, and what verifiers need to check them. */
export interface SigningKey {
  algorithm: 'RS256' | 'ES256'
  privatePem: string
  publicPem: string
  /** Key id: a digest of the public key, so every replica with the same key names it alike. */
  kid: string
  /** The public key as a JWK, for /.well-known/jwks.json. */
  jwk: JsonWebKey
}

export function signingKeyOf (privatePem: string, algorithm: 'RS256' | 'ES256'): SigningKey {
  const privateKey = createPrivateKey(privatePem)
  const publicKey = createPublicKey(privateKey)
  const kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 16)
  return {
    algorithm,
    privatePem,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    kid,
    jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: algorithm, use: 'sig' } as JsonWebKey
  }
}
