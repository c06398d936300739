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
  type: 'ROOT' | 'GRID' | 'ROW' | 'CHART' | 'HEADER' | 'TABS' | 'TAB' | 'COLUMN' | 'MARKDOWN' | 'DIVIDER'
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

/** Where one chart sits: its row (1-based, top to bottom), column span and order in the row. */
export interface ChartPosition {
  chartId: number
  sliceName: string
  row: number
  /** First grid column (0-based) it occupies. */
  column: number
  width: number
  height: number
  /** The component id in position_json (CHART-…). */
  componentId: string
  /** Tab titles from the outside in, when the chart sits inside tabs. */
  tabs: string[]
}

export const DEFAULT_CHART_WIDTH = 6
export const DEFAULT_CHART_HEIGHT = 50

function isComponent (value: unknown): value is Component {
  return value !== null && typeof value === 'object' && typeof (value as Component).type === 'string' && Array.isArray((value as Component).children)
}

/** A stored position_json as a layout; anything unreadable counts as no layout. */
export function parseLayout (json: string | null): DashboardLayout | undefined {
  if (json === null || json === '') return undefined
  try {
    const value: unknown = JSON.parse(json)
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !isComponent((value as DashboardLayout).ROOT_ID)) return undefined
    return value as DashboardLayout
  } catch {
    return undefined
  }
}

/**
 * The charts of a layout in reading order (rows top to bottom, left to right), walking tabs
 * and columns as Superset nests them. Rows are numbered across the whole dashboard.
 */
export function chartPositions (layout: DashboardLayout): ChartPosition[] {
  const positions: ChartPosition[] = []
  let rowNumber = 0
  const visit = (id: string, tabs: string[], seen: Set<string>): void => {
    const component = layout[id]
    if (!isComponent(component) || seen.has(id)) return
    seen.add(id)
    if (component.type === 'ROW') {
      rowNumber += 1
      let column = 0
      for (const childId of component.children) {
        const child = layout[childId]
        if (!isComponent(child)) continue
        const width = Number(child.meta?.width ?? DEFAULT_CHART_WIDTH)
        if (child.type === 'CHART') {
          positions.push({
            chartId: Number(child.meta?.chartId),
            sliceName: String(child.meta?.sliceName ?? ''),
            row: rowNumber,
            column,
            width,
            height: Number(child.meta?.height ?? DEFAULT_CHART_HEIGHT),
            componentId: childId,
            tabs
          })
        } else {
          visit(childId, tabs, seen)
        }
        column += width
      }
      return
    }
    const title = component.type === 'TAB' ? String(component.meta?.text ?? component.id) : undefined
    for (const childId of component.children) visit(childId, title === undefined ? tabs : [...tabs, title], seen)
  }
  visit('ROOT_ID', [], new Set())
  return positions.filter(position => Number.isSafeInteger(position.chartId))
}

/** The layout a dashboard without one shows: its charts two by two, in id order. */
export function defaultLayout (title: string, charts: ReadonlyArray<{ id: number, slice_name: string }>): DashboardLayout {
  const rows: LayoutChart[][] = []
  charts.forEach((chart, index) => {
    if (index % 2 === 0) rows.push([])
    rows[rows.length - 1]?.push({ chartId: chart.id, sliceName: chart.slice_name, width: DEFAULT_CHART_WIDTH })
  })
  return gridLayout(title, rows)
}

/**
 * A copy of `layout` with the chart added where a person would put it: at the end of the last
 * row of the grid (or of the tab titled `targetTab`) when it has room for the chart's width,
 * else in a new row at the bottom. A tab that does not exist yet is made (`createdTab`).
 */
export function appendChart (layout: DashboardLayout, chart: { id: number, slice_name: string }, width = DEFAULT_CHART_WIDTH, targetTab?: string): { layout: DashboardLayout, position: ChartPosition, createdTab: boolean } {
  const copy = structuredClone(layout)
  const { container: grid, createdTab } = targetTab === undefined ? { container: containerOf(copy), createdTab: false } : tabNamed(copy, targetTab)
  const rowIds = grid.children.filter(id => isComponent(copy[id]) && (copy[id] as Component).type === 'ROW')
  const lastRowId = rowIds[rowIds.length - 1]
  const lastRow = lastRowId === undefined ? undefined : copy[lastRowId] as Component
  const used = lastRow === undefined ? GRID_COLUMNS : lastRow.children.reduce((sum, id) => sum + Number((copy[id] as Component | undefined)?.meta?.width ?? DEFAULT_CHART_WIDTH), 0)
  let rowId: string
  if (lastRow !== undefined && lastRowId !== undefined && used + width <= GRID_COLUMNS) {
    rowId = lastRowId
  } else {
    let next = rowIds.length + 1
    while (copy[`ROW-${next}`] !== undefined) next += 1
    rowId = `ROW-${next}`
    grid.children.push(rowId)
    copy[rowId] = { type: 'ROW', id: rowId, children: [], parents: [...(grid.parents ?? []), grid.id], meta: { background: 'BACKGROUND_TRANSPARENT' } }
  }
  let chartKey = `CHART-${chart.id}`
  for (let suffix = 2; copy[chartKey] !== undefined; suffix++) chartKey = `CHART-${chart.id}-${suffix}`
  ;(copy[rowId] as Component).children.push(chartKey)
  copy[chartKey] = {
    type: 'CHART',
    id: chartKey,
    children: [],
    parents: [...(grid.parents ?? []), grid.id, rowId],
    meta: { chartId: chart.id, sliceName: chart.slice_name, width, height: DEFAULT_CHART_HEIGHT }
  }
  const position = chartPositions(copy).find(candidate => candidate.componentId === chartKey)
  if (position === undefined) throw new Error('the appended chart is not in the layout')
  return { layout: copy, position, createdTab }
}

/** The tab titles of a layout, in reading order. */
export function tabTitles (layout: DashboardLayout): string[] {
  const titles: string[] = []
  const visit = (id: string, seen: Set<string>): void => {
    const component = layout[id]
    if (!isComponent(component) || seen.has(id)) return
    seen.add(id)
    if (component.type === 'TAB') titles.push(String(component.meta?.text ?? component.id))
    for (const child of component.children) visit(child, seen)
  }
  visit('ROOT_ID', new Set())
  return titles
}

/**
 * The tab titled `title` (trimmed, any case), made when there is none: as a new tab of the
 * dashboard's first tab strip, or in a new strip at the bottom of its grid (Superset nests
 * TABS → TAB → ROW inside the grid like a row).
 */
function tabNamed (layout: DashboardLayout, title: string): { container: Component, createdTab: boolean } {
  const wanted = title.trim().toLowerCase()
  const components = Object.values(layout).filter(isComponent)
  const existing = components.find(component => component.type === 'TAB' && String(component.meta?.text ?? '').trim().toLowerCase() === wanted)
  if (existing !== undefined) return { container: existing, createdTab: false }
  let strip = components.find(component => component.type === 'TABS')
  if (strip === undefined) {
    const grid = containerOf(layout)
    const id = freeId(layout, 'TABS')
    strip = { type: 'TABS', id, children: [], parents: [...(grid.parents ?? []), grid.id], meta: {} }
    layout[id] = strip
    grid.children.push(id)
  }
  const id = freeId(layout, 'TAB')
  const tab: Component = { type: 'TAB', id, children: [], parents: [...(strip.parents ?? []), strip.id], meta: { text: title.trim(), defaultText: 'Tab title', placeholder: 'Tab title' } }
  layout[id] = tab
  strip.children.push(id)
  return { container: tab, createdTab: true }
}

/** `PREFIX-n`, the first n not taken in the layout. */
function freeId (layout: DashboardLayout, prefix: string): string {
  let next = 1
  while (layout[`${prefix}-${next}`] !== undefined) next += 1
  return `${prefix}-${next}`
}

/**
 * Where new rows go: the grid; in a tabbed layout without one (Superset's ROOT → TABS → TAB),
 * the first tab; with neither, a new grid under the root.
 */
function containerOf (layout: DashboardLayout): Component {
  const grid = layout.GRID_ID
  if (isComponent(grid)) return grid
  const firstTab = Object.values(layout).find((component): component is Component => isComponent(component) && component.type === 'TAB')
  if (firstTab !== undefined) return firstTab
  const root = layout.ROOT_ID
  if (!isComponent(root)) throw new Error('the layout has no ROOT_ID')
  const created: Component = { type: 'GRID', id: 'GRID_ID', children: [], parents: ['ROOT_ID'] }
  layout.GRID_ID = created
  root.children.push('GRID_ID')
  return created
}

/** A copy of `layout` without the chart; rows left empty are removed. */
export function removeChart (layout: DashboardLayout, chartId: number): DashboardLayout {
  const copy = structuredClone(layout)
  const removed = new Set<string>()
  for (const [id, component] of Object.entries(copy)) {
    if (isComponent(component) && component.type === 'CHART' && Number(component.meta?.chartId) === chartId) {
      removed.add(id)
      delete copy[id]
    }
  }
  for (const [id, component] of Object.entries(copy)) {
    if (!isComponent(component)) continue
    component.children = component.children.filter(child => !removed.has(child))
    if (component.type === 'ROW' && component.children.length === 0) {
      removed.add(id)
      delete copy[id]
    }
  }
  for (const component of Object.values(copy)) {
    if (isComponent(component)) component.children = component.children.filter(child => !removed.has(child))
  }
  return copy
}

/** The layout's title (the HEADER component), for a renamed dashboard. */
export function retitle (layout: DashboardLayout, title: string): DashboardLayout {
  const copy = structuredClone(layout)
  const header = copy.HEADER_ID
  if (isComponent(header)) header.meta = { ...header.meta, text: title }
  return copy
}
