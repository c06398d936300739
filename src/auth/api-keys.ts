import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Catalog } from '../catalog/catalog.ts'
import type { ApiKeyRecord } from '../catalog/records.ts'

/**
 * API keys look like `<prefix>_<key id>_<secret>`: the key id finds the row, the secret
 * (32 random bytes) is only ever stored as its SHA-256. A fast hash is right here: the
 * secret is random, not a password a person chose, so there is nothing to brute-force.
 */

const KEY_ID_BYTES = 9
const SECRET_BYTES = 32

export interface IssuedApiKey {
  record: ApiKeyRecord
  /** The full key, shown once at creation. */
  key: string
}

export function hashSecret (secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** The key id and secret of a key string, or undefined if it is not one of ours. */
export function parseApiKey (key: string, prefix: string): { keyId: string, secret: string } | undefined {
  const match = new RegExp(`^${prefix}_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$`).exec(key)
  return match === null ? undefined : { keyId: match[1] as string, secret: match[2] as string }
}

export function isApiKeyShaped (token: string, prefix: string): boolean {
  return token.startsWith(`${prefix}_`)
}

export async function createApiKey (catalog: Catalog, options: { prefix: string, name: string, userId: number, scopes: readonly string[] | null, expiresOn: string | null }): Promise<IssuedApiKey> {
  const keyId = randomBytes(KEY_ID_BYTES).toString('base64url').replace(/[-_]/g, 'x')
  const secret = randomBytes(SECRET_BYTES).toString('base64url')
  const record = await catalog.createApiKey({
    key_id: keyId,
    name: options.name,
    user_id: options.userId,
    secret_hash: hashSecret(secret),
    scopes: options.scopes,
    expires_on: options.expiresOn
  })
  return { record, key: `${options.prefix}_${keyId}_${secret}` }
}

/** Why a key was refused, for the server log only. */
export class ApiKeyRejectedError extends Error {
  constructor (reason: string) {
    super(reason)
    this.name = 'ApiKeyRejectedError'
  }
}

/** Compare a presented secret with the stored hash in constant time. */
export function secretMatches (record: ApiKeyRecord, secret: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex')
  const stored = Buffer.from(record.secret_hash, 'hex')
  return presented.length === stored.length && timingSafeEqual(presented, stored)
}

/** The key's record if the key is genuine, unrevoked and unexpired; throws ApiKeyRejectedError otherwise. */
export async function verifyApiKey (catalog: Catalog, key: string, prefix: string): Promise<ApiKeyRecord> {
  const parts = parseApiKey(key, prefix)
  if (parts === undefined) throw new ApiKeyRejectedError('not a well-formed API key')
  const record = await catalog.findApiKeyByKeyId(parts.keyId)
  if (record === undefined || record.key_id !== parts.keyId) throw new ApiKeyRejectedError('unknown API key')
  if (!secretMatches(record, parts.secret)) throw new ApiKeyRejectedError('wrong API key secret')
  return usableKey(record)
}

/** Refuse revoked and expired keys. */
export function usableKey (record: ApiKeyRecord, now = Date.now()): ApiKeyRecord {
  if (record.revoked_on !== null) throw new ApiKeyRejectedError(`API key ${record.name} was revoked`)
  if (record.expires_on !== null && Date.parse(record.expires_on) <= now) throw new ApiKeyRejectedError(`API key ${record.name} expired`)
  return record
}

/** Last-use times are written at most once a minute: every request would be a catalog write. */
const LAST_USED_RESOLUTION_MS = 60_000

/** Record that a key was used (directly, by token exchange, or through an exchanged token). */
export async function recordApiKeyUse (catalog: Catalog, record: ApiKeyRecord, now = Date.now()): Promise<void> {
  if (record.last_used_on === null || now - Date.parse(record.last_used_on) > LAST_USED_RESOLUTION_MS) {
    await catalog.touchApiKey(record.id, new Date(now).toISOString())
  }
}
