import * as z from 'zod'
import { invalidArguments } from '../errors.ts'
import { TIME_GRAINS } from '../query/dialect.ts'
import { AGGREGATES, closestNames } from '../query/semantic.ts'

/**
 * Chart configs, in the shape of Superset's MCP `ChartConfig` (chart/schemas.py): one object
 * per chart type, discriminated by `chart_type`, with Superset's field names and synonyms.
 * Validation messages say which field is wrong and what is allowed, so a model can fix it.
 */

export const CHART_TYPES = ['xy', 'table', 'pie', 'big_number', 'histogram'] as const
export type ChartType = (typeof CHART_TYPES)[number]

/** Superset viz types (and plain names) accepted as chart_type, with the kind they stand for. */
const VIZ_SYNONYMS: Readonly<Record<string, { chart_type: ChartType, kind?: 'line' | 'bar' | 'area' | 'scatter' }>> = {
  line: { chart_type: 'xy', kind: 'line' },
  echarts_timeseries_line: { chart_type: 'xy', kind: 'line' },
  echarts_timeseries_smooth: { chart_type: 'xy', kind: 'line' },
  bar: { chart_type: 'xy', kind: 'bar' },
  dist_bar: { chart_type: 'xy', kind: 'bar' },
  echarts_timeseries_bar: { chart_type: 'xy', kind: 'bar' },
  area: { chart_type: 'xy', kind: 'area' },
  echarts_area: { chart_type: 'xy', kind: 'area' },
  scatter: { chart_type: 'xy', kind: 'scatter' },
  echarts_timeseries_scatter: { chart_type: 'xy', kind: 'scatter' },
  'ag-grid-table': { chart_type: 'table' },
  big_number_total: { chart_type: 'big_number' },
  histogram_v2: { chart_type: 'histogram' }
}

/** Field synonyms Superset accepts, per object kind: alias → field. */
const ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  config: { viz_type: 'chart_type', x_axis: 'x', x_column: 'x', metrics: 'y', groupby: 'group_by', series: 'group_by', breakdown: 'group_by', all_columns: 'columns' },
  pie: { viz_type: 'chart_type', groupby: 'dimension' },
  column: { column_name: 'name' },
  filter: { col: 'column', operator: 'op', opr: 'op', val: 'value' }
}

export const FILTER_OP_SYNONYMS: Readonly<Record<string, string>> = { '=': '==', eq: '==', ne: '!=', '<>': '!=', gt: '>', lt: '<', gte: '>=', lte: '<=', in: 'IN', not_in: 'NOT IN', nin: 'NOT IN', like: 'LIKE', ilike: 'ILIKE', is_null: 'IS NULL', is_not_null: 'IS NOT NULL', temporal_range: 'TEMPORAL_RANGE' }

function unknownFieldsError (kind: string, known: readonly string[]) {
  return (issue: z.core.$ZodRawIssue): string | undefined => {
    if (issue.code !== 'unrecognized_keys') return undefined
    const keys = (issue as unknown as { keys: string[] }).keys
    return keys.map(key => {
      const close = closestNames(key, known)
      return `unknown field "${key}" in ${kind}${close.length > 0 ? ` (did you mean "${close[0] ?? ''}"?)` : ''}; fields: ${known.join(', ')}`
    }).join('; ')
  }
}

function strict<T extends z.ZodRawShape> (kind: string, shape: T) {
  return z.strictObject(shape, { error: unknownFieldsError(kind, Object.keys(shape)) })
}

const label = z.string().trim().min(1).max(500)

/** A column, or a metric: a saved metric name, or {name, aggregate} over a column. */
export const columnRefSchema = z.union([
  z.string().trim().min(1).max(255),
  strict('a column or metric', {
    name: z.string().trim().min(1).max(255).optional().describe('column name, or saved metric name with saved_metric: true'),
    aggregate: z.enum(AGGREGATES).optional().describe('aggregate the column: SUM, AVG, COUNT, COUNT_DISTINCT, MIN, MAX'),
    saved_metric: z.boolean().optional().describe('true: `name` is a saved metric of the dataset'),
    label: label.optional().describe('display name (and result column name)')
  })
], { error: issue => issue.input === undefined ? 'required' : 'expected a column or saved metric name, or {"name": "amount", "aggregate": "SUM"}' })
export type ColumnRefInput = z.output<typeof columnRefSchema>

export const filterSchema = strict('a filter', {
  column: z.string().trim().min(1).max(255),
  op: z.enum(['==', '!=', '>', '<', '>=', '<=', 'LIKE', 'ILIKE', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL', 'TEMPORAL_RANGE']).describe('comparison; IN / NOT IN take a list; TEMPORAL_RANGE takes a time range string'),
  value: z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]).optional()
})

const common = {
  filters: z.array(filterSchema).max(20).optional().describe('conditions every row must meet'),
  time_range: z.string().trim().max(100).optional().describe('e.g. "Last quarter", "2024-01-01 : 2024-06-30" (end excluded), on the dataset\'s main date column')
}
const timeGrain = z.enum(TIME_GRAINS).describe('PT1S, PT1M, PT1H, P1D (day), P1W (week), P1M (month), P3M (quarter), P1Y (year)')

export const xyConfigSchema = strict('an xy config', {
  chart_type: z.literal('xy'),
  kind: z.enum(['line', 'bar', 'area', 'scatter']).default('line'),
  x: columnRefSchema.optional().describe('the x axis column; default: the dataset\'s main date column'),
  y: z.array(columnRefSchema).min(1).max(10).describe('one or more metrics'),
  group_by: z.union([z.string().trim().min(1), z.array(z.string().trim().min(1)).max(1)]).optional().describe('one column that splits the series'),
  time_grain: timeGrain.optional(),
  stacked: z.boolean().default(false),
  orientation: z.enum(['vertical', 'horizontal']).optional().describe('bar charts only'),
  row_limit: z.int().min(1).max(50_000).default(10_000),
  ...common
})

export const tableConfigSchema = strict('a table config', {
  chart_type: z.literal('table'),
  columns: z.array(columnRefSchema).min(1).max(50).describe('columns to group by and metrics (aggregate mode), or columns to show (raw mode)'),
  query_mode: z.enum(['aggregate', 'raw']).optional().describe('default: aggregate when a metric is given, else raw'),
  sort_by: z.union([z.string().trim().min(1), strict('sort_by', { column: z.string().trim().min(1), ascending: z.boolean().default(false) })]).optional(),
  row_limit: z.int().min(1).max(50_000).default(1000),
  ...common
})

export const pieConfigSchema = strict('a pie config', {
  chart_type: z.literal('pie'),
  dimension: z.string().trim().min(1).max(255).describe('the column whose values are the slices'),
  metric: columnRefSchema.describe('the slice size'),
  donut: z.boolean().default(false),
  row_limit: z.int().min(1).max(10_000).default(100),
  ...common
})

export const bigNumberConfigSchema = strict('a big_number config', {
  chart_type: z.literal('big_number'),
  metric: columnRefSchema,
  show_trendline: z.boolean().default(false),
  temporal_column: z.string().trim().min(1).max(255).optional().describe('date column of the trend line; default: the dataset\'s main date column'),
  time_grain: timeGrain.optional().describe('grain of the trend line (default P1D)'),
  subheader: z.string().max(200).optional(),
  ...common
})

export const histogramConfigSchema = strict('a histogram config', {
  chart_type: z.literal('histogram'),
  column: z.string().trim().min(1).max(255).describe('a numeric column'),
  bins: z.int().min(1).max(1000).default(5),
  row_limit: z.int().min(1).max(1_000_000).default(1_000_000).describe('most values read to bin; when the dataset has more, the result says truncated'),
  ...common
})

export const chartConfigSchema = z.discriminatedUnion('chart_type', [xyConfigSchema, tableConfigSchema, pieConfigSchema, bigNumberConfigSchema, histogramConfigSchema], {
  error: issue => issue.code === 'invalid_union' ? `chart_type must be one of ${CHART_TYPES.join(', ')} (Superset viz types such as echarts_timeseries_line or big_number_total work too)` : undefined
})

export type ChartConfig = z.output<typeof chartConfigSchema>
export type XyConfig = z.output<typeof xyConfigSchema>
export type TableConfig = z.output<typeof tableConfigSchema>
export type PieConfig = z.output<typeof pieConfigSchema>
export type BigNumberConfig = z.output<typeof bigNumberConfigSchema>
export type HistogramConfig = z.output<typeof histogramConfigSchema>

export const CHART_SCHEMAS: Readonly<Record<ChartType, z.ZodObject>> = {
  xy: xyConfigSchema, table: tableConfigSchema, pie: pieConfigSchema, big_number: bigNumberConfigSchema, histogram: histogramConfigSchema
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function renameAliases (value: Record<string, unknown>, aliases: Readonly<Record<string, string>>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value }
  for (const [alias, field] of Object.entries(aliases)) {
    if (!(alias in out)) continue
    if (field in out) throw invalidArguments(`${where}: give either "${field}" or its synonym "${alias}", not both.`)
    out[field] = out[alias]
    delete out[alias]
  }
  return out
}

/** Superset's synonyms and viz types, mapped onto our field names, before validation. */
function normalize (raw: unknown): unknown {
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw) as unknown
    } catch {
      throw invalidArguments('config must be a JSON object.', 'Call get_chart_type_schema for the fields and an example of each chart type.')
    }
  }
  if (!isObject(raw)) throw invalidArguments('config must be a JSON object with a chart_type.', `chart_type: ${CHART_TYPES.join(', ')}.`)
  const chartType = raw.chart_type ?? raw.viz_type
  const kindOf = typeof chartType === 'string' ? VIZ_SYNONYMS[chartType]?.chart_type ?? chartType : undefined
  let config: Record<string, unknown>
  if (kindOf === 'table') {
    // Superset's table form data: groupby columns and metrics (aggregate) or all_columns (raw).
    const { groupby, metrics, all_columns: allColumns, viz_type: vizType, ...rest } = raw
    const listed = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined ? [] : [value])
    const columns = [...listed(rest.columns), ...listed(allColumns), ...listed(groupby), ...listed(metrics)]
    config = { ...rest, chart_type: rest.chart_type ?? vizType, ...(columns.length === 0 ? {} : { columns }) }
  } else {
    config = renameAliases(raw, kindOf === 'pie' ? ALIASES.pie ?? {} : ALIASES.config ?? {}, 'config')
  }
  // One-metric charts given Superset's list forms: groupby ["region"], metrics ["revenue"].
  if (kindOf === 'pie' || kindOf === 'big_number') {
    if (Array.isArray(config.dimension) && config.dimension.length === 1) config.dimension = config.dimension[0]
    if (!('metric' in config) && Array.isArray(config.metrics) && config.metrics.length === 1) {
      config.metric = config.metrics[0]
      delete config.metrics
    }
  }
  const synonym = typeof config.chart_type === 'string' ? VIZ_SYNONYMS[config.chart_type] : undefined
  if (synonym !== undefined) {
    config = { ...config, chart_type: synonym.chart_type, ...(synonym.kind === undefined || 'kind' in config ? {} : { kind: synonym.kind }) }
  }
  // Pie and big number say `metric`; an xy chart given one metric that way means y.
  if (config.chart_type === 'xy' && 'metric' in config && !('y' in config)) {
    config.y = config.metric
    delete config.metric
  }
  const columnLike = (value: unknown): unknown => isObject(value) ? renameAliases(value, ALIASES.column ?? {}, 'a column') : value
  for (const key of ['x', 'metric']) if (key in config) config[key] = columnLike(config[key])
  for (const key of ['y', 'columns']) if (Array.isArray(config[key])) config[key] = (config[key] as unknown[]).map(columnLike)
  if (typeof config.y === 'string' || isObject(config.y)) config.y = [columnLike(config.y)]
  if (Array.isArray(config.filters)) {
    config.filters = config.filters.map(filter => {
      if (!isObject(filter)) return filter
      const renamed = renameAliases(filter, ALIASES.filter ?? {}, 'a filter')
      if (typeof renamed.op === 'string') renamed.op = FILTER_OP_SYNONYMS[renamed.op.toLowerCase()] ?? renamed.op.toUpperCase()
      return renamed
    })
  }
  return config
}

/** Validate a chart config (Superset's field names and synonyms accepted); errors say how to fix it. */
export function parseChartConfig (raw: unknown): ChartConfig {
  const parsed = chartConfigSchema.safeParse(normalize(raw))
  if (parsed.success) {
    const config = parsed.data
    if (config.chart_type === 'xy' && config.group_by !== undefined && config.y.length > 1) {
      throw invalidArguments('Invalid chart config: with group_by, y takes one metric (the series take the colours), and this config has several.', 'Keep one metric in y, or drop group_by to draw the metrics side by side.')
    }
    return config
  }
  const problems = parsed.error.issues.slice(0, 5).map(issue => `${issue.path.length === 0 ? 'config' : `config.${issue.path.map(String).join('.')}`}: ${issue.message}`)
  throw invalidArguments(`Invalid chart config: ${problems.join('; ')}.`, 'Call get_chart_type_schema with the chart_type for its fields and an example.')
}

/** One worked example per chart type, on the example data's orders dataset. */
export const CHART_EXAMPLES: Readonly<Record<ChartType, Record<string, unknown>>> = {
  xy: { chart_type: 'xy', kind: 'line', x: 'order_date', time_grain: 'P1M', y: ['revenue'], group_by: 'region', time_range: '2025-01-01 : 2026-01-01' },
  table: { chart_type: 'table', columns: ['region', 'channel', 'revenue', { name: 'order_id', aggregate: 'COUNT_DISTINCT', label: 'orders' }], sort_by: { column: 'revenue', ascending: false }, row_limit: 20 },
  pie: { chart_type: 'pie', dimension: 'channel', metric: 'order_count', donut: true },
  big_number: { chart_type: 'big_number', metric: 'revenue', show_trendline: true, time_grain: 'P1M', subheader: 'revenue per month' },
  histogram: { chart_type: 'histogram', column: 'amount', bins: 20, filters: [{ column: 'status', op: '==', value: 'Completed' }] }
}
