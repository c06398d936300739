import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { CHART_EXAMPLES, CHART_SCHEMAS, CHART_TYPES, parseChartConfig } from '../charts/config.ts'
import type { ChartType } from '../charts/config.ts'
import { configToFormData, vizTypeOf } from '../charts/form-data.ts'
import { exploreSource, runSource, savedChartSource, storeExploreState, visibleDataset } from '../charts/service.ts'
import type { ChartSource } from '../charts/service.ts'
import { invalidArguments, notFound } from '../errors.ts'
import {
  CHART_TARGET_ALIASES, CHART_VIEWER_META, chartResult, chartResultSchema, configArgument, previewFormatsArgument,
  renderChartResult, sizeArguments
} from './chart-common.ts'
import { identifierSchema } from './databases.ts'
import { assertMayModify, defineTool, READ_ONLY, WRITES } from './tool.ts'
import type { Tool } from './tool.ts'

const chartNameArgument = z.string().trim().min(1).max(255)

/** A chart name from its config when none is given: "revenue by region", "order_count". */
function defaultChartName (source: Pick<ChartSource, 'config'>, datasetName: string): string {
  const config = source.config
  const metricName = (metric: unknown): string => typeof metric === 'string' ? metric : (metric as { label?: string, name?: string, aggregate?: string }).label ?? `${(metric as { aggregate?: string }).aggregate ?? ''} ${(metric as { name?: string }).name ?? ''}`.trim()
  switch (config.chart_type) {
    case 'xy': return `${config.y.map(metricName).join(', ')}${config.group_by === undefined ? '' : ` by ${[config.group_by].flat().join(', ')}`}`
    case 'pie': return `${metricName(config.metric)} by ${config.dimension}`
    case 'big_number': return metricName(config.metric)
    case 'histogram': return `Distribution of ${config.column}`
    case 'table': return `${datasetName} table`
  }
}

export const generateChart = (): Tool => defineTool({
  name: 'generate_chart',
  title: 'Create a chart',
  description: [
    'Create a chart on a dataset from a config (types: xy = line, bar, area, scatter; table; pie; big_number; histogram), run it, and return previews and a link a person can open.',
    'save_chart: true saves it (it then appears in list_charts and can go on dashboards); false keeps it unsaved behind a form_data_key.',
    'Call get_dataset_info for column and metric names, and get_chart_type_schema for a type\'s fields. Prefer generate_explore_link when the user only wants to look.'
  ].join(' '),
  annotations: WRITES,
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Chart' },
  aliases: { name: 'chart_name', title: 'chart_name', slice_name: 'chart_name', datasource_id: 'dataset_id' },
  meta: CHART_VIEWER_META,
  input: z.strictObject({
    dataset_id: identifierSchema.describe('dataset id, UUID or name (see list_datasets)'),
    config: configArgument,
    chart_name: chartNameArgument.optional().describe('default: made from the config, e.g. "revenue by region"'),
    save_chart: z.boolean().default(false),
    generate_preview: z.boolean().default(true).describe('return the previews of preview_formats'),
    preview_formats: previewFormatsArgument.default(['url']),
    ...sizeArguments
  }),
  output: chartResultSchema,
  run: async (args, context) => {
    if (!args.save_chart && !args.generate_preview) throw invalidArguments('save_chart and generate_preview are both false: nothing to do.', 'Set save_chart: true to save the chart, or generate_preview: true to see it.')
    const dataset = await visibleDataset(context, args.dataset_id)
    const config = parseChartConfig(args.config)
    const chartName = args.chart_name ?? defaultChartName({ config }, dataset.table_name)
    // Run before saving: a config whose query fails is never saved.
    const outcome = await runSource(context, { dataset, config, title: chartName })
    const formats = args.generate_preview ? args.preview_formats : []
    if (args.save_chart) {
      const userId = context.principal.user.id
      const saved = await context.catalog.createChart({ slice_name: chartName, viz_type: vizTypeOf(config), dataset_id: dataset.id, params: configToFormData(config, dataset.id), created_by_fk: userId, owners: [userId] })
      return await chartResult(context, { source: { chart: saved, dataset, config, title: chartName }, outcome, saved, formats, size: args })
    }
    const state = await storeExploreState(context, dataset, config, chartName)
    return await chartResult(context, { source: { formDataKey: state.key, dataset, config, title: chartName }, outcome, saved: undefined, formats, size: args })
  },
  render: result => renderChartResult(result.chart === null ? 'Made' : 'Saved', result)
})

export const updateChart = (): Tool => defineTool({
  name: 'update_chart',
  title: 'Change a saved chart',
  description: 'Change a saved chart: its config (a complete new config; see get_chart_type_schema), name, description or dataset. As in Superset, the default (generate_preview: true) only previews the change: it runs the new definition and returns the previews and a form_data_key, and saves nothing. Call it with generate_preview: false to save (the new definition is run first and saved only if it works). Only the chart\'s owners and administrators may change it.',
  annotations: { ...WRITES, destructiveHint: true, idempotentHint: true }, // destructive as in Superset: it overwrites what was saved
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Chart' },
  aliases: { ...CHART_TARGET_ALIASES, name: 'chart_name', title: 'chart_name', slice_name: 'chart_name', datasource_id: 'dataset_id' },
  meta: CHART_VIEWER_META,
  input: z.strictObject({
    identifier: identifierSchema.describe('chart id or UUID'),
    config: configArgument.optional(),
    chart_name: chartNameArgument.optional(),
    description: z.string().max(2000).nullable().optional().describe('null clears it'),
    dataset_id: identifierSchema.optional().describe('move the chart to another dataset (its config must fit that dataset)'),
    generate_preview: z.boolean().default(true).describe('true (default): preview the change and save nothing; false: save it'),
    preview_formats: previewFormatsArgument.default(['url']),
    ...sizeArguments
  }),
  output: chartResultSchema,
  run: async (args, context) => {
    if (args.config === undefined && args.chart_name === undefined && args.description === undefined && args.dataset_id === undefined) {
      throw invalidArguments('Nothing to change: give config, chart_name, description or dataset_id.')
    }
    const current = await savedChartSource(context, args.identifier)
    const chart = current.chart
    if (chart === undefined) throw new Error('a saved chart source has its chart')
    await assertMayModify(context, 'Chart', chart.id, chart.slice_name, 'Make your own copy with generate_chart instead.')
    const dataset = args.dataset_id === undefined ? current.dataset : await visibleDataset(context, args.dataset_id)
    const config = args.config === undefined ? current.config : parseChartConfig(args.config)
    const title = args.chart_name ?? chart.slice_name
    const outcome = await runSource(context, { dataset, config, title })
    if (args.generate_preview) {
      // Superset's default: the change as an unsaved chart; the saved one stays as it was.
      const state = await storeExploreState(context, dataset, config, title)
      const preview = await chartResult(context, { source: { formDataKey: state.key, dataset, config, title }, outcome, saved: undefined, formats: args.preview_formats, size: args })
      return { ...preview, warnings: [`Preview only: chart ${chart.id} ("${chart.slice_name}") is unchanged. Call update_chart again with generate_preview: false to save these changes.`, ...preview.warnings] }
    }
    const saved = await context.catalog.updateChart(chart.id, {
      slice_name: title,
      viz_type: vizTypeOf(config),
      dataset_id: dataset.id,
      params: configToFormData(config, dataset.id),
      ...(args.description === undefined ? {} : { description: args.description }),
      changed_by_fk: context.principal.user.id
    })
    return await chartResult(context, { source: { chart: saved, dataset, config, title }, outcome, saved, formats: [], size: args })
  },
  render: result => renderChartResult(result.chart === null ? 'Previewed, without saving,' : 'Updated', result)
})

export const updateChartPreview = (): Tool => defineTool({
  name: 'update_chart_preview',
  title: 'Try changes to an unsaved chart',
  description: 'Try a changed config without saving anything: give the form_data_key of an unsaved chart (or a dataset_id) and a complete config; returns a new form_data_key, a link and the previews. Save the result with generate_chart (save_chart: true) when it is right.',
  annotations: { ...WRITES, idempotentHint: true },
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Chart' },
  aliases: { name: 'chart_name', title: 'chart_name', datasource_id: 'dataset_id' },
  meta: CHART_VIEWER_META,
  input: z.strictObject({
    form_data_key: z.string().min(1).max(100).optional().describe('the unsaved chart to start from (its dataset and name are kept)'),
    dataset_id: identifierSchema.optional().describe('required without form_data_key'),
    config: configArgument,
    chart_name: chartNameArgument.optional(),
    generate_preview: z.boolean().default(true),
    preview_formats: previewFormatsArgument.default(['url']),
    ...sizeArguments
  }),
  output: chartResultSchema,
  run: async (args, context) => {
    const previous = args.form_data_key === undefined ? undefined : await exploreSource(context, args.form_data_key)
    if (previous === undefined && args.dataset_id === undefined) throw invalidArguments('Give form_data_key (an unsaved chart to change) or dataset_id (to start a new one).')
    const dataset = args.dataset_id === undefined ? previous?.dataset : await visibleDataset(context, args.dataset_id)
    if (dataset === undefined) throw invalidArguments('Give dataset_id.')
    const config = parseChartConfig(args.config)
    const chartName = args.chart_name ?? previous?.title ?? defaultChartName({ config }, dataset.table_name)
    const outcome = await runSource(context, { dataset, config, title: chartName })
    const state = await storeExploreState(context, dataset, config, chartName)
    const formats = args.generate_preview ? args.preview_formats : []
    return await chartResult(context, { source: { formDataKey: state.key, dataset, config, title: chartName }, outcome, saved: undefined, formats, size: args })
  },
  render: result => renderChartResult('Made', result)
})

export const deleteChart = (): Tool => defineTool({
  name: 'delete_chart',
  title: 'Delete a chart',
  description: 'Delete a saved chart for good; it is also taken off every dashboard that shows it. Only its owners and administrators may. Confirm with the user first.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Chart' },
  aliases: CHART_TARGET_ALIASES,
  input: z.strictObject({ identifier: identifierSchema.describe('chart id or UUID') }),
  output: z.object({
    success: z.literal(true),
    chart_id: z.int(),
    slice_name: z.string(),
    removed_from_dashboards: z.array(z.int()).describe('dashboards it was taken off'),
    message: z.string()
  }),
  run: async (args, context) => {
    const chart = await context.catalog.findChart(args.identifier, context.principal.access)
    if (chart === undefined) throw notFound('chart', args.identifier, 'id or UUID', 'list_charts')
    await assertMayModify(context, 'Chart', chart.id, chart.slice_name, 'Make your own copy with generate_chart instead.')
    // Dashboards the caller cannot see lose the chart too, but are not named to them.
    const dashboards: number[] = []
    for (const id of await context.catalog.deleteChart(chart.id)) {
      if (await context.catalog.findDashboard(id, context.principal.access) !== undefined) dashboards.push(id)
    }
    return {
      success: true as const,
      chart_id: chart.id,
      slice_name: chart.slice_name,
      removed_from_dashboards: dashboards,
      message: `Deleted chart "${chart.slice_name}" (id ${chart.id})${dashboards.length === 0 ? '' : ` and took it off dashboard${dashboards.length === 1 ? '' : 's'} ${dashboards.join(', ')}`}.`
    }
  },
  render: result => result.message
})

/** Plain names a model may use for a chart type. */
const TYPE_SYNONYMS: Readonly<Record<string, ChartType>> = {
  line: 'xy', bar: 'xy', area: 'xy', scatter: 'xy', echarts_timeseries_line: 'xy', echarts_timeseries_bar: 'xy', echarts_area: 'xy', echarts_timeseries_scatter: 'xy',
  big_number_total: 'big_number', histogram_v2: 'histogram', 'ag-grid-table': 'table'
}

const TYPE_DESCRIPTIONS: Readonly<Record<ChartType, string>> = {
  xy: 'Line, bar, area or scatter chart (kind): an x column (often a date with a time_grain), one or more metrics as y, optionally split into series by group_by; bars and areas can be stacked, bars horizontal.',
  table: 'A table: columns to group by and metrics (aggregate mode), or plain columns (raw mode), sorted and limited.',
  pie: 'A pie (or donut): the slices are the values of one dimension, sized by one metric.',
  big_number: 'One headline number (a metric over the time range), optionally with its trend line over time.',
  histogram: 'The distribution of one numeric column, in equal-width bins.'
}

/** What every chart config shares, for get_chart_type_schema and the chart://configs resource. */
export const CHART_CONFIG_NOTES: readonly string[] = [
  'Metrics are saved metric names of the dataset ("revenue") or {"name": column, "aggregate": SUM|AVG|COUNT|COUNT_DISTINCT|MIN|MAX, "label"?}.',
  'filters: [{"column", "op" (==, !=, >, <, >=, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL, TEMPORAL_RANGE), "value"}].',
  'time_range applies to the dataset\'s main date column: "Last quarter", "Last 30 days", "2024-01-01 : 2024-06-30" (end excluded).',
  'Column and metric names come from get_dataset_info; the example uses the example orders dataset.'
]

/** One chart type's config: its JSON Schema (from the zod schema the chart tools validate with), a worked example and what it draws. */
export function describeChartType (chartType: ChartType, kind?: string): { chart_type: ChartType, description: string, schema: Record<string, unknown>, example: Record<string, unknown> } {
  return {
    chart_type: chartType,
    description: TYPE_DESCRIPTIONS[chartType],
    schema: z.toJSONSchema(CHART_SCHEMAS[chartType], { io: 'input' }) as Record<string, unknown>,
    example: kind === undefined ? CHART_EXAMPLES[chartType] : { ...CHART_EXAMPLES[chartType], kind }
  }
}

export const getChartTypeSchema = (): Tool => defineTool({
  name: 'get_chart_type_schema',
  title: 'Chart config schema',
  description: `The JSON Schema of the config of one chart type, with a worked example and notes. Types: ${CHART_TYPES.join(', ')} (line, bar, area and scatter are kinds of xy).`,
  annotations: READ_ONLY,
  scope: SCOPES.read,
  aliases: { viz_type: 'chart_type', type: 'chart_type' },
  input: z.strictObject({ chart_type: z.string().trim().min(1).max(100).describe(CHART_TYPES.join(', ')) }),
  output: z.object({
    chart_type: z.enum(CHART_TYPES),
    description: z.string(),
    schema: z.record(z.string(), z.unknown()),
    example: z.record(z.string(), z.unknown()),
    notes: z.array(z.string()),
    chart_types: z.array(z.string())
  }),
  run: ({ chart_type: requested }) => {
    const wanted = requested.toLowerCase()
    // Own keys only: "constructor" or "__proto__" are unknown chart types, not Object.prototype members.
    const synonym = Object.hasOwn(TYPE_SYNONYMS, wanted) ? TYPE_SYNONYMS[wanted] : undefined
    const chartType = (CHART_TYPES as readonly string[]).includes(wanted) ? wanted as ChartType : synonym
    if (chartType === undefined) throw invalidArguments(`Unknown chart_type "${requested}".`, `Chart types: ${CHART_TYPES.join(', ')} (line, bar, area and scatter are kinds of xy).`)
    const kind = synonym === 'xy' && ['line', 'bar', 'area', 'scatter'].includes(wanted) ? wanted : undefined
    return { ...describeChartType(chartType, kind), notes: [...CHART_CONFIG_NOTES], chart_types: [...CHART_TYPES] }
  },
  render: result => [
    `Chart type ${result.chart_type}: ${result.description}`,
    `Example config: ${JSON.stringify(result.example)}`,
    ...result.notes,
    `Schema: ${JSON.stringify(result.schema)}`
  ].join('\n')
})
