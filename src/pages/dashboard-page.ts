import { chartPositions, DEFAULT_CHART_HEIGHT, DEFAULT_CHART_WIDTH, defaultLayout, GRID_COLUMNS, parseLayout } from '../catalog/dashboard-layout.ts'
import type { ChartRecord, DashboardRecord } from '../catalog/records.ts'
import { runSource, savedChartSource } from '../charts/service.ts'
import type { ChartContext } from '../charts/service.ts'
import { ToolError } from '../errors.ts'
import { pageSpec } from './chart-page.ts'
import { html } from './html.ts'
import type { SafeHtml } from './html.ts'
import { chartElement, linkFooter, plural } from './layout.ts'
import type { Page } from './layout.ts'

/** Charts of a dashboard run at most this many at a time, so one page cannot take every query runner. */
export const DASHBOARD_CONCURRENCY = 2

/** One chart in the grid: where it sits and how big it is drawn. */
export interface DashboardCell {
  chart: ChartRecord
  row: number
  /** Grid columns, 1..12. */
  width: number
  /** Layout height in Superset grid units (8 px each). */
  height: number
  tabs: string[]
}

// The page's grid: main is at most 1280 px wide with 24 px padding, 16 px gaps, 16 px card padding.
const GRID_WIDTH = 1280 - 2 * 24
const GAP = 16
const CARD_PADDING = 16
const GRID_UNIT_PX = 8
const CARD_HEADING_PX = 40

/** The pixel size a chart spanning `width` columns, `height` units tall, is drawn at (the CSS scales it down on narrow screens). */
export function cellSize (width: number, height: number): { width: number, height: number } {
  const column = (GRID_WIDTH - (GRID_COLUMNS - 1) * GAP) / GRID_COLUMNS
  const cardWidth = width * column + (width - 1) * GAP
  return {
    width: Math.round(cardWidth - 2 * CARD_PADDING),
    height: Math.max(200, Math.min(800, height * GRID_UNIT_PX - CARD_HEADING_PX))
  }
}

/**
 * The visible charts of a dashboard in layout order: rows top to bottom, left to right. Hidden
 * charts are left out and the rest of their row closes up, so no gap hints at them; visible
 * charts the layout does not place (or every chart, without a layout) follow two to a row.
 */
export function dashboardCells (dashboard: DashboardRecord, charts: readonly ChartRecord[]): DashboardCell[] {
  const byId = new Map(charts.map(chart => [chart.id, chart]))
  const layout = parseLayout(dashboard.position_json) ?? defaultLayout(dashboard.dashboard_title, charts)
  const cells: DashboardCell[] = []
  const placed = new Set<number>()
  for (const position of chartPositions(layout)) {
    const chart = byId.get(position.chartId)
    if (chart === undefined || placed.has(chart.id)) continue
    placed.add(chart.id)
    const width = Number.isFinite(position.width) ? Math.min(GRID_COLUMNS, Math.max(1, Math.round(position.width))) : DEFAULT_CHART_WIDTH
    const height = Number.isFinite(position.height) && position.height > 0 ? position.height : DEFAULT_CHART_HEIGHT
    cells.push({ chart, row: position.row, width, height, tabs: position.tabs })
  }
  let row = Math.max(0, ...cells.map(cell => cell.row))
  charts.filter(chart => !placed.has(chart.id)).forEach((chart, index) => {
    if (index % 2 === 0) row += 1
    cells.push({ chart, row, width: DEFAULT_CHART_WIDTH, height: DEFAULT_CHART_HEIGHT, tabs: [] })
  })
  return cells
}

/** Run `task` on every item, at most `limit` at a time; results in item order. */
export async function mapLimited<T, R> (items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

type CellContent = { spec: unknown } | { failure: string }

export interface DashboardPageOptions {
  expiresAt: number
  /** The signed path of a chart's own page, for the card headings. */
  chartLink: (chartId: number) => string
  /** A chart failed for a reason people should not see (it goes to the log). */
  onChartError: (err: unknown, chartId: number) => void
}

/** A dashboard's visible charts in its layout; a chart that fails shows why in its card. */
export async function dashboardPage (context: ChartContext, dashboard: DashboardRecord, options: DashboardPageOptions): Promise<Page> {
  const charts = await context.catalog.chartsOfDashboard(dashboard.id, context.principal.access)
  const cells = dashboardCells(dashboard, charts)
  const contents = await mapLimited(cells, DASHBOARD_CONCURRENCY, async (cell): Promise<CellContent> => {
    try {
      const outcome = await runSource(context, await savedChartSource(context, cell.chart.id))
      return { spec: pageSpec(outcome.view, cellSize(cell.width, cell.height)) }
    } catch (err) {
      if (err instanceof ToolError) return { failure: err.message }
      options.onChartError(err, cell.chart.id)
      return { failure: 'The chart could not be drawn because of an error in the service.' }
    }
  })

  const rows: Array<Array<{ cell: DashboardCell, content: CellContent, index: number }>> = []
  let current: number | undefined
  cells.forEach((cell, index) => {
    if (cell.row !== current) rows.push([])
    current = cell.row
    rows[rows.length - 1]?.push({ cell, content: contents[index] as CellContent, index })
  })

  const description = dashboard.description
  const body = html`<main>
<header class="page-header">
<p class="kicker">Dashboard</p>
<h1>${dashboard.dashboard_title}</h1>
${description === null || description === '' ? '' : html`<p class="description">${description}</p>`}
<p class="meta">${plural(cells.length, 'chart')}${dashboard.published ? '' : ' · draft'}</p>
</header>
${cells.length === 0 ? html`<p class="note">This dashboard has no charts that can be shown to you.</p>` : ''}
${rows.map(row => html`<div class="dashboard-row">${row.map(({ cell, content, index }) => card(cell, content, index + 1, options))}</div>`)}
${linkFooter(context.principal.user.username, options.expiresAt)}
</main>`
  return { status: 200, title: dashboard.dashboard_title, body, charts: contents.some(content => 'spec' in content) }
}

function card (cell: DashboardCell, content: CellContent, number: number, options: DashboardPageOptions): SafeHtml {
  const name = cell.chart.slice_name
  return html`<article class="card span-${cell.width}" data-chart-id="${cell.chart.id}">
<h2><a href="${options.chartLink(cell.chart.id)}">${name}</a>${cell.tabs.length === 0 ? '' : html`<span class="tabs">${cell.tabs.join(' › ')}</span>`}</h2>
${'spec' in content ? chartElement(`chart-${number}`, name, content.spec) : html`<p class="chart-message">${content.failure}</p>`}
</article>`
}
