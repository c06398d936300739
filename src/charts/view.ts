/**
 * A chart ready to be drawn: what every renderer (Vega-Lite spec, PNG, ASCII, markdown table,
 * the service's pages and the MCP App viewer) consumes. Built from a chart config and its
 * query result by src/charts/build-view.ts; renderers never see SQL, datasets or configs.
 */

export type ChartKind = 'line' | 'bar' | 'area' | 'scatter' | 'pie' | 'table' | 'big_number' | 'histogram'

export interface ChartField {
  /** Key of the value in each row. */
  name: string
  /** Human label for axes, legends and headers. */
  label: string
  /** temporal values are ISO-8601 strings (a date, or a date and time in UTC). */
  type: 'temporal' | 'quantitative' | 'nominal'
  /** d3-format string for numbers (e.g. "$,.2f", ",d"), when the dataset defines one. */
  format?: string | undefined
}

export interface ChartView {
  title: string
  kind: ChartKind
  /** Optional one-line description under the title. */
  subtitle?: string | undefined
  /**
   * x axis (line, bar, area, scatter); the category of a pie; the bin label of a histogram
   * (rows carry `bin_start`, `bin_end` and the label). Absent for table and big_number.
   */
  x?: ChartField | undefined
  /** The measures: one or more for xy charts, exactly one for pie, big_number and histogram (the count). */
  y: ChartField[]
  /** A dimension that splits xy charts into coloured series (group_by). */
  series?: ChartField | undefined
  /** bar and area: stack the series. */
  stacked?: boolean | undefined
  /** bar: horizontal bars. */
  horizontal?: boolean | undefined
  /** table: the columns, in order (dimensions then metrics, or raw columns). */
  columns?: ChartField[] | undefined
  /** The data, one object per row, keyed by field name. Numbers are numbers; temporals ISO strings. */
  rows: Array<Record<string, string | number | boolean | null>>
  /** big_number: the headline value, and the trend (rows keyed by x and y[0]) when shown. */
  bigNumber?: {
    value: number | null
    subheader?: string | undefined
    trend?: boolean | undefined
  } | undefined
}
