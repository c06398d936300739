import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ToolError } from '../errors.ts'
import type { Backend, DatabaseRecord } from '../catalog/records.ts'
import { sqliteFile } from './connection.ts'
import { RunnerPool } from './runner-pool.ts'
import type { RunnerEndReason, RunnerPoolOptions } from './runner-pool.ts'
import type { QueryResult, SqlParam } from './protocol.ts'

export type { QueryResult, QueryColumn, SqlParam } from './protocol.ts'

export interface QueryRequest {
  sql: string
  /** Values for the `?` placeholders of `sql`. */
  params?: readonly SqlParam[] | undefined
  /** Row cap; more rows are reported as `truncated`. */
  maxRows: number
  /** Size budget (estimated JSON bytes); rows past it are left out and reported as `truncated`. */
  maxBytes: number
  timeoutMs: number
  dryRun: boolean
  signal?: AbortSignal | undefined
  /** Whose query this is: queries wait in per-owner queues that take turns (fair sharing). */
  owner?: string | undefined
}

/** Outcome labels of the SQL metrics. */
export type QueryOutcome = 'success' | 'error' | 'timeout' | 'cancelled' | 'refused'

export interface QueryObservation {
  backend: Backend
  outcome: QueryOutcome
  durationSeconds: number
  rows: number
}

export interface EngineHooks {
  onQuery?: (observation: QueryObservation) => void
  onRunnerEnded?: (reason: RunnerEndReason) => void
}

export interface TableInfo {
  name: string
  /** table or view */
  type: string
}

/** Runs SQL for one kind of backend, read-only unless the database allows DML. */
export interface SqlEngine {
  readonly backend: Backend
  execute: (database: DatabaseRecord, request: QueryRequest) => Promise<QueryResult>
  /** Tables and views a query can read, for models writing SQL. */
  listTables: (database: DatabaseRecord, signal?: AbortSignal, owner?: string) => Promise<TableInfo[]>
  close: () => Promise<void>
}

/** How long introspection queries may take. */
const INTROSPECTION_TIMEOUT_MS = 10_000
const MAX_LISTED_TABLES = 500

const RUNNER_MODULE = fileURLToPath(new URL(`sqlite-runner${path.extname(import.meta.url)}`, import.meta.url))

export class SqliteEngine implements SqlEngine {
  readonly backend = 'sqlite' as const
  readonly pool: RunnerPool

  constructor (options: Omit<RunnerPoolOptions, 'runnerModule'>) {
    this.pool = new RunnerPool({ runnerModule: RUNNER_MODULE, ...options })
  }

  execute (database: DatabaseRecord, request: QueryRequest): Promise<QueryResult> {
    return this.pool.run({
      file: sqliteFile(database.connection),
      allowDml: database.allow_dml,
      sql: request.sql,
      params: [...(request.params ?? [])],
      maxRows: request.maxRows,
      maxBytes: request.maxBytes,
      dryRun: request.dryRun
    }, request.timeoutMs, request.signal, request.owner)
  }

  async listTables (database: DatabaseRecord, signal?: AbortSignal, owner?: string): Promise<TableInfo[]> {
    const result = await this.execute(database, {
      owner,
      sql: "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
      maxRows: MAX_LISTED_TABLES,
      maxBytes: 1_048_576,
      timeoutMs: INTROSPECTION_TIMEOUT_MS,
      dryRun: false,
      signal
    })
    return result.rows.map(([name, type]) => ({ name: String(name), type: String(type) }))
  }

  close (): Promise<void> {
    return this.pool.close()
  }
}

const OUTCOME_BY_ERROR: Readonly<Record<string, QueryOutcome>> = {
  query_timeout: 'timeout',
  cancelled: 'cancelled',
  busy: 'refused',
  result_too_large: 'refused',
  read_only: 'refused',
  not_allowed: 'refused',
  multiple_statements: 'refused',
  empty_statement: 'refused',
  resource_limit: 'refused'
}

/** The engines of this replica, one per backend, with query metrics around every call. */
export class EngineRegistry {
  private readonly engines: ReadonlyMap<Backend, SqlEngine>
  private readonly hooks: EngineHooks
  private readonly owner: string | undefined

  constructor (engines: readonly SqlEngine[] | ReadonlyMap<Backend, SqlEngine>, hooks: EngineHooks = {}, owner?: string) {
    this.engines = engines instanceof Map ? engines : new Map((engines as readonly SqlEngine[]).map(engine => [engine.backend, engine]))
    this.hooks = hooks
    this.owner = owner
  }

  /** The same engines, with every query counted as `owner`'s for fair sharing. */
  forPrincipal (owner: string): EngineRegistry {
    return new EngineRegistry(this.engines, this.hooks, owner)
  }

  engineFor (backend: Backend): SqlEngine {
    const engine = this.engines.get(backend)
    if (engine === undefined) throw new ToolError('database_unavailable', `No SQL engine for backend "${backend}" in this build.`)
    return engine
  }

  async execute (database: DatabaseRecord, request: QueryRequest): Promise<QueryResult> {
    const started = performance.now()
    let outcome: QueryOutcome = 'error'
    let rows = 0
    try {
      const result = await this.engineFor(database.backend).execute(database, { owner: this.owner, ...request })
      outcome = 'success'
      rows = result.rowCount
      return result
    } catch (err) {
      if (err instanceof ToolError) outcome = OUTCOME_BY_ERROR[err.errorType] ?? 'error'
      throw err
    } finally {
      this.hooks.onQuery?.({ backend: database.backend, outcome, durationSeconds: (performance.now() - started) / 1000, rows })
    }
  }

  listTables (database: DatabaseRecord, signal?: AbortSignal): Promise<TableInfo[]> {
    return this.engineFor(database.backend).listTables(database, signal, this.owner)
  }

  async close (): Promise<void> {
    await Promise.all([...this.engines.values()].map(engine => engine.close()))
  }
}
