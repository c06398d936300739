import * as z from 'zod'
import { DASHBOARD_LIST } from '../catalog/list-specs.ts'
import type { DashboardRecord } from '../catalog/records.ts'
import { SCOPES } from '../auth/scopes.ts'
import { notFound } from '../errors.ts'
import { chartItems } from './charts.ts'
import { identifierSchema } from './databases.ts'
import { auditColumns, auditFields, defineListTool, listModel, peopleOf, userRefSchema } from './list-tool.ts'
import { objectTable } from './render.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool, ToolContext } from './tool.ts'

const dashboardItem = {
  id: z.int(),
  uuid: z.string(),
  dashboard_title: z.string(),
  slug: z.string().nullable(),
  description: z.string().nullable(),
  published: z.boolean(),
  certified_by: z.string().nullable(),
  certification_details: z.string().nullable(),
  chart_count: z.int(),
  owners: z.array(userRefSchema),
  ...auditColumns
}

type DashboardItem = z.output<z.ZodObject<typeof dashboardItem>>

async function dashboardItems (rows: readonly DashboardRecord[], context: ToolContext, withOwners: boolean, now: number): Promise<DashboardItem[]> {
  const { users, owners } = await peopleOf(context.catalog, 'dashboard', rows, withOwners)
  return rows.map(dashboard => ({
    id: dashboard.id,
    uuid: dashboard.uuid,
    dashboard_title: dashboard.dashboard_title,
    slug: dashboard.slug,
    description: dashboard.description,
    published: dashboard.published,
    certified_by: dashboard.certified_by,
    certification_details: dashboard.certification_details,
    chart_count: dashboard.chart_count,
    owners: owners.get(dashboard.id) ?? [],
    ...auditFields(dashboard, users, now)
  }))
}

/** The model of list_dashboards; get_schema describes the same one. */
export const DASHBOARD_LIST_MODEL = listModel({
  tool: 'list_dashboards',
  title: 'List dashboards',
  description: 'List dashboards with paging, filters (e.g. published, owner) and search over title, slug and description. Use get_dashboard_info for the charts on one dashboard.',
  itemsKey: 'dashboards',
  noun: 'dashboard',
  spec: DASHBOARD_LIST,
  permission: { permission: 'can_read', resource: 'Dashboard' },
  item: dashboardItem,
  defaultColumns: ['id', 'dashboard_title', 'slug', 'description', 'published', 'certified_by', 'certification_details', 'chart_count', 'changed_on', 'changed_on_humanized'],
  fetch: async (catalog, query, access) => await catalog.listDashboards(query, access),
  toItems: async (rows, context, wanted, now) => await dashboardItems(rows, context, wanted.has('owners'), now)
})

export const listDashboards = (): Tool => defineListTool(DASHBOARD_LIST_MODEL)

const dashboardChartSchema = z.object({
  id: z.int(),
  slice_name: z.string(),
  viz_type: z.string(),
  datasource_id: z.int().nullable(),
  datasource_name: z.string().nullable(),
  description: z.string().nullable()
})

/** A dashboard the caller may see, by id, UUID or slug; hidden and missing look alike. */
export async function visibleDashboard (context: ToolContext, identifier: number | string): Promise<DashboardRecord> {
  const dashboard = await context.catalog.findDashboard(identifier, context.principal.access)
  if (dashboard === undefined) throw notFound('dashboard', identifier, 'id, UUID or slug', 'list_dashboards')
  return dashboard
}

export const getDashboardInfo = (): Tool => defineTool({
  name: 'get_dashboard_info',
  title: 'Get dashboard details',
  description: 'Details of one dashboard by id, UUID or slug: title, description, whether it is published, owners, and the charts on it (with their types and datasets).',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Dashboard' },
  aliases: { id: 'identifier', dashboard_id: 'identifier', slug: 'identifier' },
  input: z.strictObject({
    identifier: identifierSchema.describe('dashboard id, UUID or slug')
  }),
  output: z.object({
    ...dashboardItem,
    json_metadata: z.record(z.string(), z.unknown()).nullable(),
    charts: z.array(dashboardChartSchema)
  }),
  run: async ({ identifier }, context) => {
    const { access } = context.principal
    const dashboard = await visibleDashboard(context, identifier)
    const now = Date.now()
    // Only the charts the caller may see (chart_count counts those too).
    const charts = await chartItems(await context.catalog.chartsOfDashboard(dashboard.id, access), context, false, now)
    return {
      ...(await dashboardItems([dashboard], context, true, now))[0] as DashboardItem,
      json_metadata: dashboard.json_metadata === null ? null : JSON.parse(dashboard.json_metadata) as Record<string, unknown>,
      charts: charts.map(chart => ({
        id: chart.id,
        slice_name: chart.slice_name,
        viz_type: chart.viz_type,
        datasource_id: chart.datasource_id,
        datasource_name: chart.datasource_name,
        description: chart.description
      }))
    }
  },
  render: dashboard => [
    `Dashboard "${dashboard.dashboard_title}" (id ${dashboard.id}, slug ${dashboard.slug ?? '-'}, ${dashboard.published ? 'published' : 'draft'}).`,
    dashboard.description ?? '',
    dashboard.charts.length === 0 ? 'No charts.' : `Charts:\n${objectTable(['id', 'slice_name', 'viz_type', 'datasource_name'], dashboard.charts)}`
  ].filter(line => line !== '').join('\n')
})
