import type { TOOL_NAMES } from './tools.ts'

/** A tool's name, as listed by tools/list. */
export type ToolName = typeof TOOL_NAMES[number]

/** Arguments of one tools/call. */
export type Args = Record<string, unknown>

/** The kinds of failure the bad calls cover; every kind is used at least once. */
export const FAILURE_KINDS = [
  'not_found', 'wrong_type', 'invalid_value', 'unknown_argument', 'missing_argument', 'out_of_range', 'bad_filter',
  'bad_sql', 'refused_write', 'multiple_statements', 'bad_chart_config', 'duplicate_name'
] as const

export type FailureKind = typeof FAILURE_KINDS[number]

/** A call that must fail as an `isError: true` result. */
export interface BadCall {
  args: Args
  kind: FailureKind
  /** `_meta.error_type` of the result. */
  errorType: string
  /** What the text must say: the thing to fix, or where to look it up. */
  mentions: RegExp
}

export interface ToolCalls {
  /** Calls that succeed for the dev user `admin`; each once, on a fresh catalog. */
  good: Args[]
  bad: BadCall[]
}

const notFound = (args: Args, kind: string, identifier: string, listTool: string): BadCall => ({
  args, kind: 'not_found', errorType: 'not_found', mentions: new RegExp(`No ${kind} matches identifier "?${identifier}"?.*${listTool}`, 's')
})

const unknownArgument = (args: Args = { bogus_argument: 1 }): BadCall => ({
  args, kind: 'unknown_argument', errorType: 'invalid_arguments', mentions: /bogus_argument/
})

const invalid = (kind: FailureKind, args: Args, mentions: RegExp): BadCall => ({ args, kind, errorType: 'invalid_arguments', mentions })

const BAR_BY_REGION = { chart_type: 'xy', kind: 'bar', x: 'region', y: ['revenue'] }
const UNKNOWN_COLUMN = { chart_type: 'xy', kind: 'bar', x: 'regoin', y: ['revenue'] }

/**
 * Good and bad calls of every tool against the example data (database `examples` id 1,
 * dataset `orders` id 1, charts 1..8, dashboards 1..2).
 *
 * The writing calls change the catalog (delete_chart deletes chart 8, update_chart renames
 * chart 7, create_* add uniquely named objects): run the good calls once per fresh server.
 * No other good call depends on what they change, so any order works. Bad calls change nothing.
 */
export const TOOL_CALLS: Record<ToolName, ToolCalls> = {
  health_check: {
    good: [{}],
    bad: [unknownArgument(), invalid('wrong_type', { request: [1, 2] }, /`request` must be an object/)]
  },
  get_instance_info: {
    good: [{}],
    bad: [unknownArgument(), invalid('wrong_type', { force_refresh: 'soon' }, /force_refresh must be true or false/)]
  },
  get_schema: {
    good: [{ model_type: 'chart' }, { model_type: 'dataset' }, { model_type: 'dashboard' }, { model_type: 'database' }],
    bad: [
      invalid('invalid_value', { model_type: 'report' }, /model_type/),
      invalid('missing_argument', {}, /model_type/),
      unknownArgument({ model_type: 'chart', bogus_argument: 1 })
    ]
  },
  find_users: {
    good: [{ name: 'ali' }, { name: 'ZZZ-nobody' }],
    bad: [
      invalid('out_of_range', { name: 'a' }, /name/),
      invalid('missing_argument', {}, /name/),
      unknownArgument({ name: 'alice', bogus_argument: 1 })
    ]
  },
  list_databases: {
    good: [{}, { page_size: 1, select_columns: ['id', 'database_name'] }],
    bad: [
      unknownArgument(),
      invalid('wrong_type', { page_size: 'many' }, /page_size/),
      invalid('bad_filter', { filters: [{ col: 'backend', opr: 'in', value: 'sqlite' }] }, /needs a non-empty list/)
    ]
  },
  get_database_info: {
    good: [{ identifier: 'examples' }, { identifier: 1 }],
    bad: [
      notFound({ identifier: 99999 }, 'database', '99999', 'list_databases'),
      invalid('wrong_type', { identifier: { a: 1 } }, /identifier/),
      invalid('missing_argument', {}, /identifier/),
      unknownArgument({ identifier: 1, bogus_argument: 1 })
    ]
  },
  list_datasets: {
    good: [{ select_columns: ['id', 'table_name', 'description'] }, { search: 'order' }],
    bad: [
      unknownArgument(),
      invalid('wrong_type', { page: 'first' }, /page/),
      invalid('bad_filter', { order_column: 'rows' }, /order_column/)
    ]
  },
  get_dataset_info: {
    good: [{ identifier: 'orders' }, { identifier: 1 }],
    bad: [
      notFound({ identifier: 99999 }, 'dataset', '99999', 'list_datasets'),
      invalid('wrong_type', { identifier: { a: 1 } }, /identifier/),
      invalid('missing_argument', {}, /identifier/),
      unknownArgument({ identifier: 'orders', bogus_argument: 1 })
    ]
  },
  query_dataset: {
    good: [{ dataset_id: 'orders', metrics: ['revenue'], columns: ['region'] }],
    bad: [
      notFound({ dataset_id: 99999, metrics: ['revenue'] }, 'dataset', '99999', 'list_datasets'),
      invalid('bad_chart_config', { dataset_id: 'orders', metrics: ['revenue'], columns: ['regoin'] }, /regoin.*region/s),
      invalid('wrong_type', { dataset_id: 'orders', metrics: ['revenue'], row_limit: 'lots' }, /row_limit/),
      invalid('missing_argument', { metrics: ['revenue'] }, /dataset_id/),
      unknownArgument({ dataset_id: 'orders', metrics: ['revenue'], bogus_argument: 1 })
    ]
  },
  create_virtual_dataset: {
    good: [{ database_id: 'examples', dataset_name: 'client_matrix_orders', sql: 'SELECT order_id, order_date, region, amount FROM orders' }],
    bad: [
      { args: { database_id: 'examples', dataset_name: 'client_matrix_broken', sql: 'SELEC 1' }, kind: 'bad_sql', errorType: 'sql_error', mentions: /syntax error.*nothing was saved/s },
      notFound({ database_id: 99999, dataset_name: 'client_matrix_nowhere', sql: 'SELECT 1' }, 'database', '99999', 'list_databases'),
      invalid('missing_argument', { database_id: 'examples', sql: 'SELECT 1' }, /dataset_name/),
      invalid('wrong_type', { database_id: 'examples', dataset_name: ['a'], sql: 'SELECT 1' }, /dataset_name/),
      unknownArgument({ database_id: 'examples', dataset_name: 'client_matrix_extra', sql: 'SELECT 1', bogus_argument: 1 })
    ]
  },
  create_dataset_metric: {
    good: [{ dataset_id: 'orders', metric_name: 'client_matrix_margin', expression: 'SUM(amount - cost)' }],
    bad: [
      invalid('duplicate_name', { dataset_id: 'orders', metric_name: 'revenue', expression: 'SUM(amount)' }, /revenue/),
      { args: { dataset_id: 'orders', metric_name: 'client_matrix_oops', expression: 'SUM(nope)' }, kind: 'bad_sql', errorType: 'invalid_arguments', mentions: /does not run.*no such column: nope/s },
      notFound({ dataset_id: 99999, metric_name: 'm', expression: 'SUM(amount)' }, 'dataset', '99999', 'list_datasets'),
      invalid('missing_argument', { dataset_id: 'orders', metric_name: 'client_matrix_empty' }, /expression/),
      unknownArgument({ dataset_id: 'orders', metric_name: 'client_matrix_extra', expression: 'SUM(amount)', bogus_argument: 1 })
    ]
  },
  list_charts: {
    good: [{}, { filters: [{ col: 'viz_type', opr: 'eq', value: 'pie' }], page_size: 5 }],
    bad: [
      { ...unknownArgument({ colour: 'blue' }), mentions: /colour.*Arguments of list_charts/s },
      invalid('out_of_range', { page_size: 1000 }, /page_size.*100/s),
      invalid('wrong_type', { page_size: 'many' }, /page_size/),
      invalid('out_of_range', { page: 0 }, /page/)
    ]
  },
  get_chart_info: {
    good: [{ identifier: 1 }, { chart_id: 2 }],
    bad: [
      notFound({ identifier: 99999 }, 'chart', '99999', 'list_charts'),
      invalid('wrong_type', { identifier: { a: 1 } }, /identifier/),
      invalid('missing_argument', {}, /identifier/),
      unknownArgument({ identifier: 1, bogus_argument: 1 })
    ]
  },
  get_chart_data: {
    good: [{ identifier: 3 }, { identifier: 3, format: 'csv' }],
    bad: [
      notFound({ identifier: 99999 }, 'chart', '99999', 'list_charts'),
      invalid('wrong_type', { identifier: 3, limit: 'all' }, /limit/),
      invalid('missing_argument', {}, /identifier.*form_data_key|form_data_key.*identifier/s),
      unknownArgument({ identifier: 3, bogus_argument: 1 })
    ]
  },
  get_chart_preview: {
    good: [{ identifier: 3, format: 'ascii' }, { identifier: 3, format: 'table' }, { identifier: 3, format: 'png', width: 400, height: 300 }],
    bad: [
      notFound({ identifier: 99999, format: 'ascii' }, 'chart', '99999', 'list_charts'),
      invalid('invalid_value', { identifier: 3, format: 'gif' }, /format.*png/s),
      invalid('out_of_range', { identifier: 3, format: 'png', width: 1 }, /width/),
      unknownArgument({ identifier: 3, bogus_argument: 1 })
    ]
  },
  get_chart_sql: {
    good: [{ identifier: 2 }],
    bad: [
      notFound({ identifier: 99999 }, 'chart', '99999', 'list_charts'),
      invalid('wrong_type', { identifier: [2] }, /identifier/),
      unknownArgument({ identifier: 2, bogus_argument: 1 })
    ]
  },
  get_chart_type_schema: {
    good: [{ chart_type: 'xy' }, { chart_type: 'pie' }],
    bad: [
      invalid('invalid_value', { chart_type: 'sunburst' }, /sunburst.*Chart types: xy/s),
      invalid('missing_argument', {}, /chart_type/),
      unknownArgument({ chart_type: 'xy', bogus_argument: 1 })
    ]
  },
  generate_chart: {
    good: [
      { dataset_id: 1, config: { chart_type: 'pie', dimension: 'channel', metric: 'order_count' }, save_chart: false, preview_formats: ['table'] },
      { dataset_id: 'orders', chart_name: 'Client matrix: revenue by region', save_chart: true, config: BAR_BY_REGION, preview_formats: ['ascii'] }
    ],
    bad: [
      invalid('bad_chart_config', { dataset_id: 'orders', config: UNKNOWN_COLUMN, save_chart: true }, /regoin.*region/s),
      invalid('bad_chart_config', { dataset_id: 'orders', config: { chart_type: 'sunburst', y: ['revenue'] } }, /chart_type must be one of/),
      invalid('wrong_type', { dataset_id: 'orders', config: { chart_type: 'xy', y: 5 } }, /config\.y/),
      notFound({ dataset_id: 99999, config: BAR_BY_REGION }, 'dataset', '99999', 'list_datasets'),
      invalid('missing_argument', { dataset_id: 'orders' }, /config/),
      unknownArgument({ dataset_id: 'orders', config: BAR_BY_REGION, bogus_argument: 1 })
    ]
  },
  update_chart: {
    good: [{ identifier: 7, chart_name: 'Customers by Segment (client matrix)' }, { identifier: 7, chart_name: 'Customers by Segment (client matrix)', generate_preview: false }],
    bad: [
      notFound({ identifier: 99999, chart_name: 'x' }, 'chart', '99999', 'list_charts'),
      invalid('bad_chart_config', { identifier: 7, config: { chart_type: 'pie', dimension: 'nope', metric: 'customer_count' } }, /nope/),
      invalid('wrong_type', { identifier: 7, chart_name: 42 }, /chart_name/),
      unknownArgument({ identifier: 7, bogus_argument: 1 })
    ]
  },
  update_chart_preview: {
    good: [{ dataset_id: 'orders', config: { chart_type: 'xy', kind: 'line', x: 'order_date', time_grain: 'P1Y', y: ['revenue'] } }],
    bad: [
      invalid('bad_chart_config', { dataset_id: 'orders', config: UNKNOWN_COLUMN }, /regoin.*region/s),
      invalid('missing_argument', { dataset_id: 'orders' }, /config/),
      invalid('wrong_type', { dataset_id: 'orders', config: BAR_BY_REGION, width: 'wide' }, /width/),
      unknownArgument({ dataset_id: 'orders', config: BAR_BY_REGION, bogus_argument: 1 })
    ]
  },
  delete_chart: {
    good: [{ identifier: 8 }],
    bad: [
      notFound({ identifier: 99999 }, 'chart', '99999', 'list_charts'),
      invalid('wrong_type', { identifier: { a: 1 } }, /identifier/),
      invalid('missing_argument', {}, /identifier/),
      unknownArgument({ identifier: 99999, bogus_argument: 1 })
    ]
  },
  list_dashboards: {
    good: [{}, { page_size: 2 }, { search: 'customer' }],
    bad: [
      unknownArgument(),
      invalid('bad_filter', { filters: [{ col: 'nope', opr: 'eq', value: 1 }] }, /filters\.0\.col/),
      invalid('bad_filter', { filters: [{ col: 'published', opr: 'gt', value: 1 }] }, /Operator "gt" does not apply to "published"/),
      invalid('wrong_type', { page_size: 'many' }, /page_size/)
    ]
  },
  get_dashboard_info: {
    good: [{ identifier: 'sales-overview' }, { identifier: 1 }],
    bad: [
      notFound({ identifier: 99999 }, 'dashboard', '99999', 'list_dashboards'),
      invalid('wrong_type', { identifier: { a: 1 } }, /identifier/),
      invalid('missing_argument', {}, /identifier/),
      unknownArgument({ identifier: 1, bogus_argument: 1 })
    ]
  },
  get_dashboard_layout: {
    good: [{ identifier: 1 }],
    bad: [
      notFound({ identifier: 99999 }, 'dashboard', '99999', 'list_dashboards'),
      invalid('wrong_type', { identifier: 1, tabs_only: 'perhaps' }, /tabs_only/),
      unknownArgument({ identifier: 1, bogus_argument: 1 })
    ]
  },
  generate_dashboard: {
    good: [{ chart_ids: [1, 2], dashboard_title: 'Client matrix dashboard' }],
    bad: [
      notFound({ chart_ids: [99999] }, 'chart', '99999', 'list_charts'),
      invalid('wrong_type', { chart_ids: 'all' }, /chart_ids/),
      invalid('missing_argument', { dashboard_title: 'No charts' }, /chart_ids/),
      unknownArgument({ chart_ids: [1], bogus_argument: 1 })
    ]
  },
  add_chart_to_existing_dashboard: {
    good: [{ dashboard_id: 2, chart_id: 1 }],
    bad: [
      notFound({ dashboard_id: 99999, chart_id: 1 }, 'dashboard', '99999', 'list_dashboards'),
      notFound({ dashboard_id: 2, chart_id: 99999 }, 'chart', '99999', 'list_charts'),
      invalid('wrong_type', { dashboard_id: 2, chart_id: 1, width: 'half' }, /width/),
      invalid('missing_argument', { dashboard_id: 2 }, /chart_id/),
      unknownArgument({ dashboard_id: 2, chart_id: 1, bogus_argument: 1 })
    ]
  },
  update_dashboard: {
    good: [{ identifier: 2, description: 'Changed by the client matrix' }],
    bad: [
      notFound({ identifier: 99999, description: 'x' }, 'dashboard', '99999', 'list_dashboards'),
      invalid('wrong_type', { identifier: 2, published: 'yes please' }, /published/),
      invalid('missing_argument', { description: 'x' }, /identifier/),
      unknownArgument({ identifier: 2, bogus_argument: 1 })
    ]
  },
  generate_explore_link: {
    good: [{ dataset_id: 'orders', config: BAR_BY_REGION }, { dataset_id: 'customers' }],
    bad: [
      invalid('bad_chart_config', { dataset_id: 'orders', config: { chart_type: 'pie', dimension: 'nope', metric: 'revenue' } }, /nope/),
      notFound({ dataset_id: 99999 }, 'dataset', '99999', 'list_datasets'),
      invalid('wrong_type', { dataset_id: 'orders', config: 5 }, /config/),
      unknownArgument({ dataset_id: 'orders', bogus_argument: 1 })
    ]
  },
  execute_sql: {
    good: [
      { database_id: 1, sql: 'SELECT region, COUNT(*) AS orders FROM orders GROUP BY region ORDER BY region' },
      { database_id: 'examples', sql: 'SELECT order_id, amount FROM orders', limit: 5 }
    ],
    bad: [
      { args: { database_id: 1, sql: 'SELEC 1' }, kind: 'bad_sql', errorType: 'sql_error', mentions: /syntax error.*SQLite/s },
      { args: { database_id: 1, sql: 'SELECT nope FROM orders' }, kind: 'bad_sql', errorType: 'sql_error', mentions: /no such column: nope.*get_dataset_info/s },
      { args: { database_id: 1, sql: 'DELETE FROM orders' }, kind: 'refused_write', errorType: 'read_only', mentions: /read-only/i },
      { args: { database_id: 1, sql: 'SELECT 1; SELECT 2' }, kind: 'multiple_statements', errorType: 'multiple_statements', mentions: /one SQL statement/i },
      notFound({ database_id: 99999, sql: 'SELECT 1' }, 'database', '99999', 'list_databases'),
      invalid('wrong_type', { database_id: 1, sql: 'SELECT 1', limit: 'all' }, /limit/),
      invalid('missing_argument', { database_id: 1 }, /sql/),
      unknownArgument({ database_id: 1, sql: 'SELECT 1', bogus_argument: 1 })
    ]
  },
  open_sql_lab_with_context: {
    good: [{ database_connection_id: 'examples', dataset_in_context: 'orders' }, { database_connection_id: 1, sql: 'SELECT COUNT(*) FROM orders' }],
    bad: [
      notFound({ database_connection_id: 99999 }, 'database', '99999', 'list_databases'),
      invalid('wrong_type', { database_connection_id: 'examples', sql: 42 }, /sql/),
      invalid('missing_argument', {}, /database_connection_id/),
      unknownArgument({ database_connection_id: 'examples', bogus_argument: 1 })
    ]
  },
  generate_bug_report: {
    good: [{}, { tool_name: 'execute_sql', error_message: 'password=hunter2 refused for alice@example.com', steps_to_reproduce: '1. ask\n2. fail', llm_used: 'a model', additional_context: 'none', mcp_call_id: 'abc' }],
    bad: [
      invalid('wrong_type', { tool_name: 42 }, /tool_name/),
      invalid('out_of_range', { error_message: 'x'.repeat(4001) }, /error_message/),
      unknownArgument({ bogus_argument: 1 })
    ]
  }
}
