import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { columnRefSchema, FILTER_OP_SYNONYMS } from '../charts/config.ts'
import { metricOf } from '../charts/plan.ts'
import { datasetModel, runQuery } from '../charts/run.ts'
import { visibleDataset } from '../charts/service.ts'
import { invalidArguments } from '../errors.ts'
import { TIME_GRAINS } from '../query/dialect.ts'
import { AGGREGATES, FILTER_OPS } from '../query/semantic.ts'
import type { DimensionRef, FilterRef, SemanticQuery } from '../query/semantic.ts'
import { TIME_RANGE_HELP } from '../query/time-range.ts'
import { DATA_TYPES } from './chart-common.ts'
import { identifierSchema } from './databases.ts'
import { markdownTable, plural } from './render.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool } from './tool.ts'
import { responseTruncationSchema } from './truncation.ts'

/** Superset's filter synonyms (col/opr/val, lower-case operators) accepted on the way in. */
const FILTER_KEYS: Readonly<Record<string, string>> = { col: 'column', opr: 'op', operator: 'op', val: 'value' }

const filterInput = z.preprocess(raw => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(raw)) out[FILTER_KEYS[key] ?? key] = value
  if (typeof out.op === 'string') out.op = FILTER_OP_SYNONYMS[out.op.trim().toLowerCase()] ?? out.op.trim().toUpperCase()
  return out
}, z.strictObject({
  column: z.string().trim().min(1).max(255),
  op: z.enum(FILTER_OPS),
  value: z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.union([z.string(), z.number()])).max(1000)]).optional()
}))

const dimensionInput = z.union([
  z.string().trim().min(1).max(255),
  z.strictObject({
    name: z.string().trim().min(1).max(255),
    time_grain: z.enum(TIME_GRAINS).optional(),
    label: z.string().trim().min(1).max(255).optional()
  })
])

const outputColumn = z.object({
  name: z.string(),
  display_name: z.string(),
  role: z.enum(['dimension', 'metric']),
  data_type: z.enum(['DATETIME', 'NUMERIC', 'STRING']),
  format: z.string().nullable()
})


export const queryDataset = (): Tool => defineTool({
  name: 'query_dataset',
  title: 'Query a dataset',
  description: [
    'Ask a dataset a question without writing SQL: metrics (saved metric names, or {"name": column, "aggregate": SUM|AVG|COUNT|COUNT_DISTINCT|MIN|MAX}) grouped by columns (dates can be truncated with time_grain), with filters, a time range, order and a row limit.',
    'One SQL statement runs, read-only, with values bound. Use get_dataset_info for the names. With no metrics, returns raw rows of the columns.'
  ].join(' '),
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Dataset' },
  aliases: { datasource_id: 'dataset_id', dataset: 'dataset_id', dimensions: 'columns', groupby: 'columns', limit: 'row_limit', granularity: 'time_column', time_grain_sqla: 'time_grain' },
  input: z.strictObject({
    dataset_id: identifierSchema.describe('dataset id, UUID or name'),
    metrics: z.array(columnRefSchema).max(20).default([]),
    columns: z.array(dimensionInput).max(20).default([]).describe('columns to group by (or to return, without metrics); {"name", "time_grain"} truncates a date'),
    filters: z.array(filterInput).max(50).default([]).describe(`[{"col", "op", "val"}]; op: ${FILTER_OPS.join(', ')}`),
    time_range: z.string().trim().max(100).optional().describe(TIME_RANGE_HELP),
    time_column: z.string().trim().min(1).max(255).optional().describe('date column time_range applies to (default: the dataset\'s main date column)'),
    time_grain: z.enum(TIME_GRAINS).optional().describe('grain for date columns in `columns` that give none (P1D day, P1W week, P1M month, P3M quarter, P1Y year)'),
    order_by: z.union([z.string().trim().min(1), z.array(z.string().trim().min(1)).max(10)]).optional().describe('result columns (metric or column labels) to sort by; default: a date column ascending when grouped by one, else the first metric'),
    order_desc: z.boolean().default(true),
    row_limit: z.int().min(1).max(50_000).default(1000)
  }),
  output: z.object({
    success: z.literal(true),
    dataset_id: z.int(),
    dataset_name: z.string(),
    columns: z.array(outputColumn),
    data: z.array(z.record(z.string(), z.unknown())),
    row_count: z.int(),
    truncated: z.boolean().describe('more rows exist than row_limit allowed'),
    sql: z.string(),
    parameters: z.array(z.union([z.string(), z.number(), z.null()])),
    applied_filters: z.array(z.object({ column: z.string(), op: z.string(), value: z.unknown() })),
    time_range: z.object({ column: z.string(), since: z.string().nullable(), until: z.string().nullable() }).nullable(),
    execution_time_ms: z.number(),
    response_truncation: responseTruncationSchema
  }),
  truncation: {
    noun: 'rows',
    count: result => result.data.length,
    keep: (result, keep, notice) => ({ ...result, data: result.data.slice(0, keep), row_count: keep, truncated: true, response_truncation: notice }),
    hint: 'Lower row_limit, group by fewer columns, use a coarser time_grain, or filter.'
  },
  sizeHints: ['Lower row_limit.', 'Group by fewer columns or use a coarser time_grain.', 'Filter to the values you need.'],
  run: async (args, context) => {
    if (args.metrics.length === 0 && args.columns.length === 0) {
      throw invalidArguments('Give metrics, columns, or both.', `Example: {"metrics": ["revenue"], "columns": [{"name": "order_date", "time_grain": "P1M"}]}; aggregates: ${AGGREGATES.join(', ')}.`)
    }
    const dataset = await visibleDataset(context, args.dataset_id)
    const model = await datasetModel(context.catalog, dataset)
    const dimensions: DimensionRef[] = args.columns.map(column => typeof column === 'string'
      ? { column, timeGrain: args.time_grain }
      : { column: column.name, timeGrain: column.time_grain ?? args.time_grain, label: column.label })
    // A grain on a column that is not a date is an error the compiler reports; only dates get the default.
    for (const dimension of dimensions) {
      const found = model.columns.find(column => column.column_name === dimension.column)
      if (found !== undefined && !(found.is_dttm || /DATE|TIME/i.test(found.type ?? '')) && dimension.timeGrain === args.time_grain) dimension.timeGrain = undefined
    }
    const orderBy = args.order_by === undefined ? undefined : [args.order_by].flat().map(label => ({ label, descending: args.order_desc }))
    const query: SemanticQuery = {
      dimensions,
      metrics: args.metrics.map(metric => metricOf(metric, model)),
      filters: args.filters.map((filter): FilterRef => ({ column: filter.column, op: filter.op, value: filter.value })),
      timeRange: args.time_range,
      timeColumn: args.time_column,
      orderBy,
      rowLimit: args.row_limit,
      raw: args.metrics.length === 0
    }
    const outcome = await runQuery(context, dataset, query)
    const applied = outcome.compiled.appliedTimeRange
    return {
      success: true as const,
      dataset_id: dataset.id,
      dataset_name: dataset.table_name,
      columns: outcome.fields.map(field => ({ name: field.name, display_name: field.label, role: field.role, data_type: DATA_TYPES[field.type], format: field.format ?? null })),
      data: outcome.rows,
      row_count: outcome.rows.length,
      truncated: outcome.truncated,
      sql: outcome.compiled.sql,
      parameters: outcome.compiled.params,
      applied_filters: args.filters.map(filter => ({ column: filter.column, op: filter.op, value: filter.value ?? null })),
      time_range: applied === undefined ? null : { column: applied.column, since: applied.since ?? null, until: applied.until ?? null },
      execution_time_ms: Math.round(outcome.executionMs * 100) / 100
    }
  },
  render: result => {
    const names = result.columns.map(column => column.name)
    const lines = [`${plural(result.row_count, 'row')} from dataset ${result.dataset_name}${result.truncated ? ' (truncated: more rows exist; raise row_limit or aggregate further)' : ''}.`]
    if (result.time_range !== null) lines.push(`Time range on ${result.time_range.column}: ${result.time_range.since ?? '−∞'} ≤ t < ${result.time_range.until ?? '∞'}.`)
    if (result.row_count > 0) lines.push('', markdownTable(names, result.data.map(row => names.map(name => row[name]))))
    return lines.join('\n')
  }
})
