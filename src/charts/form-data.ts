import { invalidArguments } from '../errors.ts'
import { parseChartConfig } from './config.ts'
import type { ChartConfig, ColumnRefInput } from './config.ts'

/**
 * Charts are stored as Superset stores them: a `viz_type` and `params` (form_data), so that
 * Superset users recognise them. Charts made here also keep their validated config under
 * `params.mcp_config`; charts from elsewhere (the example data, imports) are read back from
 * their form_data for the viz types this service draws.
 */

const KIND_VIZ: Readonly<Record<string, string>> = { line: 'echarts_timeseries_line', bar: 'echarts_timeseries_bar', area: 'echarts_area', scatter: 'echarts_timeseries_scatter' }

export function vizTypeOf (config: ChartConfig): string {
  switch (config.chart_type) {
    case 'xy': return KIND_VIZ[config.kind] ?? 'echarts_timeseries_line'
    case 'table': return 'table'
    case 'pie': return 'pie'
    case 'big_number': return config.show_trendline ? 'big_number' : 'big_number_total'
    case 'histogram': return 'histogram_v2'
  }
}

/** Superset's metric in form_data: a saved metric name, or an ad-hoc SIMPLE metric. */
function formMetric (input: ColumnRefInput): unknown {
  if (typeof input === 'string') return input
  if (input.aggregate === undefined) return input.name
  const column = input.name ?? '*'
  return { expressionType: 'SIMPLE', aggregate: input.aggregate, column: { column_name: column }, label: input.label ?? `${input.aggregate}(${column})` }
}

const adhocFilters = (config: ChartConfig): unknown[] => (config.filters ?? []).map(filter => ({
  expressionType: 'SIMPLE', clause: 'WHERE', subject: filter.column, operator: filter.op, comparator: filter.value ?? null
}))

/** form_data for a config: Superset's keys, plus the config itself (the source of truth here). */
export function configToFormData (config: ChartConfig, datasetId: number): Record<string, unknown> {
  const common = { datasource: `${datasetId}__table`, viz_type: vizTypeOf(config), adhoc_filters: adhocFilters(config), time_range: config.time_range ?? 'No filter', mcp_config: config }
  switch (config.chart_type) {
    case 'xy': return { ...common, x_axis: typeof config.x === 'string' ? config.x : config.x?.name, time_grain_sqla: config.time_grain, metrics: config.y.map(formMetric), groupby: config.group_by === undefined ? [] : [config.group_by].flat(), stack: config.stacked ? 'Stack' : null, orientation: config.orientation, row_limit: config.row_limit }
    case 'table': return { ...common, query_mode: config.query_mode, all_columns: config.columns.map(formMetric), row_limit: config.row_limit }
    case 'pie': return { ...common, groupby: [config.dimension], metric: formMetric(config.metric), donut: config.donut, row_limit: config.row_limit }
    case 'big_number': return { ...common, metric: formMetric(config.metric), subheader: config.subheader, granularity_sqla: config.temporal_column, time_grain_sqla: config.time_grain }
    case 'histogram': return { ...common, column: config.column, bins: config.bins, row_limit: config.row_limit }
  }
}

function metricInput (value: unknown): unknown {
  if (typeof value === 'string') return value
  const metric = value as { expressionType?: string, aggregate?: string, column?: { column_name?: string }, label?: string }
  if (metric?.expressionType === 'SIMPLE' && typeof metric.aggregate === 'string') {
    return { name: metric.column?.column_name === '*' ? undefined : metric.column?.column_name, aggregate: metric.aggregate.toUpperCase(), label: metric.label }
  }
  throw invalidArguments('This chart uses a custom SQL metric, which this service cannot draw yet.')
}

function filtersOf (params: Record<string, unknown>): unknown[] {
  const adhoc = Array.isArray(params.adhoc_filters) ? params.adhoc_filters as Array<Record<string, unknown>> : []
  return adhoc.filter(filter => filter.expressionType === 'SIMPLE' && filter.clause !== 'HAVING')
    .map(filter => ({ column: filter.subject, op: filter.operator, ...(filter.comparator === null || filter.comparator === undefined ? {} : { value: filter.comparator }) }))
}

/**
 * A stored chart's config: its own `mcp_config`, or one read from Superset form_data for
 * line, bar, area, scatter, pie, table, big number and histogram charts.
 */
export function chartConfigOf (vizType: string, params: Record<string, unknown>): ChartConfig {
  if (params.mcp_config !== undefined) return parseChartConfig(params.mcp_config)
  const metrics = Array.isArray(params.metrics) ? params.metrics.map(metricInput) : []
  const groupby = Array.isArray(params.groupby) ? params.groupby as string[] : []
  const timeRange = typeof params.time_range === 'string' && params.time_range !== 'No filter' ? { time_range: params.time_range } : {}
  const shared = { filters: filtersOf(params), ...timeRange }
  const rowLimit = typeof params.row_limit === 'number' ? { row_limit: params.row_limit } : {}
  switch (vizType) {
    case 'echarts_timeseries_line':
    case 'echarts_timeseries_bar':
    case 'echarts_area':
    case 'echarts_timeseries_scatter':
    case 'echarts_timeseries_smooth':
    case 'line':
    case 'bar':
    case 'dist_bar':
      return parseChartConfig({
        chart_type: vizType,
        ...(typeof params.x_axis === 'string' ? { x: params.x_axis } : {}),
        ...(typeof params.time_grain_sqla === 'string' ? { time_grain: params.time_grain_sqla } : {}),
        y: metrics,
        ...(groupby.length > 0 ? { group_by: groupby[0] } : {}),
        // Superset's area charts stack their series.
        stacked: params.stack === 'Stack' || params.stack === true || (vizType === 'echarts_area' && groupby.length > 0),
        ...shared,
        ...rowLimit
      })
    case 'pie':
      return parseChartConfig({ chart_type: 'pie', dimension: groupby[0], metric: metricInput(params.metric), ...shared, ...rowLimit })
    case 'big_number_total':
    case 'big_number':
      return parseChartConfig({ chart_type: 'big_number', metric: metricInput(params.metric), show_trendline: vizType === 'big_number', ...(typeof params.subheader === 'string' ? { subheader: params.subheader } : {}), ...shared })
    case 'table': {
      const columns = [...groupby, ...(Array.isArray(params.all_columns) ? params.all_columns.map(metricInput) : []), ...metrics]
      const sort = metrics[0]
      return parseChartConfig({
        chart_type: 'table',
        columns,
        ...(typeof params.query_mode === 'string' ? { query_mode: params.query_mode } : {}),
        ...(params.order_desc === true && typeof sort === 'string' ? { sort_by: { column: sort, ascending: false } } : {}),
        ...shared,
        ...rowLimit
      })
    }
    case 'histogram_v2':
    case 'histogram':
      return parseChartConfig({ chart_type: 'histogram', column: params.column ?? (Array.isArray(params.all_columns_x) ? params.all_columns_x[0] : undefined), ...(typeof params.bins === 'number' ? { bins: params.bins } : {}), ...shared })
    default:
      throw invalidArguments(`Charts of type ${vizType} cannot be drawn by this service yet.`, 'Supported: line, bar, area, scatter, pie, table, big number and histogram charts.')
  }
}

/** The config of a stored chart (its params are form_data JSON). */
export function storedChartConfig (chart: { viz_type: string, params: string }): ChartConfig {
  let params: unknown
  try {
    params = JSON.parse(chart.params)
  } catch {
    throw invalidArguments('This chart\'s saved parameters are not valid JSON; it cannot be drawn.')
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw invalidArguments('This chart has no parameters to draw it from.')
  return chartConfigOf(chart.viz_type, params as Record<string, unknown>)
}
