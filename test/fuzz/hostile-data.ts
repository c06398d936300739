import type { Principal } from './http.ts'
import { structured } from './http.ts'

/**
 * A virtual dataset of hostile values (1e308, NUL, markdown and HTML, 3,000-character text,
 * dates that are not dates, NULLs) with saved metrics that overflow, plus one such metric on
 * orders: so charts and tables are drawn from data as awkward as the arguments.
 */
export const HOSTILE_SQL = `SELECT 1 AS id, 'plain' AS label, '2025-01-01' AS day, 1.5 AS amount, 'x' AS note
UNION ALL SELECT 2, 'a|b' || char(10) || 'c', '2025-01-02T10:00:00', 1e308, char(0)
UNION ALL SELECT 3, '<script>alert(1)</script>', 'not a date', -1e308, printf('%.3000c', 'x')
UNION ALL SELECT 4, NULL, NULL, NULL, NULL
UNION ALL SELECT 5, '', '9999-12-31', 0, '😀'
UNION ALL SELECT 6, '**md** \`x\` [a](javascript:x)', '0000-01-01', -0.0, char(8232)
UNION ALL SELECT 7, 'x', '2025-02-30', 9007199254740993, 'y'
UNION ALL SELECT 8, ' ', '2025-01-01 00:00:00', 1e-300, '\\'`

/** Charts on the hostile data, one per type: corpus entries and unsaved charts. */
export const HOSTILE_CONFIGS: ReadonlyArray<Record<string, unknown>> = [
  { chart_type: 'xy', kind: 'line', x: 'day', y: ['huge'], time_grain: 'P1D' },
  { chart_type: 'xy', kind: 'bar', x: 'label', y: ['overflow', 'nothing'] },
  { chart_type: 'xy', kind: 'scatter', x: 'amount', y: [{ name: 'amount', aggregate: 'MAX' }], group_by: 'note' },
  { chart_type: 'table', columns: ['label', 'note', 'huge', 'text_metric'] },
  { chart_type: 'table', columns: ['id', 'label', 'day', 'amount', 'note'], query_mode: 'raw' },
  { chart_type: 'pie', dimension: 'label', metric: 'huge' },
  { chart_type: 'big_number', metric: 'huge', show_trendline: true },
  { chart_type: 'big_number', metric: 'nothing' },
  { chart_type: 'histogram', column: 'amount', bins: 7 },
  // Labels that are syntax to Vega, SQL or markdown.
  { chart_type: 'pie', dimension: 'note', metric: { name: 'amount', aggregate: 'SUM', label: 'it\'s "x" \\ y' } },
  { chart_type: 'xy', kind: 'bar', x: 'label', y: [{ name: 'amount', aggregate: 'MAX', label: 'constructor' }, { name: 'id', aggregate: 'COUNT', label: 'line\u2028break\n|' }] },
  { chart_type: 'big_number', metric: { name: 'amount', aggregate: 'SUM', label: '__proto__' }, subheader: 'toString', show_trendline: true }
]

/** Saved charts with names that are syntax too. */
export const HOSTILE_CHARTS: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['constructor', { chart_type: 'pie', dimension: 'label', metric: 'huge' }],
  ['it\'s "q" \\ <b>|</b>\n', { chart_type: 'xy', kind: 'line', x: 'day', y: ['overflow', 'huge'] }]
]

const HOSTILE_METRICS = [
  { metric_name: 'huge', expression: 'SUM(amount) * 1e300' },
  { metric_name: 'overflow', expression: 'MAX(amount) * 10' },
  { metric_name: 'nothing', expression: 'MAX(NULL)' },
  { metric_name: 'text_metric', expression: 'MAX(label)' }
]

/** Adds the hostile dataset, metrics and charts; returns the dataset's id and the charts' ids. */
export async function addHostileData (admin: Principal): Promise<{ dataset: number, charts: number[] }> {
  const created = await structured(admin, 'create_virtual_dataset', { database_id: 'examples', dataset_name: 'fuzz_hostile', sql: HOSTILE_SQL, metrics: HOSTILE_METRICS })
  await structured(admin, 'create_dataset_metric', { dataset_id: 'orders', metric_name: 'fuzz_huge_revenue', expression: 'SUM(amount) * 1e300' })
  const charts: number[] = []
  for (const [name, config] of HOSTILE_CHARTS) {
    charts.push((await structured(admin, 'generate_chart', { dataset_id: 'fuzz_hostile', chart_name: name, config, save_chart: true, generate_preview: false })).chart.id as number)
  }
  return { dataset: created.id as number, charts }
}

/** Unsaved charts of every hostile config (some named like the hostile charts); their form_data keys. */
export async function addHostileUnsavedCharts (admin: Principal): Promise<string[]> {
  const keys: string[] = []
  for (const [index, config] of HOSTILE_CONFIGS.entries()) {
    const chartName = index % 3 === 0 ? HOSTILE_CHARTS[index % HOSTILE_CHARTS.length]?.[0] : undefined
    keys.push((await structured(admin, 'generate_explore_link', { dataset_id: 'fuzz_hostile', config, ...(chartName === undefined ? {} : { chart_name: chartName }) })).form_data_key as string)
  }
  return keys
}

/** Calls of the chart and query tools on the hostile data: for the saved and unsaved charts in `targets`, and new ones. */
export function hostileCorpus (tool: string, targets: ReadonlyArray<Record<string, unknown>>): Array<Record<string, unknown>> {
  const previews = { preview_formats: ['ascii', 'table', 'vega_lite', 'url'], ascii_width: 40 }
  switch (tool) {
    case 'get_chart_preview': return targets.flatMap(target => ['png', 'vega_lite', 'ascii', 'table'].map(format => ({ ...target, format, width: 400, height: 300, ascii_width: 40 })))
    case 'get_chart_data': return targets.flatMap(target => [{ ...target }, { ...target, format: 'csv' }])
    case 'get_chart_sql': return [...targets]
    case 'generate_chart': return HOSTILE_CONFIGS.map(config => ({ dataset_id: 'fuzz_hostile', config, ...previews, preview_formats: ['png', 'vega_lite'] }))
    case 'update_chart_preview': return HOSTILE_CONFIGS.map(config => ({ dataset_id: 'fuzz_hostile', config, ...previews }))
    case 'generate_explore_link': return HOSTILE_CONFIGS.map(config => ({ dataset_id: 'fuzz_hostile', config }))
    case 'query_dataset': return [
      { dataset_id: 'fuzz_hostile', metrics: ['huge', 'overflow', 'nothing', 'text_metric'], columns: ['label', 'note'] },
      { dataset_id: 'fuzz_hostile', columns: ['id', 'label', 'day', 'amount', 'note'] },
      { dataset_id: 'fuzz_hostile', metrics: ['huge'], columns: [{ name: 'day', time_grain: 'P1M' }], time_range: '0000-01-01 : 9999-12-31' }
    ]
    case 'execute_sql': return [{ database_id: 'examples', sql: HOSTILE_SQL }, { database_id: 'examples', sql: 'SELECT 1e308 * 10 AS inf, -1e308 * 10 AS ninf, 0.0 / 0 AS nan' }]
    default: return []
  }
}
