import { readFileSync } from 'node:fs'
import type { DatabaseRecord } from '../catalog/records.ts'
import { ToolError } from '../errors.ts'

/**
 * A registered database's password, read where its `password_source` says, each time a
 * connection is made (a rotated Kubernetes secret is picked up without a restart). The catalog
 * never holds the password; errors name the source, never the value.
 */
export function databasePassword (database: Pick<DatabaseRecord, 'database_name' | 'password_source'>): string | undefined {
  const source = database.password_source
  if (source === null || source === '') return undefined
  const unavailable = (why: string): ToolError => new ToolError('database_unavailable', `The password of database ${database.database_name} is unavailable: ${why}.`, 'Ask an administrator to check the database registration (analytics-mcp databases test).')
  if (source.startsWith('env:')) {
    const value = process.env[source.slice('env:'.length)]
    if (value === undefined || value === '') throw unavailable(`the environment variable ${source.slice('env:'.length)} is not set`)
    return value
  }
  if (source.startsWith('file:')) {
    try {
      // A mounted secret file usually ends with a newline that is not part of the password.
      return readFileSync(source.slice('file:'.length), 'utf8').replace(/\r?\n$/, '')
    } catch {
      throw unavailable(`the file ${source.slice('file:'.length)} cannot be read`)
    }
  }
  throw unavailable(`unknown password source "${source.split(':')[0] ?? ''}"`)
}
