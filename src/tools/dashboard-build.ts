import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { appendChart, chartPositions, defaultLayout, GRID_COLUMNS, parseLayout, removeChart, retitle } from '../catalog/dashboard-layout.ts'
import type { ChartPosition, DashboardLayout } from '../catalog/dashboard-layout.ts'
import type { ChartRecord, DashboardRecord } from '../catalog/records.ts'
import { invalidArguments, notFound } from '../errors.ts'
import { expiryIso } from '../links/signer.ts'
import { visibleDashboard } from './dashboards.ts'
import { identifierSchema } from './databases.ts'
import { plural } from './render.ts'
import { assertMayModify, defineTool, READ_ONLY, WRITES } from './tool.ts'
import type { Tool, ToolContext } from './tool.ts'

const dashboardSummary = z.object({
  id: z.int(),
  uuid: z.string(),
  dashboard_title: z.string(),
  slug: z.string().nullable(),
  description: z.string().nullable(),
  published: z.boolean(),
  chart_count: z.int(),
  url: z.string().describe('signed link to the dashboard page (opens without an MCP token, for you, until it expires)')
})

const positionSchema = z.object({
  chart_id: z.int(),
  slice_name: z.string(),
  row: z.int().describe('1-based, top to bottom'),
  column: z.int().describe('first of the 12 grid columns it spans, 0-based'),
  width: z.int().describe('grid columns, of 12'),
  height: z.int().describe('grid units (50 is Superset\'s default)'),
  tabs: z.array(z.string()).describe('tab titles it sits in, outside in')
})

function positionOf (position: ChartPosition): z.output<typeof positionSchema> {
  return { chart_id: position.chartId, slice_name: position.sliceName, row: position.row, column: position.column, width: position.width, height: position.height, tabs: position.tabs }
}

function summaryOf (context: ToolContext, dashboard: DashboardRecord): z.output<typeof dashboardSummary> {
  return {
    id: dashboard.id,
    uuid: dashboard.uuid,
    dashboard_title: dashboard.dashboard_title,
    slug: dashboard.slug,
    description: dashboard.description,
    published: dashboard.published,
    chart_count: dashboard.chart_count,
    url: context.links.url('dashboard', dashboard.id, context.principal.user.id)
  }
}

/** Charts the caller may see, in the order asked; any other id is an error naming it. */
async function visibleCharts (context: ToolContext, chartIds: readonly number[]): Promise<ChartRecord[]> {
  const charts: ChartRecord[] = []
  const missing: number[] = []
  for (const id of chartIds) {
    const chart = await context.catalog.findChart(id, context.principal.access)
    if (chart === undefined) missing.push(id)
    else charts.push(chart)
  }
  if (missing.length === 1) throw notFound('chart', missing[0] as number, 'id', 'list_charts')
  if (missing.length > 1) throw notFound('charts', missing.join(', '), 'id', 'list_charts')
  return charts
}

/** The dashboard's layout as stored, or the default grid of its charts when it has none. */
async function layoutOf (context: ToolContext, dashboard: DashboardRecord): Promise<DashboardLayout> {
  return parseLayout(dashboard.position_json) ?? defaultLayout(dashboard.dashboard_title, await chartNames(context, await context.catalog.dashboardChartIds(dashboard.id)))
}

/** The charts of `ids` with their names (a placeholder for one that is gone), in order. */
async function chartNames (context: ToolContext, ids: readonly number[]): Promise<Array<{ id: number, slice_name: string }>> {
  const charts: Array<{ id: number, slice_name: string }> = []
  for (const id of ids) charts.push({ id, slice_name: (await context.catalog.findChart(id))?.slice_name ?? `Chart ${id}` })
  return charts
}

const mayModifyDashboard = async (context: ToolContext, dashboard: DashboardRecord): Promise<void> =>
  await assertMayModify(context, 'Dashboard', dashboard.id, dashboard.dashboard_title, 'Make a new dashboard with generate_dashboard instead.')

/**
 * The layout with its charts in `order` (reading order), each keeping its width and name. When
 * the order already holds, the layout is kept as it is (rows, tabs and all).
 */
function inOrder (layout: DashboardLayout, order: readonly number[], title: string): DashboardLayout {
  const positions = chartPositions(layout)
  const current = positions.map(position => position.chartId)
  const wanted = order.filter(id => current.includes(id))
  if (wanted.every((id, index) => current[index] === id)) return layout
  let reordered = defaultLayout(title, [])
  for (const id of wanted) {
    const position = positions.find(candidate => candidate.chartId === id)
    if (position !== undefined) reordered = appendChart(reordered, { id, slice_name: position.sliceName }, position.width).layout
  }
  return reordered
}

const uniqueIds = (ids: readonly number[]): number[] => [...new Set(ids)]

export const generateDashboard = (): Tool => defineTool({
  name: 'generate_dashboard',
  title: 'Create a dashboard',
  description: 'Create a dashboard from saved charts (chart_ids, in reading order: two per row, each half the width). Returns the dashboard and a signed dashboard_url a person can open. Save charts first with generate_chart (save_chart: true).',
  annotations: WRITES,
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Dashboard' },
  aliases: { title: 'dashboard_title', name: 'dashboard_title', charts: 'chart_ids' },
  input: z.strictObject({
    chart_ids: z.array(z.int().positive()).min(1).max(50).describe('saved chart ids, in the order they should appear'),
    dashboard_title: z.string().trim().min(1).max(500).optional().describe('default: made from the charts\' names'),
    description: z.string().max(2000).optional(),
    published: z.boolean().default(false).describe('published dashboards are visible to everyone who may see their charts; drafts only to owners')
  }),
  output: z.object({
    success: z.literal(true),
    dashboard: dashboardSummary,
    dashboard_url: z.string(),
    positions: z.array(positionSchema),
    link_expires_at: z.string()
  }),
  run: async (args, context) => {
    const charts = await visibleCharts(context, uniqueIds(args.chart_ids))
    const title = args.dashboard_title ?? (charts.length <= 3 ? charts.map(chart => chart.slice_name).join(', ') : `${charts[0]?.slice_name ?? 'Charts'} and ${charts.length - 1} more`).slice(0, 500)
    const layout = defaultLayout(title, charts)
    const userId = context.principal.user.id
    const dashboard = await context.catalog.createDashboard({
      dashboard_title: title,
      description: args.description ?? null,
      published: args.published,
      position_json: layout,
      chart_ids: charts.map(chart => chart.id),
      created_by_fk: userId,
      owners: [userId]
    })
    const summary = summaryOf(context, dashboard)
    return { success: true as const, dashboard: summary, dashboard_url: summary.url, positions: chartPositions(layout).map(positionOf), link_expires_at: expiryIso(context.links.expiry()) }
  },
  render: result => [
    `Created ${result.dashboard.published ? 'published' : 'draft'} dashboard "${result.dashboard.dashboard_title}" (id ${result.dashboard.id}) with ${plural(result.positions.length, 'chart')}.`,
    `Link (opens without a token until ${result.link_expires_at}): ${result.dashboard_url}`
  ].join('\n')
})

export const addChartToExistingDashboard = (): Tool => defineTool({
  name: 'add_chart_to_existing_dashboard',
  title: 'Add a chart to a dashboard',
  description: 'Put a saved chart on an existing dashboard: at the end of the last row when it has room, else in a new row at the bottom; with target_tab, in that tab (made when the dashboard has no tab of that title). Only the dashboard\'s owners and administrators may.',
  annotations: WRITES,
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Dashboard' },
  aliases: { dashboard: 'dashboard_id', chart: 'chart_id' },
  input: z.strictObject({
    dashboard_id: identifierSchema.describe('dashboard id, UUID or slug'),
    chart_id: z.int().positive(),
    width: z.int().min(1).max(GRID_COLUMNS).default(6).describe(`grid columns of ${GRID_COLUMNS} (6: half the width)`),
    target_tab: z.string().trim().min(1).max(255).optional().describe('title of the tab to put the chart in (any case); a new tab when the dashboard has none of that title')
  }),
  output: z.object({
    success: z.literal(true),
    dashboard: dashboardSummary,
    dashboard_url: z.string(),
    position: positionSchema,
    created_tab: z.boolean().describe('true when target_tab named a tab the dashboard did not have')
  }),
  run: async (args, context) => {
    const dashboard = await visibleDashboard(context, args.dashboard_id)
    await mayModifyDashboard(context, dashboard)
    const [chart] = await visibleCharts(context, [args.chart_id])
    if (chart === undefined) throw notFound('chart', args.chart_id, 'id', 'list_charts')
    const chartIds = await context.catalog.dashboardChartIds(dashboard.id)
    if (chartIds.includes(chart.id)) throw invalidArguments(`Chart ${chart.id} ("${chart.slice_name}") is already on dashboard ${dashboard.id}.`, 'Call get_dashboard_layout to see where.')
    const { layout, position, createdTab } = appendChart(await layoutOf(context, dashboard), chart, args.width, args.target_tab)
    const updated = await context.catalog.updateDashboard(dashboard.id, { position_json: layout, chart_ids: [...chartIds, chart.id], changed_by_fk: context.principal.user.id })
    const summary = summaryOf(context, updated)
    return { success: true as const, dashboard: summary, dashboard_url: summary.url, position: positionOf(position), created_tab: createdTab }
  },
  render: result => [
    `Added chart "${result.position.slice_name}" (id ${result.position.chart_id}) to dashboard "${result.dashboard.dashboard_title}" (id ${result.dashboard.id}): ${result.position.tabs.length === 0 ? '' : `${result.created_tab ? 'new ' : ''}tab ${result.position.tabs.map(tab => JSON.stringify(tab)).join(' › ')}, `}row ${result.position.row}, columns ${result.position.column + 1}–${result.position.column + result.position.width} of 12.`,
    `Link: ${result.dashboard_url}`
  ].join('\n')
})

export const updateDashboard = (): Tool => defineTool({
  name: 'update_dashboard',
  title: 'Change a dashboard',
  description: 'Change a dashboard\'s title, description, slug, published state or CSS, or its charts (chart_ids: the new set, in reading order; charts keep their widths, new ones get half the width, missing ones are taken off; a changed order re-flows the rows). Only its owners and administrators may.',
  annotations: { ...WRITES, destructiveHint: true, idempotentHint: true }, // destructive as in Superset: it overwrites what was saved
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Dashboard' },
  aliases: { id: 'identifier', dashboard_id: 'identifier', title: 'dashboard_title' },
  input: z.strictObject({
    identifier: identifierSchema.describe('dashboard id, UUID or slug'),
    dashboard_title: z.string().trim().min(1).max(500).optional(),
    description: z.string().max(2000).nullable().optional().describe('null clears it'),
    slug: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,254}$/, 'lowercase letters, digits, - and _').nullable().optional().describe('lowercase letters, digits, - and _; null clears it'),
    published: z.boolean().optional(),
    css: z.string().max(20_000).nullable().optional().describe('null clears it'),
    chart_ids: z.array(z.int().positive()).max(50).optional()
  }),
  output: z.object({
    success: z.literal(true),
    dashboard: dashboardSummary,
    dashboard_url: z.string(),
    changed: z.array(z.string()).describe('the fields changed'),
    positions: z.array(positionSchema)
  }),
  run: async (args, context) => {
    const dashboard = await visibleDashboard(context, args.identifier)
    await mayModifyDashboard(context, dashboard)
    const { identifier: _identifier, chart_ids: chartIdsArgument, ...fields } = args
    const changed = Object.keys(fields).filter(key => fields[key as keyof typeof fields] !== undefined)
    if (chartIdsArgument !== undefined) changed.push('chart_ids')
    if (changed.length === 0) throw invalidArguments('Nothing to change: give dashboard_title, description, slug, published, css or chart_ids.')
    // Slugs are unique among the dashboards this caller sees: one they may not see is not revealed.
    if (args.slug !== undefined && args.slug !== null) await context.catalog.assertDashboardSlugFree(args.slug, context.principal.access, dashboard.id)
    let layout = await layoutOf(context, dashboard)
    let chartIds: number[] | undefined
    if (chartIdsArgument !== undefined) {
      const wanted = uniqueIds(chartIdsArgument)
      const current = await context.catalog.dashboardChartIds(dashboard.id)
      // Charts the caller cannot see stay on the dashboard: nobody removes what they cannot see.
      const hidden: number[] = []
      for (const id of current) if (await context.catalog.findChart(id, context.principal.access) === undefined) hidden.push(id)
      const added = await visibleCharts(context, wanted.filter(id => !current.includes(id)))
      for (const id of current) if (!wanted.includes(id) && !hidden.includes(id)) layout = removeChart(layout, id)
      for (const chart of added) layout = appendChart(layout, chart).layout
      layout = inOrder(layout, [...wanted, ...hidden], dashboard.dashboard_title)
      chartIds = uniqueIds([...wanted, ...hidden])
    }
    if (args.dashboard_title !== undefined) layout = retitle(layout, args.dashboard_title)
    const updated = await context.catalog.updateDashboard(dashboard.id, {
      ...(args.dashboard_title === undefined ? {} : { dashboard_title: args.dashboard_title }),
      ...(args.description === undefined ? {} : { description: args.description }),
      ...(args.slug === undefined ? {} : { slug: args.slug }),
      ...(args.published === undefined ? {} : { published: args.published }),
      ...(args.css === undefined ? {} : { css: args.css }),
      ...(chartIds === undefined ? {} : { chart_ids: chartIds }),
      position_json: layout,
      changed_by_fk: context.principal.user.id
    }, { slugUniqueAmong: context.principal.access })
    const summary = summaryOf(context, updated)
    // Charts the caller cannot see keep their place but are not shown, as in get_dashboard_layout.
    const visible = new Set((await context.catalog.chartsOfDashboard(updated.id, context.principal.access)).map(chart => chart.id))
    return { success: true as const, dashboard: summary, dashboard_url: summary.url, changed, positions: chartPositions(layout).filter(position => visible.has(position.chartId)).map(positionOf) }
  },
  render: result => [
    `Updated dashboard "${result.dashboard.dashboard_title}" (id ${result.dashboard.id}): ${result.changed.join(', ')}.`,
    `Link: ${result.dashboard_url}`
  ].join('\n')
})

export const getDashboardLayout = (): Tool => defineTool({
  name: 'get_dashboard_layout',
  title: 'Get a dashboard\'s layout',
  description: 'Where each chart sits on a dashboard: row, column span of the 12-column grid, height, and tabs. Charts you cannot see are left out.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Dashboard' },
  aliases: { id: 'identifier', dashboard_id: 'identifier' },
  input: z.strictObject({
    identifier: identifierSchema.describe('dashboard id, UUID or slug'),
    tab: z.string().max(255).optional().describe('only the charts inside the tab with this title'),
    tabs_only: z.boolean().default(false).describe('only the tab names and their chart counts'),
    untabbed_only: z.boolean().default(false).describe('only the charts outside any tab')
  }),
  output: z.object({
    success: z.literal(true),
    dashboard_id: z.int(),
    dashboard_title: z.string(),
    dashboard_url: z.string(),
    grid_columns: z.int(),
    charts: z.array(positionSchema),
    tabs: z.array(z.object({ name: z.string(), chart_count: z.int() })),
    untabbed_chart_count: z.int()
  }),
  run: async (args, context) => {
    const dashboard = await visibleDashboard(context, args.identifier)
    const visible = new Set((await context.catalog.chartsOfDashboard(dashboard.id, context.principal.access)).map(chart => chart.id))
    const positions = chartPositions(await layoutOf(context, dashboard)).filter(position => visible.has(position.chartId))
    const tabCounts = new Map<string, number>()
    for (const position of positions) for (const tab of position.tabs) tabCounts.set(tab, (tabCounts.get(tab) ?? 0) + 1)
    if (args.tab !== undefined && !tabCounts.has(args.tab)) {
      throw invalidArguments(`Dashboard ${dashboard.id} has no tab "${args.tab}".`, tabCounts.size === 0 ? 'It has no tabs.' : `Tabs: ${[...tabCounts.keys()].join(', ')}.`)
    }
    const shown = args.tabs_only ? [] : positions.filter(position => (args.tab === undefined || position.tabs.includes(args.tab)) && (!args.untabbed_only || position.tabs.length === 0))
    return {
      success: true as const,
      dashboard_id: dashboard.id,
      dashboard_title: dashboard.dashboard_title,
      dashboard_url: context.links.url('dashboard', dashboard.id, context.principal.user.id),
      grid_columns: GRID_COLUMNS,
      charts: shown.map(positionOf),
      tabs: [...tabCounts].map(([name, count]) => ({ name, chart_count: count })),
      untabbed_chart_count: positions.filter(position => position.tabs.length === 0).length
    }
  },
  render: result => [
    `Layout of dashboard "${result.dashboard_title}" (id ${result.dashboard_id}), ${result.grid_columns}-column grid:`,
    ...result.charts.map(chart => `- row ${chart.row}, columns ${chart.column + 1}–${chart.column + chart.width}: "${chart.slice_name}" (chart ${chart.chart_id})${chart.tabs.length === 0 ? '' : ` in tab ${chart.tabs.join(' › ')}`}`),
    result.tabs.length === 0 ? 'No tabs.' : `Tabs: ${result.tabs.map(tab => `${tab.name} (${tab.chart_count})`).join(', ')}`,
    `Link: ${result.dashboard_url}`
  ].join('\n')
})
