import type { ListResourcesResult, ReadResourceResult, Resource } from '@modelcontextprotocol/server'
import { ResourceNotFoundError } from '@modelcontextprotocol/server'
import type { ResponseCache } from '../cache/response-cache.ts'
import type { Catalog } from '../catalog/catalog.ts'
import type { Principal } from '../tools/tool.ts'
import { CHART_VIEWER_RESOURCE, CHART_VIEWER_UI_META, CHART_VIEWER_URI, chartViewerHtml, MCP_APP_MIME_TYPE } from './chart-app.ts'

/** Superset's instance resource: what exists and what this principal may use. */
export const INSTANCE_METADATA_URI = 'instance://metadata'

const MAX_LISTED = 1000

const INSTANCE_METADATA: Resource = {
  uri: INSTANCE_METADATA_URI,
  name: 'instance_metadata',
  title: 'Instance metadata',
  description: 'The databases and datasets you can use (ids and names) and how many dashboards and charts you can see. Updated when content or your permissions change: subscribe to hear about it.',
  mimeType: 'application/json'
}

/**
 * MCP resources. `instance://metadata` (as Superset's) gives change notifications a subject:
 * every catalog change is announced as an update of it on `subscriptions/listen` streams. Its
 * reads follow the caller's RBAC and go through the response cache (read_resource_ttl) like
 * tool results. The chart viewer (an MCP App, src/mcp/chart-app.ts) is the same for everyone
 * and holds no data, so it is built once and served as it is.
 */
export class Resources {
  private readonly catalog: Catalog
  private readonly cache: ResponseCache | undefined

  constructor (catalog: Catalog, cache: ResponseCache | undefined) {
    this.catalog = catalog
    this.cache = cache
    // Built now, so a missing script fails start-up instead of the first read.
    chartViewerHtml()
  }

  list (): ListResourcesResult {
    return { resources: [INSTANCE_METADATA, CHART_VIEWER_RESOURCE] }
  }

  async read (uri: string, principal: Principal): Promise<ReadResourceResult> {
    if (uri === CHART_VIEWER_URI) {
      return { contents: [{ uri, mimeType: MCP_APP_MIME_TYPE, text: chartViewerHtml(), _meta: CHART_VIEWER_UI_META }] }
    }
    if (uri !== INSTANCE_METADATA_URI) {
      throw new ResourceNotFoundError(uri, `Resource not found: ${uri}. Call resources/list to see the resources.`)
    }
    const key = this.cache?.keyFor('resource', uri, {}, principal)
    if (key !== undefined && this.cache !== undefined) {
      const hit = await this.cache.get(key)
      if (hit !== undefined) return contents(uri, hit.outcome.text)
    }
    const text = JSON.stringify(this.instanceMetadata(principal))
    if (key !== undefined && this.cache !== undefined) await this.cache.set(key, { text, structured: {} }, this.cache.readResourceTtl)
    return contents(uri, text)
  }

  private instanceMetadata (principal: Principal): Record<string, unknown> {
    const { access } = principal
    const everything = { page: 1, pageSize: MAX_LISTED, filters: [], orderColumn: 'id', orderDirection: 'asc' as const }
    const databases = this.catalog.listDatabases(everything, access)
    const datasets = this.catalog.listDatasets(everything, access)
    return {
      user: principal.user.username,
      roles: principal.user.roles,
      counts: {
        databases: databases.total,
        datasets: datasets.total,
        charts: this.catalog.listCharts({ ...everything, pageSize: 1 }, access).total,
        dashboards: this.catalog.listDashboards({ ...everything, pageSize: 1 }, access).total
      },
      databases: databases.rows.map(database => ({ id: database.id, name: database.database_name, backend: database.backend, sql_allowed: database.expose_in_sqllab && access.canQueryDatabase(database.id) })),
      datasets: datasets.rows.map(dataset => ({ id: dataset.id, table_name: dataset.table_name, database_id: dataset.database_id })),
      truncated: databases.total > MAX_LISTED || datasets.total > MAX_LISTED
    }
  }
}

function contents (uri: string, text: string): ReadResourceResult {
  return { contents: [{ uri, mimeType: 'application/json', text }] }
}
