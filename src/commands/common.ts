import { parseArgs } from 'node:util'
import type { ParseArgsOptionsConfig } from 'node:util'
import { Catalog } from '../catalog/catalog.ts'
import type { Config } from '../config.ts'
import { loadServiceConfig } from '../server.ts'

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

/** Run `work` on the configured catalog and close it. */
export async function withCatalog<T> (values: { config?: string | undefined }, io: CliIo, work: (catalog: Catalog, config: Config) => T): Promise<T> {
  const config = await configFor(values, io)
  const catalog = Catalog.open(config.catalogPath, { upgrade: config.MCP_CATALOG_AUTO_UPGRADE })
  try {
    return work(catalog, config)
  } finally {
    catalog.close()
  }
}
