import pg from 'pg'
import type { PoolClient, PoolConfig } from 'pg'
import Cursor from 'pg-cursor'
import type { DatabaseRecord } from '../catalog/records.ts'
import { FairQueue, QueueRefusal } from '../concurrency/fair-queue.ts'
import type { FairQueueOptions } from '../concurrency/fair-queue.ts'
import { ToolError } from '../errors.ts'
import { databasePassword } from './credentials.ts'
import type { QueryRequest, SqlEngine, TableInfo } from './engines.ts'
import { checkPostgresStatement } from './postgres-safety.ts'
import type { StatementClass } from './postgres-safety.ts'
import type { QueryColumn, QueryResult, SqlParam } from './protocol.ts'
import { cancelledError, NO_OWNER, queueRefusalError, shuttingDown, timeoutError } from './query-errors.ts'

export interface PostgresEngineOptions {
  /** Connections per database (MCP_WAREHOUSE_POOL_SIZE); also the fair queue's slots. */
  poolSize: number
  /** Queries waiting for a connection, all users together (MCP_SQL_QUEUE_LIMIT). */
  queueLimit: number
  /** Queries one owner may run at once (default: max(1, poolSize - 1)). */
  perOwnerRunning?: number
  /** Queries one owner may have waiting (default: queueLimit). */
  perOwnerQueueLimit?: number
  /** work_mem of each query, in MiB (MCP_PG_WORK_MEM_MB); undefined: the server's or role's. */
  workMemMb?: number | undefined
  /** Queue depth, wait time and refusals (metrics). */
  queueHooks?: Pick<FairQueueOptions, 'onDepth' | 'onWait' | 'onRefused'>
  /** Longest wait for a new connection, in milliseconds. */
  connectTimeoutMs?: number
}

/** What the engine runs once the statement has been checked (tests call it to bypass the parser). */
export interface PreparedStatement {
  sql: string
  params: readonly SqlParam[]
  class: StatementClass
}

const INTROSPECTION_TIMEOUT_MS = 10_000
const MAX_LISTED_TABLES = 500
/** Rows asked of the server per round trip; never more than the cap plus one. */
const FETCH_BATCH = 500
/** How long past its timeout a query may take to answer a cancel before its connection is dropped. */
const CANCEL_GRACE_MS = 2000
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** PostgreSQL type names of the common OIDs (pg_type), for result columns. */
const TYPE_NAMES: Readonly<Record<number, string>> = {
  16: 'boolean', 17: 'bytea', 18: 'char', 19: 'name', 20: 'bigint', 21: 'smallint', 23: 'integer', 25: 'text',
  26: 'oid', 114: 'json', 142: 'xml', 650: 'cidr', 700: 'real', 701: 'double precision', 790: 'money',
  829: 'macaddr', 869: 'inet', 1000: 'boolean[]', 1005: 'smallint[]', 1007: 'integer[]', 1009: 'text[]',
  1015: 'varchar[]', 1016: 'bigint[]', 1021: 'real[]', 1022: 'double precision[]', 1042: 'char', 1043: 'varchar',
  1082: 'date', 1083: 'time', 1114: 'timestamp', 1115: 'timestamp[]', 1182: 'date[]', 1184: 'timestamptz',
  1185: 'timestamptz[]', 1186: 'interval', 1231: 'numeric[]', 1266: 'timetz', 1700: 'numeric', 2249: 'record',
  2278: 'void', 2950: 'uuid', 3802: 'jsonb', 705: 'unknown'
}

/** Every value arrives as PostgreSQL's text form; toJsonValue turns it into JSON by type. */
const TEXT_TYPES = { getTypeParser: () => (value: string): string => value }

const MAX_SAFE_DIGITS = 15

function toJsonValue (text: string | null, oid: number): unknown {
  if (text === null) return null
  switch (oid) {
    case 16: return text === 't'
    case 21: case 23: case 26: return Number(text)
    case 20: {
      const value = BigInt(text)
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : text
    }
    case 700: case 701: {
      const value = Number(text)
      return Number.isFinite(value) ? value : text
    }
    case 1700: {
      // A number only when a double holds it exactly enough; otherwise the exact text.
      const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '')
      const value = Number(text)
      return Number.isFinite(value) && digits.length <= MAX_SAFE_DIGITS ? value : text
    }
    case 17: return Buffer.from(text.slice(2), 'hex').toString('base64')
    case 114: case 3802: return JSON.parse(text) as unknown
    // ISO-8601: the session runs with DateStyle ISO and TimeZone UTC.
    case 1114: return /^\d{4}-/.test(text) ? text.replace(' ', 'T') : text
    case 1184: return /^\d{4}-/.test(text) ? text.replace(' ', 'T').replace(/\+00$/, 'Z') : text
    default: return text
  }
}

/** Estimated JSON size of a cell as the server sent it (bytea grows by a third as base64), for the size budget. */
function cellBytes (text: string | null, oid: number): number {
  if (text === null) return 4
  return (oid === 17 ? Math.ceil((text.length - 2) / 6) * 4 : text.length) + 2
}

/**
 * `?` placeholders (as the query compiler writes them) to PostgreSQL's `$1, $2, …`, outside
 * strings, quoted identifiers, dollar quotes and comments. Only used when values are bound:
 * `?` is also a jsonb operator.
 */
export function numberPlaceholders (sql: string): string {
  let out = ''
  let n = 0
  let i = 0
  while (i < sql.length) {
    const rest = sql.slice(i)
    const quoted = /^(?:[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*)/s.exec(rest)
    const dollar = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(rest)
    if (quoted !== null) {
      out += quoted[0]
      i += quoted[0].length
    } else if (dollar !== null) {
      const end = sql.indexOf(dollar[0], i + dollar[0].length)
      const stop = end === -1 ? sql.length : end + dollar[0].length
      out += sql.slice(i, stop)
      i = stop
    } else if (rest.startsWith('/*')) {
      let depth = 0
      let j = i
      do {
        if (sql.startsWith('/*', j)) { depth++; j += 2 } else if (sql.startsWith('*/', j)) { depth--; j += 2 } else j++
      } while (depth > 0 && j < sql.length)
      out += sql.slice(i, j)
      i = j
    } else if (sql[i] === '?') {
      out += `$${++n}`
      i++
    } else {
      out += sql[i]
      i++
    }
  }
  return out
}


interface PgError { code?: string, message?: string, position?: string }

/** Why a connection failed, in words that name no host, port, user or password. */
function connectionProblem (code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED': return 'the server refused the connection'
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'the server name does not resolve'
    case 'ETIMEDOUT': return 'the connection timed out'
    case 'ECONNRESET': case 'EPIPE': return 'the connection was closed'
    case '28P01': case '28000': return 'the server refused the credentials'
    case '3D000': return 'the database does not exist'
    case '53300': return 'the server has no free connections'
    case '57P01': case '57P02': case '57P03': return 'the server is shutting down or starting up'
    default: return 'the connection failed'
  }
}

/** A PostgreSQL (or connection) error as the tool error to show; never the URL, host or password. */
export function toToolError (database: Pick<DatabaseRecord, 'database_name'>, err: unknown, context: { aborted: boolean, timeoutMs: number }): ToolError {
  if (err instanceof ToolError) return err
  const error = err as PgError
  const code = typeof error.code === 'string' ? error.code : undefined
  const sqlState = code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
  if (sqlState === '57014') return context.aborted ? cancelledError() : timeoutError(context.timeoutMs)
  if (sqlState === '55P03') return new ToolError('query_timeout', 'The query waited too long for a lock held by another session.', 'Retry later.')
  if (sqlState === '25006') return new ToolError('read_only', `This database is read-only: ${error.message ?? 'the statement would write'}.`, 'execute_sql may only read data here (SELECT, WITH … SELECT, VALUES, EXPLAIN).')
  if (sqlState === '53400' || sqlState === '53200' || sqlState === '53100' || sqlState === '54000' || sqlState === '54001') {
    return new ToolError('resource_limit', `The query needed more memory or temporary space than it may use: ${error.message ?? sqlState}.`, 'Filter or aggregate before sorting or joining, select fewer or smaller columns, or add a LIMIT.')
  }
  if (sqlState === '42501') return new ToolError('permission_denied', `The database refused access: ${error.message ?? 'permission denied'}.`, 'The database role analytics-mcp uses cannot read this; query the tables it may read (list them with list_tables).')
  if (sqlState !== undefined && !/^(08|28|3D|57P|53300)/.test(sqlState)) {
    const position = error.position === undefined ? '' : ` (at character ${error.position})`
    return new ToolError('sql_error', `${error.message ?? 'The query failed'}${position}.`, sqlState.startsWith('42') ? 'Write PostgreSQL syntax (dialect postgresql) and use the table and column names list_tables and the dataset show.' : undefined)
  }
  return new ToolError('database_unavailable', `Database ${database.database_name} is unavailable: ${connectionProblem(code)}.`, 'Retry in a moment; if it persists, ask an administrator to check the database registration (analytics-mcp databases test).')
}

/** A cursor that also tells when the server has described the result (for dry runs: nothing is executed). */
class DescribingCursor extends Cursor<unknown[]> {
  fields: Array<{ name: string, dataTypeID: number }> | undefined
  readonly described: Promise<void>
  private settleDescribed: { resolve: () => void, reject: (err: unknown) => void } | undefined

  constructor (text: string, values: unknown[]) {
    super(text, values, { rowMode: 'array', types: TEXT_TYPES })
    this.described = new Promise((resolve, reject) => { this.settleDescribed = { resolve, reject } })
    this.described.catch(() => {})
  }

  handleRowDescription (message: { fields: Array<{ name: string, dataTypeID: number }> }): void {
    this.fields = message.fields
    ;(Cursor.prototype as unknown as { handleRowDescription: (m: unknown) => void }).handleRowDescription.call(this, message)
    this.settleDescribed?.resolve()
  }

  _ifNoData (): void {
    this.fields = []
    ;(Cursor.prototype as unknown as { _ifNoData: () => void })._ifNoData.call(this)
    this.settleDescribed?.resolve()
  }

  handleError (message: unknown): void {
    this.settleDescribed?.reject(message)
    ;(Cursor.prototype as unknown as { handleError: (m: unknown) => void }).handleError.call(this, message)
  }
}

interface PoolEntry {
  pool: pg.Pool
  /** Connects with the database's password (also for cancelling). */
  Client: typeof pg.Client
  slots: FairQueue
}

function readWithResult (cursor: Cursor<unknown[]>, rows: number): Promise<{ rows: unknown[][], rowCount: number | null, fields: Array<{ name: string, dataTypeID: number }> }> {
  return new Promise((resolve, reject) => {
    cursor.read(rows, (err, batch, result) => {
      if (err !== undefined && err !== null) reject(err)
      else resolve({ rows: batch, rowCount: result?.rowCount ?? null, fields: result?.fields ?? [] })
    })
  })
}

/**
 * A client that reads the database's password at each new connection (a rotated secret is
 * picked up without a restart). Set after construction: pg lets the URL's (absent) password
 * override a `password` option.
 */
function clientClass (database: DatabaseRecord): typeof pg.Client {
  const source = database.password_source
  if (source === null || source === '') return pg.Client
  return class DatabaseClient extends pg.Client {
    constructor (config?: string | pg.ClientConfig) {
      super(config)
      Object.defineProperty(this, 'password', { configurable: true, enumerable: false, writable: true, value: () => databasePassword(database) ?? '' })
    }
  }
}

function quoteIdentifier (identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

/**
 * PostgreSQL: one pg.Pool per registered database, with a per-user fair queue in front of it.
 * Every query is checked by PostgreSQL's parser (postgres-safety.ts) and then runs in its own
 * transaction: READ ONLY unless the database allows DML, with statement, lock and idle
 * timeouts, work_mem and search_path set LOCAL; rows are read through a cursor one cap plus
 * one at most; read-only transactions always roll back. A query past its timeout, or whose
 * caller gave up, is cancelled on the server (pg_cancel_backend from a separate connection).
 */
export class PostgresEngine implements SqlEngine {
  readonly backend = 'postgresql' as const
  private readonly options: PostgresEngineOptions
  private readonly pools = new Map<string, PoolEntry>()
  private closed = false

  constructor (options: PostgresEngineOptions) {
    this.options = options
  }

  async execute (database: DatabaseRecord, request: QueryRequest): Promise<QueryResult> {
    if (this.closed) throw shuttingDown()
    const params = request.params ?? []
    const sql = params.length > 0 ? numberPlaceholders(request.sql) : request.sql
    const checked = await checkPostgresStatement(sql, database.allow_dml)
    return await this.run(database, { sql, params, class: checked.class }, request)
  }

  /**
   * Run a statement that has been checked (or, in tests, one that has not: the transaction
   * and the role must hold on their own).
   */
  async run (database: DatabaseRecord, statement: PreparedStatement, request: QueryRequest): Promise<QueryResult> {
    if (this.closed) throw shuttingDown()
    const started = Date.now()
    const entry = this.entryFor(database)
    const timeoutMs = request.timeoutMs
    let release: () => void
    try {
      release = await entry.slots.acquire(request.owner ?? NO_OWNER, { signal: request.signal, timeoutMs })
    } catch (err) {
      throw err instanceof QueueRefusal ? queueRefusalError(err, timeoutMs, { slot: 'a connection to this database', slots: `${this.options.poolSize} connections to this database`, perOwnerQueueLimit: this.options.perOwnerQueueLimit ?? this.options.queueLimit }) : err
    }
    try {
      const remaining = (): number => timeoutMs - (Date.now() - started)
      if (remaining() <= 0) throw timeoutError(timeoutMs)
      if (request.signal?.aborted === true) throw new ToolError('cancelled', 'The request was cancelled before the query started.')
      let client: PoolClient
      try {
        client = await entry.pool.connect()
      } catch (err) {
        throw toToolError(database, err, { aborted: false, timeoutMs })
      }
      return await this.inTransaction(database, entry, client, statement, request, remaining)
    } finally {
      release()
    }
  }

  private async inTransaction (database: DatabaseRecord, entry: PoolEntry, client: PoolClient, statement: PreparedStatement, request: QueryRequest, remaining: () => number): Promise<QueryResult> {
    const started = performance.now()
    const writes = database.allow_dml && statement.class !== 'read'
    let aborted = false
    let timedOut = false
    let broken = false
    let cancelTimer: NodeJS.Timeout | undefined
    let dropTimer: NodeJS.Timeout | undefined
    let reject: ((err: ToolError) => void) | undefined
    const stopped = new Promise<never>((_resolve, rejectStopped) => { reject = rejectStopped })
    stopped.catch(() => {})
    const stop = (why: 'timeout' | 'cancelled'): void => {
      if (aborted || timedOut) return
      if (why === 'timeout') timedOut = true
      else aborted = true
      void this.cancelBackend(entry, client)
      // A server that does not answer the cancel: drop the connection, answer now.
      dropTimer = setTimeout(() => {
        broken = true
        reject?.(why === 'timeout' ? timeoutError(request.timeoutMs) : cancelledError())
      }, CANCEL_GRACE_MS)
      dropTimer.unref()
    }
    const onAbort = (): void => stop('cancelled')
    request.signal?.addEventListener('abort', onAbort, { once: true })
    const budget = Math.max(1, remaining())
    cancelTimer = setTimeout(() => stop('timeout'), budget + 250)
    cancelTimer.unref()
    try {
      const work = async (): Promise<QueryResult> => {
        // One round trip for the transaction and its settings (a simple query may hold several
        // statements): on this path each round trip costs more CPU than the statement does. The
        // values are our own integers and constants, never anything a caller sent.
        // work_mem only when configured: it shapes the plans PostgreSQL picks, so by default the
        // query is planned as the role's own sessions plan it.
        const settings: Array<[string, string]> = [
          ['statement_timeout', `${budget}ms`], ['lock_timeout', `${budget}ms`],
          ['idle_in_transaction_session_timeout', `${budget + CANCEL_GRACE_MS}ms`],
          ...(this.options.workMemMb === undefined ? [] : [['work_mem', `${this.options.workMemMb}MB`] as [string, string]]),
          ['TimeZone', 'UTC'], ['DateStyle', 'ISO, YMD'], ['IntervalStyle', 'iso_8601']
        ]
        await client.query(`${database.allow_dml ? 'BEGIN' : 'BEGIN READ ONLY'}; SELECT ${settings.map(([name, value]) => `set_config('${name}', '${value}', true)`).join(', ')}`)
        const schemas = database.options.schemas ?? []
        if (schemas.length > 0) await client.query("SELECT set_config('search_path', $1, true)", [schemas.map(quoteIdentifier).join(', ')])
        // A cancel sent while the connection was idle does nothing: do not start the statement at all.
        if (aborted) throw cancelledError()
        if (timedOut) throw timeoutError(request.timeoutMs)
        const result = await this.fetch(client, statement, request)
        await client.query(writes && !request.dryRun ? 'COMMIT' : 'ROLLBACK')
        return { ...result, executionMs: performance.now() - started }
      }
      const working = work()
      // Answered by `stopped` when the server does not answer a cancel; its late failure is expected.
      working.catch(() => {})
      return await Promise.race([working, stopped])
    } catch (err) {
      if (!broken) {
        try {
          await client.query('ROLLBACK')
        } catch {
          broken = true
        }
      }
      if (timedOut && !(err instanceof ToolError)) throw timeoutError(request.timeoutMs)
      throw toToolError(database, err, { aborted, timeoutMs: request.timeoutMs })
    } finally {
      clearTimeout(cancelTimer)
      clearTimeout(dropTimer)
      request.signal?.removeEventListener('abort', onAbort)
      // A connection left mid-protocol is closed, not reused.
      client.release(broken ? true : undefined)
    }
  }

  private async fetch (client: PoolClient, statement: PreparedStatement, request: QueryRequest): Promise<Omit<QueryResult, 'executionMs'>> {
    const cursor = client.query(new DescribingCursor(statement.sql, [...statement.params]))
    if (request.dryRun) {
      await cursor.described
      await cursor.close()
      const columns = (cursor.fields ?? []).map(field => ({ name: field.name, type: TYPE_NAMES[field.dataTypeID] ?? null }))
      return { columns, rows: [], rowCount: 0, truncated: false, truncatedBy: null, affectedRows: null, changed: false, returnsRows: columns.length > 0 }
    }
    const rows: unknown[][] = []
    let truncatedBy: QueryResult['truncatedBy'] = null
    let bytes = 0
    let columns: QueryColumn[] = []
    let oids: number[] = []
    let rowOverhead = 2
    let rowCount: number | null = null
    let done = false
    // The LIMIT+1 probe, through the cursor: the server sends at most the cap plus one row.
    while (!done && truncatedBy === null) {
      const want = Math.min(FETCH_BATCH, request.maxRows + 1 - rows.length)
      const batch = await readWithResult(cursor, want)
      if (columns.length === 0 && batch.fields.length > 0) {
        columns = batch.fields.map(field => ({ name: field.name, type: TYPE_NAMES[field.dataTypeID] ?? null }))
        oids = batch.fields.map(field => field.dataTypeID)
        rowOverhead = columns.reduce((sum, column) => sum + column.name.length + 4, 2)
      }
      rowCount = batch.rowCount
      if (batch.rows.length < want) done = true
      for (const row of batch.rows as Array<Array<string | null>>) {
        if (rows.length === request.maxRows) {
          truncatedBy = 'rows'
          break
        }
        bytes += row.reduce((sum, value, index) => sum + cellBytes(value, oids[index] ?? 0), rowOverhead)
        if (bytes > request.maxBytes) {
          if (rows.length === 0) throw new ToolError('result_too_large', `The first row alone is larger than the result size limit (${Math.round(request.maxBytes / 1024)} KiB).`)
          truncatedBy = 'bytes'
          break
        }
        rows.push(row.map((value, index) => toJsonValue(value, oids[index] ?? 0)))
      }
    }
    await cursor.close()
    const returnsRows = columns.length > 0 || (cursor.fields ?? []).length > 0
    if (columns.length === 0 && cursor.fields !== undefined) columns = cursor.fields.map(field => ({ name: field.name, type: TYPE_NAMES[field.dataTypeID] ?? null }))
    const affectedRows = statement.class === 'dml' ? rowCount ?? 0 : null
    const changed = statement.class === 'ddl' || (statement.class === 'dml' && (affectedRows ?? 0) > 0)
    return { columns, rows, rowCount: rows.length, truncated: truncatedBy !== null, truncatedBy, affectedRows, changed, returnsRows }
  }

  /** Stop the backend's running statement, from a connection of its own (the pool may be full). */
  private async cancelBackend (entry: PoolEntry, client: PoolClient): Promise<void> {
    const pid = (client as unknown as { processID?: number }).processID
    if (pid === undefined) return
    const canceller = new entry.Client(entry.pool.options as pg.ClientConfig)
    canceller.on('error', () => {})
    try {
      await canceller.connect()
      await canceller.query('SELECT pg_cancel_backend($1)', [pid])
    } catch {
      // The statement_timeout set on the transaction stops it anyway.
    } finally {
      await canceller.end().catch(() => {})
    }
  }


  private entryFor (database: DatabaseRecord): PoolEntry {
    const key = JSON.stringify([database.id, database.connection, database.password_source])
    const existing = this.pools.get(key)
    if (existing !== undefined) return existing
    // A registration that changed (new URL or password source) gets a new pool; the old one closes.
    for (const [otherKey, other] of this.pools) {
      if (JSON.parse(otherKey)[0] === database.id) {
        this.pools.delete(otherKey)
        other.slots.close()
        void other.pool.end().catch(() => {})
      }
    }
    const config: PoolConfig = {
      connectionString: database.connection,
      max: this.options.poolSize,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      application_name: 'analytics-mcp',
      types: TEXT_TYPES
    }
    const Client = clientClass(database)
    const pool = new pg.Pool({ ...config, Client })
    // A connection the server closes must not crash the process, idle (the pool's listener) or
    // checked out (ours, on every client: pg emits 'error' even with a query running, which
    // fails that query); the pool drops it and the next query reconnects.
    pool.on('error', () => {})
    pool.on('connect', client => { client.on('error', () => {}) })
    const poolSize = this.options.poolSize
    const entry: PoolEntry = {
      pool,
      Client,
      slots: new FairQueue({
        slots: poolSize,
        perKeyRunning: this.options.perOwnerRunning ?? Math.max(1, poolSize - 1),
        queueLimit: this.options.queueLimit,
        perKeyQueueLimit: this.options.perOwnerQueueLimit ?? this.options.queueLimit,
        ...this.options.queueHooks
      })
    }
    this.pools.set(key, entry)
    return entry
  }

  async listTables (database: DatabaseRecord, signal?: AbortSignal, owner?: string): Promise<TableInfo[]> {
    const schemas = database.options.schemas ?? []
    const result = await this.run(database, {
      sql: `SELECT CASE WHEN table_schema = ANY(current_schemas(false)) THEN table_name ELSE table_schema || '.' || table_name END AS name,
          CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END AS type
        FROM information_schema.tables
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'
          AND (cardinality($1::text[]) = 0 OR table_schema = ANY($1::text[]))
        ORDER BY 1`,
      params: [`{${schemas.map(schema => `"${schema.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`],
      class: 'read'
    }, { sql: '', owner, maxRows: MAX_LISTED_TABLES, maxBytes: 1_048_576, timeoutMs: INTROSPECTION_TIMEOUT_MS, dryRun: false, signal })
    return result.rows.map(([name, type]) => ({ name: String(name), type: String(type) }))
  }

  /** Connections open now to a database (for tests and diagnostics). */
  stats (database: DatabaseRecord): { total: number, idle: number, waiting: number } {
    const entry = this.entryFor(database)
    return { total: entry.pool.totalCount, idle: entry.pool.idleCount, waiting: entry.slots.stats().waiting }
  }

  async close (): Promise<void> {
    this.closed = true
    const entries = [...this.pools.values()]
    this.pools.clear()
    for (const entry of entries) entry.slots.close()
    await Promise.all(entries.map(entry => entry.pool.end().catch(() => {})))
  }
}
