import { createHash } from 'node:crypto'
import type { Catalog } from '../catalog/catalog.ts'
import type { CacheConfig } from '../config.ts'
import { resultBytes } from '../mcp/size-guard.ts'
import type { CacheStore } from '../store/cache-store.ts'
import type { Principal, Tool, ToolOutcome } from '../tools/tool.ts'

/** Arguments every cacheable tool accepts, as Superset's do. */
export const CACHE_ARGUMENTS = {
  use_cache: { type: 'boolean', description: 'false: neither read nor store a cached result (default true; only matters when the response cache is on).' },
  force_refresh: { type: 'boolean', description: 'true: compute a fresh result and replace the cached one (default false).' }
} as const

/** What a response says about the cache, in its `_meta.cache_status` (Superset: cache_status). */
export interface CacheStatus {
  hit: boolean
  /** Seconds since the cached result was computed (hits only). */
  age_seconds?: number
  /** Why the cache was not used: use_cache=false, force_refresh=true, or a tool never cached. */
  bypass?: 'use_cache' | 'force_refresh'
}

interface StoredEntry {
  stored_at: number
  outcome: ToolOutcome
  /** resultBytes(outcome), so a hit is not serialised again to be measured. */
  bytes?: number
}

/** JSON with sorted object keys: the same arguments in any order give the same key. */
function canonical (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map(key => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/**
 * Everything that decides what a principal sees: who (user, roles, how authenticated, which
 * client), what their roles grant (class permissions and data access) and their scopes. Two requests
 * share cache entries only when all of it is equal; any permission change gives a new key.
 */
export function principalFingerprint (principal: Principal): string {
  const scopes = principal.scopes === undefined ? '*' : [...principal.scopes].sort().join(' ')
  // JSON keeps the fields apart whatever they hold; the cache key hashes it with the rest.
  return JSON.stringify([principal.user.id, principal.user.username, [...principal.user.roles].sort(), principal.authMethod, principal.clientId ?? '', scopes, principal.access.grantsKey])
}

/**
 * The response cache (MCP_CACHE_CONFIG), safe with many users, unlike Superset's (whose key is
 * tool and arguments only, and whose hits are served before permission checks). Here:
 * - it is consulted only after the caller's scopes and roles allowed the call;
 * - every key holds the principal's fingerprint (user, roles' grants, scopes), so a hit never
 *   crosses users, and a permission change is a miss;
 * - every key holds the catalog's identity and content version, which every write to what
 *   tools show moves (by any process, on any replica), so writes invalidate;
 * - tools that can change anything (readOnlyHint false) are never cached, whatever
 *   excluded_tools says; nor are those whose result is this replica's state now (health_check).
 */
export class ResponseCache {
  private readonly store: CacheStore
  private readonly config: CacheConfig
  private readonly catalog: Catalog
  private readonly prefix: string
  private readonly excluded: ReadonlySet<string>
  private readonly context: string

  /**
   * `context` names what else shapes a cached answer (service version, size-guard settings), so
   * a rolling deploy or a config change on one replica never serves another's entries.
   */
  constructor (store: CacheStore, config: CacheConfig, catalog: Catalog, context: string) {
    this.store = store
    this.config = config
    this.catalog = catalog
    this.context = context
    this.prefix = config.CACHE_KEY_PREFIX ?? 'cache:'
    this.excluded = new Set(config.excluded_tools)
  }

  /** Whether results of this tool may ever be cached. */
  cacheable (tool: Tool): boolean {
    return tool.annotations.readOnlyHint && !tool.volatile && !this.excluded.has(tool.name) && this.config.call_tool_ttl > 0
  }

  async keyFor (kind: 'tool' | 'resource', name: string, args: unknown, principal: Principal): Promise<string> {
    const { instanceId, version } = await this.catalog.contentState()
    const digest = createHash('sha256')
      .update(`${this.context}\n${instanceId}\n${version}\n${principalFingerprint(principal)}\n${canonical(args)}`)
      .digest('base64url')
    return `${this.prefix}${kind}:${name}:${digest}`
  }

  async get (key: string): Promise<{ outcome: ToolOutcome, ageSeconds: number, bytes: number } | undefined> {
    const raw = await this.store.get(key)
    if (raw === undefined) return undefined
    try {
      const entry = JSON.parse(raw) as StoredEntry
      return { outcome: entry.outcome, ageSeconds: Math.max(0, Math.round((Date.now() - entry.stored_at) / 1000)), bytes: entry.bytes ?? resultBytes(entry.outcome) }
    } catch {
      return undefined
    }
  }

  /** Store a result; false when it is larger than max_item_size. */
  async set (key: string, outcome: ToolOutcome, ttlSeconds: number): Promise<boolean> {
    const value = JSON.stringify({ stored_at: Date.now(), outcome, bytes: resultBytes(outcome) } satisfies StoredEntry)
    if (Buffer.byteLength(value) > this.config.max_item_size) return false
    await this.store.set(key, value, ttlSeconds)
    return true
  }

  /** Seconds a tool's result is kept: call_tool_ttl, or less for tools that read live data. */
  ttlFor (tool: Tool): number {
    return Math.min(this.config.call_tool_ttl, tool.maxCacheSeconds ?? Infinity)
  }

  get readResourceTtl (): number {
    return this.config.read_resource_ttl
  }
}
