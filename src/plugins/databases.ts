import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { DeclaredRegistration } from '../catalog/catalog.ts'
import { ConfigError } from '../config.ts'
import type { DeclaredDatabase } from '../config.ts'
import { connectionFields, DatabaseUriError } from '../engines/connection.ts'

/**
 * MCP_DATABASES as the catalog stores it. Every entry is checked before any is written, and
 * a bad one stops start-up naming it (MCP_DATABASES[2].uri: …): the declaration fails closed.
 */
export function declaredRegistrations (declared: readonly DeclaredDatabase[]): DeclaredRegistration[] {
  const problems: string[] = []
  const registrations: DeclaredRegistration[] = []
  const seen = new Map<string, number>()
  declared.forEach((entry, index) => {
    const at = `MCP_DATABASES[${index}]`
    const earlier = seen.get(entry.name)
    if (earlier !== undefined) problems.push(`${at}.name: "${entry.name}" is declared twice (also MCP_DATABASES[${earlier}])`)
    seen.set(entry.name, index)
    try {
      registrations.push({
        database_name: entry.name,
        ...connectionFields(entry),
        allow_dml: entry.allow_dml ?? false,
        expose_in_sqllab: entry.expose_in_sqllab ?? true,
        description: entry.description ?? null
      })
    } catch (err) {
      if (!(err instanceof DatabaseUriError)) throw err
      problems.push(`${at}.${err.field}: ${err.message}`)
    }
  })
  if (problems.length > 0) throw new ConfigError(problems)
  return registrations
}

/**
 * Reconcile the registered databases with MCP_DATABASES once the catalog is open: each declared
 * database is created or updated (one transaction); others are left alone. A database declared
 * before and no longer declared is kept with its datasets, and a warning says so.
 */
async function databasesPlugin (app: FastifyInstance): Promise<void> {
  const declared = app.config.MCP_DATABASES
  const outcome = await app.catalog.reconcileDatabases(declaredRegistrations(declared))
  if (declared.length > 0) app.log.info({ created: outcome.created, updated: outcome.updated, unchanged: outcome.unchanged.length }, 'MCP_DATABASES reconciled')
  if (outcome.released.length > 0) {
    app.log.warn({ databases: outcome.released }, 'databases registered from MCP_DATABASES are no longer declared: kept with their datasets (remove them with `analytics-mcp databases remove`)')
  }
}

export default fp(databasesPlugin, { name: 'databases', fastify: '5.x', dependencies: ['config', 'catalog'] })
