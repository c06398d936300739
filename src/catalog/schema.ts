import type { Generated } from 'kysely'
import type { LinkStateRecord } from './records.ts'

/**
 * The catalog's tables as Kysely sees them (see migrations.ts): the typed query builder checks
 * every column name and value type at compile time, on SQLite and PostgreSQL alike.
 * Booleans are 0/1 integers and timestamps ISO-8601 text on both backends.
 */
type Flag = 0 | 1

interface Audit {
  created_by_fk: number | null
  changed_by_fk: number | null
  created_on: string
  changed_on: string
}

export interface UsersTable {
  id: Generated<number>
  username: string
  first_name: string
  last_name: string
  email: string | null
  active: Flag
  created_on: string
  changed_on: string
}

export interface RolesTable {
  id: Generated<number>
  name: string
  description: string
  builtin: Generated<Flag>
  superuser: Generated<Flag>
}

export interface DatabasesTable extends Audit {
  id: Generated<number>
  uuid: string
  database_name: string
  backend: string
  connection: string
  password_source: string | null
  options: string
  allow_dml: Flag
  expose_in_sqllab: Flag
  description: string | null
  managed: Generated<Flag>
}

export interface DatasetsTable extends Audit {
  id: Generated<number>
  uuid: string
  database_id: number
  schema: string | null
  table_name: string
  sql: string | null
  description: string | null
  main_dttm_col: string | null
  certified_by: string | null
  certification_details: string | null
}

export interface DatasetColumnsTable {
  id: Generated<number>
  dataset_id: number
  column_name: string
  verbose_name: string | null
  type: string | null
  is_dttm: Flag
  groupby: Flag
  filterable: Flag
  description: string | null
  ordinal: number
}

export interface DatasetMetricsTable {
  id: Generated<number>
  dataset_id: number
  metric_name: string
  verbose_name: string | null
  expression: string
  description: string | null
  d3format: string | null
}

export interface ChartsTable extends Audit {
  id: Generated<number>
  uuid: string
  slice_name: string
  viz_type: string
  dataset_id: number | null
  description: string | null
  params: string
  cache_timeout: number | null
  certified_by: string | null
  certification_details: string | null
}

export interface DashboardsTable extends Audit {
  id: Generated<number>
  uuid: string
  dashboard_title: string
  slug: string | null
  description: string | null
  published: Flag
  css: string | null
  position_json: string | null
  json_metadata: string | null
  certified_by: string | null
  certification_details: string | null
}

export interface ApiKeysTable {
  id: Generated<number>
  key_id: string
  name: string
  user_id: number
  secret_hash: string
  scopes: string | null
  created_on: string
  expires_on: string | null
  last_used_on: string | null
  revoked_on: string | null
}

export interface OAuthClientsTable {
  client_id: string
  secret_hash: string | null
  metadata: string
  created_on: string
  last_used_on: string
}

export interface OAuthRequestsTable {
  id: string
  payload: string
  user_id: number | null
  consent_hash: string | null
  created_on: string
  expires_on: string
}

export interface OAuthGrantsTable {
  id: string
  user_id: number
  client_id: string
  client_name: string
  scopes: string
  resource: string
  created_on: string
  expires_on: string
  revoked_on: string | null
  revoked_reason: string | null
}

export interface OAuthCodesTable {
  code_hash: string
  grant_id: string
  redirect_uri: string
  code_challenge: string
  expires_on: string
  used_on: string | null
}

export interface OAuthRefreshTokensTable {
  token_hash: string
  grant_id: string
  created_on: string
  expires_on: string
  used_on: string | null
}

export interface CatalogSchema {
  users: UsersTable
  roles: RolesTable
  user_roles: { user_id: number, role_id: number }
  role_permissions: { role_id: number, permission: string, resource: string, resource_id: number | null }
  api_keys: ApiKeysTable
  databases: DatabasesTable
  datasets: DatasetsTable
  dataset_columns: DatasetColumnsTable
  dataset_metrics: DatasetMetricsTable
  dataset_owners: { dataset_id: number, user_id: number }
  charts: ChartsTable
  chart_owners: { chart_id: number, user_id: number }
  dashboards: DashboardsTable
  dashboard_charts: { dashboard_id: number, chart_id: number }
  dashboard_owners: { dashboard_id: number, user_id: number }
  link_states: LinkStateRecord
  oauth_clients: OAuthClientsTable
  oauth_requests: OAuthRequestsTable
  oauth_grants: OAuthGrantsTable
  oauth_codes: OAuthCodesTable
  oauth_refresh_tokens: OAuthRefreshTokensTable
  catalog_state: { key: string, value: string }
  schema_migrations: { version: number, name: string, applied_on: string }
}

/** The catalog_state key of the generated key that signs OAuth access tokens (when MCP_TOKEN_SIGNING_KEY is unset). */
export const OAUTH_SIGNING_KEY_STATE = 'oauth_signing_key'

/** Tables in the order a copy must fill them (each after those it references). */
export const TABLES_IN_DEPENDENCY_ORDER = [
  'users', 'roles', 'user_roles', 'role_permissions', 'api_keys',
  'databases', 'datasets', 'dataset_columns', 'dataset_metrics', 'dataset_owners',
  'charts', 'chart_owners', 'dashboards', 'dashboard_charts', 'dashboard_owners', 'link_states',
  // Sign-ins survive a move; requests and codes in flight (minutes) do not need to.
  'oauth_clients', 'oauth_grants', 'oauth_refresh_tokens'
] as const satisfies ReadonlyArray<keyof CatalogSchema>
