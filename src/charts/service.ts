import { randomBytes } from 'node:crypto'
import type { AccessProfile } from '../catalog/access.ts'
import type { Catalog } from '../catalog/catalog.ts'
import type { ChartRecord, DatasetRecord, LinkStateRecord, UserRecord } from '../catalog/records.ts'
import type { Config } from '../config.ts'
import type { EngineRegistry } from '../engines/engines.ts'
import { invalidArguments, notFound, permissionDenied, ToolError } from '../errors.ts'
import { expiryIso } from '../links/signer.ts'
import type { LinkSigner } from '../links/signer.ts'
import { asciiChart } from './ascii.ts'
import { parseChartConfig } from './config.ts'
import type { ChartConfig } from './config.ts'
import { storedChartConfig } from './form-data.ts'
import { markdownTable } from './markdown.ts'
import type { RenderPool } from './render-pool.ts'
import { runChart } from './run.ts'
import type { ChartOutcome } from './run.ts'
import { toVegaLite } from './vega-lite.ts'

/**
 * What the chart tools and the chart pages share: finding a chart (saved, or the unsaved
 * config behind an explore link) as the caller may see it, running it, and turning the
 * result into previews and links.
 */

/** Who is asking and with what: a tool call's context, or a page opened from a signed link. */
export interface ChartContext {
  catalog: Catalog
  engines: EngineRegistry
  config: Config
  links: LinkSigner
  principal: { user: UserRecord, access: AccessProfile }
  signal: AbortSignal
}

/** What a PNG preview needs: the render pool, whose turn it is, and when to stop. */
export interface PreviewContext {
  renderer: RenderPool
  principal: { user: Pick<UserRecord, 'id'> }
  signal: AbortSignal
}

/** A chart to run: a saved chart, or the config stored behind an explore link (form_data_key). */
export interface ChartSource {
  chart?: ChartRecord | undefined
  formDataKey?: string | undefined
  dataset: DatasetRecord
  config: ChartConfig
  title: string
}

export const PREVIEW_FORMATS = ['url', 'ascii', 'table', 'vega_lite', 'png'] as const
export type PreviewFormat = (typeof PREVIEW_FORMATS)[number]

/** One preview per format, Superset's ChartPreview content shapes (plus png). */
export interface Previews {
  url?: { type: 'url', preview_url: string }
  ascii?: { type: 'ascii', content: string }
  table?: { type: 'table', content: string, row_count: number }
  vega_lite?: { type: 'vega_lite', specification: Record<string, unknown> }
  png?: { type: 'png', mime_type: 'image/png', width: number, height: number, bytes: number, note: string }
}

export interface PreviewOptions {
  width: number
  height: number
  asciiWidth: number
  /** Lines of the whole text chart; the plot gets what title, axes and legend leave. */
  asciiHeight: number
  /** Where the `url` preview points. */
  url: string
}

export interface RenderedPreviews {
  previews: Previews
  /** PNGs, returned as MCP image content (base64). */
  images: Array<{ data: string, mimeType: 'image/png' }>
}

/** Link states (explore and SQL) are keyed by 128 random bits. */
function newLinkKey (): string {
  return randomBytes(16).toString('base64url')
}

/** A dataset the caller may see, by id, UUID or name. */
export async function visibleDataset (context: Pick<ChartContext, 'catalog' | 'principal'>, identifier: number | string): Promise<DatasetRecord> {
  const dataset = await context.catalog.findDataset(identifier, context.principal.access)
  if (dataset === undefined) throw notFound('dataset', identifier, 'id, UUID or table name', 'list_datasets')
  return dataset
}

/** A saved chart the caller may see, with the dataset it draws (which they must be able to see too). */
export async function savedChartSource (context: Pick<ChartContext, 'catalog' | 'principal'>, identifier: number | string): Promise<ChartSource> {
  const { catalog, principal } = context
  const chart = await catalog.findChart(identifier, principal.access)
  if (chart === undefined) throw notFound('chart', identifier, 'id or UUID', 'list_charts')
  const dataset = chart.dataset_id === null ? undefined : await catalog.findDataset(chart.dataset_id, principal.access)
  if (dataset === undefined) {
    // An owner may keep seeing a chart whose dataset they lost access to; its data stays hidden.
    throw permissionDenied(`Chart ${chart.id} ("${chart.slice_name}") queries a dataset you may not access, so its data cannot be shown.`, 'Ask an administrator for access to the dataset.')
  }
  return { chart, dataset, config: storedChartConfig(chart), title: chart.slice_name }
}

interface ExplorePayload {
  config: unknown
  chart_name: string
}

/** The unsaved chart behind a form_data_key: only its maker may use it, while it lasts. */
export async function exploreSource (context: Pick<ChartContext, 'catalog' | 'principal'>, key: string): Promise<ChartSource> {
  const state = await context.catalog.findLinkState(key)
  if (state === undefined || state.kind !== 'explore' || state.user_id !== context.principal.user.id || state.dataset_id === null) {
    throw new ToolError('not_found', `No unsaved chart has form_data_key ${JSON.stringify(key)} (keys expire, and belong to the user who made them).`, 'Make a new one with generate_explore_link or generate_chart (save_chart: false).')
  }
  const dataset = await visibleDataset(context, state.dataset_id)
  const payload = JSON.parse(state.payload) as ExplorePayload
  return { formDataKey: key, dataset, config: parseChartConfig(payload.config), title: payload.chart_name }
}

/** The chart named by a tool's `identifier` or `form_data_key` (exactly one of them). */
export async function chartSourceOf (context: Pick<ChartContext, 'catalog' | 'principal'>, args: { identifier?: number | string | undefined, form_data_key?: string | undefined }): Promise<ChartSource> {
  if (args.identifier !== undefined && args.form_data_key !== undefined) throw invalidArguments('Give identifier (a saved chart) or form_data_key (an unsaved one), not both.')
  if (args.identifier !== undefined) return await savedChartSource(context, args.identifier)
  if (args.form_data_key !== undefined) return await exploreSource(context, args.form_data_key)
  throw invalidArguments('Say which chart: identifier (a saved chart\'s id or UUID) or form_data_key (an unsaved chart from generate_explore_link or generate_chart).')
}

/** Store the state behind an explore or SQL link, for its maker, until links made now expire. */
export async function storeLinkState (context: Pick<ChartContext, 'catalog' | 'principal' | 'links'>, state: Pick<LinkStateRecord, 'kind' | 'dataset_id' | 'database_id' | 'payload'>): Promise<LinkStateRecord> {
  return await context.catalog.createLinkState({ ...state, key: newLinkKey(), user_id: context.principal.user.id, expires_on: expiryIso(context.links.expiry()) })
}

/** Store an unsaved chart for an explore link; returns its key. */
export async function storeExploreState (context: Pick<ChartContext, 'catalog' | 'principal' | 'links'>, dataset: DatasetRecord, config: ChartConfig, chartName: string): Promise<LinkStateRecord> {
  return await storeLinkState(context, { kind: 'explore', dataset_id: dataset.id, database_id: null, payload: JSON.stringify({ config, chart_name: chartName } satisfies ExplorePayload) })
}

/** The page that shows a source: the saved chart's page, or the explore page of its key. */
export function sourceUrl (context: Pick<ChartContext, 'links' | 'principal'>, source: Pick<ChartSource, 'chart' | 'formDataKey'>): string {
  const userId = context.principal.user.id
  if (source.chart !== undefined) return context.links.url('chart', source.chart.id, userId)
  if (source.formDataKey !== undefined) return context.links.url('explore', source.formDataKey, userId)
  throw new Error('a chart source without a chart or a key has no page')
}

/** Run a source, drawing at most MCP_CHART_MAX_ROWS rows. */
export async function runSource (context: ChartContext, source: ChartSource): Promise<ChartOutcome> {
  return await runChart(context, source.dataset, capRows(source.config, context.config.MCP_CHART_MAX_ROWS), source.title)
}

/** Histograms are exempt: they fetch values to bin (at most 100,000) but draw only the bins. */
function capRows (config: ChartConfig, maxRows: number): ChartConfig {
  return config.chart_type !== 'histogram' && 'row_limit' in config && config.row_limit > maxRows ? { ...config, row_limit: maxRows } : config
}

/** The previews asked for; PNGs (rendered in the pool's worker threads) also come back as image content. */
export async function renderPreviews (context: PreviewContext, outcome: ChartOutcome, formats: readonly PreviewFormat[], options: PreviewOptions): Promise<RenderedPreviews> {
  const previews: RenderedPreviews['previews'] = {}
  const images: RenderedPreviews['images'] = []
  for (const format of new Set(formats)) {
    switch (format) {
      case 'url':
        previews.url = { type: 'url', preview_url: options.url }
        break
      case 'ascii':
        previews.ascii = { type: 'ascii', content: asciiChart(outcome.view, { width: options.asciiWidth, height: Math.max(5, options.asciiHeight - 6) }) }
        break
      case 'table':
        previews.table = { type: 'table', content: markdownTable(outcome.view, 50), row_count: outcome.rows.length }
        break
      case 'vega_lite':
        previews.vega_lite = { type: 'vega_lite', specification: toVegaLite(outcome.view, { width: options.width, height: options.height }) as unknown as Record<string, unknown> }
        break
      case 'png': {
        const spec = toVegaLite(outcome.view, { width: options.width, height: options.height })
        const png = await context.renderer.render(spec, { width: options.width, height: options.height, key: String(context.principal.user.id), signal: context.signal })
        images.push({ data: png.toString('base64'), mimeType: 'image/png' })
        previews.png = { type: 'png', mime_type: 'image/png', width: options.width, height: options.height, bytes: png.length, note: 'Returned as image content in this result.' }
        break
      }
    }
  }
  return { previews, images }
}

/** A line for the text rendering of a result's previews: the ASCII chart or table, if any. */
export function previewText (previews: Previews): string[] {
  const lines: string[] = []
  if (previews.ascii !== undefined) lines.push('', previews.ascii.content)
  if (previews.table !== undefined) lines.push('', previews.table.content)
  if (previews.png !== undefined) lines.push('', `PNG preview attached (${previews.png.width}×${previews.png.height}).`)
  if (previews.vega_lite !== undefined) lines.push('', 'Vega-Lite spec in structured content (previews.vega_lite.specification).')
  return lines
}
