/**
 * Query runner: a child process that executes one SQLite statement at a time for the
 * RunnerPool. It exists so that a query past its timeout can really be stopped (the pool
 * ends the process) and so that a long query never blocks the server's event loop.
 *
 * Safety is enforced by SQLite itself, not by inspecting the SQL text:
 * - read-only databases are opened with a read-only handle and `PRAGMA query_only`;
 * - an authorizer denies ATTACH/DETACH (also VACUUM INTO), transactions, extension loading,
 *   every PRAGMA but table introspection, and, on read-only databases, every write;
 * - only one statement per call: SQLite compiles the first statement and the rest of the
 *   text must compile to nothing (and text holding a NUL, which SQLite would stop reading at,
 *   is refused);
 * - memory is bounded by the OS, not by V8 alone: on Linux the runner caps its own data size
 *   (RLIMIT_DATA, via prlimit) at its start-up size plus `--memory-mb`, and SQLite keeps
 *   temporary tables and sort spills in memory (temp_store = MEMORY), so a huge blob, sort or
 *   join fails with "out of memory" instead of growing the process or filling the disk.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { DatabaseSync, constants } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import type { RunnerRequest, RunnerResponse, RunnerErrorKind, QueryColumn, QueryResult } from './protocol.ts'

/**
 * Temporary objects would outlive the call on the runner's shared connection (and a TEMP
 * table can hide a real one for the next caller), so they are refused everywhere.
 */
const TEMP_ACTIONS = new Set([
  constants.SQLITE_CREATE_TEMP_INDEX, constants.SQLITE_CREATE_TEMP_TABLE,
  constants.SQLITE_CREATE_TEMP_TRIGGER, constants.SQLITE_CREATE_TEMP_VIEW
])

const WRITE_ACTIONS = new Set([
  constants.SQLITE_INSERT, constants.SQLITE_UPDATE, constants.SQLITE_DELETE,
  constants.SQLITE_CREATE_INDEX, constants.SQLITE_CREATE_TABLE,
  constants.SQLITE_CREATE_TRIGGER, constants.SQLITE_CREATE_VIEW, constants.SQLITE_CREATE_VTABLE,
  constants.SQLITE_DROP_INDEX, constants.SQLITE_DROP_TABLE, constants.SQLITE_DROP_TEMP_INDEX,
  constants.SQLITE_DROP_TEMP_TABLE, constants.SQLITE_DROP_TEMP_TRIGGER, constants.SQLITE_DROP_TEMP_VIEW,
  constants.SQLITE_DROP_TRIGGER, constants.SQLITE_DROP_VIEW, constants.SQLITE_DROP_VTABLE,
  constants.SQLITE_ALTER_TABLE, constants.SQLITE_REINDEX, constants.SQLITE_ANALYZE
])

/** Introspection pragmas a model may use to learn a table's shape. */
const ALLOWED_PRAGMAS = new Set(['table_info', 'table_xinfo', 'table_list', 'index_list', 'index_info', 'index_xinfo', 'foreign_key_list'])
const DENIED_FUNCTIONS = new Set(['load_extension', 'fts3_tokenizer'])

interface OpenDatabase {
  db: DatabaseSync
  /** Why the authorizer refused the last statement, for a clear error message. */
  denial: { kind: RunnerErrorKind, message: string } | undefined
  /** Set while the runner runs its own bookkeeping statements, which the authorizer lets through. */
  internal: boolean
}

/** `--memory-mb=N`: this runner's memory beyond its start-up size. */
const MEMORY_MB = Number(process.argv.find(arg => arg.startsWith('--memory-mb='))?.slice('--memory-mb='.length) ?? NaN)

/**
 * Cap this process's data size (heap and private mappings) at what it uses now plus the
 * budget. Node cannot call setrlimit itself; util-linux's prlimit can, on a running process.
 * V8 reserves ~0.5 GB at start-up, so a fixed cap on the command line would not start at all.
 */
function limitOwnMemory (): void {
  if (!Number.isFinite(MEMORY_MB) || process.platform !== 'linux') return
  try {
    const kib = /^VmData:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
    if (kib === undefined) return
    const limit = Number(kib) * 1024 + MEMORY_MB * 1024 * 1024
    execFileSync('prlimit', ['--pid', String(process.pid), `--data=${limit}:${limit}`], { stdio: 'ignore' })
  } catch {
    // No prlimit: the server warns at start-up (engines plugin); V8's heap limit still applies.
  }
}

limitOwnMemory()

/** Page cache per open database: 16 MiB, or a quarter of the memory budget if that is smaller. */
const PAGE_CACHE_KIB = Math.min(16 * 1024, Number.isFinite(MEMORY_MB) ? Math.floor(MEMORY_MB * 1024 / 4) : 16 * 1024)

const handles = new Map<string, OpenDatabase>()

function openDatabase (file: string, allowDml: boolean): OpenDatabase {
  const key = `${allowDml ? 'rw' : 'ro'}:${file}`
  const cached = handles.get(key)
  if (cached !== undefined) return cached

  // A writable handle would create a missing file: refuse instead of querying an empty database.
  if (!existsSync(file)) throw new RunnerError('database_unavailable', 'The database file of this database is missing; ask an administrator to check its registration.')
  let db: DatabaseSync
  try {
    db = new DatabaseSync(file, { readOnly: !allowDml, open: true, timeout: 1000 })
  } catch (err) {
    throw new RunnerError('database_unavailable', `The database cannot be opened: ${(err as Error).message}`)
  }
  db.enableDefensive(true)
  if (!allowDml) db.exec('PRAGMA query_only = 1')
  // Sorts, GROUP BY and temporary results spill to memory (bounded by RLIMIT_DATA), never to
  // temp files that could fill the pod's ephemeral storage.
  db.exec('PRAGMA temp_store = MEMORY')
  // SQLite's default page cache is 2 MiB: a scan of a larger file re-reads it from the OS on
  // every query. 16 MiB (better-sqlite3's default, within the runner's memory budget) made the
  // 120,000-row example aggregation 18 % faster (bench/compare.ts).
  db.exec(`PRAGMA cache_size = -${PAGE_CACHE_KIB}`)
  const handle: OpenDatabase = { db, denial: undefined, internal: false }
  db.setAuthorizer((action, arg1, arg2) => {
    if (handle.internal) return constants.SQLITE_OK
    const refuse = (kind: RunnerErrorKind, message: string): number => {
      handle.denial = { kind, message }
      return constants.SQLITE_DENY
    }
    if (action === constants.SQLITE_ATTACH || action === constants.SQLITE_DETACH) {
      return refuse('not_allowed', 'ATTACH, DETACH and VACUUM are not allowed: execute_sql reads only the registered database.')
    }
    if (TEMP_ACTIONS.has(action)) {
      return refuse('not_allowed', 'Temporary tables, views, indexes and triggers are not allowed: each call runs on its own, so use a WITH clause (CTE) instead.')
    }
    if (action === constants.SQLITE_TRANSACTION || action === constants.SQLITE_SAVEPOINT) {
      return refuse('not_allowed', 'Transaction statements are not allowed: each execute_sql call runs one statement on its own.')
    }
    if (action === constants.SQLITE_PRAGMA && !ALLOWED_PRAGMAS.has(String(arg1).toLowerCase())) {
      return refuse('not_allowed', `PRAGMA ${String(arg1)} is not allowed; only ${[...ALLOWED_PRAGMAS].join(', ')} may be used.`)
    }
    if (action === constants.SQLITE_FUNCTION && DENIED_FUNCTIONS.has(String(arg2).toLowerCase())) {
      return refuse('not_allowed', `The function ${String(arg2)}() is not allowed.`)
    }
    if (!allowDml && WRITE_ACTIONS.has(action)) {
      return refuse('read_only', 'This database is read-only: execute_sql may only read data here (SELECT, WITH ... SELECT, EXPLAIN, PRAGMA table_info).')
    }
    return constants.SQLITE_OK
  })
  handles.set(key, handle)
  return handle
}

class RunnerError extends Error {
  readonly kind: RunnerErrorKind
  constructor (kind: RunnerErrorKind, message: string) {
    super(message)
    this.kind = kind
  }
}

function prepareSingleStatement (handle: OpenDatabase, sql: string): StatementSync {
  handle.denial = undefined
  // SQLite reads statement text up to the first NUL: whatever follows would be dropped silently.
  if (sql.includes('\u0000')) throw new RunnerError('sql_error', 'The SQL text contains a NUL character (\\u0000); SQLite would ignore everything after it. Remove it and send each statement in its own call.')
  const statement = prepare(handle, sql)
  const source = statement.sourceSQL
  const start = sql.indexOf(source)
  // SQLite hands back the statement's text; if it is not found verbatim (e.g. an unpaired
  // surrogate was re-encoded) what follows it cannot be checked, so the call is refused.
  if (start === -1) throw new RunnerError('sql_error', 'The SQL text holds characters SQLite cannot read back (such as an unpaired UTF-16 surrogate); remove them.')
  const rest = sql.slice(start + source.length)
  if (rest.trim() !== '') {
    let restIsEmpty = false
    try {
      prepare(handle, rest)
    } catch (err) {
      restIsEmpty = err instanceof RunnerError && err.kind === 'empty_statement'
    }
    if (!restIsEmpty) throw new RunnerError('multiple_statements', 'Only one SQL statement can run per execute_sql call.')
  }
  return statement
}

function prepare (handle: OpenDatabase, sql: string): StatementSync {
  try {
    return handle.db.prepare(sql)
  } catch (err) {
    throw toRunnerError(handle, err)
  }
}

function toRunnerError (handle: OpenDatabase, err: unknown): RunnerError {
  if (err instanceof RunnerError) return err
  const error = err as { code?: string, errcode?: number, message?: string }
  if (error.code === 'ERR_INVALID_ARG_VALUE' && /no statements/i.test(error.message ?? '')) {
    return new RunnerError('empty_statement', 'The SQL text contains no statement.')
  }
  if (error.errcode === 23 || /not authorized|authorization denied/.test(error.message ?? '')) {
    return new RunnerError(handle.denial?.kind ?? 'not_allowed', handle.denial?.message ?? 'This statement is not allowed.')
  }
  if (error.errcode === 8) {
    return new RunnerError('read_only', 'This database is read-only: execute_sql may only read data here.')
  }
  // SQLITE_NOMEM (the runner's memory cap) and SQLITE_FULL (temporary storage).
  if (error.errcode === 7 || error.errcode === 13) {
    const limit = Number.isFinite(MEMORY_MB) ? ` (${MEMORY_MB} MiB, MCP_SQL_RUNNER_MEMORY_MB)` : ''
    return new RunnerError('resource_limit', `The query needed more memory than a query runner may use${limit}: large sorts, joins, DISTINCT/GROUP BY over many rows and huge values all count. Filter or aggregate first, select fewer or smaller columns, or add a LIMIT.`)
  }
  return new RunnerError('sql_error', error.message ?? String(err))
}

/** Estimated JSON size of a cell as SQLite returned it (blobs become base64), for the result's size budget. */
function cellBytes (value: unknown): number {
  if (typeof value === 'string') return value.length + 2
  if (value instanceof Uint8Array) return Math.ceil(value.byteLength / 3) * 4 + 2
  return value === null ? 4 : 8
}

/** JSON-safe cell values: integers beyond 2^53 become strings, blobs become base64 text. */
function toJsonValue (value: unknown): unknown {
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  return value
}

function inferType (value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'bigint') return 'INTEGER'
  if (typeof value === 'number') return Number.isInteger(value) ? 'INTEGER' : 'REAL'
  if (value instanceof Uint8Array) return 'BLOB'
  return 'TEXT'
}

/**
 * What a statement changed: rows, as the growth of total_changes() (sqlite3_changes() keeps
 * the count of the last INSERT/UPDATE/DELETE across DDL), and the schema, as a new
 * schema_version. A no-op such as `DROP TABLE IF EXISTS missing` changes neither, so it does
 * not count as a data change (which would flush every user's cache).
 */
function changeMeter (handle: OpenDatabase, allowDml: boolean): { rows: () => number, since: () => boolean } {
  // A read-only handle (query_only, authorizer) cannot change anything.
  if (!allowDml) return { rows: () => 0, since: () => false }
  const read = (sql: string): number => {
    handle.internal = true
    try {
      const statement = handle.db.prepare(sql)
      statement.setReturnArrays(true)
      return Number((statement.get() as unknown as unknown[])[0])
    } finally {
      handle.internal = false
    }
  }
  const rowsBefore = read('SELECT total_changes()')
  const schemaBefore = read('PRAGMA schema_version')
  return {
    rows: () => read('SELECT total_changes()') - rowsBefore,
    since: () => read('SELECT total_changes()') !== rowsBefore || read('PRAGMA schema_version') !== schemaBefore
  }
}

function execute (request: RunnerRequest): QueryResult {
  const started = performance.now()
  const handle = openDatabase(request.file, request.allowDml)
  const statement = prepareSingleStatement(handle, request.sql)
  const declared = statement.columns()
  const columns: QueryColumn[] = declared.map(column => ({ name: column.name, type: column.type ?? null }))
  const returnsRows = declared.length > 0

  if (request.dryRun) {
    return { columns, rows: [], rowCount: 0, truncated: false, truncatedBy: null, affectedRows: null, changed: false, returnsRows, executionMs: performance.now() - started }
  }

  try {
    const changes = changeMeter(handle, request.allowDml)
    if (!returnsRows) {
      statement.run(...request.params)
      return { columns, rows: [], rowCount: 0, truncated: false, truncatedBy: null, affectedRows: changes.rows(), changed: changes.since(), returnsRows, executionMs: performance.now() - started }
    }
    statement.setReturnArrays(true)
    statement.setReadBigInts(true)
    const rows: unknown[][] = []
    let truncatedBy: QueryResult['truncatedBy'] = null
    let bytes = 0
    // Rows are sent as objects, so every row repeats the column names.
    const rowOverhead = columns.reduce((sum, column) => sum + column.name.length + 4, 2)
    // Columns without a declared type take the type of their first non-null value.
    const untyped = new Set(columns.flatMap((column, index) => column.type === null ? [index] : []))
    // The LIMIT+1 probe: read one row past the cap to know whether more exist, then stop stepping.
    for (const row of statement.iterate(...request.params) as Iterable<unknown[]>) {
      if (rows.length === request.maxRows) {
        truncatedBy = 'rows'
        break
      }
      // Measured before conversion: a huge blob is refused before it is copied into base64.
      bytes += row.reduce<number>((sum, value) => sum + cellBytes(value), rowOverhead)
      if (bytes > request.maxBytes) {
        if (rows.length === 0) {
          throw new RunnerError('result_too_large', `The first row alone is larger than the result size limit (${Math.round(request.maxBytes / 1024)} KiB).`)
        }
        truncatedBy = 'bytes'
        break
      }
      for (const index of untyped) {
        const type = inferType(row[index])
        const column = columns[index]
        if (type === null || column === undefined) continue
        column.type = type
        untyped.delete(index)
      }
      rows.push(row.map(toJsonValue))
    }
    return { columns, rows, rowCount: rows.length, truncated: truncatedBy !== null, truncatedBy, affectedRows: null, changed: changes.since(), returnsRows, executionMs: performance.now() - started }
  } catch (err) {
    throw toRunnerError(handle, err)
  }
}

function respond (response: RunnerResponse): void {
  process.send?.(response)
}

process.on('message', (message: RunnerRequest) => {
  try {
    respond({ id: message.id, ok: true, result: execute(message) })
  } catch (err) {
    // A RangeError here means a value too big for V8 (e.g. a huge string): a result-size problem.
    const error = err instanceof RunnerError ? err : err instanceof RangeError ? new RunnerError('result_too_large', 'A value in the result is too large to return.') : new RunnerError('sql_error', (err as Error).message)
    respond({ id: message.id, ok: false, error: { kind: error.kind, message: error.message } })
  }
})

// The pool owns this process: when the IPC channel closes, the server is gone.
process.on('disconnect', () => {
  for (const { db } of handles.values()) db.close()
  process.exit(0)
})
