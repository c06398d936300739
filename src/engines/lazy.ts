import type { DatabaseRecord } from '../catalog/records.ts'
import type { Backend } from '../catalog/records.ts'
import type { QueryRequest, QueryResult, SqlEngine, TableInfo } from './engines.ts'

/**
 * An engine built on first use, so its module (and native library) loads only then: DuckDB's
 * adds about 30 MB to the memory of every replica, most of which never query DuckDB.
 */
export class LazyEngine implements SqlEngine {
  readonly backend: Backend
  private readonly create: () => Promise<SqlEngine>
  private engine: Promise<SqlEngine> | undefined

  constructor (backend: Backend, create: () => Promise<SqlEngine>) {
    this.backend = backend
    this.create = create
  }

  private async loaded (): Promise<SqlEngine> {
    this.engine ??= this.create()
    return await this.engine
  }

  async execute (database: DatabaseRecord, request: QueryRequest): Promise<QueryResult> {
    return await (await this.loaded()).execute(database, request)
  }

  async listTables (database: DatabaseRecord, signal?: AbortSignal, owner?: string): Promise<TableInfo[]> {
    return await (await this.loaded()).listTables(database, signal, owner)
  }

  async close (): Promise<void> {
    if (this.engine !== undefined) await (await this.engine).close()
  }
}
