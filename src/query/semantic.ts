import type { DatasetColumnRecord, DatasetMetricRecord, DatasetRecord } from '../catalog/records.ts'
import type { SqlParam } from '../engines/engines.ts'
import { invalidArguments } from '../errors.ts'
import type { Dialect, TimeGrain } from './dialect.ts'
import { withoutTrailingTerminator } from './sql-text.ts'
import { resolveTimeRange } from './time-range.ts'

export const AGGREGATES = ['SUM', 'AVG', 'COUNT', 'COUNT_DISTINCT', 'MIN', 'MAX'] as const
export type Aggregate = (typeof AGGREGATES)[number]

export const FILTER_OPS = ['==', '!=', '>', '<', '>=', '<=', 'LIKE', 'ILIKE', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL', 'TEMPORAL_RANGE'] as const
export type FilterOp = (typeof FILTER_OPS)[number]

/** A saved metric of the dataset, or an aggregate over one of its columns (COUNT may omit it: COUNT(*)). */
export type MetricRef =
  | { saved: string, label?: string | undefined }
  | { aggregate: Aggregate, column?: string | undefined, label?: string | undefined }

/** A column to group by; temporal columns may be truncated to a grain. */
export interface DimensionRef {
  column: string
  timeGrain?: TimeGrain | undefined
  label?: string | undefined
}

export interface FilterRef {
  column: string
  op: FilterOp
  value?: unknown
}

/** What to ask of a dataset: the one model behind query_dataset, every chart type and get_chart_sql. */
export interface SemanticQuery {
  dimensions: DimensionRef[]
  metrics: MetricRef[]
  filters: FilterRef[]
  /** Superset time range ("Last quarter", "2024-01-01 : 2024-06-30") on `timeColumn` (default: the dataset's main date column). */
  timeRange?: string | undefined
  timeColumn?: string | undefined
  /** Result labels (dimension or metric) to sort by; default: first metric descending, or dimensions ascending. */
  orderBy?: Array<{ label: string, descending: boolean }> | undefined
  rowLimit: number
  /** Raw rows of `dimensions` without aggregation (metrics must be empty). */
  raw?: boolean | undefined
}

/** A dataset as the compiler needs it. */
export interface DatasetModel {
  dataset: Pick<DatasetRecord, 'id' | 'table_name' | 'schema' | 'sql' | 'main_dttm_col'>
  columns: ReadonlyArray<Pick<DatasetColumnRecord, 'column_name' | 'verbose_name' | 'type' | 'is_dttm'>>
  metrics: ReadonlyArray<Pick<DatasetMetricRecord, 'metric_name' | 'verbose_name' | 'expression' | 'd3format'>>
}

/** One column of the result: its key in rows, a label, and what it is. */
export interface ResultField {
  name: string
  label: string
  role: 'dimension' | 'metric'
  type: 'temporal' | 'quantitative' | 'nominal'
  format?: string | undefined
}

export interface CompiledQuery {
  sql: string
  params: SqlParam[]
  fields: ResultField[]
  /** The time range as applied, for the answer (since / until, ISO). */
  appliedTimeRange?: { column: string, since?: string | undefined, until?: string | undefined } | undefined
}

const NUMERIC_TYPE = /INT|REAL|FLOA|DOUB|NUM|DEC|MONEY/i
const MAX_IN_VALUES = 1000

function isTemporal (column: DatasetModel['columns'][number]): boolean {
  return column.is_dttm || /DATE|TIME/i.test(column.type ?? '')
}

/** [since, until) on a date column; bounds with a time of day compare as normalised date-times. */
function rangeConditions (target: string, range: { since?: string | undefined, until?: string | undefined }, params: SqlParam[], dialect: Dialect): string[] {
  const parts: string[] = []
  for (const [bound, op] of [[range.since, '>='], [range.until, '<']] as const) {
    if (bound === undefined) continue
    params.push(bound)
    parts.push(bound.length > 10 ? `${dialect.dateTimeComparable(target)} ${op} ${dialect.dateTimeComparable('?')}` : `${target} ${op} ?`)
  }
  return parts
}

/** Up to three known names close to `wanted`, for "did you mean" hints. */
export function closestNames (wanted: string, known: readonly string[]): string[] {
  const target = wanted.toLowerCase()
  const score = (name: string): number => {
    const candidate = name.toLowerCase()
    if (candidate.includes(target) || target.includes(candidate)) return 0
    let previous = Array.from({ length: candidate.length + 1 }, (_, i) => i)
    for (let i = 1; i <= target.length; i++) {
      const current = [i]
      for (let j = 1; j <= candidate.length; j++) {
        current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (target[i - 1] === candidate[j - 1] ? 0 : 1)))
      }
      previous = current
    }
    return previous[candidate.length] ?? Infinity
  }
  return known.map(name => ({ name, distance: score(name) }))
    .filter(entry => entry.distance <= Math.max(2, Math.floor(wanted.length / 3)))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, 3)
    .map(entry => entry.name)
}

/**
 * Compile a semantic query into one SQL statement for the dataset's engine. Every column
 * and metric name is checked against the dataset (identifiers come only from it, quoted);
 * every value is a bound parameter; saved metric expressions are the dataset's own SQL.
 */
export function compileQuery (query: SemanticQuery, model: DatasetModel, dialect: Dialect, now = new Date()): CompiledQuery {
  const columns = new Map(model.columns.map(column => [column.column_name, column]))
  const columnNames = model.columns.map(column => column.column_name)
  const metricNames = model.metrics.map(metric => metric.metric_name)
  const q = dialect.quote
  const params: SqlParam[] = []

  const column = (name: string, role: string): DatasetModel['columns'][number] => {
    const found = columns.get(name) ?? model.columns.find(candidate => candidate.column_name.toLowerCase() === name.toLowerCase())
    if (found !== undefined) return found
    const close = closestNames(name, columnNames)
    throw invalidArguments(
      `Column "${name}" (${role}) is not in dataset ${model.dataset.table_name}.${close.length > 0 ? ` Did you mean ${close.map(c => `"${c}"`).join(', ')}?` : ''}`,
      `Columns: ${columnNames.join(', ')}. Saved metrics: ${metricNames.join(', ') || 'none'}.`
    )
  }

  if (query.raw === true && query.metrics.length > 0) throw invalidArguments('Raw mode returns rows as they are: it takes columns, not metrics.', 'Drop the metrics, or use aggregate mode.')
  if (query.dimensions.length === 0 && query.metrics.length === 0) throw invalidArguments('Nothing to query: give at least one metric or one column (dimension).', `Columns: ${columnNames.join(', ')}. Saved metrics: ${metricNames.join(', ') || 'none'}.`)

  const fields: ResultField[] = []
  const selects: string[] = []
  const groupBy: string[] = []
  const labels = new Set<string>()
  const claim = (label: string): string => {
    if (labels.has(label)) throw invalidArguments(`Two outputs are both labelled "${label}".`, 'Give each metric and column a distinct label.')
    labels.add(label)
    return label
  }

  for (const dimension of query.dimensions) {
    const found = column(dimension.column, 'dimension')
    const temporal = isTemporal(found)
    if (dimension.timeGrain !== undefined && !temporal) {
      throw invalidArguments(`time_grain ${dimension.timeGrain} applies to date/time columns, and ${found.column_name} is ${found.type ?? 'not one'}.`, `Date/time columns: ${model.columns.filter(isTemporal).map(c => c.column_name).join(', ') || 'none'}.`)
    }
    const expression = dimension.timeGrain === undefined ? q(found.column_name) : dialect.timeGrain(q(found.column_name), dimension.timeGrain)
    const label = claim(dimension.label ?? found.column_name)
    selects.push(`${expression} AS ${q(label)}`)
    groupBy.push(expression)
    fields.push({ name: label, label: found.verbose_name ?? label, role: 'dimension', type: temporal ? 'temporal' : NUMERIC_TYPE.test(found.type ?? '') && query.raw === true ? 'quantitative' : 'nominal' })
  }

  for (const metric of query.metrics) {
    if ('saved' in metric) {
      const saved = model.metrics.find(candidate => candidate.metric_name === metric.saved) ?? model.metrics.find(candidate => candidate.metric_name.toLowerCase() === metric.saved.toLowerCase())
      if (saved === undefined) {
        const close = closestNames(metric.saved, metricNames)
        throw invalidArguments(
          `"${metric.saved}" is not a saved metric of dataset ${model.dataset.table_name}.${close.length > 0 ? ` Did you mean ${close.map(c => `"${c}"`).join(', ')}?` : ''}`,
          `Saved metrics: ${metricNames.join(', ') || 'none'}. Or aggregate a column: {"aggregate": "SUM", "column": "amount"}.`
        )
      }
      const label = claim(metric.label ?? saved.metric_name)
      selects.push(`${saved.expression} AS ${q(label)}`)
      fields.push({ name: label, label: metric.label ?? saved.verbose_name ?? saved.metric_name, role: 'metric', type: 'quantitative', format: saved.d3format ?? undefined })
      continue
    }
    let expression: string
    let label: string
    if (metric.column === undefined || metric.column === '*') {
      if (metric.aggregate !== 'COUNT') throw invalidArguments(`${metric.aggregate} needs a column.`, 'Example: {"aggregate": "SUM", "column": "amount"}; only COUNT works without one.')
      expression = 'COUNT(*)'
      label = metric.label ?? 'COUNT(*)'
    } else {
      const found = column(metric.column, `${metric.aggregate} metric`)
      const numeric = NUMERIC_TYPE.test(found.type ?? '')
      if ((metric.aggregate === 'SUM' || metric.aggregate === 'AVG') && !numeric) {
        throw invalidArguments(`${metric.aggregate} needs a numeric column, and ${found.column_name} is ${found.type ?? 'untyped'}.`, `Numeric columns: ${model.columns.filter(c => NUMERIC_TYPE.test(c.type ?? '')).map(c => c.column_name).join(', ') || 'none'}. COUNT, COUNT_DISTINCT, MIN and MAX work on any column.`)
      }
      const inner = q(found.column_name)
      expression = metric.aggregate === 'COUNT_DISTINCT' ? `COUNT(DISTINCT ${inner})` : `${metric.aggregate}(${inner})`
      label = metric.label ?? `${metric.aggregate}(${found.column_name})`
    }
    selects.push(`${expression} AS ${q(claim(label))}`)
    fields.push({ name: label, label, role: 'metric', type: 'quantitative' })
  }

  const where: string[] = []
  for (const filter of query.filters) where.push(compileFilter(filter, column, dialect, params, now))

  let appliedTimeRange: CompiledQuery['appliedTimeRange']
  if (query.timeRange !== undefined && query.timeRange.trim() !== '' && !/^no filter$/i.test(query.timeRange.trim())) {
    const timeColumnName = query.timeColumn ?? model.dataset.main_dttm_col ?? model.columns.find(isTemporal)?.column_name
    if (timeColumnName === undefined) throw invalidArguments(`Dataset ${model.dataset.table_name} has no date/time column for time_range.`, 'Drop time_range, or filter a column explicitly.')
    const timeColumn = column(timeColumnName, 'time column')
    if (!isTemporal(timeColumn)) throw invalidArguments(`time_range needs a date/time column, and ${timeColumn.column_name} is ${timeColumn.type ?? 'untyped'}.`)
    const range = resolveTimeRange(query.timeRange, now)
    where.push(...rangeConditions(q(timeColumn.column_name), range, params, dialect))
    appliedTimeRange = { column: timeColumn.column_name, since: range.since, until: range.until }
  }

  const orderBy = (query.orderBy ?? defaultOrder(fields, query.raw === true)).map(order => {
    if (!labels.has(order.label)) {
      throw invalidArguments(`Cannot sort by "${order.label}": it is not one of the outputs.`, `Outputs: ${[...labels].join(', ')}.`)
    }
    // NULLs sort as SQLite sorts them (first ascending, last descending) on every engine:
    // PostgreSQL and DuckDB would put a NULL time bucket at the other end.
    return `${q(order.label)} ${order.descending ? 'DESC NULLS LAST' : 'ASC NULLS FIRST'}`
  })

  const source = model.dataset.sql === null
    ? `${model.dataset.schema === null || model.dataset.schema === 'main' ? '' : `${q(model.dataset.schema)}.`}${q(model.dataset.table_name)}`
    // Saved SQL may end in `;` or a `--` comment (CLI, older catalogs): either would break the wrapper.
    : `(${withoutTrailingTerminator(model.dataset.sql)})`
  const sql = [
    `SELECT ${selects.join(', ')}`,
    `FROM ${source} AS ${q('ds')}`,
    where.length > 0 ? `WHERE ${where.join(' AND ')}` : '',
    // Dimensions without metrics group too: the distinct values, as Superset's aggregate mode.
    query.raw !== true && groupBy.length > 0 ? `GROUP BY ${groupBy.join(', ')}` : '',
    orderBy.length > 0 ? `ORDER BY ${orderBy.join(', ')}` : '',
    'LIMIT ?'
  ].filter(part => part !== '').join('\n')
  params.push(query.rowLimit)
  return { sql, params, fields, appliedTimeRange }
}

function defaultOrder (fields: readonly ResultField[], raw: boolean): Array<{ label: string, descending: boolean }> {
  if (raw) return []
  const temporal = fields.find(field => field.role === 'dimension' && field.type === 'temporal')
  if (temporal !== undefined) return [{ label: temporal.name, descending: false }]
  const metric = fields.find(field => field.role === 'metric')
  if (metric !== undefined) return [{ label: metric.name, descending: true }]
  return fields.map(field => ({ label: field.name, descending: false }))
}

function scalar (value: unknown, op: string, column: string): SqlParam {
  if (typeof value === 'string' || typeof value === 'number') return value
  if (typeof value === 'boolean') return value ? 1 : 0
  throw invalidArguments(`Filter ${column} ${op} needs a single string or number as its value, got ${JSON.stringify(value) ?? 'nothing'}.`)
}

function compileFilter (filter: FilterRef, column: (name: string, role: string) => DatasetModel['columns'][number], dialect: Dialect, params: SqlParam[], now: Date): string {
  const found = column(filter.column, 'filter')
  const target = dialect.quote(found.column_name)
  switch (filter.op) {
    case 'IS NULL': return `${target} IS NULL`
    case 'IS NOT NULL': return `${target} IS NOT NULL`
    case 'IN':
    case 'NOT IN': {
      const values = Array.isArray(filter.value) ? filter.value : undefined
      if (values === undefined || values.length === 0) throw invalidArguments(`Filter ${found.column_name} ${filter.op} needs a non-empty list of values.`, `Example: {"column": "${found.column_name}", "op": "${filter.op}", "value": ["a", "b"]}.`)
      if (values.length > MAX_IN_VALUES) throw invalidArguments(`Filter ${found.column_name} ${filter.op} has more than ${MAX_IN_VALUES} values.`)
      for (const value of values) params.push(scalar(value, filter.op, found.column_name))
      return `${target} ${filter.op} (${values.map(() => '?').join(', ')})`
    }
    case 'LIKE':
      params.push(scalar(filter.value, filter.op, found.column_name))
      return `${target} LIKE ?`
    case 'ILIKE':
      params.push(scalar(filter.value, filter.op, found.column_name))
      return dialect.ilike(target, '?')
    case 'TEMPORAL_RANGE': {
      if (typeof filter.value !== 'string') throw invalidArguments(`TEMPORAL_RANGE on ${found.column_name} needs a time range string, e.g. "Last quarter" or "2024-01-01 : 2024-06-30".`)
      if (!isTemporal(found)) throw invalidArguments(`TEMPORAL_RANGE needs a date/time column, and ${found.column_name} is ${found.type ?? 'untyped'}.`)
      const parts = rangeConditions(target, resolveTimeRange(filter.value, now), params, dialect)
      return parts.length === 0 ? '1 = 1' : parts.join(' AND ')
    }
    default: {
      const sqlOp = filter.op === '==' ? '=' : filter.op === '!=' ? '<>' : filter.op
      params.push(scalar(filter.value, filter.op, found.column_name))
      return `${target} ${sqlOp} ?`
    }
  }
}
