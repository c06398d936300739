import * as z from 'zod'
import { CHART_LIST } from '../catalog/list-specs.ts'
import type { ChartRecord } from '../catalog/records.ts'
import { SCOPES } from '../auth/scopes.ts'
import { notFound } from '../errors.ts'
import { identifierSchema } from './databases.ts'
import { auditColumns, auditFields, defineListTool, listModel, peopleOf, userRefSchema } from './list-tool.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool, ToolContext } from './tool.ts'

/** Readable names of the visualization types the catalog stores (Superset's viz_type values). */
const CHART_TYPE_NAMES: Readonly<Record<string, string>> = {
  echarts_timeseries_line: 'Line chart',
  echarts_timeseries_bar: 'Bar chart',
  echarts_area: 'Area chart',
  echarts_timeseries_scatter: 'Scatter plot',
  pie: 'Pie chart',
  table: 'Table',
  big_number_total: 'Big number',
  big_number: 'Big number with trendline',
  histogram_v2: 'Histogram',
  pivot_table_v2: 'Pivot table'
}

const chartItem = {
  id: z.int(),
  uuid: z.string(),
  slice_name: z.string().describe('chart name'),
  viz_type: z.string().describe('visualization type'),
  chart_type_display_name: z.string(),
  datasource_id: z.int().nullable().describe('id of the dataset the chart queries'),
  datasource_name: z.string().nullable(),
  description: z.string().nullable(),
  certified_by: z.string().nullable(),
  certification_details: z.string().nullable(),
  cache_timeout: z.int().nullable(),
  owners: z.array(userRefSchema),
  form_data: z.record(z.string(), z.unknown()).describe('the chart definition (Superset form data)'),
  ...auditColumns
}

type ChartItem = z.output<z.ZodObject<typeof chartItem>>

function parseFormData (params: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(params)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : {}
  } catch {
    return {}
  }
}

export async function chartItems (rows: readonly ChartRecord[], context: ToolContext, withOwners: boolean, now: number): Promise<ChartItem[]> {
  const { users, owners } = await peopleOf(context.catalog, 'chart', rows, withOwners)
  return rows.map(chart => ({
    id: chart.id,
    uuid: chart.uuid,
    slice_name: chart.slice_name,
    viz_type: chart.viz_type,
    chart_type_display_name: CHART_TYPE_NAMES[chart.viz_type] ?? chart.viz_type,
    datasource_id: chart.dataset_id,
    datasource_name: chart.datasource_name,
    description: chart.description,
    certified_by: chart.certified_by,
    certification_details: chart.certification_details,
    cache_timeout: chart.cache_timeout,
    owners: owners.get(chart.id) ?? [],
    form_data: parseFormData(chart.params),
    ...auditFields(chart, users, now)
  }))
}

/** The model of list_charts; get_schema describes the same one. */
export const CHART_LIST_MODEL = listModel({
  tool: 'list_charts',
  title: 'List charts',
  description: 'List saved charts with paging, filters (e.g. viz_type, datasource_name, or dashboards to find the charts on a dashboard) and search over name and description. Use get_chart_info for one chart\'s full definition.',
  itemsKey: 'charts',
  noun: 'chart',
  spec: CHART_LIST,
  permission: { permission: 'can_read', resource: 'Chart' },
  item: chartItem,
  defaultColumns: ['id', 'slice_name', 'viz_type', 'datasource_name', 'description', 'certified_by', 'certification_details', 'changed_on', 'changed_on_humanized'],
  fetch: async (catalog, query, access) => await catalog.listCharts(query, access),
  toItems: async (rows, context, wanted, now) => await chartItems(rows, context, wanted.has('owners'), now)
})

export const listCharts = (): Tool => defineListTool(CHART_LIST_MODEL)

export const getChartInfo = (): Tool => defineTool({
  name: 'get_chart_info',
  title: 'Get chart details',
  description: 'Details of one saved chart by id or UUID: type, dataset, owners, the dashboards it is on, and its full definition (form_data: metrics, dimensions, filters, time grain).',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Chart' },
  aliases: { id: 'identifier', chart_id: 'identifier', slice_id: 'identifier' },
  input: z.strictObject({
    identifier: identifierSchema.describe('chart id or UUID')
  }),
  output: z.object({
    ...chartItem,
    dashboards: z.array(z.object({ id: z.int(), dashboard_title: z.string(), slug: z.string().nullable() }))
  }),
  run: async ({ identifier }, context) => {
    const { access } = context.principal
    const chart = await context.catalog.findChart(identifier, access)
    if (chart === undefined) throw notFound('chart', identifier, 'id or UUID', 'list_charts')
    return {
      ...(await chartItems([chart], context, true, Date.now()))[0] as ChartItem,
      dashboards: await context.catalog.dashboardsOfChart(chart.id, access)
    }
  },
  render: chart => [
    `Chart "${chart.slice_name}" (id ${chart.id}): ${chart.chart_type_display_name} (${chart.viz_type}) on dataset ${chart.datasource_name ?? 'none'} (id ${chart.datasource_id ?? '-'}).`,
    chart.description ?? '',
    chart.dashboards.length === 0 ? 'Not on any dashboard.' : `On dashboards: ${chart.dashboards.map(d => `${d.dashboard_title} (id ${d.id})`).join(', ')}.`,
    `Definition: ${JSON.stringify(chart.form_data)}`
  ].filter(line => line !== '').join('\n')
})
