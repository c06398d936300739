import type { Catalog } from '../catalog/catalog.ts'
import { CatalogError } from '../catalog/catalog.ts'
import type { UserRecord } from '../catalog/records.ts'

/** A user resolver from the JS config (MCP_USER_RESOLVER): claims → username. */
export type UserResolver = (claims: Readonly<Record<string, unknown>>, context: { issuer: string | undefined }) => unknown

export interface JitProvisioning {
  rolesClaim: string
  mapping: Readonly<Record<string, readonly string[]>>
  defaultRoles: readonly string[]
}

export interface UserResolutionOptions {
  /** Claims tried in order (MCP_USER_CLAIMS); the first non-empty one names the user. */
  claims: readonly string[]
  resolver?: UserResolver | undefined
  /** Create unknown users from their claims (off unless configured). */
  jit?: JitProvisioning | undefined
}

/** The token names no usable user; the reason is for the server log only. */
export class UserRejectedError extends Error {
  constructor (reason: string) {
    super(reason)
    this.name = 'UserRejectedError'
  }
}

function claimText (value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

/** The username a token's claims name, in the order of Superset's deployment guide, or the resolver's. */
export async function usernameFromClaims (claims: Readonly<Record<string, unknown>>, options: UserResolutionOptions): Promise<string | undefined> {
  if (options.resolver !== undefined) return claimText(await options.resolver(claims, { issuer: claimText(claims.iss) }))
  for (const claim of options.claims) {
    const value = claimText(claims[claim])
    if (value !== undefined) return value
  }
  return undefined
}

/**
 * Roles a provisioned user gets: the mapped values of the roles claim, plus the defaults. A
 * string claim is one group name, never split ("not admins" must not match "admins"), and
 * only the mapping's own keys count (no "toString" from the prototype).
 */
export function provisionedRoles (claims: Readonly<Record<string, unknown>>, jit: JitProvisioning): string[] {
  const raw = claims[jit.rolesClaim]
  const values = Array.isArray(raw) ? raw.filter((value): value is string => typeof value === 'string') : typeof raw === 'string' ? [raw] : []
  const mapped = values.flatMap(value => Object.hasOwn(jit.mapping, value) ? jit.mapping[value] ?? [] : [])
  return [...new Set([...jit.defaultRoles, ...mapped])]
}

/**
 * The active catalog user a verified token names: matched by username, or by email when
 * the value holds an @. Unknown users are created only with just-in-time provisioning;
 * never a fallback to another identity.
 */
export async function resolveUser (catalog: Catalog, claims: Readonly<Record<string, unknown>>, options: UserResolutionOptions): Promise<UserRecord> {
  const name = await usernameFromClaims(claims, options)
  if (name === undefined) throw new UserRejectedError(`no claim names a user (tried ${options.resolver === undefined ? options.claims.join(', ') : 'MCP_USER_RESOLVER'})`)
  let user = (await catalog.findUserByUsername(name)) ?? (name.includes('@') ? await catalog.findUserByEmail(name) : undefined)
  if (user === undefined && options.jit !== undefined) user = await provision(catalog, name, claims, options.jit)
  if (user === undefined) throw new UserRejectedError(`no user "${name}" in the catalog`)
  if (!user.active) throw new UserRejectedError(`user "${name}" is inactive`)
  return user
}

async function provision (catalog: Catalog, username: string, claims: Readonly<Record<string, unknown>>, jit: JitProvisioning): Promise<UserRecord> {
  const email = claimText(claims.email)
  try {
    return await catalog.createUser({
      username,
      first_name: claimText(claims.given_name) ?? '',
      last_name: claimText(claims.family_name) ?? '',
      email: email !== undefined && await catalog.findUserByEmail(email) === undefined ? email : null,
      roles: provisionedRoles(claims, jit)
    })
  } catch (err) {
    // Another replica provisioned the same user a moment ago.
    const existing = await catalog.findUserByUsername(username)
    if (err instanceof CatalogError && existing !== undefined) return existing
    throw err
  }
}
