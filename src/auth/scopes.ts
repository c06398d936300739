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

/**
 * Scopes from JWT claims: `scope` (space-separated, RFC 8693/9068) or `scp` (a list, or a
 * space-separated string). undefined when the token has neither claim.
 */
export function scopesFromClaims (claims: Readonly<Record<string, unknown>>): string[] | undefined {
  for (const claim of ['scope', 'scp']) {
    const value = claims[claim]
    if (typeof value === 'string') return value.split(/\s+/).filter(scope => scope !== '')
    if (Array.isArray(value)) return value.filter((scope): scope is string => typeof scope === 'string')
  }
  return undefined
}
