import { createHmac, timingSafeEqual } from 'node:crypto'
import { trimEnd } from '../text.ts'

/**
 * Signed links to the service's pages. A link names one object (a chart, a dashboard, or
 * the stored state behind an explore or SQL link), the user it was made for, and when it
 * expires; an HMAC-SHA256 over exactly those binds them, so changing any of them (another
 * chart, another user, a later expiry) breaks the signature. The page then shows what that
 * user may see now: a link never grants more than its maker's current permissions.
 */

export const LINK_KINDS = ['chart', 'dashboard', 'explore', 'sql'] as const
export type LinkKind = (typeof LINK_KINDS)[number]

/** The path of each kind of page; the id follows it. */
export const LINK_PATHS: Readonly<Record<LinkKind, string>> = {
  chart: '/charts',
  dashboard: '/dashboards',
  explore: '/explore',
  sql: '/sql'
}

export interface LinkClaims {
  kind: LinkKind
  /** A chart or dashboard id, or a link-state key. */
  id: string
  userId: number
  /** Seconds since the epoch. */
  expiresAt: number
}

export type LinkCheck =
  | { valid: true, claims: LinkClaims }
  | { valid: false, reason: 'malformed' | 'bad_signature' | 'expired', expiredAt?: number }

const SIGNATURE_BYTES = 32

/** A link expiry (seconds since the epoch) as tools report it: ISO 8601. */
export const expiryIso = (expiresAt: number): string => new Date(expiresAt * 1000).toISOString()

export class LinkSigner {
  private readonly key: Buffer
  private readonly baseUrl: string
  private readonly ttlSeconds: number

  constructor (secret: string, baseUrl: string, ttlSeconds: number) {
    this.key = Buffer.from(secret, 'utf8')
    this.baseUrl = trimEnd(baseUrl, '/')
    this.ttlSeconds = ttlSeconds
  }

  /** When a link made now expires (seconds since the epoch). */
  expiry (now = Date.now()): number {
    return Math.floor(now / 1000) + this.ttlSeconds
  }

  /** The absolute URL of a page, signed for `userId`, valid until `expiresAt`. */
  url (kind: LinkKind, id: string | number, userId: number, expiresAt = this.expiry()): string {
    const claims: LinkClaims = { kind, id: String(id), userId, expiresAt }
    const query = new URLSearchParams({ u: String(userId), exp: String(expiresAt), sig: this.sign(claims) })
    return `${this.baseUrl}${LINK_PATHS[kind]}/${encodeURIComponent(claims.id)}?${query.toString()}`
  }

  /** Check the query of a page request; `now` in milliseconds. */
  check (kind: LinkKind, id: string, query: { u?: unknown, exp?: unknown, sig?: unknown }, now = Date.now()): LinkCheck {
    const { u, exp, sig } = query
    if (typeof u !== 'string' || typeof exp !== 'string' || typeof sig !== 'string' || !/^\d{1,15}$/.test(u) || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) {
      return { valid: false, reason: 'malformed' }
    }
    const claims: LinkClaims = { kind, id, userId: Number(u), expiresAt: Number(exp) }
    const expected = Buffer.from(this.sign(claims), 'base64url')
    const given = Buffer.from(sig, 'base64url')
    // The signature is checked before the expiry, so a forged link never learns whether its date would pass.
    if (given.length !== SIGNATURE_BYTES || !timingSafeEqual(expected, given)) return { valid: false, reason: 'bad_signature' }
    if (claims.expiresAt * 1000 <= now) return { valid: false, reason: 'expired', expiredAt: claims.expiresAt }
    return { valid: true, claims }
  }

  private sign (claims: LinkClaims): string {
    // One field per line, so no value can run into the next (ids never hold a newline).
    const message = ['v1', claims.kind, claims.id, String(claims.userId), String(claims.expiresAt)].join('\n')
    return createHmac('sha256', this.key).update(message).digest('base64url')
  }
}
