import { formatValue, tableColumns } from '../charts/markdown.ts'
import { chartSql } from '../charts/run.ts'
import type { ChartOutcome } from '../charts/run.ts'
import { runSource } from '../charts/service.ts'
import type { ChartContext, ChartSource } from '../charts/service.ts'
import { toVegaLite } from '../charts/vega-lite.ts'
import type { ChartField, ChartView } from '../charts/view.ts'
import { ToolError } from '../errors.ts'
import { html } from './html.ts'
import type { SafeHtml } from './html.ts'
import { chartElement, dataTable, linkFooter, plural } from './layout.ts'
import type { Page } from './layout.ts'

/** The chart as drawn on a chart page: the whole chart, title and legend included. */
export const CHART_PAGE_SIZE = { width: 900, height: 480 }
/** Rows of the data table under a chart; the chart itself draws them all. */
export const TABLE_ROWS = 100

/**
 * The Vega-Lite spec of a chart on a page. The page shows the chart's name as its heading,
 * so the spec leaves its title out (a subtitle, when the chart has one, stays).
 */
export function pageSpec (view: ChartView, size: { width: number, height: number }): unknown {
  return toVegaLite({ ...view, title: '' }, size)
}

/** The fields a view's data table shows, per kind (as the markdown table shows them). */
export function dataFields (view: ChartView): ChartField[] {
  if (view.kind === 'table') return tableColumns(view)
  const measures = view.kind === 'pie' || view.kind === 'histogram' || view.kind === 'big_number' ? view.y.slice(0, 1) : view.y
  return [view.x, view.series, ...measures].filter(field => field !== undefined)
}

/** The first `maxRows` rows of a chart's data as an HTML table, values formatted as on the chart. */
export function chartDataTable (view: ChartView, maxRows: number): SafeHtml {
  const fields = dataFields(view)
  const columns = fields.map(field => ({ label: field.label, numeric: field.type === 'quantitative' }))
  const rows = view.rows.slice(0, maxRows).map(row => fields.map(field => {
    const value = row[field.name]
    return value === null || value === undefined ? null : formatValue(value, field)
  }))
  return dataTable(columns, rows)
}

/** Why a chart could not be run, when it is the chart's problem (a ToolError says so for people). */
export function chartFailure (err: unknown): string {
  if (err instanceof ToolError) return err.message
  throw err
}

export interface ChartPageOptions {
  /** An unsaved chart (explore link): also show its config and SQL. */
  explore: boolean
  /** When the link stops working (seconds since the epoch). */
  expiresAt: number
}

/** The page of a saved chart, or of the unsaved chart behind an explore link. */
export async function chartPage (context: ChartContext, source: ChartSource, options: ChartPageOptions): Promise<Page> {
  let outcome: ChartOutcome | undefined
  let failure: string | undefined
  try {
    outcome = await runSource(context, source)
  } catch (err) {
    failure = chartFailure(err)
  }
  const { dataset } = source
  const description = source.chart?.description ?? null
  const definition = options.explore ? await definitionSection(context, source) : ''
  const body = html`<main class="narrow">
<header class="page-header">
<p class="kicker">${options.explore ? 'Unsaved chart' : 'Chart'}</p>
<h1>${source.title}</h1>
${description === null || description === '' ? '' : html`<p class="description">${description}</p>`}
<p class="meta">Dataset ${dataset.table_name} · database ${dataset.database_name}${outcome === undefined ? '' : ` · ${plural(outcome.rows.length, 'row')}`}</p>
</header>
<section class="card">${outcome === undefined
    ? html`<p class="chart-message">${failure}</p>`
    : chartElement('chart-1', source.title, pageSpec(outcome.view, CHART_PAGE_SIZE))}</section>
${outcome === undefined ? '' : dataSection(outcome)}
${definition}
${linkFooter(context.principal.user.username, options.expiresAt)}
</main>`
  return { status: 200, title: source.title, body, charts: outcome !== undefined }
}

function dataSection (outcome: ChartOutcome): SafeHtml {
  const { rows } = outcome.view
  const notes: string[] = []
  if (outcome.truncated) notes.push(`More rows matched than the chart's row limit: the chart draws the first ${plural(rows.length, 'row')}.`)
  if (rows.length > TABLE_ROWS) notes.push(`The table shows the first ${TABLE_ROWS} of ${plural(rows.length, 'row')}.`)
  if (rows.length === 0) notes.push('The query returned no rows.')
  return html`<section>
<h2>Data</h2>
${notes.map(note => html`<p class="note">${note}</p>`)}
${rows.length === 0 ? '' : chartDataTable(outcome.view, TABLE_ROWS)}
</section>`
}

/** An unsaved chart's definition: its config and the SQL it runs (values bound, listed in order). */
async function definitionSection (context: ChartContext, source: ChartSource): Promise<SafeHtml> {
  let sql: SafeHtml
  try {
    const compiled = await chartSql(context.catalog, source.dataset, source.config)
    sql = html`<pre><code>${compiled.sql}</code></pre>${compiled.params.length === 0
      ? ''
      : html`<p class="note">Values of the ? placeholders, in order: ${JSON.stringify(compiled.params)}</p>`}`
  } catch (err) {
    sql = html`<p class="chart-message">${chartFailure(err)}</p>`
  }
  return html`<section>
<h2>Chart configuration</h2>
<pre><code>${JSON.stringify(source.config, null, 2)}</code></pre>
</section>
<section>
<h2>SQL</h2>
${sql}
</section>`
}
