import * as z from 'zod'
import type { Config } from '../config.ts'
import { SCOPES } from '../auth/scopes.ts'
import { invalidArguments, notFound, permissionDenied, ToolError } from '../errors.ts'
import type { ToolErrorType } from '../errors.ts'
import { identifierSchema } from './databases.ts'
import { markdownTable, plural } from './render.ts'
import { defineTool } from './tool.ts'
import { responseTruncationSchema } from './truncation.ts'
import type { Tool } from './tool.ts'

const DIALECTS: Readonly<Record<string, string>> = { sqlite: 'SQLite', postgresql: 'PostgreSQL', duckdb: 'DuckDB' }

/** Unique result keys: a second column named "total" becomes "total_2". */
export function uniqueColumnNames (names: readonly string[]): string[] {
  const used = new Set<string>()
  return names.map(name => {
    let candidate = name
    for (let n = 2; used.has(candidate); n++) candidate = `${name}_${n}`
    used.add(candidate)
    return candidate
  })
}

/** What a model should do after each kind of SQL failure. */
const SQL_HINTS: Partial<Record<ToolErrorType, (dialect: string) => string>> = {
  sql_error: dialect => `Check table and column names with get_database_info and get_dataset_info; this database speaks ${dialect} SQL.`,
  read_only: () => 'Only statements that read data run here; an administrator can allow DML on the database if changes are intended.',
  not_allowed: () => 'Rewrite the query without that statement or function.',
  multiple_statements: () => 'Send each statement in its own execute_sql call.',
  result_too_large: () => 'Select fewer or shorter columns, e.g. substr(column, 1, 200), or aggregate in SQL.',
  empty_statement: () => 'Pass one SQL statement in `sql`.'
}

/** The engine's error, with advice for the model when it has none. */
function withSqlHint (err: unknown, backend: string): unknown {
  if (!(err instanceof ToolError) || err.hint !== undefined) return err
  const hint = SQL_HINTS[err.errorType]?.(DIALECTS[backend] ?? backend)
  return hint === undefined ? err : new ToolError(err.errorType, err.message, hint)
}

export function sizeTruncationNote (rowCount: number, maxBytes: number): string {
  return `Results truncated: only the first ${plural(rowCount, 'row')} are shown because the result reached its size limit (${formatBytes(maxBytes)}); more rows exist. Select fewer or shorter columns (e.g. substr(text, 1, 200)) or aggregate in SQL.`
}

function formatBytes (bytes: number): string {
  return bytes >= 1_048_576 ? `${Number((bytes / 1_048_576).toFixed(1))} MiB` : `${Math.round(bytes / 1024)} KiB`
}

export function truncationNote (rowCount: number, limit: number, maxLimit: number): string {
  const raise = limit < maxLimit ? `, or raise \`limit\` (up to ${maxLimit.toLocaleString('en-US')})` : ''
  return `Results truncated: only the first ${plural(rowCount, 'row')} are shown because of the row limit (${limit.toLocaleString('en-US')}); more rows exist. Aggregate or filter in SQL (GROUP BY, WHERE, LIMIT)${raise}.`
}

export const executeSql = (config: Config): Tool => defineTool({
  name: 'execute_sql',
  title: 'Run SQL',
  description: [
    'Run one SQL statement against a registered database and return the rows.',
    'Databases are read-only unless an administrator allowed DML on them; one statement per call.',
    `Results are capped at \`limit\` rows (default ${config.MCP_SQL_DEFAULT_LIMIT}, at most ${config.MCP_SQL_MAX_LIMIT}); \`truncated: true\` means more rows exist, so aggregate in SQL instead of paging through raw rows.`,
    `Queries stop after \`timeout\` seconds (default ${config.MCP_SQL_DEFAULT_TIMEOUT}).`,
    'Use get_database_info for the tables of a database and get_dataset_info for columns and saved metrics. Write the SQL of the database\'s backend (get_database_info says which): SQLite (strftime for dates), PostgreSQL or DuckDB (date_trunc).'
  ].join(' '),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  scope: SCOPES.sql,
  permission: { permission: 'can_execute_sql_query', resource: 'SQLLab' },
  aliases: { query: 'sql', database: 'database_id', database_name: 'database_id', row_limit: 'limit' },
  input: z.strictObject({
    database_id: identifierSchema.describe('database id, UUID or name (see list_databases)'),
    sql: z.string().min(1).max(100_000).describe('one SQL statement'),
    schema: z.string().max(255).optional().describe('schema to run in; SQLite databases have only "main"'),
    limit: z.int().min(1).max(config.MCP_SQL_MAX_LIMIT).default(config.MCP_SQL_DEFAULT_LIMIT).describe('maximum rows to return'),
    timeout: z.int().min(1).max(config.MCP_SQL_MAX_TIMEOUT).default(config.MCP_SQL_DEFAULT_TIMEOUT).describe('seconds before the query is stopped'),
    dry_run: z.boolean().default(false).describe('check the statement and report its columns without running it')
  }),
  output: z.object({
    success: z.literal(true),
    database_id: z.int(),
    database_name: z.string(),
    backend: z.string(),
    sql: z.string(),
    statement_type: z.enum(['query', 'command']).describe('query: returns rows; command: changes data or schema'),
    columns: z.array(z.object({ name: z.string(), type: z.string().nullable(), is_nullable: z.boolean().nullable() })),
    rows: z.array(z.record(z.string(), z.unknown())),
    row_count: z.int(),
    truncated: z.boolean().describe('true when more rows exist than `limit` allowed'),
    limit: z.int(),
    affected_rows: z.int().nullable(),
    execution_time_ms: z.number(),
    dry_run: z.boolean(),
    notes: z.array(z.string()),
    response_truncation: responseTruncationSchema
  }),
  run: async (args, context) => {
    const { access } = context.principal
    const database = await context.catalog.findDatabase(args.database_id, access)
    if (database === undefined) throw notFound('database', args.database_id, 'id, UUID or name', 'list_databases')
    if (!access.canQueryDatabase(database.id)) {
      throw permissionDenied(`You may not run SQL on database ${database.database_name}: that needs database access to it.`, 'Ask an administrator for a role with database_access on it, or use the dataset tools.')
    }
    if (!database.expose_in_sqllab) {
      throw new ToolError('not_allowed', `SQL execution is disabled on database ${database.database_name}.`, 'Query one of its datasets with the chart tools, or ask an administrator to enable SQL on it.')
    }
    if (database.backend === 'sqlite' && args.schema !== undefined && args.schema !== 'main') {
      throw invalidArguments(`Schema "${args.schema}" does not exist: SQLite databases have only the schema "main".`, 'Omit `schema`.')
    }
    // A long query shows the client something is happening (when it asked for progress).
    await context.progress?.(0, 1, `Running SQL on ${database.database_name}`)
    const result = await context.engines.execute(database, {
      sql: args.sql,
      maxRows: args.limit,
      maxBytes: context.config.MCP_SQL_MAX_RESULT_BYTES,
      timeoutMs: args.timeout * 1000,
      dryRun: args.dry_run,
      signal: context.signal
    }).catch((err: unknown) => {
      throw withSqlHint(err, database.backend)
    })
    await context.progress?.(1, 1, `${result.rowCount} row${result.rowCount === 1 ? '' : 's'}`)
    // Only a statement that really changed rows or the schema makes cached answers stale
    // (a no-op such as DROP TABLE IF EXISTS on a missing table must not flush every cache).
    if (result.changed) await context.catalog.noteDataChanged()
    const names = uniqueColumnNames(result.columns.map(column => column.name))
    const notes: string[] = []
    if (result.truncatedBy === 'rows') notes.push(truncationNote(result.rowCount, args.limit, context.config.MCP_SQL_MAX_LIMIT))
    if (result.truncatedBy === 'bytes') notes.push(sizeTruncationNote(result.rowCount, context.config.MCP_SQL_MAX_RESULT_BYTES))
    if (args.dry_run) notes.push('Dry run: the statement was checked, not run.')
    return {
      success: true as const,
      database_id: database.id,
      database_name: database.database_name,
      backend: database.backend,
      sql: args.sql,
      statement_type: result.returnsRows ? 'query' as const : 'command' as const,
      columns: result.columns.map((column, index) => ({ name: names[index] ?? column.name, type: column.type, is_nullable: null })),
      rows: result.rows.map(row => Object.fromEntries(names.map((name, index) => [name, row[index] ?? null]))),
      row_count: result.rowCount,
      truncated: result.truncated,
      limit: args.limit,
      affected_rows: result.affectedRows,
      execution_time_ms: Math.round(result.executionMs * 100) / 100,
      dry_run: args.dry_run,
      notes
    }
  },
  render: result => {
    const lines = [...result.notes]
    if (result.statement_type === 'command') {
      lines.push(`Statement ran on ${result.database_name}: ${plural(result.affected_rows ?? 0, 'row')} affected.`)
    } else {
      const names = result.columns.map(column => column.name)
      lines.push(`${plural(result.row_count, 'row')} × ${plural(names.length, 'column')} from ${result.database_name} in ${result.execution_time_ms} ms.`)
      if (result.row_count > 0) lines.push(markdownTable(names, result.rows.map(row => names.map(name => row[name]))))
    }
    return lines.join('\n\n')
  },
  truncation: {
    noun: 'rows',
    count: result => result.rows.length,
    // The row-cap notes described the rows before the cut; the size notice replaces them.
    keep: (result, keep, notice) => ({ ...result, rows: result.rows.slice(0, keep), row_count: keep, truncated: true, notes: [], response_truncation: notice }),
    hint: 'Ask for less: a smaller `limit` (or a LIMIT clause), fewer or shorter columns (substr(text, 1, 200)), or aggregate in SQL.'
  },
  sizeHints: [
    'Lower `limit` or add a LIMIT clause.',
    'Select fewer or shorter columns, e.g. substr(column, 1, 200).',
    'Aggregate in SQL (GROUP BY) instead of fetching raw rows.'
  ]
})
