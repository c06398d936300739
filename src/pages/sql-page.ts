import type { DatabaseRecord, LinkStateRecord } from '../catalog/records.ts'
import type { ChartContext } from '../charts/service.ts'
import { ToolError } from '../errors.ts'
import type { QueryResult } from '../engines/protocol.ts'
import { uniqueColumnNames } from '../tools/execute-sql.ts'
import { html } from './html.ts'
import type { SafeHtml } from './html.ts'
import { dataTable, linkFooter, plural } from './layout.ts'
import type { Page } from './layout.ts'

/** Rows a SQL page shows at most. */
export const SQL_PAGE_ROWS = 1000

/** What a SQL link stores: the statement, and how it was titled. */
export interface SqlLinkPayload {
  sql: string
  schema: string | null
  title: string | null
}

/** The payload of a SQL link state, or undefined when it is not one. */
export function sqlPayload (state: LinkStateRecord): SqlLinkPayload | undefined {
  let value: unknown
  try {
    value = JSON.parse(state.payload)
  } catch {
    return undefined
  }
  if (value === null || typeof value !== 'object') return undefined
  const { sql, schema, title } = value as Record<string, unknown>
  if (typeof sql !== 'string') return undefined
  return { sql, schema: typeof schema === 'string' ? schema : null, title: typeof title === 'string' && title.trim() !== '' ? title : null }
}

/** A result cell as text: exact values (ids and years stay unformatted), null as NULL. */
export function cellText (value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (value instanceof Uint8Array) return `<${plural(value.byteLength, 'byte')} of binary data>`
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

type Run = { result: QueryResult } | { failure: string, status: number } | { empty: true }

/**
 * Run the statement read-only (the engine refuses DML whatever the database allows), as the
 * link's user, if they may still run SQL on that database.
 */
async function run (context: ChartContext, database: DatabaseRecord, sql: string): Promise<Run> {
  const { access } = context.principal
  // open_sql_lab_with_context may link to an empty editor: nothing to run.
  if (sql.trim() === '') return { empty: true }
  if (!access.can('can_execute_sql_query', 'SQLLab') || !access.canQueryDatabase(database.id)) {
    return { failure: `You may not run SQL on database ${database.database_name} now, so the result cannot be shown.`, status: 403 }
  }
  if (!database.expose_in_sqllab) {
    return { failure: `SQL execution is disabled on database ${database.database_name}, so the result cannot be shown.`, status: 403 }
  }
  try {
    const result = await context.engines.execute({ ...database, allow_dml: false }, {
      sql,
      params: [],
      maxRows: SQL_PAGE_ROWS,
      maxBytes: context.config.MCP_SQL_MAX_RESULT_BYTES,
      timeoutMs: context.config.MCP_SQL_DEFAULT_TIMEOUT * 1000,
      dryRun: false,
      signal: context.signal
    })
    return { result }
  } catch (err) {
    if (err instanceof ToolError) return { failure: `The query failed: ${err.message}`, status: 200 }
    throw err
  }
}

/** The page of a SQL link: the statement and its result (or why there is none). */
export async function sqlPage (context: ChartContext, database: DatabaseRecord, payload: SqlLinkPayload, expiresAt: number): Promise<Page> {
  const outcome = await run(context, database, payload.sql)
  const title = payload.title ?? 'SQL query'
  const meta = 'result' in outcome
    ? ` · ${plural(outcome.result.rowCount, 'row')} in ${Math.round(outcome.result.executionMs)} ms`
    : ''
  const body = html`<main>
<header class="page-header">
<p class="kicker">SQL query</p>
<h1>${title}</h1>
<p class="meta">Database ${database.database_name}${payload.schema === null ? '' : ` · schema ${payload.schema}`}${meta}</p>
</header>
<section>
<h2>SQL</h2>
<pre><code>${payload.sql}</code></pre>
</section>
<section>
<h2>Result</h2>
${'result' in outcome
    ? resultTable(outcome.result)
    : 'failure' in outcome ? html`<p class="card error">${outcome.failure}</p>` : html`<p class="note">The link holds no SQL statement to run.</p>`}
</section>
${linkFooter(context.principal.user.username, expiresAt)}
</main>`
  return { status: 'failure' in outcome ? outcome.status : 200, title, body, charts: false }
}

function resultTable (result: QueryResult): SafeHtml {
  if (!result.returnsRows) return html`<p class="note">The statement returned no rows.</p>`
  const names = uniqueColumnNames(result.columns.map(column => column.name))
  const numeric = names.map((_name, index) => result.rows.length > 0 && result.rows.every(row => row[index] === null || typeof row[index] === 'number' || typeof row[index] === 'bigint'))
  const notes: string[] = []
  if (result.truncatedBy === 'rows') notes.push(`Only the first ${plural(result.rowCount, 'row')} are shown; the query returned more.`)
  if (result.truncatedBy === 'bytes') notes.push(`Only the first ${plural(result.rowCount, 'row')} are shown: the result reached its size limit.`)
  if (result.rows.length === 0) notes.push('The query returned no rows.')
  return html`${notes.map(note => html`<p class="note">${note}</p>`)}
${dataTable(names.map((label, index) => ({ label, numeric: numeric[index] ?? false })), result.rows.map(row => names.map((_name, index) => cellText(row[index]))))}`
}
