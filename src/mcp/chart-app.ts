import type { Resource } from '@modelcontextprotocol/server'
import { browserFile, exportsToGlobal, packageFile, readAssetFile, vegaScripts } from '../pages/assets.ts'

/**
 * The MCP App chart viewer (MCP Apps extension): one HTML document that chat clients show in
 * a sandboxed frame next to chart tool results, and draw the result's Vega-Lite spec in. The
 * frame cannot load anything from this service, so every script is inlined; the document
 * holds no data and is the same for every caller.
 */

export const CHART_VIEWER_URI = 'ui://analytics-mcp/chart-viewer'
export const MCP_APP_MIME_TYPE = 'text/html;profile=mcp-app'

/** How the host should frame the viewer. */
export const CHART_VIEWER_UI_META = { ui: { prefersBorder: true } }

export const CHART_VIEWER_RESOURCE: Resource = {
  uri: CHART_VIEWER_URI,
  name: 'chart_viewer',
  title: 'Chart viewer',
  description: 'MCP App that draws the charts of chart tool results (Vega-Lite, rendered in the client). Holds no data: the chart comes from the tool result.',
  mimeType: MCP_APP_MIME_TYPE,
  _meta: CHART_VIEWER_UI_META
}

/**
 * Script text that is safe inside <script>: `</script`, `<script` and `<!--` would end the
 * element or change how the HTML parser reads it; \x3c is `<` in every JS literal they can
 * sit in (strings, templates, regular expressions) and inert in comments.
 */
export function inlineScript (source: string): string {
  return source.replace(/<(\/?script|!--)/gi, '\\x3c$1')
}

function inlineStyle (source: string): string {
  if (/<\/style/i.test(source)) throw new Error('chart viewer: a stylesheet contains </style')
  return source
}

function extAppsScript (): string {
  const file = packageFile('@modelcontextprotocol/ext-apps/app-with-deps', 'app-with-deps.js')
  return exportsToGlobal(readAssetFile(file, '@modelcontextprotocol/ext-apps/app-with-deps').toString('utf8'), 'McpExtApps', '@modelcontextprotocol/ext-apps')
}

/**
 * The App bundle's zod builds its schemas when the bundle loads, before the App constructor
 * turns JIT off, and probes `new Function` on the way: hosts forbid eval, so that probe would
 * be reported as a CSP violation. zod reads this global config first.
 */
const ZOD_JITLESS = 'globalThis.__zod_globalConfig = Object.assign(globalThis.__zod_globalConfig || {}, { jitless: true });'

function buildViewerHtml (): string {
  const classic = [ZOD_JITLESS, ...vegaScripts().map(script => script.source), browserFile('draw-chart.js')]
  // The App bundle is an ES module (its exports become globalThis.McpExtApps); modules run in order, after classic scripts.
  const modules = [extAppsScript(), browserFile('viewer.js')]
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Chart viewer</title>',
    `<style>\n${inlineStyle(browserFile('charts.css'))}\n${inlineStyle(browserFile('viewer.css'))}\n</style>`,
    '</head>',
    '<body>',
    '<p id="status" class="status">Loading…</p>',
    '<div id="chart" class="chart" role="img" aria-label="Chart"></div>',
    '<pre id="text" class="result-text" hidden></pre>',
    ...classic.map(source => `<script>\n${inlineScript(source)}\n</script>`),
    ...modules.map(source => `<script type="module">\n${inlineScript(source)}\n</script>`),
    '</body>',
    '</html>',
    ''
  ].join('\n')
}

let viewerHtml: string | undefined

/** The viewer document, built on first use and kept (about 2 MB of inlined scripts). */
export function chartViewerHtml (): string {
  viewerHtml ??= buildViewerHtml()
  return viewerHtml
}
