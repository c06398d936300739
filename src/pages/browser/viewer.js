/*
 * The MCP App chart viewer: draws the chart of each chart tool result. The spec comes from
 * the result (previews.vega_lite.specification, or content.specification of get_chart_preview);
 * a result that only names a chart (chart.id, chart_id or form_data_key) is drawn from
 * get_chart_preview, called through the host; anything else shows the result's text.
 */
const { App } = globalThis.McpExtApps

const chart = document.getElementById('chart')
const status = document.getElementById('status')
const text = document.getElementById('text')

const app = new App({ name: 'analytics-mcp chart viewer', version: '1.0.0' })

/** Each result replaces the previous one; a slow earlier one must not draw over it. */
let shown = 0

function isObject (value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function specOf (structured) {
  if (!isObject(structured)) return undefined
  const previews = isObject(structured.previews) ? structured.previews : {}
  const preview = isObject(previews.vega_lite) ? previews.vega_lite : isObject(structured.content) ? structured.content : {}
  return isObject(preview.specification) ? preview.specification : undefined
}

function targetOf (structured) {
  if (!isObject(structured)) return undefined
  const id = isObject(structured.chart) ? structured.chart.id : structured.chart_id
  if (typeof id === 'number' || (typeof id === 'string' && id !== '')) return { identifier: id }
  if (typeof structured.form_data_key === 'string' && structured.form_data_key !== '') return { form_data_key: structured.form_data_key }
  return undefined
}

function textOf (result) {
  const blocks = Array.isArray(result.content) ? result.content : []
  return blocks.filter(block => block.type === 'text').map(block => block.text).join('\n\n')
}

function showStatus (message) {
  status.textContent = message
}

function showText (message) {
  chart.replaceChildren()
  delete chart.dataset.rendered
  showStatus('')
  text.textContent = message
  text.hidden = false
}

/** The size to ask the server for: the frame's width, a 5:3 chart. */
function chartSize () {
  const width = Math.max(320, Math.min(1200, document.documentElement.clientWidth - 24))
  return { width, height: Math.max(240, Math.min(720, Math.round(width * 0.6))) }
}

async function show (result) {
  const turn = ++shown
  if (result.isError) return showText(textOf(result) || 'The tool call failed.')
  let spec = specOf(result.structuredContent)
  if (spec === undefined) {
    const target = targetOf(result.structuredContent)
    if (target === undefined) return showText(textOf(result) || 'This result has no chart to show.')
    showStatus('Loading the chart…')
    let preview
    try {
      preview = await app.callServerTool({ name: 'get_chart_preview', arguments: { ...target, format: 'vega_lite', ...chartSize() } })
    } catch (err) {
      if (turn === shown) showText('The chart could not be loaded: ' + (err instanceof Error ? err.message : String(err)))
      return
    }
    if (turn !== shown) return
    spec = preview.isError ? undefined : specOf(preview.structuredContent)
    if (spec === undefined) return showText(textOf(preview) || 'The chart could not be loaded.')
  }
  text.hidden = true
  showStatus('')
  await window.drawChart(chart, spec)
}

app.ontoolinput = () => showStatus('Running the chart…')
app.ontoolresult = result => {
  show(result).catch(err => showText('The chart could not be shown: ' + (err instanceof Error ? err.message : String(err))))
}

try {
  await app.connect()
  if (shown === 0) showStatus('Waiting for a chart…')
} catch {
  showStatus('This viewer runs inside an MCP client that supports MCP Apps.')
}
