/**
 * The first of the PostgreSQL engine's safety layers: PostgreSQL's own parser (libpg-query)
 * reads the statement before anything is sent, and the whole parse tree is walked, so a
 * refused function hidden in a CTE, a subquery, a FROM-clause function or a default
 * expression is found as surely as one at the top. The layers behind it do not rely on it:
 * every query runs in a READ ONLY transaction (unless the database allows DML) with
 * statement, lock and idle timeouts, and the README's least-privilege role is the last word.
 */
import { ToolError } from '../errors.ts'

type Parse = typeof import('libpg-query').parse
let parser: Promise<Parse> | undefined

/** The WASM parser, loaded on first use: replicas without a PostgreSQL database never pay for it. */
async function loadParser (): Promise<Parse> {
  parser ??= import('libpg-query').then(module => module.parse)
  return await parser
}

/** What a statement that passed the check does, so the engine knows how to run and end it. */
export type StatementClass = 'read' | 'dml' | 'ddl'

export interface CheckedStatement {
  /** read: SELECT, VALUES, EXPLAIN; dml: changes rows; ddl: changes the schema. */
  class: StatementClass
  /** The top-level parse node, e.g. SelectStmt. */
  node: string
}

const READ_STATEMENTS = new Set(['SelectStmt'])
const DML_STATEMENTS = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'])
/** Only the DDL listed here; CREATE FUNCTION, EXTENSION, ROLE, … stay refused even with allow_dml. */
const DDL_STATEMENTS = new Set([
  'CreateStmt', 'CreateTableAsStmt', 'ViewStmt', 'IndexStmt', 'AlterTableStmt', 'DropStmt',
  'RenameStmt', 'TruncateStmt', 'RefreshMatViewStmt', 'CommentStmt'
])
/** DROP of these object kinds only (a DropStmt can also drop functions, schemas, roles' objects…). */
const DROPPABLE = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_INDEX', 'OBJECT_MATVIEW'])

/** Statements refused outright, with what to do instead. */
const REFUSED_STATEMENTS: Readonly<Record<string, string>> = {
  CopyStmt: 'COPY is not allowed (it reads and writes server files and programs); use SELECT to read rows.',
  DoStmt: 'DO blocks are not allowed (they run procedural code); write a single SELECT.',
  CallStmt: 'CALL is not allowed (procedures may commit and write); write a single SELECT.',
  ListenStmt: 'LISTEN is not allowed; each call runs one query on its own.',
  NotifyStmt: 'NOTIFY is not allowed; each call runs one query on its own.',
  UnlistenStmt: 'UNLISTEN is not allowed; each call runs one query on its own.',
  VariableSetStmt: 'SET and RESET are not allowed: the server sets timeouts, memory and search_path for each query. Use schema-qualified names instead of changing search_path.',
  VariableShowStmt: 'SHOW is not allowed; use SELECT current_setting(\'name\') to read a setting.',
  AlterSystemStmt: 'ALTER SYSTEM is not allowed.',
  TransactionStmt: 'Transaction statements (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) are not allowed: each execute_sql call runs one statement in its own transaction.',
  LockStmt: 'LOCK is not allowed; execute_sql never holds locks beyond its own query.',
  PrepareStmt: 'PREPARE is not allowed; send the query itself.',
  ExecuteStmt: 'EXECUTE is not allowed; send the query itself.',
  DeallocateStmt: 'DEALLOCATE is not allowed; nothing is prepared between calls.',
  DeclareCursorStmt: 'DECLARE CURSOR is not allowed; the server pages results itself.',
  FetchStmt: 'FETCH is not allowed; the server pages results itself.',
  ClosePortalStmt: 'CLOSE is not allowed; the server pages results itself.',
  VacuumStmt: 'VACUUM and ANALYZE are not allowed; they are maintenance work for an administrator.',
  ClusterStmt: 'CLUSTER is not allowed; it is maintenance work for an administrator.',
  ReindexStmt: 'REINDEX is not allowed; it is maintenance work for an administrator.',
  CheckPointStmt: 'CHECKPOINT is not allowed.',
  LoadStmt: 'LOAD is not allowed (it loads shared libraries).',
  DiscardStmt: 'DISCARD is not allowed.',
  SecLabelStmt: 'SECURITY LABEL is not allowed.',
  GrantStmt: 'GRANT and REVOKE are not allowed; privileges are managed by an administrator.',
  GrantRoleStmt: 'GRANT and REVOKE of roles are not allowed; privileges are managed by an administrator.',
  CreateFunctionStmt: 'CREATE FUNCTION and CREATE PROCEDURE are not allowed (they run code as the database).',
  CreateExtensionStmt: 'CREATE EXTENSION is not allowed.',
  CreateForeignServerStmt: 'CREATE SERVER is not allowed (it reaches other servers).',
  CreateForeignTableStmt: 'CREATE FOREIGN TABLE is not allowed (it reaches other servers and files).',
  CreateUserMappingStmt: 'CREATE USER MAPPING is not allowed (it stores credentials).',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA is not allowed.',
  CreateRoleStmt: 'CREATE ROLE and CREATE USER are not allowed.',
  AlterRoleStmt: 'ALTER ROLE is not allowed.',
  AlterRoleSetStmt: 'ALTER ROLE … SET is not allowed.',
  DropRoleStmt: 'DROP ROLE is not allowed.',
  CreateTrigStmt: 'CREATE TRIGGER is not allowed (triggers run code on later writes).',
  RuleStmt: 'CREATE RULE is not allowed (rules rewrite later queries).',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER is not allowed.',
  CreatedbStmt: 'CREATE DATABASE is not allowed.',
  DropdbStmt: 'DROP DATABASE is not allowed.',
  AlterDatabaseStmt: 'ALTER DATABASE is not allowed.',
  AlterDatabaseSetStmt: 'ALTER DATABASE … SET is not allowed.',
  CreateSchemaStmt: 'CREATE SCHEMA is not allowed.',
  AlterOwnerStmt: 'ALTER … OWNER is not allowed.',
  ReassignOwnedStmt: 'REASSIGN OWNED is not allowed.',
  DropOwnedStmt: 'DROP OWNED is not allowed.',
  CreatePublicationStmt: 'CREATE PUBLICATION is not allowed.',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION is not allowed (it connects to other servers).',
  AlterFunctionStmt: 'ALTER FUNCTION is not allowed.',
  CreateTableSpaceStmt: 'CREATE TABLESPACE is not allowed (it writes server directories).'
}

/**
 * Functions refused anywhere in a statement: they read or list server files, reach other
 * servers, run SQL given as text (and so dodge this check), signal other sessions, take
 * locks that outlive the query, change settings, or do administrator work.
 */
const REFUSED_FUNCTIONS = new Set([
  'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_ls_logdir', 'pg_ls_waldir',
  'pg_ls_tmpdir', 'pg_ls_archive_statusdir', 'pg_ls_logicalsnapdir', 'pg_ls_logicalmapdir', 'pg_ls_replslotdir',
  'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_file_sync', 'pg_logdir_ls',
  'loread', 'lowrite',
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_signal_backend', 'pg_log_backend_memory_contexts',
  'set_config', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_switch_wal', 'pg_create_restore_point',
  'pg_backup_start', 'pg_backup_stop', 'pg_start_backup', 'pg_stop_backup', 'pg_promote',
  'pg_wal_replay_pause', 'pg_wal_replay_resume', 'pg_drop_replication_slot', 'pg_copy_physical_replication_slot',
  'pg_copy_logical_replication_slot', 'pg_replication_slot_advance', 'pg_logical_emit_message',
  'pg_import_system_collations', 'pg_notify', 'pg_export_snapshot', 'pg_stat_reset', 'pg_stat_reset_shared',
  'pg_stat_reset_single_table_counters', 'pg_stat_reset_single_function_counters', 'pg_stat_reset_slru',
  'pg_stat_reset_replication_slot', 'pg_stat_reset_subscription_stats',
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
  'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema', 'schema_to_xml', 'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema', 'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema'
])
/** Families refused by prefix: large objects (lo_import/lo_export…), dblink, advisory locks, replication. */
const REFUSED_FUNCTION_PREFIXES = ['lo_', 'dblink', 'pg_advisory', 'pg_try_advisory', 'pg_create_', 'pg_replication_origin', 'pg_logical_slot_', 'pg_ls_', 'pg_read_']

const READ_ONLY_HINT = 'This database is read-only: execute_sql may only read data here (SELECT, WITH … SELECT, VALUES, EXPLAIN).'

type Node = Record<string, unknown>

function refused (message: string): ToolError {
  return new ToolError('not_allowed', message)
}

/** Name of a function as PostgreSQL resolves it, without its schema, lower-cased and NFKC-folded (look-alike digits and fullwidth letters). */
function functionName (funcname: unknown): string {
  if (!Array.isArray(funcname)) return ''
  const last = funcname[funcname.length - 1] as { String?: { sval?: string } } | undefined
  return (last?.String?.sval ?? '').normalize('NFKC').toLowerCase()
}

export function isRefusedFunction (name: string): boolean {
  const folded = name.normalize('NFKC').toLowerCase()
  return REFUSED_FUNCTIONS.has(folded) || REFUSED_FUNCTION_PREFIXES.some(prefix => folded.startsWith(prefix))
}

/** What a refused function would do, for the refusal's message. */
function refusedBecause (name: string): string {
  if (/^(pg_read_|pg_ls_|pg_stat_file|pg_file_|pg_logdir|lo_|lo(read|write)$)/.test(name)) return 'reads or writes files on the database server'
  if (name.startsWith('dblink')) return 'connects to other servers'
  if (name.includes('_to_xml')) return 'runs SQL given as text, which this check cannot see'
  if (/^pg_(terminate|cancel|signal)_backend|^pg_log_backend/.test(name)) return 'acts on other sessions'
  if (/advisory/.test(name)) return 'takes locks that outlive the query'
  if (name === 'set_config') return 'changes settings (the server sets them for each query)'
  return 'is administrator work or changes server state'
}

/** Every place in the tree: refused functions, data-modifying sub-statements, SELECT … INTO, row locks. */
function walk (value: unknown, allowDml: boolean, top: boolean, found: { modifies: boolean }): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, allowDml, false, found)
    return
  }
  if (value === null || typeof value !== 'object') return
  for (const [key, child] of Object.entries(value as Node)) {
    if (key === 'FuncCall') {
      const name = functionName((child as Node).funcname)
      if (isRefusedFunction(name)) throw refused(`The function ${name}() is not allowed: it ${refusedBecause(name)}. Query tables and views directly.`)
    }
    if (!top && DML_STATEMENTS.has(key)) found.modifies = true
    if (!top && !allowDml && DML_STATEMENTS.has(key)) {
      throw new ToolError('read_only', `${READ_ONLY_HINT} Data-modifying WITH clauses (${key.replace('Stmt', '').toUpperCase()} … RETURNING) are refused too.`)
    }
    if (!top && REFUSED_STATEMENTS[key] !== undefined) throw refused(REFUSED_STATEMENTS[key])
    if (!allowDml && key === 'intoClause') throw new ToolError('read_only', `${READ_ONLY_HINT} SELECT … INTO creates a table.`)
    if (!allowDml && key === 'lockingClause') throw new ToolError('read_only', `${READ_ONLY_HINT} Row locks (FOR UPDATE / FOR SHARE) are not needed to read.`)
    walk(child, allowDml, false, found)
  }
}

function classify (name: string, node: Node, allowDml: boolean): StatementClass {
  if (READ_STATEMENTS.has(name)) return 'read'
  if (name === 'ExplainStmt') {
    const query = node.query as Node | undefined
    const inner = query === undefined ? undefined : Object.keys(query)[0]
    if (inner === undefined) throw refused('This EXPLAIN is not allowed.')
    const options = Array.isArray(node.options) ? node.options as Array<{ DefElem?: { defname?: string } }> : []
    const analyze = options.some(option => option.DefElem?.defname === 'analyze')
    const innerClass = classify(inner, query?.[inner] as Node, allowDml)
    if (analyze && innerClass !== 'read') throw refused('EXPLAIN ANALYZE runs the statement; it is allowed for SELECT only. Use EXPLAIN without ANALYZE to see the plan.')
    return 'read'
  }
  if (DML_STATEMENTS.has(name)) {
    if (!allowDml) throw new ToolError('read_only', READ_ONLY_HINT)
    return 'dml'
  }
  if (DDL_STATEMENTS.has(name)) {
    if (!allowDml) throw new ToolError('read_only', `${READ_ONLY_HINT} Schema changes (CREATE, ALTER, DROP) are refused too.`)
    if (name === 'DropStmt' && !DROPPABLE.has(String(node.removeType))) throw refused('Only DROP TABLE, DROP VIEW, DROP MATERIALIZED VIEW and DROP INDEX are allowed.')
    return 'ddl'
  }
  const reason = REFUSED_STATEMENTS[name]
  if (reason !== undefined) throw refused(reason)
  throw refused(`${name.replace(/Stmt$/, '')} statements are not allowed; execute_sql runs SELECT${allowDml ? ', INSERT, UPDATE, DELETE, MERGE and CREATE/ALTER/DROP of tables, views and indexes' : ''} only.`)
}

interface ParserError { sqlDetails?: { message?: string, cursorPosition?: number } }

/**
 * Check one statement for a PostgreSQL database before it is sent: exactly one statement, of
 * an allowed kind, with no refused function or data-modifying part anywhere in it. Throws the
 * ToolError to show the caller (not_allowed, read_only, multiple_statements, empty_statement,
 * sql_error for text the parser cannot read).
 */
export async function checkPostgresStatement (sql: string, allowDml: boolean): Promise<CheckedStatement> {
  // The wire protocol ends the text at a NUL; whatever follows would be checked but not run.
  if (sql.includes('\u0000')) throw new ToolError('sql_error', 'The SQL text contains a NUL character (\\u0000); remove it and send each statement in its own call.')
  const parse = await loadParser()
  let tree: { stmts?: Array<{ stmt?: Node }> }
  try {
    tree = await parse(sql) as { stmts?: Array<{ stmt?: Node }> }
  } catch (err) {
    const details = (err as ParserError).sqlDetails
    const position = details?.cursorPosition === undefined ? '' : ` (at character ${details.cursorPosition + 1})`
    throw new ToolError('sql_error', `PostgreSQL cannot parse the SQL: ${details?.message ?? (err as Error).message}${position}.`, 'Write PostgreSQL syntax (dialect postgresql); use ASCII quotes and semicolons.')
  }
  const statements = (tree.stmts ?? []).filter(entry => entry.stmt !== undefined)
  if (statements.length === 0) throw new ToolError('empty_statement', 'The SQL text contains no statement.')
  if (statements.length > 1) throw new ToolError('multiple_statements', `Only one SQL statement can run per execute_sql call, and this text holds ${statements.length}. Send each statement in its own call.`)
  const stmt = statements[0]?.stmt as Node
  const name = Object.keys(stmt)[0] ?? ''
  const node = stmt[name] as Node
  const statementClass = classify(name, node, allowDml)
  const found = { modifies: false }
  walk(stmt, allowDml, true, found)
  // WITH d AS (DELETE … RETURNING *) SELECT …: a write, committed like one.
  return { class: statementClass === 'read' && found.modifies ? 'dml' : statementClass, node: name }
}
