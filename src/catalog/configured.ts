import { readFileSync } from 'node:fs'
import { Catalog } from './catalog.ts'
import { CatalogError } from './errors.ts'
import type { Config } from '../config.ts'

type CatalogSettings = Pick<Config, 'catalogLocation' | 'MCP_CATALOG_AUTO_UPGRADE' | 'MCP_CATALOG_PASSWORD' | 'MCP_CATALOG_PASSWORD_FILE' | 'MCP_CATALOG_POOL_SIZE' | 'MCP_CATALOG_STATEMENT_TIMEOUT'>

/** The catalog password from MCP_CATALOG_PASSWORD, or read from MCP_CATALOG_PASSWORD_FILE for each new connection. */
function catalogPassword (config: CatalogSettings): string | (() => string) | undefined {
  if (config.MCP_CATALOG_PASSWORD !== undefined) return config.MCP_CATALOG_PASSWORD
  const file = config.MCP_CATALOG_PASSWORD_FILE
  if (file === undefined) return undefined
  const read = (): string => {
    try {
      // A mounted secret usually ends with a newline that is not part of the password.
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new CatalogError(`MCP_CATALOG_PASSWORD_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`)
    }
  }
  read()
  return read
}

/** Open the catalog the settings name (MCP_CATALOG_URL / MCP_CATALOG_PATH), with its pool and timeouts. */
export async function openConfiguredCatalog (config: CatalogSettings, options: { upgrade?: boolean } = {}): Promise<Catalog> {
  return await Catalog.open(config.catalogLocation, {
    upgrade: options.upgrade ?? config.MCP_CATALOG_AUTO_UPGRADE,
    password: catalogPassword(config),
    poolSize: config.MCP_CATALOG_POOL_SIZE,
    statementTimeoutMs: config.MCP_CATALOG_STATEMENT_TIMEOUT * 1000
  })
}
