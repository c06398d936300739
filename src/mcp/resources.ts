import type { ReadResourceResult, Resource } from '@modelcontextprotocol/server'
import type { ResponseCache } from '../cache/response-cache.ts'
import type { Catalog } from '../catalog/catalog.ts'
import type { Principal } from '../tools/tool.ts'
import { CHART_VIEWER_RESOURCE, CHART_VIEWER_UI_META, chartViewerHtml, MCP_APP_MIME_TYPE } from './chart-app.ts'
import type { SurfaceResource } from './surface.ts'
import { CHART_TYPES } from '../charts/config.ts'
import { CHART_CONFIG_NOTES, describeChartType } from '../tools/chart-build.ts'

/** Superset's instance resource: what exists and what this principal may use. */
export const INSTANCE_METADATA_URI = 'instance://metadata'

const MAX_LISTED = 1000

/** Superset's resource of valid chart configs, one per chart type, with examples. */
export const CHART_CONFIGS_URI = 'chart://configs'

const CHART_CONFIGS: Resource = {
  uri: CHART_CONFIGS_URI,
  name: 'chart_configs',
  title: 'Chart configs',
  description: 'Every chart type\'s config for generate_chart, update_chart and generate_explore_link: its JSON Schema (the one those tools validate with), a worked example on the example orders dataset and what it draws. The same for everyone.',
  mimeType: 'application/json'
}

const INSTANCE_METADATA: Resource = {
  uri: INSTANCE_METADATA_URI,
  name: 'instance_metadata',
  title: 'Instance metadata',
  description: 'The databases and datasets you can use (ids and names) and how many dashboards and charts you can see. Updated when content or your permissions change: subscribe to hear about it.',
  mimeType: 'application/json'
}

/**
 * The service's MCP resources. `instance://metadata` (as Superset's) gives change notifications
 * a subject: every catalog change is announced as an update of it on `subscriptions/listen`
 * streams. Its reads follow the caller's RBAC and go through the response cache
 * (read_resource_ttl) like tool results. The chart viewer (an MCP App, src/mcp/chart-app.ts)
 * is the same for everyone and holds no data, so it is built once and served as it is.
 */
export function serviceResources (catalog: Catalog, cache: ResponseCache | undefined): SurfaceResource[] {
  // Built now, so a missing script fails start-up instead of the first read.
  chartViewerHtml()
  const chartViewer: SurfaceResource = {
    resource: CHART_VIEWER_RESOURCE,
    read: uri => ({ contents: [{ uri, mimeType: MCP_APP_MIME_TYPE, text: chartViewerHtml(), _meta: CHART_VIEWER_UI_META }] })
  }
  // Built from the schemas the chart tools validate with, once: it cannot drift from them, and holds no data.
  const chartConfigsText = JSON.stringify({
    chart_types: CHART_TYPES.map(chartType => describeChartType(chartType)),
    xy_kinds: ['line', 'bar', 'area', 'scatter'],
    notes: CHART_CONFIG_NOTES
  })
  const chartConfigs: SurfaceResource = {
    resource: CHART_CONFIGS,
    read: uri => contents(uri, chartConfigsText)
  }
  const instanceMetadata: SurfaceResource = {
    resource: INSTANCE_METADATA,
    async read (uri, { principal }) {
      const key = await cache?.keyFor('resource', uri, {}, principal)
      if (key !== undefined && cache !== undefined) {
        const hit = await cache.get(key)
        if (hit !== undefined) return contents(uri, hit.outcome.text)
      }
      const text = JSON.stringify(await instanceMetadataOf(catalog, principal))
      if (key !== undefined && cache !== undefined) await cache.set(key, { text, structured: {} }, cache.readResourceTtl)
      return contents(uri, text)
    }
  }
  return [instanceMetadata, chartConfigs, chartViewer]
}

async function instanceMetadataOf (catalog: Catalog, principal: Principal): Promise<Record<string, unknown>> {
  const { access } = principal
  const everything = { page: 1, pageSize: MAX_LISTED, filters: [], orderColumn: 'id', orderDirection: 'asc' as const }
  const databases = await catalog.listDatabases(everything, access)
  const datasets = await catalog.listDatasets(everything, access)
  const charts = await catalog.listCharts({ ...everything, pageSize: 1 }, access)
  const dashboards = await catalog.listDashboards({ ...everything, pageSize: 1 }, access)
  return {
    user: principal.user.username,
    roles: principal.user.roles,
    counts: {
      databases: databases.total,
      datasets: datasets.total,
      charts: charts.total,
      dashboards: dashboards.total
    },
    databases: databases.rows.map(database => ({ id: database.id, name: database.database_name, backend: database.backend, sql_allowed: database.expose_in_sqllab && access.canQueryDatabase(database.id) })),
    datasets: datasets.rows.map(dataset => ({ id: dataset.id, table_name: dataset.table_name, database_id: dataset.database_id })),
    truncated: databases.total > MAX_LISTED || datasets.total > MAX_LISTED
  }
}

function contents (uri: string, text: string): ReadResourceResult {
  return { contents: [{ uri, mimeType: 'application/json', text }] }
}
