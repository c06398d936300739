import { parseArgs } from 'node:util'
import type { ParseArgsOptionsConfig } from 'node:util'
import type { Catalog } from '../catalog/catalog.ts'
import { openConfiguredCatalog } from '../catalog/configured.ts'
import type { CatalogChange } from '../catalog/catalog.ts'
import type { Config } from '../config.ts'
import { ClusterEvents } from '../events/cluster-events.ts'
import { loadServiceConfig } from '../server.ts'
import { connectRedis } from '../store/redis.ts'

/** A command line the CLI cannot run: printed with the usage text, exit code 2. */
export class UsageError extends Error {}

export interface CliIo {
  out: (line: string) => void
  err: (line: string) => void
  env?: NodeJS.ProcessEnv
  cwd?: string
}

const CONFIG_OPTION = { config: { type: 'string' } } as const

// The flags' types are inferred from the option table; spelling them out would repeat it.
export function parse<T extends ParseArgsOptionsConfig> (args: string[], options: T, positionals = 0) {
  let parsed
  try {
    parsed = parseArgs({ args, options: { ...CONFIG_OPTION, ...options }, strict: true, allowPositionals: positionals > 0 })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(`expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length}`)
  }
  return { ...parsed.values, positionals: parsed.positionals }
}

export async function configFor (values: { config?: string | undefined }, io: CliIo, overrides: Record<string, unknown> = {}): Promise<Config> {
  return await loadServiceConfig({ configFile: values.config, overrides, env: io.env ?? process.env, cwd: io.cwd ?? process.cwd() })
}

/**
 * Run `work` on the configured catalog and close it. When Redis is configured, the changes it
 * made are announced to the running replicas (their subscribed clients hear of them); a Redis
 * that cannot be reached is a warning, not a failure: the change itself is done.
 */
export async function withCatalog<T> (values: { config?: string | undefined }, io: CliIo, work: (catalog: Catalog, config: Config) => T | Promise<T>): Promise<T> {
  const config = await configFor(values, io)
  const catalog = await openConfiguredCatalog(config)
  const changes = new Set<CatalogChange>()
  catalog.onChange(change => changes.add(change))
  let result: T
  try {
    // Awaited before the catalog closes: an async command (load-examples --into) still uses it.
    result = await work(catalog, config)
  } finally {
    await catalog.close()
  }
  if (changes.size > 0 && config.MCP_STORE_CONFIG.enabled) await announce(config, [...changes], io)
  return result
}

const ANNOUNCE_TIMEOUT_MS = 3000

async function announce (config: Config, changes: CatalogChange[], io: CliIo): Promise<void> {
  const redis = connectRedis(config.MCP_STORE_CONFIG)
  try {
    const ready = await new Promise<boolean>(resolve => {
      const timer = setTimeout(() => resolve(false), ANNOUNCE_TIMEOUT_MS)
      redis.client.once('ready', () => {
        clearTimeout(timer)
        resolve(true)
      })
      // A command-line tool does not wait through reconnection attempts: the first failure decides.
      redis.client.once('error', () => {
        clearTimeout(timer)
        resolve(false)
      })
    })
    const events = new ClusterEvents(redis)
    const sent = ready && (await Promise.all(changes.map(async change => await events.publish({ type: 'catalog_changed', change })))).every(Boolean)
    if (!sent) io.err('warning: Redis (MCP_STORE_CONFIG) could not be reached: running replicas were not notified of this change (their caches are still correct; subscribed clients will not be told)')
  } finally {
    await redis.close()
  }
}
