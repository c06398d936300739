/**
 * The statement check of the DuckDB engine (layer 2 of its SQL safety). Layer 1 is the
 * database's own lock-down (see duckdb.ts): even SQL that got past this check cannot read
 * files other than the configured ones, load extensions or change a setting. This layer
 * exists for clear refusals ("read_parquet is not allowed: …") and as a second wall.
 *
 * It uses DuckDB's own parser, never a regex over the whole text:
 * - `extractStatements` counts the statements (exactly one may run);
 * - `json_serialize_sql` gives the parse tree of a SELECT (with CTEs, subqueries, table
 *   functions and expressions), which is walked for functions that read files, run SQL from
 *   a string or reveal settings, and for string literals used as tables (`FROM 'x.csv'`);
 * - statements the serializer does not take (DML, DDL, PRAGMA, PIVOT, …) are judged by their
 *   leading keyword here and by their prepared statement type in the engine, and their text
 *   is scanned for calls of the denied functions.
 */
import type { DuckDBConnection } from '@duckdb/node-api'
import { StatementType } from '@duckdb/node-api'
import { ToolError } from '../errors.ts'

const FILE_VIEWS_HINT = 'query the configured file views instead (list them with get_database_info).'

/** Table and scalar functions that read files or directories (the configured files are views). */
const FILE_FUNCTIONS = [
  'read_csv', 'read_csv_auto', 'sniff_csv', 'read_parquet', 'parquet_scan', 'parquet_metadata', 'parquet_schema',
  'parquet_file_metadata', 'parquet_kv_metadata', 'parquet_bloom_probe', 'read_json', 'read_json_auto',
  'read_json_objects', 'read_json_objects_auto', 'read_ndjson', 'read_ndjson_auto', 'read_ndjson_objects',
  'read_text', 'read_blob', 'glob', 'iceberg_scan', 'iceberg_metadata', 'iceberg_snapshots', 'delta_scan',
  'read_xlsx', 'st_read', 'sqlite_scan', 'sqlite_attach', 'postgres_scan', 'postgres_attach', 'postgres_query',
  'mysql_query', 'read_duckdb', 'read_avro', 'read_csv_struct'
]
/** Functions that run SQL held in a string, which this check could not see. */
const SQL_STRING_FUNCTIONS = ['query', 'query_table', 'json_execute_serialized_sql', 'json_deserialize_sql']
/** Functions that reveal the server's settings, paths, environment or secrets. */
const SERVER_FUNCTIONS = [
  'getenv', 'current_setting', 'duckdb_settings', 'duckdb_secrets', 'which_secret', 'duckdb_temporary_files',
  'duckdb_databases', 'duckdb_extensions', 'duckdb_logs', 'duckdb_log_contexts', 'enable_logging', 'disable_logging',
  'duckdb_secret_types', 'checkpoint', 'force_checkpoint', 'pragma_database_list', 'pragma_database_size',
  'pragma_platform', 'pragma_version', 'pragma_user_agent', 'pragma_metadata_info', 'test_all_types'
]

const DENIED_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ...FILE_FUNCTIONS.map(name => [name, `${name} reads files, which is not allowed: ${FILE_VIEWS_HINT}`] as const),
  ...SQL_STRING_FUNCTIONS.map(name => [name, `${name} runs SQL given as a string, which is not allowed: write that query directly.`] as const),
  ...SERVER_FUNCTIONS.map(name => [name, `${name} reveals or changes server state (settings, paths, secrets), which is not allowed.`] as const)
])

/** Introspection pragmas a model may use to learn a table's shape. */
const ALLOWED_PRAGMAS = new Set(['table_info', 'show', 'show_tables', 'show_tables_expanded', 'storage_info'])

/** Leading keywords that are refused whatever the database allows, with the reason. */
const REFUSED_KEYWORDS: Readonly<Record<string, string>> = {
  ATTACH: 'ATTACH is not allowed: execute_sql reads only the registered database and its configured files.',
  DETACH: 'DETACH is not allowed: execute_sql reads only the registered database.',
  INSTALL: 'INSTALL is not allowed: extensions cannot be installed or loaded by a query.',
  LOAD: 'LOAD is not allowed: extensions cannot be installed or loaded by a query.',
  FORCE: 'FORCE INSTALL / FORCE CHECKPOINT is not allowed.',
  UPDATE_EXTENSIONS: 'UPDATE EXTENSIONS is not allowed.',
  COPY: `COPY reads or writes files, which is not allowed: ${FILE_VIEWS_HINT}`,
  EXPORT: 'EXPORT DATABASE writes files, which is not allowed.',
  IMPORT: 'IMPORT DATABASE reads files, which is not allowed.',
  SET: 'SET is not allowed: the database settings are fixed by the server (pass `timeout` and `limit` to execute_sql instead).',
  RESET: 'RESET is not allowed: the database settings are fixed by the server.',
  USE: 'USE is not allowed: it would change the default schema for the next caller; qualify table names (schema.table) instead.',
  CALL: 'CALL is not allowed: select from the table function instead, e.g. SELECT * FROM pragma_table_info(\'t\').',
  VACUUM: 'VACUUM is not allowed.',
  BEGIN: 'Transaction statements are not allowed: each execute_sql call runs one statement on its own.',
  START: 'Transaction statements are not allowed: each execute_sql call runs one statement on its own.',
  COMMIT: 'Transaction statements are not allowed: each execute_sql call runs one statement on its own.',
  END: 'Transaction statements are not allowed: each execute_sql call runs one statement on its own.',
  ROLLBACK: 'Transaction statements are not allowed: each execute_sql call runs one statement on its own.',
  ABORT: 'Transaction statements are not allowed: each execute_sql call runs one statement on its own.',
  PREPARE: 'PREPARE is not allowed: send the statement itself.',
  EXECUTE: 'EXECUTE is not allowed: send the statement itself.',
  DEALLOCATE: 'DEALLOCATE is not allowed.'
}

/** Leading keywords of writes, refused on read-only databases before anything else. */
const WRITE_KEYWORDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'MERGE', 'COMMENT', 'UPSERT'])

/** Statement types (after prepare) that only run where the database allows DML. */
const WRITE_TYPES: ReadonlySet<StatementType> = new Set([
  StatementType.INSERT, StatementType.UPDATE, StatementType.DELETE, StatementType.CREATE, StatementType.DROP,
  StatementType.ALTER, StatementType.CREATE_FUNC, StatementType.ANALYZE, StatementType.VACUUM, StatementType.MERGE_INTO
])
/** Statement types that return rows of a query. */
const READ_TYPES: ReadonlySet<StatementType> = new Set([StatementType.SELECT, StatementType.EXPLAIN])

const notAllowed = (message: string): ToolError => new ToolError('not_allowed', message, 'Rewrite the query without that statement or function; execute_sql runs plain SELECT queries over the database\'s tables and views.')
const readOnly = (): ToolError => new ToolError('read_only', 'This database is read-only: execute_sql may only read data here (SELECT, WITH … SELECT, DESCRIBE, SUMMARIZE, EXPLAIN, PRAGMA table_info).', 'Only statements that read data run here; an administrator can allow DML on the database if changes are intended.')
const sqlError = (message: string): ToolError => new ToolError('sql_error', message, 'Check the SQL and the table and column names (get_database_info); this database speaks DuckDB SQL.')

/** The first word of the statement, past comments, whitespace and opening parentheses, upper-cased. */
export function leadingKeyword (sql: string): string {
  const text = stripLeadingNoise(sql)
  return /^[A-Za-z_]+/.exec(text)?.[0].toUpperCase() ?? ''
}

function stripLeadingNoise (sql: string): string {
  let text = sql
  for (;;) {
    const trimmed = text.replace(/^[\s(]+/, '')
    if (trimmed.startsWith('--')) {
      const end = trimmed.indexOf('\n')
      text = end === -1 ? '' : trimmed.slice(end + 1)
    } else if (trimmed.startsWith('/*')) {
      const end = trimmed.indexOf('*/')
      text = end === -1 ? '' : trimmed.slice(end + 2)
    } else {
      return trimmed
    }
  }
}

interface SerializedSql {
  error: boolean
  error_type?: string
  error_message?: string
  statements?: unknown[]
}

async function serialize (connection: DuckDBConnection, sql: string): Promise<SerializedSql> {
  const reader = await connection.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql])
  return JSON.parse(String(reader.getRows()[0]?.[0])) as SerializedSql
}

/** A table name that DuckDB would read as a file (replacement scan): a path, URL or file name. */
function looksLikeFile (name: string): boolean {
  return /[./\\:~*?]/.test(name)
}

/** Walk a serialized parse tree; refuse denied functions and files named as tables anywhere in it. */
function walk (node: unknown): void {
  if (Array.isArray(node)) {
    for (const child of node) walk(child)
    return
  }
  if (node === null || typeof node !== 'object') return
  const record = node as Record<string, unknown>
  if (typeof record.function_name === 'string') checkFunctionName(record.function_name)
  if (record.type === 'BASE_TABLE' && typeof record.table_name === 'string') {
    if (looksLikeFile(record.table_name)) {
      throw notAllowed(`Reading a file by naming it as a table ('${record.table_name}') is not allowed: ${FILE_VIEWS_HINT}`)
    }
    checkFunctionName(record.table_name)
  }
  for (const value of Object.values(record)) if (value !== null && typeof value === 'object') walk(value)
}

function checkFunctionName (name: string): void {
  const lower = name.toLowerCase()
  const denied = DENIED_FUNCTIONS.get(lower)
  if (denied !== undefined) throw notAllowed(denied)
  if (lower.startsWith('pragma_') && !ALLOWED_PRAGMAS.has(lower.slice('pragma_'.length))) {
    throw notAllowed(`${name} is not allowed; only the pragmas ${[...ALLOWED_PRAGMAS].join(', ')} may be used.`)
  }
}

/** Calls of denied functions in statement text the serializer cannot take (DML, PIVOT, …). */
function scanText (sql: string): void {
  for (const match of sql.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) {
    // A call: the name, maybe a closing quote, maybe spaces, then "(".
    let next = match.index + match[0].length
    if (sql[next] === '"') next++
    while (sql[next] === ' ' || sql[next] === '\t' || sql[next] === '\n' || sql[next] === '\r') next++
    if (sql[next] === '(') checkFunctionName(match[0])
  }
}

/** What the check learnt: whether the statement's tree was walked (a SELECT the serializer takes). */
export interface StatementCheck {
  keyword: string
  walked: boolean
}

/**
 * Check one statement before it is prepared on `connection` (any connection of the database:
 * parsing reads nothing). Throws the ToolError to answer with; returns what it learnt.
 */
export async function checkStatement (connection: DuckDBConnection, sql: string, allowDml: boolean): Promise<StatementCheck> {
  if (sql.includes('\u0000')) throw sqlError('The SQL text contains a NUL character (\\u0000); remove it.')
  const keyword = leadingKeyword(sql)
  const refusal = REFUSED_KEYWORDS[keyword]
  if (refusal !== undefined) throw notAllowed(refusal)
  const text = stripLeadingNoise(sql)
  if (/^(CREATE|DROP)\s+(OR\s+REPLACE\s+)?(PERSISTENT\s+|TEMPORARY\s+|TEMP\s+)?SECRET\b/i.test(text)) throw notAllowed('Secrets cannot be created or dropped by a query.')
  if (/^CREATE\s+(OR\s+REPLACE\s+)?(TEMP|TEMPORARY)\b/i.test(text)) {
    throw notAllowed('Temporary tables, views and macros are not allowed: each call runs on its own (on a shared connection), so use a WITH clause (CTE) instead.')
  }
  // Refused before prepare: binding a write to a view or a missing table fails with a less clear error.
  if (!allowDml && WRITE_KEYWORDS.has(keyword)) throw readOnly()
  if (keyword === 'CHECKPOINT' && !allowDml) throw notAllowed('CHECKPOINT is not allowed on a read-only database.')
  let count: number
  try {
    count = (await connection.extractStatements(sql)).count
  } catch (err) {
    // The parser's message: an empty text fails here too, without one.
    const parsed = await serialize(connection, sql)
    if (parsed.error) throw sqlError((parsed.error_type === 'parser' ? parsed.error_message : undefined) ?? `The SQL text could not be parsed: ${(err as Error).message}`)
    count = parsed.statements?.length ?? 0
  }
  if (count === 0) throw new ToolError('empty_statement', 'The SQL text contains no statement.', 'Pass one SQL statement in `sql`.')
  if (count > 1) throw new ToolError('multiple_statements', 'Only one SQL statement can run per execute_sql call.', 'Send each statement in its own execute_sql call.')

  if (keyword === 'PRAGMA') {
    const name = /^PRAGMA\s+([A-Za-z_]+)/i.exec(text)?.[1]?.toLowerCase() ?? ''
    if (!ALLOWED_PRAGMAS.has(name)) throw notAllowed(`PRAGMA ${name} is not allowed; only ${[...ALLOWED_PRAGMAS].join(', ')} may be used.`)
    return { keyword, walked: false }
  }
  if (keyword === 'EXPLAIN') {
    // EXPLAIN [ANALYZE] runs or plans a query: the query itself must pass.
    const inner = text.replace(/^EXPLAIN\s+(ANALYZE\s+)?/i, '')
    const parsed = await serialize(connection, inner)
    if (parsed.error) throw notAllowed('EXPLAIN is allowed for SELECT queries only.')
    walk(parsed.statements)
    return { keyword, walked: true }
  }

  const parsed = await serialize(connection, sql)
  if (!parsed.error) {
    walk(parsed.statements)
    return { keyword, walked: true }
  }
  if (parsed.error_type === 'parser') throw sqlError(parsed.error_message ?? 'The SQL text could not be parsed.')
  scanText(sql)
  return { keyword, walked: false }
}

/** Judge a prepared statement's type: reads run everywhere, writes only where DML is allowed. */
export function checkStatementType (type: StatementType, allowDml: boolean, keyword: string): void {
  if (READ_TYPES.has(type)) return
  // CHECKPOINT prepares as a CALL of checkpoint(); the keyword check let it through only with DML.
  if (keyword === 'CHECKPOINT' && allowDml) return
  if (WRITE_TYPES.has(type)) {
    if (allowDml) return
    throw readOnly()
  }
  throw notAllowed(`Statements of type ${StatementType[type] ?? String(type)} are not allowed.`)
}
