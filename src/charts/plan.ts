import { invalidArguments } from '../errors.ts'
import { closestNames } from '../query/semantic.ts'
import type { DatasetModel, DimensionRef, MetricRef, ResultField, SemanticQuery } from '../query/semantic.ts'
import type { ChartConfig, ColumnRefInput } from './config.ts'
import type { ChartField, ChartView } from './view.ts'

export type ResultRow = Record<string, string | number | boolean | null>

/**
 * How one chart config becomes a query and a picture: the semantic query to run, and how
 * its result rows become the data a chart shows (histograms bin them) and a ChartView.
 */
export interface ChartPlan {
  query: SemanticQuery
  /** The chart's data: what get_chart_data returns and every preview draws. */
  data: (rows: ResultRow[], fields: readonly ResultField[]) => { fields: ResultField[], rows: ResultRow[] }
  view: (data: { fields: ResultField[], rows: ResultRow[] }, title: string) => ChartView
}

const NUMERIC_TYPE = /INT|REAL|FLOA|DOUB|NUM|DEC|MONEY/i

function isSavedMetric (name: string, model: DatasetModel): boolean {
  return model.metrics.some(metric => metric.metric_name.toLowerCase() === name.toLowerCase())
}

/** A metric reference as configs write it: a saved metric name, or {name, aggregate | saved_metric}. */
export function metricOf (input: ColumnRefInput, model: DatasetModel): MetricRef {
  if (typeof input === 'string') return { saved: input }
  if (input.saved_metric === true || (input.aggregate === undefined && input.name !== undefined && isSavedMetric(input.name, model))) {
    if (input.name === undefined) throw invalidArguments('A saved metric needs its "name".')
    return { saved: input.name, label: input.label }
  }
  if (input.aggregate === undefined) {
    const savedMetrics = model.metrics.map(metric => metric.metric_name).join(', ') || 'none'
    if (input.name !== undefined && columnOf(input.name, model) === undefined) {
      const close = closestNames(input.name, [...model.metrics.map(metric => metric.metric_name), ...model.columns.map(column => column.column_name)])
      throw invalidArguments(
        `"${input.name}" is neither a saved metric nor a column of dataset ${model.dataset.table_name}.${close.length > 0 ? ` Did you mean ${close.map(name => `"${name}"`).join(', ')}?` : ''}`,
        `Saved metrics: ${savedMetrics}. Or aggregate a column: {"name": "amount", "aggregate": "SUM"}.`
      )
    }
    throw invalidArguments(`"${input.name ?? '?'}" is a column, not a metric: say how to aggregate it.`, `Example: {"name": "${input.name ?? 'amount'}", "aggregate": "SUM"} (SUM, AVG, COUNT, COUNT_DISTINCT, MIN, MAX), or a saved metric: ${savedMetrics}.`)
  }
  return { aggregate: input.aggregate, column: input.name, label: input.label }
}

/** Whether a table column entry is a metric (saved, or aggregated) rather than a column. */
function isMetricInput (input: ColumnRefInput, model: DatasetModel): boolean {
  if (typeof input === 'string') return isSavedMetric(input, model) && !model.columns.some(column => column.column_name === input)
  return input.aggregate !== undefined || input.saved_metric === true || (input.name !== undefined && isSavedMetric(input.name, model))
}

function columnName (input: ColumnRefInput, role: string): string {
  if (typeof input === 'string') return input
  if (input.aggregate !== undefined || input.saved_metric === true) throw invalidArguments(`The ${role} must be a column, not a metric.`)
  if (input.name === undefined) throw invalidArguments(`The ${role} needs a column "name".`)
  return input.name
}

function columnOf (name: string, model: DatasetModel): DatasetModel['columns'][number] | undefined {
  return model.columns.find(column => column.column_name === name) ?? model.columns.find(column => column.column_name.toLowerCase() === name.toLowerCase())
}

function isTemporalColumn (name: string, model: DatasetModel): boolean {
  const column = columnOf(name, model)
  return column !== undefined && (column.is_dttm || /DATE|TIME/i.test(column.type ?? ''))
}

function toChartField (field: ResultField): ChartField {
  return { name: field.name, label: field.label, type: field.type, format: field.format }
}

const identity = (rows: ResultRow[], fields: readonly ResultField[]): { fields: ResultField[], rows: ResultRow[] } => ({ fields: [...fields], rows })

function mainDate (model: DatasetModel, role: string): string {
  const name = model.dataset.main_dttm_col ?? model.columns.find(column => column.is_dttm)?.column_name
  if (name === undefined) throw invalidArguments(`Dataset ${model.dataset.table_name} has no date column, so the ${role} must be given.`, `Columns: ${model.columns.map(column => column.column_name).join(', ')}.`)
  return name
}

/** The query and view of a chart config on a dataset. Names are checked when the query compiles. */
export function planChart (config: ChartConfig, model: DatasetModel): ChartPlan {
  const filters = (config.filters ?? []).map(filter => ({ column: filter.column, op: filter.op, value: filter.value }))
  const base = { filters, timeRange: config.time_range }
  switch (config.chart_type) {
    case 'xy': {
      const x = config.x === undefined ? mainDate(model, 'x axis') : columnName(config.x, 'x axis')
      const temporal = isTemporalColumn(x, model)
      const groupBy = typeof config.group_by === 'string' ? config.group_by : config.group_by?.[0]
      if (config.orientation !== undefined && config.kind !== 'bar') throw invalidArguments('orientation applies to bar charts only.', 'Drop orientation, or set kind: "bar".')
      const dimensions: DimensionRef[] = [{ column: x, timeGrain: temporal ? config.time_grain ?? 'P1D' : config.time_grain }]
      if (groupBy !== undefined) dimensions.push({ column: groupBy })
      const query: SemanticQuery = { ...base, dimensions, metrics: config.y.map(input => metricOf(input, model)), rowLimit: config.row_limit }
      const numericX = NUMERIC_TYPE.test(columnOf(x, model)?.type ?? '')
      return {
        query,
        data: identity,
        view: ({ fields, rows }, title) => {
          const [xField, seriesField] = fields.filter(field => field.role === 'dimension')
          const xChart = xField === undefined ? undefined : { ...toChartField(xField), type: temporal ? 'temporal' as const : config.kind === 'scatter' && numericX ? 'quantitative' as const : 'nominal' as const }
          return {
            title,
            kind: config.kind,
            x: xChart,
            series: seriesField === undefined ? undefined : toChartField(seriesField),
            y: fields.filter(field => field.role === 'metric').map(toChartField),
            stacked: config.stacked,
            horizontal: config.orientation === 'horizontal',
            rows
          }
        }
      }
    }
    case 'table': {
      const metricInputs = config.columns.filter(input => isMetricInput(input, model))
      const mode = config.query_mode ?? (metricInputs.length > 0 ? 'aggregate' : 'raw')
      if (mode === 'raw' && metricInputs.length > 0) throw invalidArguments('Raw mode shows rows as they are: its columns cannot be metrics.', 'Use query_mode "aggregate", or list only columns.')
      const dimensions = config.columns.filter(input => !isMetricInput(input, model)).map(input => ({ column: columnName(input, 'table column'), label: typeof input === 'string' ? undefined : input.label }))
      const sort = typeof config.sort_by === 'string' ? { column: config.sort_by, ascending: false } : config.sort_by
      const query: SemanticQuery = {
        ...base,
        dimensions,
        metrics: metricInputs.map(input => metricOf(input, model)),
        raw: mode === 'raw',
        rowLimit: config.row_limit,
        orderBy: sort === undefined ? undefined : [{ label: sort.column, descending: !sort.ascending }]
      }
      return {
        query,
        data: identity,
        view: ({ fields, rows }, title) => ({ title, kind: 'table', y: fields.filter(field => field.role === 'metric').map(toChartField), columns: fields.map(toChartField), rows })
      }
    }
    case 'pie': {
      const query: SemanticQuery = { ...base, dimensions: [{ column: config.dimension }], metrics: [metricOf(config.metric, model)], rowLimit: config.row_limit }
      return {
        query,
        data: identity,
        view: ({ fields, rows }, title) => {
          const dimension = fields.find(field => field.role === 'dimension')
          return { title, kind: 'pie', x: dimension === undefined ? undefined : toChartField(dimension), y: fields.filter(field => field.role === 'metric').map(toChartField), rows }
        }
      }
    }
    case 'big_number': {
      const metric = metricOf(config.metric, model)
      const temporal = config.show_trendline ? config.temporal_column ?? mainDate(model, 'temporal_column') : undefined
      if (!config.show_trendline && (config.temporal_column !== undefined || config.time_grain !== undefined)) {
        throw invalidArguments('temporal_column and time_grain shape the trend line: set show_trendline: true, or drop them.')
      }
      const query: SemanticQuery = {
        ...base,
        dimensions: temporal === undefined ? [] : [{ column: temporal, timeGrain: config.time_grain ?? 'P1D' }],
        metrics: [metric],
        rowLimit: temporal === undefined ? 1 : 10_000
      }
      return {
        query,
        data: identity,
        view: ({ fields, rows }, title) => {
          const measure = fields.find(field => field.role === 'metric')
          const x = fields.find(field => field.role === 'dimension')
          // With a trend line the headline is the latest period, as in Superset.
          const last = rows.at(-1)
          const value = measure === undefined || last === undefined ? null : last[measure.name]
          return {
            title,
            kind: 'big_number',
            x: x === undefined ? undefined : toChartField(x),
            y: measure === undefined ? [] : [toChartField(measure)],
            rows,
            bigNumber: { value: typeof value === 'number' ? value : value === null ? null : Number(value), subheader: config.subheader, trend: temporal !== undefined }
          }
        }
      }
    }
    case 'histogram': {
      const column = columnOf(config.column, model)
      if (column !== undefined && !NUMERIC_TYPE.test(column.type ?? '')) {
        throw invalidArguments(`A histogram bins a numeric column, and ${column.column_name} is ${column.type ?? 'untyped'}.`, `Numeric columns: ${model.columns.filter(c => NUMERIC_TYPE.test(c.type ?? '')).map(c => c.column_name).join(', ') || 'none'}.`)
      }
      const query: SemanticQuery = {
        filters: [...filters, { column: config.column, op: 'IS NOT NULL' }],
        timeRange: config.time_range,
        dimensions: [{ column: config.column }],
        metrics: [],
        raw: true,
        rowLimit: config.row_limit
      }
      const bins = config.bins
      const data = (rows: ResultRow[], fields: readonly ResultField[]): { fields: ResultField[], rows: ResultRow[] } => {
        const source = fields[0]?.name ?? config.column
        const values = rows.map(row => Number(row[source])).filter(Number.isFinite)
        const binned = binValues(values, bins)
        return {
          fields: [
            { name: 'bin', label: column?.verbose_name ?? config.column, role: 'dimension', type: 'nominal' },
            { name: 'bin_start', label: 'from', role: 'dimension', type: 'quantitative' },
            { name: 'bin_end', label: 'to', role: 'dimension', type: 'quantitative' },
            { name: 'count', label: 'Count', role: 'metric', type: 'quantitative', format: ',d' }
          ],
          rows: binned
        }
      }
      return {
        query,
        data,
        view: ({ fields, rows }, title) => ({
          title,
          kind: 'histogram',
          x: fields[0] === undefined ? undefined : toChartField(fields[0]),
          y: fields.filter(field => field.role === 'metric').map(toChartField),
          rows
        })
      }
    }
  }
}

const round = (value: number): number => Number(value.toPrecision(12))

/** Equal-width bins over [min, max]; the last bin includes max (as numpy and Superset do). */
export function binValues (values: readonly number[], bins: number): ResultRow[] {
  if (values.length === 0) return []
  let min = Infinity
  let max = -Infinity
  for (const value of values) {
    if (value < min) min = value
    if (value > max) max = value
  }
  const width = max === min ? 1 : (max - min) / bins
  const counts = new Array<number>(bins).fill(0)
  for (const value of values) {
    const index = Math.min(bins - 1, Math.floor((value - min) / width))
    counts[index] = (counts[index] ?? 0) + 1
  }
  return counts.map((count, index) => {
    const start = round(min + index * width)
    const end = round(index === bins - 1 ? (max === min ? min + width : max) : min + (index + 1) * width)
    return { bin: `${start} – ${end}`, bin_start: start, bin_end: end, count }
  })
}
