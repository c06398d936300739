import { createRequire } from 'node:module'
import type { ChartField, ChartView } from './view.ts'

type NumberFormatter = (value: number) => string

// d3-format comes with vega (vega-format depends on it) and ships no type declarations: a typed
// require keeps `any` out, and it is the same formatter Vega applies to axes and tooltips, so
// a table and its chart print a number the same way.
const { format: d3Format } = createRequire(import.meta.url)('d3-format') as { format: (specifier: string) => NumberFormatter }

const formatters = new Map<string, NumberFormatter | null>()

/** A d3 formatter for a dataset's format string, or undefined when d3 rejects the string. */
function formatterFor (specifier: string): NumberFormatter | undefined {
  let formatter = formatters.get(specifier)
  if (formatter === undefined) {
    try {
      formatter = d3Format(specifier)
    } catch {
      formatter = null
    }
    if (formatters.size < 1000) formatters.set(specifier, formatter)
  }
  return formatter ?? undefined
}

const integer = d3Format(',d')
const twoDecimals = d3Format(',.2~f')
const threeSignificant = d3Format('.3~g')

const MIDNIGHT = /T00:00(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)?$/

/**
 * A value as people read it: numbers with the field's d3 format (or grouped, at most two
 * decimals), dates at midnight without their time, null as an empty string.
 */
export function formatValue (value: string | number | boolean | null | undefined, field?: ChartField): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number') {
    const formatter = field?.format === undefined ? undefined : formatterFor(field.format)
    if (formatter !== undefined) return formatter(value)
    if (Number.isInteger(value)) return integer(value)
    return Math.abs(value) >= 1 ? twoDecimals(value) : threeSignificant(value)
  }
  if (typeof value === 'string' && field?.type === 'temporal') return value.replace(MIDNIGHT, '')
  return String(value)
}

/**
 * Every line break a reader of the text might honour: CommonMark's (CRLF, CR, LF) and the
 * other breaks of Unicode and of common line splitters (VT, FF, FS, GS, RS, NEL, LS, PS).
 */
const LINE_BREAK = /\r\n|[\n\v\f\r\x1c-\x1e\x85\u2028\u2029]/g

/**
 * Text made safe for one cell of a markdown table: a pipe would end the cell and a line break
 * the row (the next line could then be a heading or instructions of the value's choosing), so
 * pipes are escaped and line breaks become spaces; a backslash is doubled so it stays literal.
 */
export function escapeMarkdownCell (text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(LINE_BREAK, ' ')
}

interface Column {
  header: string
  numeric: boolean
  cell: (row: ChartView['rows'][number]) => string
}

const fieldColumn = (field: ChartField): Column => ({
  header: field.label,
  numeric: field.type === 'quantitative',
  cell: row => formatValue(row[field.name], field)
})

/** A table's columns; without them, the keys of its first row. */
export function tableColumns (view: ChartView): ChartField[] {
  if (view.columns !== undefined) return view.columns
  const first = view.rows[0] ?? {}
  return Object.keys(first).map(name => ({ name, label: name, type: typeof first[name] === 'number' ? 'quantitative' : 'nominal' }))
}

/** The columns that show a view's data, per kind. */
function columnsOf (view: ChartView): Column[] {
  const measures = view.y.map(fieldColumn)
  switch (view.kind) {
    case 'table':
      return tableColumns(view).map(fieldColumn)
    case 'big_number':
      return []
    case 'pie':
      return [...(view.x === undefined ? [] : [fieldColumn(view.x)]), ...measures.slice(0, 1)]
    case 'histogram': {
      const x = view.x
      const bin: Column = {
        header: x?.label ?? 'Bin',
        numeric: false,
        cell: row => {
          const start = row.bin_start
          const end = row.bin_end
          if (typeof start === 'number' && typeof end === 'number') return `${formatValue(start, x)} – ${formatValue(end, x)}`
          return formatValue(x === undefined ? null : row[x.name], x)
        }
      }
      return [bin, ...measures.slice(0, 1)]
    }
    default:
      return [view.x, view.series].filter(field => field !== undefined).map(fieldColumn).concat(measures)
  }
}

/**
 * The view's data as a GitHub-flavoured markdown table: a table's columns; x, series and the
 * measures of an xy chart; category and measure of a pie; the headline of a big number; bin
 * range and count of a histogram. At most `maxRows` rows, then a line that says how many more.
 */
export function markdownTable (view: ChartView, maxRows = 50): string {
  if (view.kind === 'big_number') {
    const measure = view.y[0]
    const value = formatValue(view.bigNumber?.value ?? null, measure)
    const header = escapeMarkdownCell(measure?.label ?? 'Value')
    return [`| ${header} |`, '| ---: |', `| ${value === '' ? '–' : escapeMarkdownCell(value)} |`].join('\n')
  }
  const columns = columnsOf(view)
  const lines = [
    `| ${columns.map(column => escapeMarkdownCell(column.header)).join(' | ')} |`,
    `| ${columns.map(column => (column.numeric ? '---:' : '---')).join(' | ')} |`
  ]
  const shown = view.rows.slice(0, Math.max(0, maxRows))
  for (const row of shown) lines.push(`| ${columns.map(column => escapeMarkdownCell(column.cell(row))).join(' | ')} |`)
  if (view.rows.length === 0) lines.push('', 'No data.')
  const more = view.rows.length - shown.length
  if (more > 0) lines.push('', `… ${more.toLocaleString('en-US')} more row${more === 1 ? '' : 's'}`)
  return lines.join('\n')
}
