import * as z from 'zod'
import { CHART_TYPES } from '../charts/config.ts'
import { configToFormData } from '../charts/form-data.ts'
import type { ChartOutcome } from '../charts/run.ts'
import { PREVIEW_FORMATS, previewText, renderPreviews, sourceUrl } from '../charts/service.ts'
import type { ChartSource, PreviewFormat, Previews } from '../charts/service.ts'
import type { ChartRecord } from '../catalog/records.ts'
import { CHART_VIEWER_URI } from '../mcp/chart-app.ts'
import { estimateTokens } from '../mcp/size-guard.ts'
import { expiryIso } from '../links/signer.ts'
import { identifierSchema } from './databases.ts'
import { plural } from './render.ts'
import type { ToolContext } from './tool.ts'

/**
 * Arguments, results and text shared by the chart tools: the config argument, preview
 * options, the chart summary and how a chart result reads.
 */

/** Superset's data types of a result column. */
export const DATA_TYPES = { temporal: 'DATETIME', quantitative: 'NUMERIC', nominal: 'STRING' } as const

/** MCP Apps: clients that support them show these tools' results in the chart viewer. */
export const CHART_VIEWER_META = { ui: { resourceUri: CHART_VIEWER_URI }, 'ui/resourceUri': CHART_VIEWER_URI }

// Checked by parseChartConfig, which knows Superset's synonyms (viz_type, groupby, metrics, …)
// and says what to fix; the schema only says it is an object (or that object as JSON text).
// The advertised object names chart_type, its one field every chart has: clients such as Gemini
// refuse an object without properties.
const configObject = z.record(z.string(), z.unknown()).meta({ properties: { chart_type: { type: 'string', description: `${CHART_TYPES.join(', ')}, or a Superset viz_type` } } })
export const configArgument = z.union([configObject, z.string().max(100_000)]).describe(`The chart definition, with chart_type one of ${CHART_TYPES.join(', ')} (Superset viz types such as echarts_timeseries_line, pie, big_number_total work too). Call get_chart_type_schema with the chart_type for its fields and an example; e.g. {"chart_type": "xy", "kind": "line", "x": "order_date", "time_grain": "P1M", "y": ["revenue"], "group_by": "region"}.`)

export const previewFormatsArgument = z.array(z.enum(PREVIEW_FORMATS)).max(5).describe('url: a link to the chart page; ascii: a text chart; table: markdown; vega_lite: a Vega-Lite spec with the data; png: an image (returned as image content)')

export const sizeArguments = {
  width: z.int().min(200).max(2000).default(800).describe('pixels, for png and vega_lite'),
  height: z.int().min(150).max(2000).default(600).describe('pixels, for png and vega_lite'),
  ascii_width: z.int().min(40).max(200).default(80).describe('characters, for ascii'),
  ascii_height: z.int().min(5).max(60).default(20).describe('lines, for ascii')
}

/** Which chart a read tool is about: a saved one, or an unsaved one behind a form_data_key. */
export const chartTargetArguments = {
  identifier: identifierSchema.optional().describe('saved chart id or UUID'),
  form_data_key: z.string().min(1).max(100).optional().describe('an unsaved chart, from generate_explore_link, generate_chart (save_chart: false) or update_chart_preview')
}

export const CHART_TARGET_ALIASES = { chart_id: 'identifier', id: 'identifier', slice_id: 'identifier' }

export const previewsSchema = z.object({
  url: z.object({ type: z.literal('url'), preview_url: z.string() }).optional(),
  ascii: z.object({ type: z.literal('ascii'), content: z.string() }).optional(),
  table: z.object({ type: z.literal('table'), content: z.string(), row_count: z.int() }).optional(),
  vega_lite: z.object({ type: z.literal('vega_lite'), specification: z.record(z.string(), z.unknown()) }).optional(),
  png: z.object({ type: z.literal('png'), mime_type: z.literal('image/png'), width: z.int(), height: z.int(), bytes: z.int(), note: z.string() }).optional()
})

export const savedChartSchema = z.object({
  id: z.int(),
  uuid: z.string(),
  slice_name: z.string(),
  viz_type: z.string(),
  datasource_id: z.int().nullable(),
  datasource_name: z.string().nullable(),
  description: z.string().nullable(),
  url: z.string().describe('signed link to the chart page (opens without an MCP token, for you, until it expires)')
})

export type SavedChart = z.output<typeof savedChartSchema>

/** Everything generate_chart, update_chart and update_chart_preview return. */
export const chartResultSchema = z.object({
  success: z.literal(true),
  chart: savedChartSchema.nullable().describe('the saved chart; null when not saved'),
  form_data_key: z.string().nullable().describe('key of the unsaved chart (use with get_chart_data, get_chart_preview, update_chart_preview)'),
  explore_url: z.string().describe('signed link to the chart (or unsaved chart) page'),
  form_data: z.record(z.string(), z.unknown()).describe('the chart as Superset form_data'),
  chart_type_label: z.string(),
  row_count: z.int(),
  truncated: z.boolean(),
  sql: z.string(),
  previews: previewsSchema,
  warnings: z.array(z.string()),
  link_expires_at: z.string().describe('when explore_url and chart.url stop working (ISO 8601)')
})

export type ChartResult = z.output<typeof chartResultSchema>

const KIND_LABELS: Readonly<Record<string, string>> = {
  line: 'Line chart', bar: 'Bar chart', area: 'Area chart', scatter: 'Scatter plot', pie: 'Pie chart', table: 'Table', big_number: 'Big number', histogram: 'Histogram'
}

export function chartTypeLabel (outcome: ChartOutcome): string {
  const view = outcome.view
  const base = KIND_LABELS[view.kind] ?? view.kind
  if (view.kind === 'bar' && view.series !== undefined) return `${base} (${view.stacked === true ? 'stacked' : 'grouped'})`
  if (view.kind === 'big_number' && view.bigNumber?.trend === true) return `${base} with trend`
  return base
}

export function savedChart (context: ToolContext, chart: ChartRecord): SavedChart {
  return {
    id: chart.id,
    uuid: chart.uuid,
    slice_name: chart.slice_name,
    viz_type: chart.viz_type,
    datasource_id: chart.dataset_id,
    datasource_name: chart.datasource_name,
    description: chart.description,
    url: context.links.url('chart', chart.id, context.principal.user.id)
  }
}

/** Warnings a person would want to hear about: no rows, rows left out. */
export function outcomeWarnings (outcome: ChartOutcome): string[] {
  const warnings: string[] = []
  if (outcome.rows.length === 0) warnings.push('The chart has no data: no rows match its filters and time range. Widen time_range or relax filters (query_dataset helps to check values).')
  if (outcome.truncated) {
    warnings.push(outcome.view.kind === 'histogram'
      ? 'The bins count only part of the values: the dataset has more rows than row_limit (or the size budget) allowed. Filter the rows, or raise row_limit (up to 1,000,000).'
      : `The chart shows the first ${plural(outcome.rows.length, 'row')}; more exist. Raise row_limit or aggregate further (a coarser time_grain, fewer group_by values).`)
  }
  return warnings
}

export interface ChartResultInput {
  source: ChartSource
  outcome: ChartOutcome
  saved: ChartRecord | undefined
  formats: readonly PreviewFormat[]
  size: { width: number, height: number, ascii_width: number, ascii_height: number }
}

/** The result of a tool that made or changed a chart, with its previews (PNGs attached as images). */
export async function chartResult (context: ToolContext, input: ChartResultInput): Promise<ChartResult> {
  const { source, outcome, saved, size } = input
  const url = sourceUrl(context, saved === undefined ? source : { chart: saved })
  const rendered = await renderPreviews(context, outcome, input.formats, { width: size.width, height: size.height, asciiWidth: size.ascii_width, asciiHeight: size.ascii_height, url })
  for (const image of rendered.images) context.attachImage?.(image)
  const result: ChartResult = {
    success: true,
    chart: saved === undefined ? null : savedChart(context, saved),
    form_data_key: saved === undefined ? source.formDataKey ?? null : null,
    explore_url: url,
    form_data: configToFormData(source.config, source.dataset.id),
    chart_type_label: chartTypeLabel(outcome),
    row_count: outcome.rows.length,
    truncated: outcome.truncated,
    sql: outcome.compiled.sql,
    previews: rendered.previews,
    warnings: outcomeWarnings(outcome),
    link_expires_at: expiryIso(context.links.expiry())
  }
  return fitPreviews(context, result)
}

/** Previews dropped first when a result would be too large: the biggest and least needed. */
const DROP_ORDER = ['vega_lite', 'table', 'ascii'] as const

/**
 * A chart that was just saved must not come back as "response too large" (a model would retry
 * and save it twice): previews that would take the result over the size guard's limit are left
 * out, with a warning saying how to get them.
 */
function fitPreviews (context: ToolContext, result: ChartResult): ChartResult {
  const guard = context.config.MCP_RESPONSE_SIZE_CONFIG
  if (!guard.enabled) return result
  // The previews also appear in the text; leave room for that and the rest of the result.
  const budget = guard.token_limit * 0.9
  const size = (candidate: ChartResult): number => estimateTokens({ structured: candidate, text: previewText(candidate.previews as Previews).join('\n') })
  let fitted = result
  for (const format of DROP_ORDER) {
    if (size(fitted) <= budget) break
    if (fitted.previews[format] === undefined) continue
    const { [format]: _dropped, ...previews } = fitted.previews
    fitted = { ...fitted, previews, warnings: [...fitted.warnings, `The ${format} preview was left out: it would not fit the response size limit (${guard.token_limit.toLocaleString('en-US')} tokens). Ask for format "png" or "url" with get_chart_preview, or lower row_limit.`] }
  }
  return fitted
}

export function renderChartResult (verb: string, result: ChartResult): string {
  const what = result.chart === null
    ? `${verb} an unsaved ${result.chart_type_label.toLowerCase()} (form_data_key ${result.form_data_key ?? '-'}).`
    : `${verb} chart "${result.chart.slice_name}" (id ${result.chart.id}): ${result.chart_type_label.toLowerCase()} on dataset ${result.chart.datasource_name ?? '-'}.`
  return [
    what,
    `${plural(result.row_count, 'row')} of data${result.truncated ? ' (truncated)' : ''}.`,
    `Link (opens without a token until ${result.link_expires_at}): ${result.explore_url}`,
    ...result.warnings.map(warning => `Warning: ${warning}`),
    ...previewText(result.previews as Previews)
  ].join('\n')
}
