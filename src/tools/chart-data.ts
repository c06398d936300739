import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { vizTypeOf } from '../charts/form-data.ts'
import type { ChartOutcome } from '../charts/run.ts'
import { chartSql } from '../charts/run.ts'
import { chartSourceOf, PREVIEW_FORMATS, previewText, renderPreviews, runSource, sourceUrl } from '../charts/service.ts'
import type { ChartSource } from '../charts/service.ts'
import { formatValue } from '../charts/markdown.ts'
import { ToolError } from '../errors.ts'
import { estimateTokens } from '../mcp/size-guard.ts'
import { CHART_TARGET_ALIASES, CHART_VIEWER_META, chartTargetArguments, DATA_TYPES, chartTypeLabel, outcomeWarnings, previewsSchema, sizeArguments } from './chart-common.ts'
import { markdownTable, plural } from './render.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool } from './tool.ts'
import { responseTruncationSchema } from './truncation.ts'


const columnSchema = z.object({
  name: z.string().describe('key of the value in each row of data'),
  display_name: z.string(),
  data_type: z.enum(['DATETIME', 'NUMERIC', 'STRING']),
  role: z.enum(['dimension', 'metric']),
  format: z.string().nullable().describe('d3 number format of the dataset, if any')
})

const chartIdentity = {
  chart_id: z.int().nullable().describe('null for an unsaved chart'),
  form_data_key: z.string().nullable(),
  chart_name: z.string(),
  chart_type: z.string().describe('Superset viz_type'),
  datasource_name: z.string()
}

function identityOf (source: ChartSource): { chart_id: number | null, form_data_key: string | null, chart_name: string, chart_type: string, datasource_name: string } {
  return {
    chart_id: source.chart?.id ?? null,
    form_data_key: source.chart === undefined ? source.formDataKey ?? null : null,
    chart_name: source.title,
    chart_type: vizTypeOf(source.config),
    datasource_name: source.dataset.table_name
  }
}

/** RFC 4180 CSV: fields with a comma, quote or line break are quoted, quotes doubled. */
function toCsv (columns: ReadonlyArray<{ name: string }>, rows: ReadonlyArray<Record<string, unknown>>): string {
  const cell = (value: unknown): string => {
    if (value === null || value === undefined) return ''
    const text = String(value)
    // A leading =, +, - or @ would be read as a formula by spreadsheets: prefix a quote (OWASP).
    const safe = /^[=+\-@\t\r]/.test(text) && typeof value === 'string' ? `'${text}` : text
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
  }
  return [columns.map(column => cell(column.name)).join(','), ...rows.map(row => columns.map(column => cell(row[column.name])).join(','))].join('\r\n')
}

const getChartDataOutput = z.object({
  success: z.literal(true),
  ...chartIdentity,
  columns: z.array(columnSchema),
  data: z.array(z.record(z.string(), z.unknown())).describe('the rows, keyed by column name'),
  row_count: z.int(),
  truncated: z.boolean().describe('more rows exist than the chart\'s row_limit (or limit) allowed'),
  format: z.enum(['json', 'csv']),
  csv_data: z.string().nullable().describe('the rows as CSV, when format is csv'),
  headline: z.object({ value: z.number().nullable(), formatted: z.string() }).nullable().describe('big number charts: the headline value'),
  sql: z.string(),
  time_range: z.object({ column: z.string(), since: z.string().nullable(), until: z.string().nullable() }).nullable(),
  warnings: z.array(z.string()),
  response_truncation: responseTruncationSchema
})

type ChartData = z.output<typeof getChartDataOutput>

export const getChartData = (): Tool => defineTool({
  name: 'get_chart_data',
  title: 'Get chart data',
  description: 'The data behind a chart (saved: identifier; unsaved: form_data_key): the rows it draws, with column names and types, as JSON rows or CSV. Histograms return their bins, big numbers their headline value. Use it to read exact numbers instead of guessing them from a picture.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Chart' },
  aliases: CHART_TARGET_ALIASES,
  input: z.strictObject({
    ...chartTargetArguments,
    limit: z.int().min(1).max(50_000).optional().describe('at most this many rows (default: the chart\'s row_limit)'),
    format: z.enum(['json', 'csv']).default('json')
  }),
  output: getChartDataOutput,
  truncation: {
    noun: 'rows',
    count: result => result.data.length,
    keep: (result, keep, notice) => {
      const data = result.data.slice(0, keep)
      return { ...result, data, row_count: data.length, csv_data: result.csv_data === null ? null : toCsv(result.columns, data), response_truncation: notice }
    },
    hint: 'Pass a smaller `limit`, or aggregate further (coarser time_grain, fewer dimensions).'
  },
  sizeHints: ['Pass a smaller `limit`.', 'Aggregate further: a coarser time_grain or fewer dimensions in the chart config.'],
  run: async (args, context) => {
    const source = await chartSourceOf(context, args)
    const limited = args.limit !== undefined && source.config.chart_type !== 'histogram' && 'row_limit' in source.config ? { ...source, config: { ...source.config, row_limit: Math.min(source.config.row_limit, args.limit) } } : source
    const outcome = await runSource(context, limited)
    const rows = args.limit === undefined ? outcome.rows : outcome.rows.slice(0, args.limit)
    const columns = outcome.fields.map(field => ({ name: field.name, display_name: field.label, data_type: DATA_TYPES[field.type], role: field.role, format: field.format ?? null }))
    const bigNumber = outcome.view.bigNumber
    const applied = outcome.compiled.appliedTimeRange
    return {
      success: true as const,
      ...identityOf(source),
      columns,
      data: rows,
      row_count: rows.length,
      truncated: outcome.truncated || rows.length < outcome.rows.length,
      format: args.format,
      csv_data: args.format === 'csv' ? toCsv(columns, rows) : null,
      headline: bigNumber === undefined ? null : { value: bigNumber.value, formatted: formatValue(bigNumber.value, outcome.view.y[0]) },
      sql: outcome.compiled.sql,
      time_range: applied === undefined ? null : { column: applied.column, since: applied.since ?? null, until: applied.until ?? null },
      warnings: outcomeWarnings(outcome)
    }
  },
  render: renderChartData
})

function renderChartData (result: ChartData): string {
  const lines = [`Data of ${result.chart_id === null ? 'unsaved chart' : `chart ${result.chart_id}`} "${result.chart_name}" (${result.chart_type}, dataset ${result.datasource_name}): ${plural(result.row_count, 'row')}${result.truncated ? ', truncated (more rows exist)' : ''}.`]
  if (result.headline !== null) lines.push(`Headline: ${result.headline.formatted}`)
  if (result.csv_data !== null) {
    lines.push('', result.csv_data)
  } else if (result.row_count > 0) {
    const names = result.columns.map(column => column.name)
    lines.push('', markdownTable(names, result.data.map(row => names.map(name => row[name]))))
  }
  lines.push(...result.warnings.map(warning => `Warning: ${warning}`))
  return lines.join('\n')
}

const previewOutput = z.object({
  success: z.literal(true),
  ...chartIdentity,
  chart_type_label: z.string(),
  explore_url: z.string().describe('signed link to the chart page'),
  format: z.enum(PREVIEW_FORMATS),
  content: z.union([...Object.values(previewsSchema.shape).map(schema => schema.unwrap())] as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]]).describe('the preview, by type'),
  previews: previewsSchema.describe('the same preview, keyed by format (as generate_chart returns them)'),
  row_count: z.int(),
  warnings: z.array(z.string())
})

export const getChartPreview = (): Tool => defineTool({
  name: 'get_chart_preview',
  title: 'Preview a chart',
  description: 'Show a chart (saved: identifier; unsaved: form_data_key) as ascii (a text chart you can read), table (markdown), vega_lite (a complete Vega-Lite spec with the data inline), png (an image, returned as image content) or url (a signed link a person can open).',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Chart' },
  aliases: CHART_TARGET_ALIASES,
  meta: CHART_VIEWER_META,
  input: z.strictObject({
    ...chartTargetArguments,
    format: z.enum(PREVIEW_FORMATS).default('ascii'),
    ...sizeArguments
  }),
  output: previewOutput,
  sizeHints: ['Use format "png" or "url" for charts with many points.', 'Lower the chart\'s row_limit or aggregate further.'],
  run: async (args, context) => {
    const source = await chartSourceOf(context, args)
    const outcome: ChartOutcome = await runSource(context, source)
    const url = sourceUrl(context, source)
    const rendered = await renderPreviews(context, outcome, [args.format], { width: args.width, height: args.height, asciiWidth: args.ascii_width, asciiHeight: args.ascii_height, url })
    // Previews skip the size guard (as in Superset: pictures and links are small), but a spec or
    // table carries the data, and a chart of thousands of rows would flood the context.
    const limit = context.config.MCP_RESPONSE_SIZE_CONFIG.token_limit
    const tokens = estimateTokens({ structured: { ...rendered.previews }, text: previewText(rendered.previews).join('\n') })
    if (context.config.MCP_RESPONSE_SIZE_CONFIG.enabled && tokens > limit) {
      throw new ToolError('response_too_large', `The ${args.format} preview of this chart is ~${tokens.toLocaleString('en-US')} tokens, over the limit of ${limit.toLocaleString('en-US')}.`, 'Ask for format "png" or "url", or lower the chart\'s row_limit (or aggregate further).')
    }
    for (const image of rendered.images) context.attachImage?.(image)
    return {
      success: true as const,
      ...identityOf(source),
      chart_type_label: chartTypeLabel(outcome),
      explore_url: url,
      format: args.format,
      content: rendered.previews[args.format],
      previews: rendered.previews,
      row_count: outcome.rows.length,
      warnings: outcomeWarnings(outcome)
    }
  },
  render: result => [
    `Preview of ${result.chart_id === null ? 'unsaved chart' : `chart ${result.chart_id}`} "${result.chart_name}" (${result.chart_type_label.toLowerCase()}, ${plural(result.row_count, 'row')}).`,
    `Link: ${result.explore_url}`,
    ...result.warnings.map(warning => `Warning: ${warning}`),
    ...previewText(result.previews)
  ].join('\n')
})

export const getChartSql = (): Tool => defineTool({
  name: 'get_chart_sql',
  title: 'Get a chart\'s SQL',
  description: 'The exact SQL a chart (saved: identifier; unsaved: form_data_key) runs, without running it. Values are bound parameters (listed in order for the ? placeholders), never spliced into the text.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Chart' },
  aliases: CHART_TARGET_ALIASES,
  input: z.strictObject({ ...chartTargetArguments }),
  output: z.object({
    success: z.literal(true),
    ...chartIdentity,
    database_id: z.int(),
    database_name: z.string(),
    language: z.literal('sql'),
    dialect: z.string(),
    sql: z.string(),
    parameters: z.array(z.union([z.string(), z.number(), z.null()])).describe('values of the ? placeholders, in order')
  }),
  run: async (args, context) => {
    const source = await chartSourceOf(context, args)
    const compiled = await chartSql(context.catalog, source.dataset, source.config)
    return {
      success: true as const,
      ...identityOf(source),
      database_id: source.dataset.database_id,
      database_name: source.dataset.database_name,
      language: 'sql' as const,
      dialect: source.dataset.backend,
      sql: compiled.sql,
      parameters: compiled.params
    }
  },
  render: result => [
    `SQL of ${result.chart_id === null ? 'unsaved chart' : `chart ${result.chart_id}`} "${result.chart_name}" on ${result.database_name} (${result.dialect}):`,
    '```sql',
    result.sql,
    '```',
    result.parameters.length === 0 ? 'No parameters.' : `Parameters, in order: ${JSON.stringify(result.parameters)}`
  ].join('\n')
})
