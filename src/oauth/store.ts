import { createHash, generateKeyPairSync } from 'node:crypto'
import type { Catalog } from '../catalog/catalog.ts'
import { OAUTH_SIGNING_KEY_STATE } from '../catalog/schema.ts'
import type { OAuthGrantsTable } from '../catalog/schema.ts'

/** Codes, refresh tokens and secrets are kept as hashes: 256-bit random values need no slow hash. */
export function secretHash (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

const isoNow = (): string => new Date().toISOString()
const isoIn = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString()

export interface StoredClient {
  client_id: string
  secret_hash: string | null
  metadata: Record<string, unknown>
  last_used_on: string
}

/** An authorization request between /oauth/authorize, the upstream sign-in and the consent form. */
export interface PendingRequest {
  id: string
  payload: Record<string, unknown>
  user_id: number | null
  consent_hash: string | null
}

export type Grant = OAuthGrantsTable

/** Why a code or refresh token was not accepted; 'reused' has already revoked its grant. */
export type Redemption = { ok: true, grant: Grant, redirect_uri?: string, code_challenge?: string } | { ok: false, reason: 'unknown' | 'expired' | 'reused' | 'revoked' }

/**
 * The authorization server's state in the catalog, so that every step of a sign-in may reach
 * another replica: registered clients, requests in progress, grants (one sign-in of a user to
 * a client) with their single-use codes and rotating refresh tokens, and the generated
 * signing key. Single use is one conditional UPDATE (`used_on IS NULL`), atomic on SQLite and
 * PostgreSQL alike, so two replicas can never both redeem the same code or refresh token.
 */
export class OAuthStore {
  private readonly catalog: Catalog

  constructor (catalog: Catalog) {
    this.catalog = catalog
  }

  private get db (): Catalog['store']['db'] {
    return this.catalog.store.db
  }

  // ---- clients -----------------------------------------------------------------------

  async findClient (clientId: string): Promise<StoredClient | undefined> {
    const row = await this.db.selectFrom('oauth_clients').selectAll().where('client_id', '=', clientId).executeTakeFirst()
    return row === undefined ? undefined : { ...row, metadata: JSON.parse(row.metadata) as Record<string, unknown> }
  }

  async registerClient (client: { client_id: string, secret_hash: string | null, metadata: Record<string, unknown> }, unusedTtlSeconds: number): Promise<void> {
    const stamp = isoNow()
    // Registrations nobody used for the whole TTL go on the way (RFC 7591 clients never unregister).
    await this.db.deleteFrom('oauth_clients').where('last_used_on', '<', isoIn(-unusedTtlSeconds)).execute()
    await this.db.insertInto('oauth_clients').values({ client_id: client.client_id, secret_hash: client.secret_hash, metadata: JSON.stringify(client.metadata), created_on: stamp, last_used_on: stamp }).execute()
  }

  /** Mark a registered client used (at most once a minute is written). */
  async touchClient (client: StoredClient): Promise<void> {
    if (Date.parse(client.last_used_on) > Date.now() - 60_000) return
    await this.db.updateTable('oauth_clients').set({ last_used_on: isoNow() }).where('client_id', '=', client.client_id).execute()
  }

  // ---- authorization requests -------------------------------------------------------

  async createRequest (id: string, payload: Record<string, unknown>, ttlSeconds: number): Promise<void> {
    const stamp = isoNow()
    await this.purgeExpired(stamp)
    await this.db.insertInto('oauth_requests').values({ id, payload: JSON.stringify(payload), user_id: null, consent_hash: null, created_on: stamp, expires_on: isoIn(ttlSeconds) }).execute()
  }

  async findRequest (id: string): Promise<PendingRequest | undefined> {
    const row = await this.db.selectFrom('oauth_requests').selectAll().where('id', '=', id).where('expires_on', '>', isoNow()).executeTakeFirst()
    return row === undefined ? undefined : { id: row.id, payload: JSON.parse(row.payload) as Record<string, unknown>, user_id: row.user_id, consent_hash: row.consent_hash }
  }

  /**
   * The upstream sign-in came back: the request moves to consent, for this user, bound to a
   * new consent token. Only a request still waiting for sign-in moves (a replayed callback does not).
   */
  async awaitConsent (id: string, userId: number, consentHash: string, ttlSeconds: number): Promise<boolean> {
    const result = await this.db.updateTable('oauth_requests').set({ user_id: userId, consent_hash: consentHash, expires_on: isoIn(ttlSeconds) })
      .where('id', '=', id).where('consent_hash', 'is', null).where('expires_on', '>', isoNow()).executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }

  /** Take a request out (single use): the one caller that gets it decides, any other gets undefined. */
  async takeRequest (id: string): Promise<PendingRequest | undefined> {
    const request = await this.findRequest(id)
    if (request === undefined) return undefined
    const result = await this.db.deleteFrom('oauth_requests').where('id', '=', id).executeTakeFirst()
    return Number(result.numDeletedRows) === 1 ? request : undefined
  }

  // ---- grants, codes, refresh tokens -------------------------------------------------

  /** A new grant and its authorization code (both unusable after `codeTtlSeconds` until the code is redeemed). */
  async createGrant (grant: Omit<Grant, 'created_on' | 'expires_on' | 'revoked_on' | 'revoked_reason'>, code: { hash: string, redirect_uri: string, code_challenge: string }, codeTtlSeconds: number): Promise<void> {
    const stamp = isoNow()
    const expires = isoIn(codeTtlSeconds)
    await this.catalog.transaction(async () => {
      await this.db.insertInto('oauth_grants').values({ ...grant, created_on: stamp, expires_on: expires, revoked_on: null, revoked_reason: null }).execute()
      await this.db.insertInto('oauth_codes').values({ code_hash: code.hash, grant_id: grant.id, redirect_uri: code.redirect_uri, code_challenge: code.code_challenge, expires_on: expires, used_on: null }).execute()
    })
  }

  /**
   * Redeem a code once. A code presented again means it leaked (or was intercepted): its grant
   * and every token issued from it are revoked (OAuth 2.1 §4.1.3).
   */
  async redeemCode (codeHash: string): Promise<Redemption> {
    const stamp = isoNow()
    const result = await this.db.updateTable('oauth_codes').set({ used_on: stamp }).where('code_hash', '=', codeHash).where('used_on', 'is', null).where('expires_on', '>', stamp).executeTakeFirst()
    const code = await this.db.selectFrom('oauth_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst()
    if (code === undefined) return { ok: false, reason: 'unknown' }
    if (Number(result.numUpdatedRows) !== 1) {
      if (code.used_on === null) return { ok: false, reason: 'expired' }
      await this.revokeGrant(code.grant_id, 'authorization code used twice')
      return { ok: false, reason: 'reused' }
    }
    const grant = await this.findGrant(code.grant_id)
    if (grant === undefined || grant.revoked_on !== null) return { ok: false, reason: 'revoked' }
    return { ok: true, grant, redirect_uri: code.redirect_uri, code_challenge: code.code_challenge }
  }

  /** A new refresh token for a grant; the grant now lives as long as it. */
  async addRefreshToken (grantId: string, tokenHash: string, ttlSeconds: number): Promise<void> {
    const expires = isoIn(ttlSeconds)
    await this.db.insertInto('oauth_refresh_tokens').values({ token_hash: tokenHash, grant_id: grantId, created_on: isoNow(), expires_on: expires, used_on: null }).execute()
    await this.db.updateTable('oauth_grants').set({ expires_on: expires }).where('id', '=', grantId).execute()
  }

  /**
   * Use a refresh token once (rotation). A rotated token presented again is a stolen copy or
   * a stolen original: the whole family (the grant) is revoked, so neither party keeps access.
   */
  async rotateRefreshToken (tokenHash: string): Promise<Redemption> {
    const stamp = isoNow()
    const result = await this.db.updateTable('oauth_refresh_tokens').set({ used_on: stamp }).where('token_hash', '=', tokenHash).where('used_on', 'is', null).where('expires_on', '>', stamp).executeTakeFirst()
    const token = await this.db.selectFrom('oauth_refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
    if (token === undefined) return { ok: false, reason: 'unknown' }
    if (Number(result.numUpdatedRows) !== 1) {
      if (token.used_on === null) return { ok: false, reason: 'expired' }
      await this.revokeGrant(token.grant_id, 'refresh token used twice')
      return { ok: false, reason: 'reused' }
    }
    const grant = await this.findGrant(token.grant_id)
    if (grant === undefined || grant.revoked_on !== null) return { ok: false, reason: 'revoked' }
    return { ok: true, grant }
  }

  /** The grant a refresh token belongs to, whether or not it was rotated (revocation looks it up). */
  async grantOfRefreshToken (tokenHash: string): Promise<string | undefined> {
    return (await this.db.selectFrom('oauth_refresh_tokens').select('grant_id').where('token_hash', '=', tokenHash).executeTakeFirst())?.grant_id
  }

  async findGrant (id: string): Promise<Grant | undefined> {
    return await this.db.selectFrom('oauth_grants').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /** Whether tokens of this grant may still be used (not revoked, not past its last refresh token). */
  async grantActive (id: string): Promise<boolean> {
    const grant = await this.findGrant(id)
    return grant !== undefined && grant.revoked_on === null && grant.expires_on > isoNow()
  }

  async revokeGrant (id: string, reason: string): Promise<boolean> {
    const result = await this.db.updateTable('oauth_grants').set({ revoked_on: isoNow(), revoked_reason: reason }).where('id', '=', id).where('revoked_on', 'is', null).executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }

  /** Every sign-in of a user ends (an operator's `oauth revoke --user`). */
  async revokeGrantsOfUser (userId: number, reason: string): Promise<number> {
    const result = await this.db.updateTable('oauth_grants').set({ revoked_on: isoNow(), revoked_reason: reason }).where('user_id', '=', userId).where('revoked_on', 'is', null).executeTakeFirst()
    return Number(result.numUpdatedRows)
  }

  async grantsOfUser (userId: number): Promise<Grant[]> {
    return await this.db.selectFrom('oauth_grants').selectAll().where('user_id', '=', userId).orderBy('created_on').execute()
  }

  private async purgeExpired (stamp: string): Promise<void> {
    await this.db.deleteFrom('oauth_requests').where('expires_on', '<', stamp).execute()
    await this.db.deleteFrom('oauth_codes').where('expires_on', '<', isoIn(-3600)).execute()
    // Revoked or expired grants are kept a day, so a late reuse of their tokens is still recognised.
    await this.db.deleteFrom('oauth_grants').where('expires_on', '<', isoIn(-86_400)).execute()
  }

  // ---- signing key -------------------------------------------------------------------

  /**
   * The key that signs access tokens when MCP_TOKEN_SIGNING_KEY is unset: generated by the
   * first replica that needs it and kept in the catalog, so every replica signs alike.
   */
  async generatedSigningKey (): Promise<string> {
    const read = async (): Promise<string | undefined> => (await this.db.selectFrom('catalog_state').select('value').where('key', '=', OAUTH_SIGNING_KEY_STATE).executeTakeFirst())?.value
    const existing = await read()
    if (existing !== undefined) return existing
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    // Two replicas starting together: the first insert wins and both read it back.
    await this.db.insertInto('catalog_state').values({ key: OAUTH_SIGNING_KEY_STATE, value: pem }).onConflict(conflict => conflict.column('key').doNothing()).execute()
    return await read() ?? pem
  }
}
