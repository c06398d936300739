import { formatValue, tableColumns } from './markdown.ts'
import type { ChartField, ChartView } from './view.ts'

/**
 * ChartView → a chart in plain text, for a model (or a terminal) that cannot see images, after
 * Superset's ASCII preview: bars for bar, pie and histogram; a plot grid for line, area and
 * scatter; a boxed headline and sparkline for a big number; a fixed-width table for a table.
 */
export interface AsciiOptions {
  /** Characters per line; no line is longer. At least 30, default 80. */
  width?: number
  /** Rows of the line, area and scatter plot grid. At least 4, default 12. */
  height?: number
}

type Row = ChartView['rows'][number]
type Value = Row[string] | undefined

const DEFAULT_WIDTH = 80
const DEFAULT_HEIGHT = 12
const MIN_WIDTH = 30
const MIN_HEIGHT = 4
const MAX_PLOT_WIDTH = 60
const MAX_BARS = 30
const MAX_TABLE_ROWS = 20
const MAX_SERIES = 4
const GLYPHS = ['•', '×', '+', 'o']
const SPARKS = '▁▂▃▄▅▆▇█'
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉']
const SHARE: ChartField = { name: 'share', label: 'Share', type: 'quantitative', format: '.1%' }

// Widths count code points, so a label with accents or emoji is not cut mid-character.
const lengthOf = (text: string): number => [...text].length
const clip = (text: string, width: number): string => {
  const chars = [...text]
  return chars.length <= width ? text : width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`
}
const padEnd = (text: string, width: number): string => text + ' '.repeat(Math.max(0, width - lengthOf(text)))
const padStart = (text: string, width: number): string => ' '.repeat(Math.max(0, width - lengthOf(text))) + text
const numberOf = (value: Value): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)
const shown = (text: string): string => (text === '' ? '–' : text)
const more = (count: number, noun: string): string => `… ${formatValue(count)} more ${noun}${count === 1 ? '' : 's'}`
const whole = (value: number | undefined, fallback: number, min: number): number => Math.max(min, Math.floor(value !== undefined && Number.isFinite(value) ? value : fallback))

/** Smallest and largest; a loop, as spreading thousands of values into Math.min can overflow the stack. */
function extent (values: readonly number[]): [number, number] {
  let min = Infinity
  let max = -Infinity
  for (const value of values) {
    if (value < min) min = value
    if (value > max) max = value
  }
  return [min, max]
}

/** The plain-text chart of a view; the title (and subtitle) first, every line at most `width`. */
export function asciiChart (view: ChartView, options: AsciiOptions = {}): string {
  const width = whole(options.width, DEFAULT_WIDTH, MIN_WIDTH)
  const height = whole(options.height, DEFAULT_HEIGHT, MIN_HEIGHT)
  const heading = [view.title, view.subtitle ?? ''].filter(line => line !== '').map(line => clip(line, width))
  const hasHeadline = view.kind === 'big_number' && numberOf(view.bigNumber?.value) !== undefined
  let body: string[]
  if (view.rows.length === 0 && !hasHeadline) body = ['No data.']
  else if (view.kind === 'big_number') body = bigNumberLines(view, width)
  else if (view.kind === 'table') body = tableLines(view, width)
  else if (view.kind === 'line' || view.kind === 'area' || view.kind === 'scatter') body = plotLines(view, width, height)
  else body = barLines(view, width)
  // A newline inside a value would break the layout; one space for one character keeps columns aligned.
  return [...heading, ...body].map(line => clip(line.replace(/[\u0000-\u001f\u007f]/g, ' ').trimEnd(), width)).join('\n')
}

type Bar = { label: string, value: number | undefined, text: string }

function binLabel (row: Row, field: ChartField | undefined): string {
  const start = numberOf(row.bin_start)
  const end = numberOf(row.bin_end)
  if (start !== undefined && end !== undefined) return `${formatValue(start)} – ${formatValue(end)}`
  return formatValue(field === undefined ? null : row[field.name], field)
}

/** One bar per row; several measures without a series give one bar per row and measure. */
function barsOf (view: ChartView): Bar[] {
  const x = view.x
  const category = (row: Row): string => (view.kind === 'histogram' ? binLabel(row, x) : formatValue(x === undefined ? null : row[x.name], x))
  const bar = (row: Row, measure: ChartField | undefined, ...labels: string[]): Bar => {
    const value = measure === undefined ? undefined : row[measure.name]
    return { label: labels.filter(label => label !== '').join(' · '), value: numberOf(value), text: shown(formatValue(value, measure)) }
  }
  if (view.kind === 'bar' && view.series === undefined && view.y.length > 1) {
    return view.rows.flatMap(row => view.y.map(measure => bar(row, measure, category(row), measure.label)))
  }
  const series = view.kind === 'bar' ? view.series : undefined
  return view.rows.map(row => bar(row, view.y[0], category(row), series === undefined ? '' : formatValue(row[series.name], series)))
}

/** Block characters in eighths, so close values still differ; a non-zero value shows at least a sliver. */
function barOf (value: number | undefined, largest: number, width: number): string {
  if (value === undefined || value === 0 || largest === 0) return ''
  const eighths = Math.max(1, Math.round((Math.abs(value) / largest) * width * 8))
  if (value < 0) return '░'.repeat(Math.max(1, Math.round(eighths / 8)))
  return '█'.repeat(Math.floor(eighths / 8)) + (EIGHTHS[eighths % 8] ?? '')
}

function barLines (view: ChartView, width: number): string[] {
  const all = barsOf(view)
  const bars = all.slice(0, MAX_BARS)
  if (view.kind === 'pie') {
    const total = all.reduce((sum, bar) => sum + Math.max(0, bar.value ?? 0), 0)
    for (const bar of bars) if (bar.value !== undefined && total > 0) bar.text += ` (${formatValue(bar.value / total, SHARE)})`
  }
  const labelWidth = Math.min(Math.floor(width * 0.3), Math.max(1, ...bars.map(bar => lengthOf(bar.label))))
  const textWidth = Math.min(Math.floor(width * 0.35), Math.max(...bars.map(bar => lengthOf(bar.text))))
  const barWidth = width - labelWidth - textWidth - 2
  const largest = extent([0, ...bars.map(bar => Math.abs(bar.value ?? 0))])[1]
  const lines = bars.map(bar => `${padEnd(clip(bar.label, labelWidth), labelWidth)} ${barOf(bar.value, largest, barWidth)} ${clip(bar.text, textWidth)}`)
  if (all.length > bars.length) lines.push(more(all.length - bars.length, 'bar'))
  return lines
}

type Series = { name: string, points: Array<{ x: number, y: number }> }

/** x as numbers: dates as milliseconds, numbers as themselves, anything else by first appearance. */
function xPositions (view: ChartView): number[] {
  const field = view.x
  const values = view.rows.map(row => (field === undefined ? null : row[field.name]))
  if (field?.type === 'temporal') {
    const times = values.map(value => (typeof value === 'string' ? Date.parse(value) : NaN))
    if (times.every(Number.isFinite)) return times
  }
  if (field?.type === 'quantitative' && values.every(value => numberOf(value) !== undefined)) return values as number[]
  const order = new Map<string, number>()
  return values.map(value => {
    const key = formatValue(value, field)
    if (!order.has(key)) order.set(key, order.size)
    return order.get(key) ?? 0
  })
}

/** The series a plot draws: one per series value, or else one per measure. */
function seriesOf (view: ChartView, xs: number[]): Series[] {
  const split = view.series
  const pointsOf = (measure: ChartField | undefined, keep: (row: Row) => boolean): Series['points'] =>
    view.rows.flatMap((row, index) => {
      const y = measure === undefined ? undefined : numberOf(row[measure.name])
      return y === undefined || !keep(row) ? [] : [{ x: xs[index] ?? 0, y }]
    })
  if (split === undefined) return view.y.map(measure => ({ name: measure.label, points: pointsOf(measure, () => true) }))
  const names = [...new Set(view.rows.map(row => formatValue(row[split.name], split)))]
  return names.map(name => ({ name: name === '' ? '(empty)' : name, points: pointsOf(view.y[0], row => formatValue(row[split.name], split) === name) }))
}

/** A point grid with the y range on the left, first and last x below, and a legend of glyphs. */
function plotLines (view: ChartView, width: number, height: number): string[] {
  const xs = xPositions(view)
  const all = seriesOf(view, xs)
  const series = all.slice(0, MAX_SERIES)
  const points = series.flatMap(line => line.points)
  if (points.length === 0) return ['No data.']
  const measures = view.series === undefined ? view.y.slice(0, MAX_SERIES) : view.y.slice(0, 1)
  const yField = measures.every(measure => measure.format === measures[0]?.format) ? measures[0] : undefined
  const [yMin, yMax] = extent(points.map(point => point.y))
  const [xMin, xMax] = extent(points.map(point => point.x))
  const labelWidth = Math.min(Math.floor(width / 3), Math.max(lengthOf(formatValue(yMin, yField)), lengthOf(formatValue(yMax, yField))))
  const plotWidth = Math.min(MAX_PLOT_WIDTH, width - labelWidth - 2)
  const grid = Array.from({ length: height }, () => new Array<string>(plotWidth).fill(' '))
  // One x sits under its label at the left; one y value sits mid-height, labelled there.
  const column = (x: number): number => (xMax === xMin ? 0 : Math.round(((x - xMin) / (xMax - xMin)) * (plotWidth - 1)))
  const rowOf = (y: number): number => Math.round((yMax === yMin ? 0.5 : (yMax - y) / (yMax - yMin)) * (height - 1))
  series.forEach((line, index) => {
    for (const point of line.points) {
      const row = rowOf(point.y)
      const cells = grid[row]
      if (cells !== undefined) cells[column(point.x)] = GLYPHS[index] ?? '•'
    }
  })
  const yLabel = (row: number): string => (row === rowOf(yMax) ? formatValue(yMax, yField) : row === rowOf(yMin) ? formatValue(yMin, yField) : '')
  const lines = grid.map((cells, row) => `${padStart(clip(yLabel(row), labelWidth), labelWidth)} ${yLabel(row) === '' ? '│' : '┤'}${cells.join('')}`)
  lines.push(`${' '.repeat(labelWidth)} └${'─'.repeat(plotWidth)}`)
  lines.push(' '.repeat(labelWidth + 2) + xLabels(view, xs, plotWidth))
  const legend = series.map((line, index) => `${GLYPHS[index] ?? '•'} ${line.name}`).join('  ')
  const measure = view.series === undefined ? '' : `${view.y[0]?.label ?? ''} by ${view.series.label}: `
  const hidden = all.length - series.length
  lines.push(measure + (hidden > 0 ? `${legend}  (+${hidden} more not shown)` : legend))
  return lines
}

/** The first and last x under the plot's ends, and the x field's label between them when it fits. */
function xLabels (view: ChartView, xs: number[], plotWidth: number): string {
  const field = view.x
  const [min, max] = extent(xs)
  const firstIndex = xs.indexOf(min)
  const lastIndex = xs.indexOf(max)
  const labelAt = (index: number): string => formatValue(field === undefined ? null : view.rows[index]?.[field.name], field)
  const first = clip(labelAt(firstIndex), Math.floor(plotWidth / 2) - 1)
  const last = firstIndex === lastIndex ? '' : clip(labelAt(lastIndex), Math.floor(plotWidth / 2) - 1)
  const gap = plotWidth - lengthOf(first) - lengthOf(last)
  const title = field?.label ?? ''
  if (title !== '' && gap >= lengthOf(title) + 4) {
    const before = Math.floor((gap - lengthOf(title)) / 2)
    return `${first}${' '.repeat(before)}${title}${' '.repeat(gap - before - lengthOf(title))}${last}`
  }
  return `${first}${' '.repeat(Math.max(1, gap))}${last}`
}

/** Values squeezed into at most `width` buckets (their means), drawn as block heights. */
function sparkline (values: number[], width: number): string {
  const count = Math.min(values.length, width)
  const buckets = Array.from({ length: count }, (_, index) => {
    const part = values.slice(Math.floor((index * values.length) / count), Math.floor(((index + 1) * values.length) / count))
    return part.reduce((sum, value) => sum + value, 0) / part.length
  })
  const [min, max] = extent(buckets)
  return buckets.map(value => SPARKS[max === min ? 3 : Math.round(((value - min) / (max - min)) * 7)] ?? '').join('')
}

function bigNumberLines (view: ChartView, width: number): string[] {
  const measure = view.y[0]
  const value = shown(formatValue(view.bigNumber?.value ?? null, measure))
  const label = clip(measure?.label ?? '', width - 6)
  const inner = Math.min(width - 2, Math.max(lengthOf(value) + 8, lengthOf(label) + 4, 16))
  // A value wider than the box (1e300 written out in full) is cut to fit, not centred off the edge.
  const before = Math.max(0, Math.floor((inner - lengthOf(value)) / 2))
  const lines = [
    label === '' ? `┌${'─'.repeat(inner)}┐` : `┌─ ${label} ${'─'.repeat(inner - lengthOf(label) - 3)}┐`,
    `│${' '.repeat(inner)}│`,
    `│${padEnd(' '.repeat(before) + clip(value, inner - before), inner)}│`,
    `│${' '.repeat(inner)}│`,
    `└${'─'.repeat(inner)}┘`
  ]
  const subheader = view.bigNumber?.subheader
  if (subheader !== undefined && subheader !== '') lines.push(subheader)
  const values = view.rows.flatMap(row => numberOf(measure === undefined ? undefined : row[measure.name]) ?? [])
  if (view.bigNumber?.trend === true && values.length > 1) {
    const x = view.x
    const ends = [view.rows[0], view.rows.at(-1)].map(row => formatValue(x === undefined ? null : row?.[x.name], x))
    lines.push(sparkline(values, Math.min(width, MAX_PLOT_WIDTH)))
    const [min, max] = extent(values)
    lines.push(ends.join(' → '), `min ${formatValue(min, measure)} · max ${formatValue(max, measure)}`)
  }
  return lines
}

/** Text columns narrowed (widest first) until the table fits, then columns left out; numbers are never cut. */
function tableLines (view: ChartView, width: number): string[] {
  let columns = tableColumns(view)
  const rows = view.rows.slice(0, MAX_TABLE_ROWS)
  const cells = rows.map(row => columns.map(column => formatValue(row[column.name], column)))
  const widths = columns.map((column, index) => Math.min(30, Math.max(lengthOf(column.label), ...cells.map(line => lengthOf(line[index] ?? '')))))
  const total = (): number => widths.reduce((sum, columnWidth) => sum + columnWidth + 2, -2)
  const cuttable = widths.map((columnWidth, index) => (columns[index]?.type === 'quantitative' ? 0 : columnWidth))
  while (total() > width) {
    const widest = cuttable.indexOf(Math.max(...cuttable))
    if ((cuttable[widest] ?? 0) <= 6) break
    cuttable[widest] = widths[widest] = (widths[widest] ?? 0) - 1
  }
  while (total() > width && widths.length > 1) widths.pop()
  const hiddenColumns = columns.length - widths.length
  columns = columns.slice(0, widths.length)
  const line = (texts: string[]): string => columns.map((column, index) => {
    const text = clip(texts[index] ?? '', widths[index] ?? 0)
    return column.type === 'quantitative' ? padStart(text, widths[index] ?? 0) : padEnd(text, widths[index] ?? 0)
  }).join('  ')
  const lines = [line(columns.map(column => column.label)), widths.map(columnWidth => '─'.repeat(columnWidth)).join('  '), ...cells.map(line)]
  if (view.rows.length > rows.length) lines.push(more(view.rows.length - rows.length, 'row'))
  if (hiddenColumns > 0) lines.push(`(${hiddenColumns} more column${hiddenColumns === 1 ? '' : 's'} not shown)`)
  return lines
}
