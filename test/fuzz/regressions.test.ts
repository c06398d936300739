import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { post, toolCall } from '../helpers/rpc.ts'

// Defects the input fuzzer (tool-inputs.test.ts) found, one subtest each, named after the defect.

/** `leaf` inside `depth` levels of {"a": …} (or of arrays). */
function nested (depth: number, leaf: unknown = 1, arrays = false): unknown {
  let value = leaf
  for (let level = 0; level < depth; level++) value = arrays ? [value] : { a: value }
  return value
}

t.test('deeply nested arguments were an internal error when the response cache is on', async t => {
  const server = await startTestServer(t, { MCP_CACHE_CONFIG: { enabled: true } })
  for (const [tool, args] of [
    ['list_dashboards', { order_column: nested(3_000) }],
    ['get_dataset_info', { identifier: nested(3_000) }],
    ['get_chart_preview', { identifier: 3, format: 'table', extra: nested(3_000, 1, true) }],
    ['get_instance_info', { prototype: nested(2_500) }]
  ] as const) {
    const response = await post(server.url, toolCall(tool, args))
    t.equal(response.status, 200)
    const result = response.json.result
    t.equal(result.isError, true, `${tool} refuses the arguments`)
    t.equal(result._meta.error_type, 'invalid_arguments', `${tool}: invalid_arguments, not internal_error`)
    t.match(result.content[0].text, /nest more than 32 levels/)
  }
  const ordinary = await post(server.url, toolCall('get_chart_info', { identifier: 1 }))
  t.equal(ordinary.json.result.isError, undefined, 'ordinary arguments still work')
  const fiveLevels = await post(server.url, toolCall('query_dataset', { dataset_id: 'orders', metrics: ['revenue'], filters: [{ column: 'region', op: 'IN', value: ['North America'] }] }))
  t.equal(fiveLevels.json.result.isError, undefined, 'the nesting the schemas use is accepted')
})

t.test('a big number wider than its ASCII box was an internal error', async t => {
  const server = await startTestServer(t)
  const metric = await post(server.url, toolCall('create_dataset_metric', { dataset_id: 'orders', metric_name: 'huge_revenue', expression: 'SUM(amount) * 1e300' }))
  t.notOk(metric.json.result.isError, 'a saved metric whose value is written with 300 digits')
  const preview = await post(server.url, toolCall('generate_chart', { dataset_id: 'orders', config: { chart_type: 'big_number', metric: 'huge_revenue' }, preview_formats: ['ascii'], ascii_width: 40 }))
  const result = preview.json.result
  t.notOk(result.isError, `the preview is drawn: ${String(result.content[0].text).slice(0, 200)}`)
  const ascii = String(result.structuredContent.previews.ascii.content)
  t.ok(ascii.split('\n').every(line => [...line].length <= 40), 'no line is wider than ascii_width')
  t.match(ascii, /│ *\d[\d,]*…│/, 'the number is cut to the box, with an ellipsis')
})

t.test('chart labels Vega reads as syntax (quotes, backslashes, line breaks, "constructor") were an internal error in PNG previews', async t => {
  const server = await startTestServer(t)
  const labels = ["it's", '"quoted"', 'back\\slash', 'line\nbreak', 'line\u2028separator', 'bell\u0007', 'constructor', '__proto__', 'toString']
  const revenue = (label: string): Record<string, unknown> => ({ name: 'amount', aggregate: 'SUM', label })
  // A raw U+2028 in an assertion message would break the TAP stream itself.
  const shown = (label: string): string => JSON.stringify(label).replace(/\u2028/g, '\\u2028')
  for (const label of labels) {
    const configs: Array<[string, Record<string, unknown>]> = [
      ['pie', { chart_type: 'pie', dimension: 'region', metric: revenue(label) }],
      ['bar of two measures', { chart_type: 'xy', kind: 'bar', x: 'region', y: [revenue(label), 'order_count'] }],
      ['line with a labelled x', { chart_type: 'xy', kind: 'line', x: { name: 'order_date', label }, time_grain: 'P1Y', y: ['revenue'], group_by: 'channel' }],
      ['big number with trend', { chart_type: 'big_number', metric: revenue(label), show_trendline: true, subheader: label }],
      ['table', { chart_type: 'table', columns: [{ name: 'region', label }, 'revenue'] }]
    ]
    for (const [kind, config] of configs) {
      const response = await post(server.url, toolCall('generate_chart', { dataset_id: 'orders', chart_name: label, config, preview_formats: ['png', 'vega_lite'], width: 400, height: 300 }))
      const result = response.json.result
      t.notOk(result.isError, `${kind} labelled ${shown(label)}: ${result.isError === true ? String(result.content[0].text) : 'drawn'}`)
      t.ok(result.content?.some((block: { type: string }) => block.type === 'image'), `${kind} labelled ${shown(label)}: a PNG`)
    }
  }
  const bar = await post(server.url, toolCall('generate_chart', { dataset_id: 'orders', config: { chart_type: 'xy', kind: 'bar', x: 'region', y: [revenue('back\\slash "q"')] }, preview_formats: ['vega_lite'] }))
  const { y } = bar.json.result.structuredContent.previews.vega_lite.specification.encoding
  t.equal(y.axis.title, 'back\\slash "q"', 'the axis shows the label as it is')
})

t.test('a metric object naming neither a column nor a saved metric was called a column', async t => {
  const server = await startTestServer(t)
  const chart = async (metric: Record<string, unknown>): Promise<string> => {
    const response = await post(server.url, toolCall('generate_chart', { dataset_id: 'orders', config: { chart_type: 'pie', dimension: 'region', metric } }))
    t.equal(response.json.result._meta.error_type, 'invalid_arguments')
    return String(response.json.result.content[0].text)
  }
  const missing = await chart({ name: 'revenu' })
  t.match(missing, /"revenu" is neither a saved metric nor a column of dataset orders\. Did you mean "revenue"/)
  t.notMatch(missing, /is a column/)
  t.match(await chart({ name: 'amount' }), /"amount" is a column, not a metric: say how to aggregate it/, 'a real column is still asked for its aggregate')
})

t.test('get_chart_type_schema naming an Object.prototype member was an internal error', async t => {
  const server = await startTestServer(t)
  for (const chartType of ['constructor', '__proto__', 'toString', 'HasOwnProperty']) {
    const result = (await post(server.url, toolCall('get_chart_type_schema', { chart_type: chartType }))).json.result
    t.equal(result._meta.error_type, 'invalid_arguments', `${chartType}: an unknown chart type`)
    t.match(result.content[0].text, /Unknown chart_type/)
  }
  const line = (await post(server.url, toolCall('get_chart_type_schema', { chart_type: 'Line' }))).json.result
  t.equal(line.structuredContent.chart_type, 'xy', 'synonyms still work')
})

t.test('a PNG of data holding control characters was an internal error (resvg: non-XML character)', async t => {
  const server = await startTestServer(t)
  const created = (await post(server.url, toolCall('create_virtual_dataset', { database_id: 'examples', dataset_name: 'ctl', sql: "SELECT 'a' || char(0) || char(7) || char(65535) AS label, 1 AS n UNION ALL SELECT 'b', 2" }))).json.result
  t.notOk(created.isError, 'a dataset whose labels hold NUL, BEL and U+FFFF')
  for (const config of [{ chart_type: 'table', columns: ['label', 'n'], query_mode: 'raw' }, { chart_type: 'pie', dimension: 'label', metric: { name: 'n', aggregate: 'SUM' } }]) {
    const result = (await post(server.url, toolCall('generate_chart', { dataset_id: 'ctl', config, preview_formats: ['png'] }))).json.result
    t.notOk(result.isError, `${config.chart_type}: the PNG is drawn (${String(result.content?.[0]?.text).slice(0, 120)})`)
    t.ok(result.content.some((item: { type: string }) => item.type === 'image'), `${config.chart_type}: with its image`)
  }
})
