/**
 * Superset's own MCP settings that a `superset_config.py` brings along and that are not ours:
 * the ones that mean nothing here start with a warning saying why; the ones that would restrict
 * something we do not implement stop start-up, since ignoring them would grant more than the
 * operator meant. Every other unknown name stops start-up as a typo (src/config.ts).
 */

/** Superset settings with no meaning here, and why (one warning each at start-up). */
export const IGNORED_SUPERSET_SETTINGS: Readonly<Record<string, string>> = {
  MCP_STATELESS_HTTP: 'analytics-mcp is always stateless (Streamable HTTP, JSON responses): any replica answers any request',
  MCP_SESSION_CONFIG: 'there is no cookie session to configure: every MCP request carries its own credential',
  MCP_CSRF_CONFIG: 'there are no cookie-authenticated forms to protect: /mcp takes bearer credentials, and browsers are held to MCP_ALLOWED_ORIGINS',
  MCP_FACTORY_CONFIG: 'there is no app factory to configure: name, instructions and auth come from MCP_APP_NAME and the other MCP_* settings',
  MCP_TOOL_WORKERS: 'tool concurrency here is MCP_SQL_WORKERS (query runners), MCP_RENDER_WORKERS (chart images) and MCP_CATALOG_POOL_SIZE',
  MCP_METADATA_TOOL_WORKERS: 'tool concurrency here is MCP_SQL_WORKERS (query runners), MCP_RENDER_WORKERS (chart images) and MCP_CATALOG_POOL_SIZE',
  MCP_EVENT_STORE_CONFIG: 'Superset does not read it either; the audit stream is MCP_STORE_CONFIG.event_store_max_events and event_store_ttl',
  MCP_ADMIN_USERNAME: 'an early Superset fallback identity; development mode runs as MCP_DEV_USERNAME (admin when unset)'
}

/** Keys inside Superset's configuration dictionaries with no meaning here, and why. */
export const IGNORED_SUPERSET_KEYS: Readonly<Record<'MCP_CACHE_CONFIG' | 'MCP_STORE_CONFIG', Readonly<Record<string, string>>>> = {
  MCP_CACHE_CONFIG: {
    dangerously_share_cache_across_principals: 'every cache entry here belongs to one principal and one set of permissions; sharing answers across users is not offered'
  },
  MCP_STORE_CONFIG: {
    WRAPPER_TYPE: 'keys are prefixed with MCP_STORE_CONFIG.key_prefix; there is no wrapper class to choose',
    event_store_prefix: 'every key and channel is prefixed with MCP_STORE_CONFIG.key_prefix'
  }
}

/**
 * Superset settings that restrict or hook into something analytics-mcp does not implement:
 * start-up stops rather than run less restricted than configured.
 */
export const UNSUPPORTED_SUPERSET_SETTINGS: Readonly<Record<string, string>> = {
  MCP_DATASET_ROLE_ALLOWLIST: 'per-role dataset allow-lists are not implemented; grant datasource access to roles instead (analytics-mcp roles grant)',
  MCP_RESTRICTED_TOOL_POLICY: 'a per-user tool policy hook is not implemented; use MCP_DISABLED_TOOLS, roles and scopes',
  MCP_DISABLED_CHART_PLUGINS: 'hiding chart types is not implemented',
  MCP_CHART_PLUGIN_ENABLED_FUNC: 'hiding chart types is not implemented',
  MCP_EMBEDDED_GUEST_AUTH_ENABLED: 'embedded guest tokens are not accepted',
  MCP_GUEST_ALLOWED_TOOLS: 'embedded guest tokens are not accepted',
  MCP_ERROR_HOOK: 'an error hook is not implemented; errors are in the JSON logs and metrics',
  MCP_HELLO_PAGE: 'the hello page is not configurable'
}

/** Superset's MCP tools (its native tool inventory), for telling its names apart from typos. */
export const SUPERSET_TOOL_NAMES: readonly string[] = [
  'list_charts', 'get_chart_info', 'get_chart_data', 'get_chart_preview', 'get_chart_sql', 'get_chart_type_schema',
  'generate_chart', 'update_chart', 'update_chart_preview', 'delete_chart', 'restore_chart',
  'list_dashboards', 'get_dashboard_info', 'get_dashboard_layout', 'get_dashboard_datasets', 'get_dashboard_data',
  'generate_dashboard', 'update_dashboard', 'add_chart_to_existing_dashboard', 'remove_chart_from_dashboard',
  'duplicate_dashboard', 'delete_dashboard', 'restore_dashboard', 'manage_native_filters', 'apply_dashboard_filters',
  'manage_dashboard_certification', 'manage_dashboard_markdown', 'manage_dashboard_owners', 'manage_dashboard_roles',
  'list_datasets', 'get_dataset_info', 'create_dataset', 'create_virtual_dataset', 'update_dataset', 'delete_dataset',
  'restore_dataset', 'create_dataset_metric', 'update_dataset_metric', 'delete_dataset_metric', 'query_dataset',
  'execute_sql', 'save_sql_query', 'list_saved_queries', 'get_saved_query_info', 'list_queries', 'get_query_info',
  'open_sql_lab_with_context', 'generate_explore_link', 'list_databases', 'get_database_info',
  'list_metrics', 'get_table', 'get_compatible_dimensions', 'get_compatible_metrics', 'get_catalog', 'get_schema',
  'list_annotation_layers', 'get_annotation_layer_info', 'list_layer_annotations', 'get_layer_annotation_info',
  'list_tags', 'get_tag_info', 'list_themes', 'get_theme_info', 'create_theme', 'find_users', 'list_users', 'get_user_info',
  'list_roles', 'get_role_info', 'list_rls_filters', 'get_rls_filter_info', 'list_reports', 'get_report_info', 'list_tasks',
  'get_task_info', 'health_check', 'get_instance_info', 'generate_bug_report', 'search_tools', 'call_tool'
]
