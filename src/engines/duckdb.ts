/**
 * DuckDB as a query engine: a .duckdb file, or an in-memory database whose tables are views
 * over configured CSV, Parquet and JSON files. DuckDB runs in this process on its own threads
 * (the node-api is asynchronous, so a long query never blocks the event loop); a query past
 * its timeout, or one whose caller went away, is stopped with `interrupt()`.
 *
 * Safety in depth, layer 1 (DuckDB itself, holds even if layer 2 were bypassed):
 * - a .duckdb file is opened with access_mode READ_ONLY unless the database allows DML;
 * - the file views are made first; then `allowed_paths` lists exactly the files they read,
 *   `enable_external_access = false` closes every other file, directory and URL, extension
 *   auto-install/auto-load are off, and `lock_configuration = true` (set last) makes every
 *   setting, including these and the memory limits, immutable for queries;
 * - memory_limit (MCP_DUCKDB_MEMORY_MB), threads (MCP_DUCKDB_THREADS) and
 *   max_temp_directory_size (MCP_DUCKDB_MAX_TEMP_MB) with temp_directory under
 *   MCP_DATA_DIR/duckdb-tmp/<database id> are set when the database is opened.
 * Layer 2 is the statement check of duckdb-safety.ts (DuckDB's own parser).
 *
 * File views: one view per file matched by a glob of `options.files`, named after the file's
 * base name up to its first dot, lower-cased, with characters other than a-z, 0-9 and _
 * turned into _ (a leading digit gets a _ in front; a repeated name gets _2, _3, …). The globs
 * are expanded when the database is opened: files added later appear after a restart.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { DuckDBInstance, DuckDBTypeId, JsonDuckDBValueConverter, StatementType } from '@duckdb/node-api'
import type { DuckDBBlobValue, DuckDBConnection, DuckDBDecimalValue, DuckDBPreparedStatement, DuckDBResult, DuckDBType, DuckDBValue, DuckDBValueConverter, Json } from '@duckdb/node-api'
import { FairQueue, QueueRefusal } from '../concurrency/fair-queue.ts'
import type { FairQueueOptions } from '../concurrency/fair-queue.ts'
import { ToolError } from '../errors.ts'
import type { DatabaseRecord } from '../catalog/records.ts'
import type { QueryRequest, SqlEngine, TableInfo } from './engines.ts'
import type { QueryColumn, QueryResult } from './protocol.ts'
import { checkStatement, checkStatementType } from './duckdb-safety.ts'
import { cancelledError, NO_OWNER, queueRefusalError, shuttingDown, timeoutError } from './query-errors.ts'

export interface DuckDbEngineOptions {
  /** MCP_DATA_DIR: each database spills to MCP_DATA_DIR/duckdb-tmp/<database id>. */
  dataDir: string
  /** memory_limit of each database, in MiB (MCP_DUCKDB_MEMORY_MB). */
  memoryMb: number
  /** max_temp_directory_size of each database, in MiB; 0: no spilling (MCP_DUCKDB_MAX_TEMP_MB). */
  maxTempMb: number
  /** Threads of each database (MCP_DUCKDB_THREADS). */
  threads: number
  /** Queries one database runs at once, each on its own connection (MCP_SQL_WORKERS). */
  connections: number
  /** Queries one owner may run at once on a database. */
  perOwnerRunning: number
  /** Queries that may wait for a connection of a database, all owners together. */
  queueLimit: number
  /** Queries one owner may have waiting for a connection of a database. */
  perOwnerQueueLimit: number
  /** Queue depth, wait time and refusals (metrics). */
  queueHooks?: Pick<FairQueueOptions, 'onDepth' | 'onWait' | 'onRefused'> | undefined
}

/** Queries without an owner (introspection, tests) share one queue. */
const INTROSPECTION_TIMEOUT_MS = 10_000
const MAX_LISTED_TABLES = 500
const MAX_MESSAGE_CHARS = 2000
const FILE_READERS: ReadonlyArray<[RegExp, string]> = [
  [/\.parquet$/i, 'read_parquet'],
  [/\.(csv|tsv)(\.gz|\.zst)?$/i, 'read_csv'],
  [/\.(json|ndjson|jsonl)(\.gz|\.zst)?$/i, 'read_json']
]
/** Statement types whose answer is a row count (unless they have RETURNING). */
const COUNTED_TYPES: ReadonlySet<StatementType> = new Set([StatementType.INSERT, StatementType.UPDATE, StatementType.DELETE, StatementType.MERGE_INTO])
const RESULT_TYPES: ReadonlySet<StatementType> = new Set([StatementType.SELECT, StatementType.EXPLAIN])

interface OpenDuckDb {
  /** What the database was opened from; a changed registration opens it again. */
  key: string
  instance: DuckDBInstance
  idle: DuckDBConnection[]
  slots: FairQueue
  tempDir: string
  /** The configured files (their paths may appear in messages: they are the user's). */
  files: string[]
}

const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`
const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** The view name of a file: see the module comment. */
export function viewName (file: string): string {
  const base = path.basename(file).split('.')[0] ?? ''
  const name = base.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  return name === '' ? '_' : /^[0-9]/.test(name) ? `_${name}` : name
}

/** The database file of a `duckdb:///…` connection, or `:memory:`. */
export function duckDbPath (connection: string): string {
  const target = connection.startsWith('duckdb://') ? connection.slice('duckdb://'.length) : connection
  if (target === ':memory:' || target === '/:memory:') return ':memory:'
  return path.resolve(target)
}


/** JSON-safe values: see toJsonValue. */
const toJson: DuckDBValueConverter<unknown> = (value, type, converter) => {
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT: {
      const big = value as bigint
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString()
    }
    case DuckDBTypeId.DECIMAL:
      return (value as DuckDBDecimalValue).toDouble()
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return String(value).replace(' ', 'T')
    case DuckDBTypeId.BLOB:
      return Buffer.from((value as DuckDBBlobValue).bytes).toString('base64')
    default:
      return JsonDuckDBValueConverter(value, type, converter as unknown as DuckDBValueConverter<Json>)
  }
}

/**
 * A cell as JSON: integers as numbers when exact (else strings), DECIMAL as numbers, dates
 * and timestamps as ISO text (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.ffffff]), BLOB as base64,
 * LIST/ARRAY as arrays, STRUCT/MAP as objects, intervals as {months, days, micros}.
 */
export function toJsonValue (value: DuckDBValue, type: DuckDBType): unknown {
  return value === null ? null : toJson(value, type, toJson)
}

/** Estimated JSON size of a converted cell, for the result's size budget. */
function cellBytes (value: unknown): number {
  if (value === null || value === undefined) return 4
  if (typeof value === 'string') return value.length + 2
  if (typeof value === 'number' || typeof value === 'boolean') return 8
  return JSON.stringify(value).length
}

/**
 * Runs SQL on DuckDB databases: one DuckDBInstance per registered database, opened on first
 * use and locked down before any query; per database a few connections behind a per-owner
 * fair queue (one query per connection at a time).
 */
export class DuckDbEngine implements SqlEngine {
  readonly backend = 'duckdb' as const
  private readonly options: DuckDbEngineOptions
  private readonly databases = new Map<number, Promise<OpenDuckDb>>()
  private readonly keys = new Map<number, string>()
  private closed = false

  constructor (options: DuckDbEngineOptions) {
    this.options = options
  }

  async execute (database: DatabaseRecord, request: QueryRequest): Promise<QueryResult> {
    if (this.closed) throw shuttingDown()
    const started = Date.now()
    const open = await this.open(database)
    let release: () => void
    try {
      release = await open.slots.acquire(request.owner ?? NO_OWNER, { signal: request.signal, timeoutMs: request.timeoutMs })
    } catch (err) {
      throw err instanceof QueueRefusal ? queueRefusalError(err, request.timeoutMs, { slot: 'a connection to this DuckDB database', slots: `${this.options.connections} connections of this DuckDB database`, perOwnerQueueLimit: this.options.perOwnerQueueLimit }) : err
    }
    let connection: DuckDBConnection | undefined
    let stopReason: 'timeout' | 'cancelled' | undefined
    let timer: NodeJS.Timeout | undefined
    const stop = (reason: 'timeout' | 'cancelled'): void => {
      stopReason ??= reason
      connection?.interrupt()
    }
    const onAbort = (): void => stop('cancelled')
    try {
      const remaining = request.timeoutMs - (Date.now() - started)
      if (remaining <= 0) throw timeoutError(request.timeoutMs)
      if (request.signal?.aborted === true) throw new ToolError('cancelled', 'The request was cancelled before the query started.')
      connection = open.idle.pop() ?? await open.instance.connect()
      timer = setTimeout(() => stop('timeout'), remaining)
      timer.unref()
      request.signal?.addEventListener('abort', onAbort, { once: true })
      return await this.run(connection, database, request, () => stopReason)
    } catch (err) {
      if (stopReason === 'timeout') throw timeoutError(request.timeoutMs)
      if (stopReason === 'cancelled') throw cancelledError()
      throw this.toToolError(err, request.sql, open)
    } finally {
      clearTimeout(timer)
      request.signal?.removeEventListener('abort', onAbort)
      if (connection !== undefined) {
        if (this.closed) connection.closeSync()
        else open.idle.push(connection)
      }
      release()
    }
  }

  private async run (connection: DuckDBConnection, database: DatabaseRecord, request: QueryRequest, stopped: () => string | undefined): Promise<QueryResult> {
    const started = performance.now()
    const check = await checkStatement(connection, request.sql, database.allow_dml)
    let prepared: DuckDBPreparedStatement | undefined
    try {
      prepared = await connection.prepare(request.sql)
      checkStatementType(prepared.statementType, database.allow_dml, check.keyword)
      if (request.params !== undefined && request.params.length > 0) prepared.bind([...request.params])
      const type = prepared.statementType
      if (request.dryRun) {
        const columns: QueryColumn[] = []
        for (let index = 0; index < prepared.columnCount; index++) columns.push({ name: prepared.columnName(index), type: prepared.columnType(index).toString() })
        const returnsRows = RESULT_TYPES.has(type)
        return { columns: returnsRows ? columns : [], rows: [], rowCount: 0, truncated: false, truncatedBy: null, affectedRows: null, changed: false, returnsRows, executionMs: performance.now() - started }
      }
      if (RESULT_TYPES.has(type)) {
        const result = await prepared.stream()
        return { ...await this.readRows(result, request, stopped), affectedRows: null, changed: false, returnsRows: true, executionMs: performance.now() - started }
      }
      // Writes (where DML is allowed) run to completion; their answer is small.
      const result = await prepared.run()
      const names = result.columnNames()
      if (COUNTED_TYPES.has(type) && names.length === 1 && names[0] === 'Count') {
        const affected = result.rowsChanged
        return { columns: [], rows: [], rowCount: 0, truncated: false, truncatedBy: null, affectedRows: affected, changed: affected > 0, returnsRows: false, executionMs: performance.now() - started }
      }
      if (COUNTED_TYPES.has(type)) {
        // RETURNING: the rows are the changed rows.
        const read = await this.readRows(result, request, stopped)
        return { ...read, affectedRows: read.rowCount, changed: read.rowCount > 0, returnsRows: true, executionMs: performance.now() - started }
      }
      // DDL (and CHECKPOINT): the schema may have changed.
      return { columns: [], rows: [], rowCount: 0, truncated: false, truncatedBy: null, affectedRows: 0, changed: type !== StatementType.CALL, returnsRows: false, executionMs: performance.now() - started }
    } finally {
      prepared?.destroySync()
    }
  }

  /** Stream the result and stop after maxRows + 1 rows (the probe) or past the size budget. */
  private async readRows (result: DuckDBResult, request: QueryRequest, stopped: () => string | undefined): Promise<Pick<QueryResult, 'columns' | 'rows' | 'rowCount' | 'truncated' | 'truncatedBy'>> {
    const types = result.columnTypes()
    const columns: QueryColumn[] = result.columnNames().map((name, index) => ({ name, type: types[index]?.toString() ?? null }))
    const rows: unknown[][] = []
    let truncatedBy: QueryResult['truncatedBy'] = null
    let bytes = 0
    // Rows are sent as objects, so every row repeats the column names.
    const rowOverhead = columns.reduce((sum, column) => sum + column.name.length + 4, 2)
    reading: for (;;) {
      const chunk = await result.fetchChunk()
      if (stopped() !== undefined) throw new Error('INTERRUPT')
      if (chunk === null || chunk.rowCount === 0) break
      for (const raw of chunk.getRows()) {
        if (rows.length === request.maxRows) {
          truncatedBy = 'rows'
          break reading
        }
        const row = raw.map((value, index) => {
          const type = types[index]
          return type === undefined ? null : toJsonValue(value, type)
        })
        bytes += row.reduce<number>((sum, value) => sum + cellBytes(value), rowOverhead)
        if (bytes > request.maxBytes) {
          if (rows.length === 0) throw new ToolError('result_too_large', `The first row alone is larger than the result size limit (${Math.round(request.maxBytes / 1024)} KiB).`, 'Select fewer or shorter columns, e.g. substr(column, 1, 200), or aggregate in SQL.')
          truncatedBy = 'bytes'
          break reading
        }
        rows.push(row)
      }
    }
    return { columns, rows, rowCount: rows.length, truncated: truncatedBy !== null, truncatedBy }
  }

  async listTables (database: DatabaseRecord, signal?: AbortSignal, owner?: string): Promise<TableInfo[]> {
    const schemas = database.options.schemas ?? []
    const result = await this.execute(database, {
      owner,
      sql: `SELECT table_schema, table_name, table_type FROM information_schema.tables
        WHERE table_catalog NOT IN ('system', 'temp') AND table_schema NOT IN ('information_schema', 'pg_catalog')
        ${schemas.length === 0 ? '' : `AND table_schema IN (${schemas.map(() => '?').join(', ')})`}
        ORDER BY table_schema, table_name`,
      params: schemas,
      maxRows: MAX_LISTED_TABLES,
      maxBytes: 1_048_576,
      timeoutMs: INTROSPECTION_TIMEOUT_MS,
      dryRun: false,
      signal
    })
    return result.rows.map(([schema, name, type]) => ({
      name: schema === 'main' ? String(name) : `${String(schema)}.${String(name)}`,
      type: type === 'VIEW' ? 'view' : 'table'
    }))
  }

  async close (): Promise<void> {
    this.closed = true
    const opened = await Promise.allSettled(this.databases.values())
    this.databases.clear()
    for (const entry of opened) {
      if (entry.status !== 'fulfilled') continue
      entry.value.slots.close()
      for (const connection of entry.value.idle.splice(0)) connection.closeSync()
      entry.value.instance.closeSync()
    }
  }

  private open (database: DatabaseRecord): Promise<OpenDuckDb> {
    const key = JSON.stringify([database.connection, database.allow_dml, database.options.files ?? []])
    const cached = this.databases.get(database.id)
    if (cached !== undefined && this.keys.get(database.id) === key) return cached
    // A changed registration: the old instance is dropped (its queries finish on it).
    const opening = this.openInstance(database, key).catch((err: unknown) => {
      if (this.databases.get(database.id) === opening) this.databases.delete(database.id)
      throw err
    })
    this.databases.set(database.id, opening)
    this.keys.set(database.id, key)
    return opening
  }

  private async openInstance (database: DatabaseRecord, key: string): Promise<OpenDuckDb> {
    const file = duckDbPath(database.connection)
    const tempDir = path.resolve(this.options.dataDir, 'duckdb-tmp', String(database.id))
    mkdirSync(tempDir, { recursive: true })
    let instance: DuckDBInstance
    try {
      instance = await DuckDBInstance.create(file, {
        ...(file === ':memory:' ? {} : { access_mode: database.allow_dml ? 'READ_WRITE' : 'READ_ONLY' }),
        memory_limit: `${this.options.memoryMb}MiB`,
        max_temp_directory_size: `${this.options.maxTempMb}MiB`,
        temp_directory: tempDir,
        threads: String(this.options.threads),
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
        allow_community_extensions: 'false'
      })
    } catch (err) {
      throw new ToolError('database_unavailable', `The DuckDB database ${database.database_name} cannot be opened: ${scrub((err as Error).message, [], tempDir)}`, 'Ask an administrator to check its registration (the file must exist unless DML is allowed).')
    }
    const setup = await instance.connect()
    try {
      const files = await this.createFileViews(setup, database)
      await setup.run(`SET allowed_paths = [${files.map(quoteLiteral).join(', ')}]`)
      await setup.run('SET enable_external_access = false')
      await setup.run('SET lock_configuration = true')
      const slots = new FairQueue({
        slots: this.options.connections,
        perKeyRunning: this.options.perOwnerRunning,
        queueLimit: this.options.queueLimit,
        perKeyQueueLimit: this.options.perOwnerQueueLimit,
        ...this.options.queueHooks
      })
      return { key, instance, idle: [setup], slots, tempDir, files }
    } catch (err) {
      setup.closeSync()
      instance.closeSync()
      if (err instanceof ToolError) throw err
      throw new ToolError('database_unavailable', `The DuckDB database ${database.database_name} cannot be prepared: ${scrub((err as Error).message, database.options.files ?? [], tempDir)}`, 'Ask an administrator to check its file globs.')
    }
  }

  /** One view per configured file (before the lock-down); the files it reads. */
  private async createFileViews (setup: DuckDBConnection, database: DatabaseRecord): Promise<string[]> {
    const files: string[] = []
    const used = new Set<string>()
    for (const pattern of database.options.files ?? []) {
      const matched = await setup.runAndReadAll('SELECT file FROM glob($1) ORDER BY file', [path.resolve(pattern)])
      for (const [match] of matched.getRows()) {
        const file = String(match)
        const reader = FILE_READERS.find(([suffix]) => suffix.test(file))?.[1]
        if (reader === undefined || files.includes(file)) continue
        const base = viewName(file)
        let name = base
        for (let n = 2; used.has(name); n++) name = `${base}_${n}`
        used.add(name)
        files.push(file)
        await setup.run(`CREATE VIEW ${quoteIdentifier(name)} AS SELECT * FROM ${reader}([${quoteLiteral(file)}])`)
      }
    }
    return files
  }


  private toToolError (err: unknown, sql: string, open: OpenDuckDb): ToolError {
    if (err instanceof ToolError) return err
    const raw = (err as Error).message
    const message = scrub(raw.split('\n\nPossible solutions')[0] ?? raw, open.files, open.tempDir, sql)
    if (/^Out of Memory Error/i.test(raw) || /max_temp_directory_size|temp_directory/i.test(raw)) {
      return new ToolError('resource_limit', `The query needed more memory than this DuckDB database may use (memory_limit ${this.options.memoryMb} MiB, MCP_DUCKDB_MEMORY_MB; spilling up to ${this.options.maxTempMb} MiB, MCP_DUCKDB_MAX_TEMP_MB): ${message}`, 'Filter or aggregate before sorting or joining, select fewer or smaller columns, or add a LIMIT.')
    }
    if (/attached in read-only mode|read-only/i.test(raw)) {
      return new ToolError('read_only', 'This database is read-only: execute_sql may only read data here.', 'Only statements that read data run here; an administrator can allow DML on the database if changes are intended.')
    }
    if (/^Permission Error/i.test(raw)) {
      return new ToolError('not_allowed', `${message} (this database reads only its configured files)`, 'Query the configured file views instead (list them with get_database_info).')
    }
    return new ToolError('sql_error', message, 'Check table and column names with get_database_info and get_dataset_info; this database speaks DuckDB SQL.')
  }
}

/**
 * A DuckDB message without the server's own paths: the temp directory (under MCP_DATA_DIR)
 * and any other absolute path that is neither a configured file nor written in the query.
 */
function scrub (message: string, files: readonly string[], tempDir: string, sql = ''): string {
  const cleaned = message.replaceAll(tempDir, '<temp directory>').replace(/"(\/[^"]*)"/g, (quoted, found: string) => files.includes(found) || sql.includes(found) ? quoted : '"<server path>"')
  return cleaned.length > MAX_MESSAGE_CHARS ? `${cleaned.slice(0, MAX_MESSAGE_CHARS)}…` : cleaned
}
