import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { chromium } from 'playwright-core'
import type { Browser, Frame, Page } from 'playwright-core'
import { chartViewerHtml } from '../src/mcp/chart-app.ts'
import { startTestServer } from './helpers/app.ts'
import type { RunningServer } from './helpers/app.ts'
import { connectClient } from './helpers/client.ts'

// The pages and the MCP App chart viewer in a real browser: Debian's Chromium, driven by
// playwright-core. Charts must draw under the strict CSP (no eval, no inline script or style).

// The few browser globals the in-page functions below use: the project compiles without the DOM lib.
interface PageElement {
  dataset: Record<string, string | undefined>
  querySelectorAll: (selector: string) => { length: number }
  getBoundingClientRect: () => { x: number, y: number, width: number }
}
declare const document: {
  querySelectorAll: (selector: string) => ArrayLike<PageElement>
  addEventListener: (type: 'securitypolicyviolation', listener: (event: { violatedDirective: string, blockedURI: string }) => void) => void
}
/** What the test host page (HOST_PAGE) puts on its window. */
declare const window: { viewerReady?: boolean, sendToolResult: (result: unknown) => void }

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOTS = path.resolve(import.meta.dirname, '..', '.artifacts', 'screenshots')
const RENDER_TIMEOUT_MS = 60_000

/** Console errors, page errors and CSP violations of one page. */
interface Problems {
  list: string[]
}

async function openPage (t: Test, browser: Browser): Promise<{ page: Page, problems: Problems }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const problems: Problems = { list: [] }
  page.on('console', message => {
    if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.list.push(`console: ${message.text()}`)
  })
  page.on('pageerror', error => problems.list.push(`page error: ${error.message}`))
  // Violations are also reported as events, in every frame (the viewer runs in one).
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', event => {
      console.error(`Content Security Policy violation: ${event.violatedDirective} ${event.blockedURI}`)
    })
  })
  return { page, problems }
}

/** The page a signed link opens, on the test server's random port. */
function pageUrl (server: RunningServer, link: string): string {
  const url = new URL(link)
  return `${server.origin}${url.pathname}${url.search}`
}

async function waitForCharts (target: Page | Frame, selector = '[data-spec]'): Promise<void> {
  await target.waitForFunction((selector: string) => {
    const containers = Array.from(document.querySelectorAll(selector))
    return containers.length > 0 && containers.every(container => container.dataset.rendered === 'true' || container.dataset.error !== undefined)
  }, selector, { timeout: RENDER_TIMEOUT_MS })
}

/** What each chart container holds once drawn. */
async function chartContents (target: Page | Frame, selector = '[data-spec]'): Promise<Array<{ rendered: string | undefined, error: string | undefined, shapes: number, markGroups: number }>> {
  return await target.$$eval(selector, (containers: PageElement[]) => containers.map(container => ({
    rendered: container.dataset.rendered,
    error: container.dataset.error,
    shapes: container.querySelectorAll('svg path, svg rect, svg text').length,
    markGroups: container.querySelectorAll('svg g[class*="mark-"]').length
  })))
}

/** A minimal MCP Apps host: answers ui/initialize, proxies tools/call, sends tool results. */
const HOST_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>host</title></head>
<body>
<iframe id="app" sandbox="allow-scripts" src="/viewer.html" width="760" height="560"></iframe>
<script>
const frame = document.getElementById('app')
const send = message => frame.contentWindow.postMessage({ jsonrpc: '2.0', ...message }, '*')
window.addEventListener('message', async event => {
  if (event.source !== frame.contentWindow) return
  const message = event.data
  if (message === null || typeof message !== 'object' || message.jsonrpc !== '2.0') return
  if (message.method === 'ui/initialize') {
    send({ id: message.id, result: { protocolVersion: message.params.protocolVersion, hostInfo: { name: 'test-host', version: '1.0.0' }, hostCapabilities: { serverTools: {} }, hostContext: {} } })
  } else if (message.method === 'ui/notifications/initialized') {
    window.viewerReady = true
  } else if (message.method === 'tools/call') {
    send({ id: message.id, result: await window.callServerTool(message.params) })
  } else if (message.method !== undefined && message.id !== undefined) {
    send({ id: message.id, result: {} })
  }
})
window.sendToolResult = result => send({ method: 'ui/notifications/tool-result', params: result })
</script>
</body></html>`

if (!existsSync(CHROMIUM)) {
  const install = 'install Debian\'s chromium (sudo apt-get install chromium, or `make test-services` as root) or set CHROMIUM_PATH'
  if (process.env.CI !== undefined && process.env.CI !== '') {
    t.fail(`browser tests need Chromium at ${CHROMIUM}: ${install}`)
  } else {
    t.plan(0, `skipped: no Chromium at ${CHROMIUM}; ${install}`)
  }
} else {
  mkdirSync(SCREENSHOTS, { recursive: true })

  t.test('pages and the chart viewer in Chromium', async t => {
    const server = await startTestServer(t)
    const { app } = server
    const admin = await app.catalog.findUserByUsername('admin')
    if (admin === undefined) throw new Error('the examples have no admin user')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    t.teardown(() => browser.close())

    await t.test('a dashboard draws every chart in its grid, with no CSP violation', async t => {
      const { page, problems } = await openPage(t, browser)
      const response = await page.goto(pageUrl(server, app.links.url('dashboard', 1, admin.id)))
      t.equal(response?.status(), 200)
      await waitForCharts(page)
      const charts = await chartContents(page)
      t.equal(charts.length, 6, 'the six charts of Sales Overview')
      for (const [index, chart] of charts.entries()) {
        t.same({ rendered: chart.rendered, error: chart.error }, { rendered: 'true', error: undefined }, `chart ${index + 1} is drawn`)
        t.ok(chart.shapes > 0, `chart ${index + 1} has SVG shapes`)
        t.ok(chart.markGroups > 0, `chart ${index + 1} has Vega mark groups`)
      }
      const titles = await page.$$eval('.dashboard-row .card h2 a', links => links.map(link => link.textContent))
      t.same(titles, ['Total Revenue', 'Monthly Revenue', 'Revenue by Region', 'Orders by Channel', 'Top Products by Revenue', 'Quarterly Revenue by Category'])
      // Row 1 is 4 + 8 columns: the second card is twice as wide as the first, on one line.
      const boxes = await page.$$eval('.dashboard-row:first-of-type .card', (cards: PageElement[]) => cards.map(card => {
        const { x, y, width } = card.getBoundingClientRect()
        return { x, y, width }
      }))
      t.equal(boxes.length, 2)
      const [first, second] = boxes
      t.ok(first !== undefined && second !== undefined && Math.abs(first.y - second.y) < 1 && second.x > first.x, 'side by side')
      t.ok(first !== undefined && second !== undefined && Math.abs(second.width / first.width - (8 * 88 + 7 * 16) / (4 * 88 + 3 * 16)) < 0.05, 'widths follow the layout (4 and 8 of 12 columns)')
      await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard.png'), fullPage: true })
      t.same(problems.list, [], 'no console errors or CSP violations')
    })

    await t.test('a chart page draws its chart, and its tooltips work', async t => {
      const { page, problems } = await openPage(t, browser)
      await page.goto(pageUrl(server, app.links.url('chart', 3, admin.id)))
      await waitForCharts(page)
      const [chart] = await chartContents(page)
      t.equal(chart?.rendered, 'true')
      t.ok((chart?.markGroups ?? 0) > 0)
      t.equal(await page.locator('table.data tbody tr').count(), 5, 'the data table has the five regions')
      await page.locator('#chart-1 g.mark-rect path').first().hover()
      await page.waitForSelector('#vg-tooltip-element.visible', { timeout: 5000 })
      t.match(await page.textContent('#vg-tooltip-element') ?? '', /revenue/i, 'the tooltip shows the value')
      await page.screenshot({ path: path.join(SCREENSHOTS, 'chart.png'), fullPage: true })
      t.same(problems.list, [], 'no console errors or CSP violations')
    })

    await t.test('an expired link shows the expired page and no chart', async t => {
      const { page, problems } = await openPage(t, browser)
      const response = await page.goto(pageUrl(server, app.links.url('dashboard', 1, admin.id, Math.floor(Date.now() / 1000) - 60)))
      t.equal(response?.status(), 410)
      t.match(await page.textContent('h1') ?? '', 'This link has expired')
      t.equal(await page.locator('[data-spec]').count(), 0)
      t.same(problems.list.filter(problem => !problem.includes('410')), [], 'nothing but the 410 itself is reported')
    })

    await t.test('the MCP App viewer draws chart tool results in a sandboxed frame', async t => {
      const client = await connectClient(t, server.url, 'modern')
      const { page, problems } = await openPage(t, browser)
      const calls: unknown[] = []
      // The host side of MCP Apps: proxies the viewer's tool calls to the real server.
      await page.exposeFunction('callServerTool', async (params: { name: string, arguments: Record<string, unknown> }) => {
        calls.push(params)
        return await client.callTool(params)
      })
      // A host sandbox: an opaque origin, and a CSP with inline code allowed but no eval.
      await page.route('http://host.test/**', async route => {
        const url = new URL(route.request().url())
        if (url.pathname === '/viewer.html') {
          await route.fulfill({
            contentType: 'text/html; charset=utf-8',
            headers: { 'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:" },
            body: chartViewerHtml()
          })
        } else {
          await route.fulfill({ contentType: 'text/html; charset=utf-8', body: HOST_PAGE })
        }
      })
      await page.goto('http://host.test/')
      await page.waitForFunction(() => window.viewerReady === true, undefined, { timeout: 10_000 })
      const frame = page.frame({ url: /viewer\.html/ })
      if (frame === null) throw new Error('the viewer frame is missing')

      // A result with the spec in it (get_chart_preview, format vega_lite): drawn as it is.
      const preview = await client.callTool({ name: 'get_chart_preview', arguments: { identifier: 2, format: 'vega_lite', width: 700, height: 400 } })
      t.notOk(preview.isError, 'get_chart_preview answers')
      await page.evaluate(result => window.sendToolResult(result), preview)
      await waitForCharts(frame, '#chart')
      const [line] = await chartContents(frame, '#chart')
      t.equal(line?.rendered, 'true', 'the spec in the result is drawn')
      t.ok((await frame.locator('#chart g.mark-line').count()) > 0, 'as a line chart (Monthly Revenue)')
      t.same(calls, [], 'without calling the server')

      // A result that only names the chart (format url): the viewer asks get_chart_preview for the spec.
      const named = await client.callTool({ name: 'get_chart_preview', arguments: { identifier: 4, format: 'url' } })
      await page.evaluate(result => window.sendToolResult(result), named)
      await frame.waitForSelector('#chart g.mark-arc', { timeout: RENDER_TIMEOUT_MS })
      await waitForCharts(frame, '#chart')
      t.match(calls, [{ name: 'get_chart_preview', arguments: { identifier: 4, format: 'vega_lite' } }], 'the spec came from get_chart_preview')
      await page.screenshot({ path: path.join(SCREENSHOTS, 'viewer.png') })

      // Anything else: its text.
      await page.evaluate(() => window.sendToolResult({ content: [{ type: 'text', text: '3 charts found.' }] }))
      await frame.waitForSelector('#text:not([hidden])')
      t.equal(await frame.textContent('#text'), '3 charts found.')
      t.equal(await frame.locator('#chart svg').count(), 0, 'the previous chart is gone')
      t.same(problems.list, [], 'no console errors or CSP violations')
    })
  })
}
