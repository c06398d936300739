/**
 * OAuth scopes of the MCP tools. Every tool declares the scope it needs; a credential that
 * carries scopes may only use the tools those scopes cover. `mcp:write` implies `mcp:read`.
 */
export const SCOPES = {
  /** Read dashboards, charts, datasets, databases. */
  read: 'mcp:read',
  /** Create and change charts, dashboards and datasets. */
  write: 'mcp:write',
  /** Run SQL with execute_sql. */
  sql: 'mcp:sql'
} as const

export type Scope = (typeof SCOPES)[keyof typeof SCOPES]

export const ALL_SCOPES: readonly Scope[] = Object.values(SCOPES)

const IMPLIED: Readonly<Record<string, readonly string[]>> = {
  [SCOPES.write]: [SCOPES.read]
}

/** Scopes granted, with the ones they imply. */
function expand (granted: readonly string[]): Set<string> {
  const all = new Set(granted)
  for (const scope of granted) for (const implied of IMPLIED[scope] ?? []) all.add(implied)
  return all
}

/**
 * Whether a credential may use something that needs `needed`. `granted` undefined means the
 * credential is not scope-limited (development mode, or a token or key without scopes):
 * only the user's roles limit it.
 */
export function hasScope (granted: readonly string[] | undefined, needed: string | undefined): boolean {
  if (needed === undefined || granted === undefined) return true
  return expand(granted).has(needed)
}

/** The scopes of `needed` that `granted` lacks. */
export function missingScopes (granted: readonly string[] | undefined, needed: readonly string[]): string[] {
  return needed.filter(scope => !hasScope(granted, scope))
}

/** RFC 6749 §3.3 scope-token characters; anything else (quotes, spaces, control characters) is dropped. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** A scope claim that is there but not a string or list of strings: the token is refused. */
export class MalformedScopeError extends Error {}

/**
 * Scopes from JWT claims: `scope` (space-separated, RFC 8693/9068) or `scp` (a list, or a
 * space-separated string). undefined when the token has neither claim; a claim of another
 * type throws MalformedScopeError (never read as "unrestricted").
 */
export function scopesFromClaims (claims: Readonly<Record<string, unknown>>): string[] | undefined {
  for (const claim of ['scope', 'scp']) {
    const value = claims[claim]
    if (value === undefined) continue
    const items = typeof value === 'string' ? value.split(/\s+/) : Array.isArray(value) && value.every(item => typeof item === 'string') ? value as string[] : undefined
    if (items === undefined) throw new MalformedScopeError(`the ${claim} claim is neither a string nor a list of strings`)
    return items.filter(scope => SCOPE_TOKEN.test(scope))
  }
  return undefined
}
