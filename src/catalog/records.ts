/** Rows of the metadata catalog as the rest of the service sees them (booleans as booleans). */

export interface UserRecord {
  id: number
  username: string
  first_name: string
  last_name: string
  email: string | null
  active: boolean
  created_on: string
  changed_on: string
  roles: string[]
}

export type Backend = 'sqlite' | 'postgresql' | 'duckdb'

export const BACKENDS: readonly Backend[] = ['sqlite', 'postgresql', 'duckdb']

/** Engine options of a registered database (the `options` JSON column). */
export interface DatabaseOptions {
  /** Schemas a query may read (PostgreSQL search_path, DuckDB); empty: the database's default. */
  schemas?: string[]
  /** DuckDB: CSV/Parquet/JSON globs whose files appear as views (and the only files it may read). */
  files?: string[]
  /** Row cap of execute_sql on this database, below MCP_SQL_MAX_LIMIT. */
  row_limit?: number
  /** Seconds a query may run on this database, below MCP_SQL_MAX_TIMEOUT. */
  timeout?: number
}

export interface DatabaseRecord {
  id: number
  uuid: string
  database_name: string
  backend: Backend
  /**
   * File path or sqlite:///… (sqlite), duckdb:///… , or a postgresql:// URL without its
   * password; never returned by a tool (get_database_info shows backend, host and database).
   */
  connection: string
  /** Where the password comes from: `env:VAR` or `file:/path` (a mounted secret); null: none. */
  password_source: string | null
  options: DatabaseOptions
  allow_dml: boolean
  expose_in_sqllab: boolean
  description: string | null
  created_by_fk: number | null
  changed_by_fk: number | null
  created_on: string
  changed_on: string
}

export interface DatasetRecord {
  id: number
  uuid: string
  database_id: number
  database_name: string
  backend: Backend
  schema: string | null
  table_name: string
  sql: string | null
  description: string | null
  main_dttm_col: string | null
  certified_by: string | null
  certification_details: string | null
  created_by_fk: number | null
  changed_by_fk: number | null
  created_on: string
  changed_on: string
}

export interface DatasetColumnRecord {
  id: number
  column_name: string
  verbose_name: string | null
  type: string | null
  is_dttm: boolean
  groupby: boolean
  filterable: boolean
  description: string | null
}

export interface DatasetMetricRecord {
  id: number
  metric_name: string
  verbose_name: string | null
  expression: string
  description: string | null
  d3format: string | null
}

export interface ChartRecord {
  id: number
  uuid: string
  slice_name: string
  viz_type: string
  dataset_id: number | null
  datasource_name: string | null
  description: string | null
  /** Superset-style form data, as stored (JSON text). */
  params: string
  cache_timeout: number | null
  certified_by: string | null
  certification_details: string | null
  created_by_fk: number | null
  changed_by_fk: number | null
  created_on: string
  changed_on: string
}

export interface DashboardRecord {
  id: number
  uuid: string
  dashboard_title: string
  slug: string | null
  description: string | null
  published: boolean
  css: string | null
  position_json: string | null
  json_metadata: string | null
  certified_by: string | null
  certification_details: string | null
  created_by_fk: number | null
  changed_by_fk: number | null
  created_on: string
  changed_on: string
  chart_count: number
}

export interface RoleRecord {
  id: number
  name: string
  description: string
  builtin: boolean
  /** Superuser roles (Admin) pass every permission and data-access check. */
  superuser: boolean
  user_count: number
}

/**
 * One permission held by a role, Superset style: a class permission such as
 * (can_read, Chart) or (can_execute_sql_query, SQLLab), or data access such as
 * (database_access, Database, 3), (datasource_access, Dataset, 7), (all_datasource_access, all).
 */
export interface PermissionGrant {
  permission: string
  resource: string
  resource_id: number | null
}

export interface ApiKeyRecord {
  id: number
  key_id: string
  name: string
  user_id: number
  username: string
  secret_hash: string
  /** null: the key is limited by the user's roles only. */
  scopes: string[] | null
  created_on: string
  expires_on: string | null
  last_used_on: string | null
  revoked_on: string | null
}

/** A user reference as shown in `owners`, `created_by`, `changed_by`. */
export interface UserRef {
  id: number
  username: string
  first_name: string
  last_name: string
}

/** SQLite returns 0/1 for booleans; these columns are converted when a row is read. */
const BOOLEAN_COLUMNS = new Set(['active', 'allow_dml', 'expose_in_sqllab', 'is_dttm', 'groupby', 'filterable', 'published', 'builtin', 'superuser'])

/** JSON text columns, parsed when a row is read. */
const JSON_COLUMNS = new Set(['options'])

export function fromRow<T> (row: unknown): T {
  const record = row as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (BOOLEAN_COLUMNS.has(key) && typeof record[key] === 'number') record[key] = record[key] === 1
    else if (JSON_COLUMNS.has(key) && typeof record[key] === 'string') record[key] = JSON.parse(record[key]) as unknown
  }
  return record as T
}

/** The unsaved state behind an explore or SQL link (a chart config, or a query). */
export interface LinkStateRecord {
  key: string
  kind: 'explore' | 'sql'
  user_id: number
  dataset_id: number | null
  database_id: number | null
  /** JSON: {config, chart_name} for explore; {sql, schema, title} for sql. */
  payload: string
  created_on: string
  expires_on: string
}
