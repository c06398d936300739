import type { Backend, DatabaseRecord } from '../../src/catalog/records.ts'
import type { QueryRequest } from '../../src/engines/engines.ts'
import { ToolError } from '../../src/errors.ts'

/** A database record for engine tests: read-only, no password, no options unless overridden. */
export function databaseRecord (backend: Backend, connection: string, overrides: Partial<DatabaseRecord> = {}): DatabaseRecord {
  return {
    id: 1, uuid: 'u', database_name: 'test', backend, connection, allow_dml: false,
    password_source: null, options: {}, expose_in_sqllab: true, description: null, created_by_fk: null, changed_by_fk: null, created_on: '', changed_on: '',
    ...overrides
  }
}

/** A SQLite database record for engine tests, read-only unless `allowDml`. */
export function sqliteDatabase (file: string, allowDml = false): DatabaseRecord {
  return databaseRecord('sqlite', file, { allow_dml: allowDml })
}

/** The ToolError a query was refused with (fails the test when it ran, or failed otherwise). */
export async function refusal (work: Promise<unknown>): Promise<ToolError> {
  try {
    await work
  } catch (err) {
    if (err instanceof ToolError) return err
    throw err
  }
  throw new Error('expected the query to be refused')
}

/** A query with the caps of an ordinary call (100 rows, 8 MiB, 10 s). */
export function queryRequest (sql: string, overrides: Partial<QueryRequest> = {}): QueryRequest {
  return { sql, maxRows: 100, maxBytes: 8_388_608, timeoutMs: 10_000, dryRun: false, ...overrides }
}

/** Wait for a condition (polling), e.g. a query to be running. */
export async function until (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise(resolve => setTimeout(resolve, 10))
}
