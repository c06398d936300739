import type { AccessPredicate, ListSpec, Visibility } from './list-query.ts'

/**
 * How each kind of catalog object is listed. Filter and sort column names follow
 * Superset's MCP list tools (chart: slice_name, viz_type, datasource_name, ...).
 */

const audit = (alias: string) => ({
  created_by_fk: { kind: 'column', sql: `${alias}.created_by_fk`, type: 'integer', description: 'id of the user who created it' },
  changed_by_fk: { kind: 'column', sql: `${alias}.changed_by_fk`, type: 'integer', description: 'id of the user who last changed it' },
  created_on: { kind: 'column', sql: `${alias}.created_on`, type: 'datetime', description: 'creation time (ISO 8601, UTC)' },
  changed_on: { kind: 'column', sql: `${alias}.changed_on`, type: 'datetime', description: 'last change time (ISO 8601, UTC)' }
} as const)

export const DATABASE_LIST: ListSpec = {
  kind: 'database',
  alias: 'db',
  select: 'SELECT db.*',
  from: 'databases db',
  idColumn: 'db.id',
  filters: {
    id: { kind: 'column', sql: 'db.id', type: 'integer', description: 'database id' },
    database_name: { kind: 'column', sql: 'db.database_name', type: 'text', description: 'database name' },
    backend: { kind: 'column', sql: 'db.backend', type: 'text', description: 'engine: sqlite, postgresql or duckdb' },
    allow_dml: { kind: 'column', sql: 'db.allow_dml', type: 'boolean', description: 'whether execute_sql may change data' },
    expose_in_sqllab: { kind: 'column', sql: 'db.expose_in_sqllab', type: 'boolean', description: 'whether execute_sql may run on it' },
    ...audit('db')
  },
  sortable: { id: 'db.id', database_name: 'db.database_name', backend: 'db.backend', changed_on: 'db.changed_on', created_on: 'db.created_on' },
  searchable: ['db.database_name', 'db.description']
}

export const DATASET_LIST: ListSpec = {
  kind: 'dataset',
  alias: 'ds',
  select: 'SELECT ds.*, db.database_name, db.backend',
  from: 'datasets ds JOIN databases db ON db.id = ds.database_id',
  idColumn: 'ds.id',
  filters: {
    id: { kind: 'column', sql: 'ds.id', type: 'integer', description: 'dataset id' },
    table_name: { kind: 'column', sql: 'ds.table_name', type: 'text', description: 'table (or virtual dataset) name' },
    schema: { kind: 'column', sql: 'ds.schema', type: 'text', description: 'schema' },
    database_id: { kind: 'column', sql: 'ds.database_id', type: 'integer', description: 'id of the database it belongs to' },
    database_name: { kind: 'column', sql: 'db.database_name', type: 'text', description: 'name of the database it belongs to' },
    is_virtual: { kind: 'column', sql: '(ds.sql IS NOT NULL)', type: 'boolean', description: 'true for SQL-defined (virtual) datasets' },
    owner: { kind: 'relation', table: 'dataset_owners', parentKey: 'dataset_id', valueKey: 'user_id', description: 'id of an owner' },
    ...audit('ds')
  },
  sortable: { id: 'ds.id', table_name: 'ds.table_name', schema: 'ds.schema', database_name: 'db.database_name', changed_on: 'ds.changed_on', created_on: 'ds.created_on' },
  searchable: ['ds.table_name', 'ds.description', 'ds.schema', 'ds.sql']
}

export const CHART_LIST: ListSpec = {
  kind: 'chart',
  alias: 'c',
  select: 'SELECT c.*, ds.table_name AS datasource_name',
  from: 'charts c LEFT JOIN datasets ds ON ds.id = c.dataset_id',
  idColumn: 'c.id',
  filters: {
    id: { kind: 'column', sql: 'c.id', type: 'integer', description: 'chart id' },
    slice_name: { kind: 'column', sql: 'c.slice_name', type: 'text', description: 'chart name' },
    viz_type: { kind: 'column', sql: 'c.viz_type', type: 'text', description: 'visualization type, e.g. echarts_timeseries_line, pie, table' },
    datasource_name: { kind: 'column', sql: 'ds.table_name', type: 'text', description: 'name of the dataset it queries' },
    datasource_id: { kind: 'column', sql: 'c.dataset_id', type: 'integer', description: 'id of the dataset it queries' },
    dashboards: { kind: 'relation', table: 'dashboard_charts', parentKey: 'chart_id', valueKey: 'dashboard_id', target: { kind: 'dashboard', table: 'dashboards' }, description: 'id of a dashboard showing it' },
    owner: { kind: 'relation', table: 'chart_owners', parentKey: 'chart_id', valueKey: 'user_id', description: 'id of an owner' },
    ...audit('c')
  },
  sortable: { id: 'c.id', slice_name: 'c.slice_name', viz_type: 'c.viz_type', description: 'c.description', changed_on: 'c.changed_on', created_on: 'c.created_on' },
  searchable: ['c.slice_name', 'c.description']
}

/** A dashboard's chart count: only the charts the caller may see, so it reveals no hidden ones. */
function dashboardSelect (visibility: Visibility | undefined): AccessPredicate {
  const charts = visibility?.visible('chart', 'dc_c')
  if (charts === undefined) return { sql: 'SELECT d.*, (SELECT COUNT(*) FROM dashboard_charts dc WHERE dc.dashboard_id = d.id) AS chart_count', params: [] }
  return {
    sql: `SELECT d.*, (SELECT COUNT(*) FROM dashboard_charts dc JOIN charts dc_c ON dc_c.id = dc.chart_id WHERE dc.dashboard_id = d.id AND (${charts.sql})) AS chart_count`,
    params: charts.params
  }
}

export const DASHBOARD_LIST: ListSpec = {
  kind: 'dashboard',
  alias: 'd',
  select: dashboardSelect,
  from: 'dashboards d',
  idColumn: 'd.id',
  filters: {
    id: { kind: 'column', sql: 'd.id', type: 'integer', description: 'dashboard id' },
    dashboard_title: { kind: 'column', sql: 'd.dashboard_title', type: 'text', description: 'dashboard title' },
    slug: { kind: 'column', sql: 'd.slug', type: 'text', description: 'URL slug' },
    published: { kind: 'column', sql: 'd.published', type: 'boolean', description: 'whether it is published' },
    owner: { kind: 'relation', table: 'dashboard_owners', parentKey: 'dashboard_id', valueKey: 'user_id', description: 'id of an owner' },
    charts: { kind: 'relation', table: 'dashboard_charts', parentKey: 'dashboard_id', valueKey: 'chart_id', target: { kind: 'chart', table: 'charts' }, description: 'id of a chart on it' },
    ...audit('d')
  },
  sortable: { id: 'd.id', dashboard_title: 'd.dashboard_title', slug: 'd.slug', published: 'd.published', changed_on: 'd.changed_on', created_on: 'd.created_on' },
  searchable: ['d.dashboard_title', 'd.slug', 'd.description']
}
