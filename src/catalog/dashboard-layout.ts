/**
 * Superset's dashboard layout format (position_json, "v2"): a ROOT holding a GRID of ROWs,
 * each ROW holding CHART components whose widths add up to at most 12 columns.
 */

export interface LayoutChart {
  chartId: number
  sliceName: string
  /** Grid columns, 1..12. */
  width: number
  /** Grid units; Superset's default chart height is 50. */
  height?: number
}

type Component = {
  type: 'ROOT' | 'GRID' | 'ROW' | 'CHART' | 'HEADER'
  id: string
  children: string[]
  parents?: string[]
  meta?: Record<string, unknown>
}

export type DashboardLayout = Record<string, Component | string>

export const GRID_COLUMNS = 12

export function gridLayout (title: string, rows: ReadonlyArray<readonly LayoutChart[]>): DashboardLayout {
  const layout: DashboardLayout = {
    DASHBOARD_VERSION_KEY: 'v2',
    ROOT_ID: { type: 'ROOT', id: 'ROOT_ID', children: ['GRID_ID'] },
    HEADER_ID: { type: 'HEADER', id: 'HEADER_ID', children: [], meta: { text: title } },
    GRID_ID: { type: 'GRID', id: 'GRID_ID', children: [], parents: ['ROOT_ID'] }
  }
  const grid = layout.GRID_ID as Component
  rows.forEach((charts, rowIndex) => {
    const width = charts.reduce((sum, chart) => sum + chart.width, 0)
    if (width > GRID_COLUMNS) throw new Error(`row ${rowIndex + 1} is ${width} columns wide; the grid has ${GRID_COLUMNS}`)
    const rowId = `ROW-${rowIndex + 1}`
    grid.children.push(rowId)
    layout[rowId] = { type: 'ROW', id: rowId, children: [], parents: ['ROOT_ID', 'GRID_ID'], meta: { background: 'BACKGROUND_TRANSPARENT' } }
    for (const chart of charts) {
      const chartKey = `CHART-${chart.chartId}`
      ;(layout[rowId] as Component).children.push(chartKey)
      layout[chartKey] = {
        type: 'CHART',
        id: chartKey,
        children: [],
        parents: ['ROOT_ID', 'GRID_ID', rowId],
        meta: { chartId: chart.chartId, sliceName: chart.sliceName, width: chart.width, height: chart.height ?? 50 }
      }
    }
  })
  return layout
}
