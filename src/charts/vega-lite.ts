import type { TopLevelSpec } from 'vega-lite'
import { formatValue, tableColumns } from './markdown.ts'
import type { ChartField, ChartView } from './view.ts'

/**
 * ChartView → a self-contained Vega-Lite v6 spec: the rows inline, labels as titles, the
 * dataset's d3 formats on axes and tooltips, sized to fill exactly width × height (autosize
 * "fit", padding included) so a PNG of that size is the chart and nothing else.
 */
export interface VegaLiteOptions {
  /** Pixels, the whole chart: title, axes and legend included. Default 640. */
  width?: number
  /** Pixels, the whole chart. Default 360. */
  height?: number
}

export const DEFAULT_WIDTH = 640
export const DEFAULT_HEIGHT = 360

/** The font the PNG renderer ships (assets/fonts); browsers fall back to their sans-serif. */
export const CHART_FONT = 'DejaVu Sans'

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'

// Keys the spec's transforms add to rows; the double underscore keeps them clear of SQL names.
const MEASURE = '__measure'
const MEASURE_LABEL = '__measure_label'
const VALUE = '__value'
const ROW = '__row'
const CELL = '__cell'
const X_LABEL = '__x_label'
const SHARE = '__share'
const TOTAL = '__total'

type Json = string | number | boolean | null | Json[] | { [key: string]: Json | undefined }
type Def = { [key: string]: Json | undefined }
type Row = ChartView['rows'][number]

const CONFIG: Def = {
  font: CHART_FONT,
  title: { anchor: 'start', fontSize: 15, subtitleFontSize: 11, subtitleColor: '#555555', offset: 10 },
  axis: { labelFontSize: 10, titleFontSize: 11, titlePadding: 8, gridColor: '#e8e8e8' },
  legend: { labelFontSize: 10, titleFontSize: 11, labelLimit: 160 },
  view: { stroke: null }
}

/** Vega-Lite reads dots, brackets and quotes in a field name as a path into nested objects; a backslash escapes each. */
const fieldRef = (name: string): string => name.replace(/[.[\]\\'"]/g, '\\$&')

/** A string literal in a Vega expression: JSON's, with the line separators the expression parser refuses escaped. */
const literal = (text: string): string => JSON.stringify(text).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

/** A row value inside a Vega expression. */
const datumOf = (name: string): string => `datum[${literal(name)}]`

/**
 * An expression that maps keys to labels: `["A", …][indexof(["a", …], key)]`. Not an object
 * literal: Vega refuses one whose keys name Object.prototype members (a label "constructor").
 */
const lookup = (entries: Array<[string, string]>, key: string): string =>
  `[${entries.map(([, label]) => literal(label)).join(', ')}][indexof([${entries.map(([name]) => literal(name)).join(', ')}], ${key})]`

/** Object.prototype's members, and then: Vega refuses them as object keys, and mistakes a text naming one for its own. */
const RESERVED_KEYS = new Set([...Object.getOwnPropertyNames(Object.prototype), 'then'])

/**
 * A field name Vega can address: no quotes, backslashes or control characters (Vega-Lite
 * writes names into expressions and access paths) and no reserved key.
 */
const isSafeName = (name: string): boolean => !/["'\\\u0000-\u001f\u007f\u2028\u2029]/.test(name) && !RESERVED_KEYS.has(name)

/**
 * Text as Vega can show it: control characters (SVG's XML refuses them) and line separators
 * (its expression parser refuses them) become spaces; a reserved key gets a zero-width space.
 */
function displayText (text: string): string {
  const plain = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, ' ')
  return RESERVED_KEYS.has(plain) ? `${plain}\u200b` : plain
}

/** A channel title: Vega-Lite writes it into tooltip and ARIA expressions escaping only quotes, so backslashes are escaped here. */
const expressionTitle = (title: string): string => displayText(title).replaceAll('\\', '\\\\')

/** The guide that shows a channel's title, when it has one. */
const GUIDES: Readonly<Record<string, 'axis' | 'legend'>> = { x: 'axis', y: 'axis', color: 'legend', fill: 'legend', stroke: 'legend', size: 'legend', shape: 'legend', opacity: 'legend' }

const isDef = (value: Json | undefined): value is Def => value !== null && typeof value === 'object' && !Array.isArray(value)

/** Every channel title of the spec in its expression form, its guide (axis, legend) showing the plain text. */
function retitleChannels (node: Json | undefined): void {
  if (Array.isArray(node)) {
    for (const item of node) retitleChannels(item)
    return
  }
  if (!isDef(node)) return
  for (const [key, value] of Object.entries(node)) {
    if (key === 'data') continue
    if (key === 'encoding' && isDef(value)) {
      for (const [channel, channelDef] of Object.entries(value)) {
        for (const def of Array.isArray(channelDef) ? channelDef : [channelDef]) retitle(channel, def)
      }
    }
    retitleChannels(value)
  }
}

function retitle (channel: string, def: Json | undefined): void {
  if (!isDef(def) || typeof def.title !== 'string') return
  const guide = GUIDES[channel]
  const guideDef = guide === undefined ? undefined : def[guide]
  if (guide !== undefined && guideDef !== null) def[guide] = { ...(isDef(guideDef) ? guideDef : {}), title: isDef(guideDef) && guideDef.title !== undefined ? guideDef.title : displayText(def.title) }
  def.title = expressionTitle(def.title)
}

/**
 * The view with every field Vega cannot address by name (see isSafeName) renamed, in its
 * fields and rows; labels stay. Views of ordinary names are returned as they are.
 */
function withSafeFieldNames (view: ChartView): ChartView {
  const fields = [view.x, view.series, ...view.y, ...(view.columns ?? [])].filter(field => field !== undefined)
  const names = new Set(fields.map(field => field.name))
  const unsafe = [...names].filter(name => !isSafeName(name))
  if (unsafe.length === 0) return view
  const renamed = new Map<string, string>()
  for (const name of unsafe) {
    let safe = `__field_${renamed.size}`
    while (names.has(safe)) safe = `_${safe}`
    renamed.set(name, safe)
  }
  const rename = (field: ChartField): ChartField => ({ ...field, name: renamed.get(field.name) ?? field.name })
  return {
    ...view,
    x: view.x === undefined ? undefined : rename(view.x),
    series: view.series === undefined ? undefined : rename(view.series),
    y: view.y.map(rename),
    columns: view.columns?.map(rename),
    rows: view.rows.map(row => Object.fromEntries(Object.entries(row).map(([key, value]) => [renamed.get(key) ?? key, value])))
  }
}

/**
 * A d3 time format that shows what the values vary in: years, months, days, or times. Dates
 * are read as UTC, as ChartView promises, and printed in UTC so the server's zone never shows.
 */
export function temporalFormat (values: ReadonlyArray<Row[string] | undefined>): string {
  const dates = values.filter(value => typeof value === 'string').map(value => new Date(value)).filter(date => !Number.isNaN(date.getTime()))
  if (dates.some(date => date.getUTCHours() !== 0 || date.getUTCMinutes() !== 0 || date.getUTCSeconds() !== 0)) return '%b %d, %Y %H:%M'
  if (dates.some(date => date.getUTCDate() !== 1)) return '%b %d, %Y'
  if (dates.some(date => date.getUTCMonth() !== 0)) return '%b %Y'
  return '%Y'
}

/** Number format for an axis or tooltip, when the dataset defines one. */
const numberFormat = (field: ChartField | undefined): Def => (field?.format === undefined ? {} : { format: field.format })

/**
 * Axis labels: the dataset's format, unless the numbers are large, where "$22M" reads better
 * than "$22,000,000.00" and leaves room for the plot (tooltips keep the full format).
 */
function axisFormat (field: ChartField | undefined, rows: ChartView['rows'], names: readonly string[]): Def {
  const largest = Math.max(0, ...rows.flatMap(row => names.map(name => Math.abs(Number(row[name]) || 0))))
  if (field === undefined || largest < 10_000 || field.format?.includes('%') === true) return numberFormat(field)
  return { format: `${field.format?.startsWith('$') === true ? '$' : ''}.3~s` }
}

/** Horizontal category labels when they fit their band at ~6.5 px a character, slanted otherwise. */
function categoryAxis (view: ChartView, width: number): Def {
  const field = view.x
  if (field === undefined) return {}
  const labels = new Set(view.rows.map(row => formatValue(row[field.name], field)))
  const longest = Math.max(0, ...[...labels].map(label => label.length))
  const plotWidth = width - (view.series !== undefined || view.y.length > 1 ? 200 : 90)
  const fits = labels.size * (longest * 6.5 + 8) <= plotWidth
  return fits ? { labelAngle: 0 } : { labelAngle: -40, labelLimit: 120 }
}

interface Measures {
  transform: Def[]
  /** The field the measure axis encodes (a folded value, or the first measure). */
  value: ChartField
  /** The colour channel: series, folded measures, or none. */
  color: Def | undefined
  tooltip: Def[]
}

/**
 * Several measures without a series are folded into (measure label, value) pairs coloured by
 * label. With a series, colour is taken by the series, so only the first measure is drawn.
 */
function measuresOf (view: ChartView): Measures {
  const first = view.y[0] ?? { name: VALUE, label: 'Value', type: 'quantitative' }
  const measureTooltip = (field: ChartField): Def => ({ field: fieldRef(field.name), type: 'quantitative', title: field.label, ...numberFormat(field) })
  if (view.series !== undefined || view.y.length < 2) {
    return {
      transform: [],
      value: first,
      color: view.series === undefined ? undefined : { field: fieldRef(view.series.name), type: 'nominal', title: view.series.label },
      tooltip: [
        ...(view.series === undefined ? [] : [{ field: fieldRef(view.series.name), type: 'nominal', title: view.series.label }]),
        measureTooltip(first)
      ]
    }
  }
  const sameFormat = view.y.every(field => field.format === first.format)
  const labels = view.y.map(field => displayText(field.label))
  return {
    transform: [
      { fold: view.y.map(field => fieldRef(field.name)), as: [MEASURE, VALUE] },
      // fold names its output by the plain field name, escapes and all removed.
      { calculate: lookup(view.y.map((field, index) => [field.name, labels[index] ?? field.label]), `datum.${MEASURE}`), as: MEASURE_LABEL }
    ],
    value: { name: VALUE, label: labels.join(', '), type: 'quantitative', format: sameFormat ? first.format : undefined },
    color: { field: MEASURE_LABEL, type: 'nominal', title: null, sort: labels, scale: { domain: labels } },
    tooltip: view.y.map(measureTooltip)
  }
}

/** The x field of an xy chart as a position channel; bars treat every x as a category. */
function xDef (view: ChartView, width: number, asCategory: boolean): Def {
  const field = view.x
  if (field === undefined) return {}
  const common = { field: fieldRef(field.name), title: field.label }
  if (asCategory || field.type === 'nominal') {
    const axis = categoryAxis(view, width)
    if (field.type === 'temporal') {
      const format = temporalFormat(view.rows.map(row => row[field.name]))
      return { ...common, type: 'ordinal', axis: { ...axis, labelExpr: `utcFormat(toDate(datum.value), ${JSON.stringify(format)})` } }
    }
    return { ...common, type: field.type === 'quantitative' ? 'ordinal' : 'nominal', sort: null, axis }
  }
  if (field.type === 'temporal') return { ...common, type: 'temporal', scale: { type: 'utc' }, axis: temporalAxis(view.rows.map(row => row[field.name])) }
  return { ...common, type: 'quantitative', scale: { zero: false }, axis: axisFormat(field, view.rows, [field.name]) }
}

/**
 * Ticks on whole months or years when the data is monthly or yearly: left alone, Vega puts
 * ticks on weeks between monthly points ("Jan 05, Jan 19").
 */
function temporalAxis (values: ReadonlyArray<Row[string] | undefined>): Def {
  const format = temporalFormat(values)
  const dates = values.filter(value => typeof value === 'string').map(value => new Date(value)).filter(date => !Number.isNaN(date.getTime()))
  if (dates.length < 2 || (format !== '%b %Y' && format !== '%Y')) return {}
  const months = dates.map(date => date.getUTCFullYear() * 12 + date.getUTCMonth())
  const span = Math.max(...months) - Math.min(...months)
  const quarterly = dates.every(date => date.getUTCMonth() % 3 === 0)
  // At most seven ticks, every 1, 2, 3 or 6 months or whole years; quarterly data on quarters.
  const wanted = Math.max(format === '%Y' ? 12 : quarterly ? 3 : 1, span / 7)
  const step = [1, 2, 3, 6, 12].find(months => months >= wanted && (!quarterly || months % 3 === 0)) ?? 12 * Math.ceil(wanted / 12)
  return step % 12 === 0 ? { format: '%Y', tickCount: { interval: 'year', step: step / 12 } } : { format: '%b %Y', tickCount: { interval: 'month', step } }
}

/** Tooltip entry for x; temporal x goes through a UTC-formatted label (see temporalFormat). */
function xTooltip (view: ChartView): { transform: Def[], tooltip: Def[] } {
  const field = view.x
  if (field === undefined) return { transform: [], tooltip: [] }
  if (field.type === 'temporal') {
    const format = temporalFormat(view.rows.map(row => row[field.name]))
    return {
      transform: [{ calculate: `utcFormat(toDate(${datumOf(field.name)}), ${JSON.stringify(format)})`, as: X_LABEL }],
      tooltip: [{ field: X_LABEL, type: 'nominal', title: field.label }]
    }
  }
  return { transform: [], tooltip: [{ field: fieldRef(field.name), type: field.type, title: field.label, ...numberFormat(field) }] }
}

function valueDef (view: ChartView, measures: Measures, options: Def = {}): Def {
  return { field: fieldRef(measures.value.name), type: 'quantitative', title: measures.value.label, axis: axisFormat(measures.value, view.rows, view.y.map(field => field.name)), ...options }
}

function barBody (view: ChartView, width: number): Def {
  const measures = measuresOf(view)
  const x = xTooltip(view)
  const grouped = measures.color !== undefined && view.stacked !== true
  const category = view.horizontal === true ? 'y' : 'x'
  const amount = view.horizontal === true ? 'x' : 'y'
  const categoryDef = xDef(view, width, true)
  const colorField = measures.color?.field
  return {
    transform: [...x.transform, ...measures.transform],
    mark: { type: 'bar', tooltip: true },
    encoding: {
      [category]: view.horizontal === true ? { ...categoryDef, axis: { labelLimit: 160 } } : categoryDef,
      [amount]: valueDef(view, measures, grouped ? { stack: null } : {}),
      ...(measures.color === undefined ? {} : { color: measures.color }),
      ...(grouped && typeof colorField === 'string' ? { [`${category}Offset`]: { field: colorField, type: 'nominal', ...(measures.color?.sort === undefined ? {} : { sort: measures.color.sort }) } } : {}),
      tooltip: [...x.tooltip, ...measures.tooltip]
    }
  }
}

/** line, area and scatter: one x, the measures (or series) coloured. */
function xyBody (view: ChartView, width: number): Def {
  const measures = measuresOf(view)
  const x = xTooltip(view)
  const points = view.rows.length * Math.max(1, view.y.length)
  let mark: Def
  let y: Def
  if (view.kind === 'scatter') {
    mark = { type: 'point', filled: true, size: 50, tooltip: true }
    y = valueDef(view, measures, { scale: { zero: false } })
  } else if (view.kind === 'area') {
    const stacked = measures.color !== undefined && view.stacked === true
    const overlaid = measures.color !== undefined && !stacked
    mark = { type: 'area', tooltip: true, line: true, opacity: overlaid ? 0.35 : 0.7 }
    y = valueDef(view, measures, stacked ? {} : { stack: null })
  } else {
    mark = { type: 'line', tooltip: true, point: points <= 120 }
    y = valueDef(view, measures)
  }
  return {
    transform: [...x.transform, ...measures.transform],
    mark,
    encoding: {
      x: xDef(view, width, false),
      y,
      ...(measures.color === undefined ? {} : { color: measures.color }),
      tooltip: [...x.tooltip, ...measures.tooltip]
    }
  }
}

/** A pie with each slice's share printed on it (slices under 4% stay unlabelled). */
function pieBody (view: ChartView): Def {
  const measure = view.y[0]
  const category = view.x
  if (measure === undefined || category === undefined) return { mark: { type: 'arc' } }
  const theta = { field: fieldRef(measure.name), type: 'quantitative', stack: true }
  const color = { field: fieldRef(category.name), type: 'nominal', title: category.label, sort: null }
  return {
    transform: [
      { joinaggregate: [{ op: 'sum', field: fieldRef(measure.name), as: TOTAL }] },
      { calculate: `${datumOf(measure.name)} / datum.${TOTAL}`, as: SHARE }
    ],
    encoding: { theta, color },
    layer: [
      {
        mark: { type: 'arc', tooltip: true, stroke: 'white', strokeWidth: 1 },
        encoding: {
          tooltip: [
            { field: fieldRef(category.name), type: 'nominal', title: category.label },
            { field: fieldRef(measure.name), type: 'quantitative', title: measure.label, ...numberFormat(measure) },
            { field: SHARE, type: 'quantitative', title: 'Share', format: '.1%' }
          ]
        }
      },
      {
        transform: [{ filter: `datum.${SHARE} >= 0.04` }],
        mark: { type: 'text', radius: { expr: 'min(width, height) * 0.36' }, fill: 'white', fontWeight: 'bold', fontSize: 11 },
        encoding: { text: { field: SHARE, type: 'quantitative', format: '.0%' } }
      }
    ]
  }
}

/** The formatted text of one table cell, as a Vega expression. */
function cellExpression (field: ChartField, rows: ChartView['rows']): string {
  const value = datumOf(field.name)
  if (field.type === 'quantitative') {
    const format = field.format === undefined ? `${value} % 1 === 0 ? ',d' : ',.2~f'` : literal(field.format)
    return `isValid(${value}) ? format(${value}, ${format}) : ''`
  }
  if (field.type === 'temporal') {
    const format = literal(temporalFormat(rows.map(row => row[field.name])))
    return `isValid(${value}) ? utcFormat(toDate(${value}), ${format}) : ''`
  }
  return `isValid(${value}) ? '' + ${value} : ''`
}

/**
 * A table drawn as a grid of text marks, for clients that can only show an image. It shows the
 * rows that fit the height; markdownTable (or HTML) is the better way to show a table.
 */
function tableBody (view: ChartView, height: number): { body: Def, subtitle: string | undefined } {
  const columns = tableColumns(view)
  const cells = columns.map((_, index) => `${CELL}_${index}`)
  const reserved = view.title === '' ? 40 : view.subtitle === undefined ? 70 : 85
  const fitting = Math.max(1, Math.floor((height - reserved) / 20))
  const cut = view.rows.length > fitting
  return {
    subtitle: cut ? [view.subtitle, `First ${fitting} of ${view.rows.length} rows`].filter(part => part !== undefined).join(' · ') : view.subtitle,
    body: {
      transform: [
        { window: [{ op: 'row_number', as: ROW }] },
        ...(cut ? [{ filter: `datum.${ROW} <= ${fitting}` }] : []),
        ...columns.map((column, index) => ({ calculate: cellExpression(column, view.rows), as: cells[index] })),
        { fold: cells, as: [MEASURE, CELL] }
      ],
      mark: { type: 'text', fontSize: 11, limit: 160 },
      encoding: {
        x: {
          field: MEASURE,
          type: 'nominal',
          sort: cells,
          title: null,
          axis: {
            orient: 'top',
            labelAngle: 0,
            labelFontWeight: 'bold',
            labelFontSize: 11,
            labelLimit: 160,
            domain: false,
            ticks: false,
            labelExpr: lookup(columns.map((column, index) => [cells[index] ?? '', displayText(column.label)]), 'datum.value')
          }
        },
        y: { field: ROW, type: 'ordinal', axis: null },
        text: { field: CELL, type: 'nominal' }
      }
    }
  }
}

/** The headline value, its subheader, and the trend as a sparkline in the lower part. */
function bigNumberBody (view: ChartView): Def {
  const measure = view.y[0]
  const value = formatValue(view.bigNumber?.value ?? null, measure)
  const text = value === '' ? '–' : value
  const subheader = view.bigNumber?.subheader
  const trendField = view.x
  const trend = view.bigNumber?.trend === true && trendField !== undefined && measure !== undefined && view.rows.length > 0
  const chars = Math.max(3, text.length)
  const layers: Def[] = []
  if (trend) {
    const x = xTooltip(view)
    layers.push({
      transform: x.transform,
      mark: { type: 'line', tooltip: true, strokeWidth: 2, point: view.rows.length <= 60 },
      encoding: {
        x: trendField.type === 'temporal'
          ? { field: fieldRef(trendField.name), type: 'temporal', scale: { type: 'utc' }, axis: null }
          : { field: fieldRef(trendField.name), type: trendField.type === 'quantitative' ? 'quantitative' : 'ordinal', sort: null, axis: null },
        y: { field: fieldRef(measure.name), type: 'quantitative', axis: null, scale: { zero: false, range: [{ expr: 'height' }, { expr: 'height * 0.62' }] } },
        tooltip: [...x.tooltip, { field: fieldRef(measure.name), type: 'quantitative', title: measure.label, ...numberFormat(measure) }]
      }
    })
  }
  const centre = trend ? 0.26 : 0.42
  const size = `min(height * ${trend ? 0.3 : 0.4}, width * 0.92 / ${(chars * 0.7).toFixed(2)})`
  layers.push({
    data: { values: [{}] },
    mark: { type: 'text', text, fontWeight: 'bold', fontSize: { expr: size }, align: 'center', baseline: 'middle', x: { expr: 'width / 2' }, y: { expr: `height * ${centre}` } }
  })
  if (subheader !== undefined && subheader !== '') {
    layers.push({
      data: { values: [{}] },
      mark: { type: 'text', text: displayText(subheader), fontSize: { expr: 'max(11, min(18, height * 0.06))' }, fill: '#555555', align: 'center', baseline: 'top', x: { expr: 'width / 2' }, y: { expr: `height * ${centre} + (${size}) * 0.6 + 6` } }
    })
  }
  return { layer: layers }
}

function histogramBody (view: ChartView): Def {
  const bin = view.x
  const count = view.y[0]
  return {
    mark: { type: 'bar', tooltip: true, binSpacing: 1 },
    encoding: {
      x: { field: 'bin_start', bin: 'binned', type: 'quantitative', title: bin?.label ?? null, axis: numberFormat(bin) },
      x2: { field: 'bin_end' },
      y: { field: fieldRef(count?.name ?? 'count'), type: 'quantitative', title: count?.label ?? 'Count', axis: numberFormat(count) },
      tooltip: [
        ...(bin === undefined ? [] : [{ field: fieldRef(bin.name), type: 'nominal', title: bin.label }]),
        { field: fieldRef(count?.name ?? 'count'), type: 'quantitative', title: count?.label ?? 'Count', ...numberFormat(count) }
      ]
    }
  }
}

function titleOf (title: string, subtitle: string | undefined): Def {
  if (title === '' && (subtitle === undefined || subtitle === '')) return {}
  const text = displayText(title)
  return { title: subtitle === undefined || subtitle === '' ? { text } : { text, subtitle: displayText(subtitle) } }
}

/**
 * The Vega-Lite spec of a chart. Multiple measures on an xy chart become one series per
 * measure (a fold); when the view also has a series, the series takes the colour and only the
 * first measure is drawn. Tables are a grid of text marks (best shown as markdown or HTML);
 * a big number is large text over an optional sparkline of its trend.
 */
export function toVegaLite (chart: ChartView, options: VegaLiteOptions = {}): TopLevelSpec {
  const view = withSafeFieldNames(chart)
  const width = options.width ?? DEFAULT_WIDTH
  const height = options.height ?? DEFAULT_HEIGHT
  let subtitle = view.subtitle
  let body: Def
  switch (view.kind) {
    case 'bar':
      body = barBody(view, width)
      break
    case 'line':
    case 'area':
    case 'scatter':
      body = xyBody(view, width)
      break
    case 'pie':
      body = pieBody(view)
      break
    case 'table': {
      const table = tableBody(view, height)
      body = table.body
      subtitle = table.subtitle
      break
    }
    case 'big_number':
      body = bigNumberBody(view)
      break
    case 'histogram':
      body = histogramBody(view)
      break
  }
  const spec: Def = {
    $schema: SCHEMA,
    ...titleOf(view.title, subtitle),
    width,
    height,
    autosize: { type: 'fit', contains: 'padding' },
    background: 'white',
    config: CONFIG,
    data: { values: view.rows },
    ...body
  }
  if (Array.isArray(spec.transform) && spec.transform.length === 0) delete spec.transform
  retitleChannels(spec)
  // The Def shapes above are Vega-Lite's JSON; the compile tests hold them to its schema.
  return spec as unknown as TopLevelSpec
}
