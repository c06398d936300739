import { Script } from 'node:vm'
import { Writable } from 'node:stream'
import BetterSqlite3 from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { gridLayout } from '../src/catalog/dashboard-layout.ts'
import { CHART_VIEWER_URI } from '../src/mcp/chart-app.ts'
import { exportsToGlobal, packageFile, PageAssets, readAssetFile } from '../src/pages/assets.ts'
import { DASHBOARD_CONCURRENCY, mapLimited } from '../src/pages/dashboard-page.ts'
import { html, jsonElement } from '../src/pages/html.ts'
import { loggerOptions } from '../src/logger.ts'
import { build, startTestServer } from './helpers/app.ts'
import { connectClient } from './helpers/client.ts'
import { testConfig } from './helpers/config.ts'
import { sharedExamplesFile } from './helpers/examples.ts'
import { rawRequest } from './helpers/rpc.ts'

// The pages behind signed links: who may open them, what they show, and that they stay safe
// to show (escaping, CSP, inert data). test/browser.test.ts draws them in Chromium.

const STRICT_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

interface Fetched {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** GET the page a signed link points to (path and query; the test app has no real host). */
async function open (app: FastifyInstance, link: string): Promise<Fetched> {
  const url = new URL(link)
  const response = await app.inject({ method: 'GET', url: url.pathname + url.search })
  return { status: response.statusCode, headers: response.headers, body: response.body }
}

async function userId (app: FastifyInstance, username: string): Promise<number> {
  const user = await app.catalog.findUserByUsername(username)
  if (user === undefined) throw new Error(`no user ${username}`)
  return user.id
}

/** The JSON of every chart spec on a page, by element id. */
function specs (body: string): Map<string, any> {
  const found = new Map<string, any>()
  for (const match of body.matchAll(/<script type="application\/json" id="([^"]+)">([\s\S]*?)<\/script>/g)) found.set(match[1] ?? '', JSON.parse(match[2] ?? ''))
  return found
}

/** Rows of the first HTML table: header cells, then body rows of cell texts. */
function table (body: string): { head: string[], rows: string[][] } {
  const text = (cell: string): string => cell.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'")
  const section = /<table[\s\S]*?<\/table>/.exec(body)?.[0] ?? ''
  const head = [...(/<thead>([\s\S]*?)<\/thead>/.exec(section)?.[1] ?? '').matchAll(/<th[^>]*>([\s\S]*?)<\/th>/g)].map(match => text(match[1] ?? ''))
  const rows = [...(/<tbody>([\s\S]*?)<\/tbody>/.exec(section)?.[1] ?? '').matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
    .map(row => [...(row[1] ?? '').matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map(match => text(match[1] ?? '')))
  return { head, rows }
}

/** The examples file, read-only, for answers computed independently of the service. */
function examples (t: Test): BetterSqlite3.Database {
  const db = new BetterSqlite3(sharedExamplesFile(), { readonly: true, fileMustExist: true })
  t.teardown(() => db.close())
  return db
}

const hour = (): number => Math.floor(Date.now() / 1000) + 3600
const expiresOn = (): string => new Date((hour()) * 1000).toISOString()

t.test('a chart page', async t => {
  const app = await build(t)
  const admin = await userId(app, 'admin')
  const page = await open(app, app.links.url('chart', 3, admin))

  t.test('shows the chart with its data, as the link\'s user may see it', async t => {
    t.equal(page.status, 200)
    t.match(page.headers['content-type'], /^text\/html; charset=utf-8/)
    t.match(page.body, '<h1>Revenue by Region</h1>')
    t.match(page.body, 'Revenue per sales region.')
    t.match(page.body, 'Dataset orders')
    const spec = specs(page.body).get('chart-1-spec')
    t.equal(spec?.mark?.type, 'bar')
    const expected = examples(t).prepare('SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region').all() as Array<{ region: string, revenue: number }>
    const drawn = spec?.data?.values as Array<{ region: string, revenue: number }>
    t.equal(drawn.length, expected.length, 'one bar per region')
    for (const row of expected) {
      const bar = drawn.find(value => value.region === row.region)
      t.ok(bar !== undefined && Math.abs(bar.revenue - row.revenue) < 0.005, `${row.region}: ${row.revenue}`)
    }
    const { head, rows } = table(page.body)
    t.same(head, ['region', 'revenue'])
    t.equal(rows.length, expected.length)
    const top = [...expected].sort((a, b) => b.revenue - a.revenue)[0]
    t.ok(rows.some(row => row[0] === top?.region && row[1] === `$${(top?.revenue ?? 0).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`), 'the table formats values as the chart does')
  })

  t.test('under a strict CSP, with no inline code', async t => {
    t.equal(page.headers['content-security-policy'], STRICT_CSP)
    t.equal(page.headers['cache-control'], 'no-store')
    t.equal(page.headers['referrer-policy'], 'no-referrer')
    const scripts = [...page.body.matchAll(/<script\b([^>]*)>/g)].map(match => match[1] ?? '')
    t.ok(scripts.length > 0)
    for (const attributes of scripts) t.ok(/\bsrc="\/assets\//.test(attributes) || /\btype="application\/json"/.test(attributes), `<script${attributes}> loads our asset or holds JSON`)
    t.notMatch(page.body, /\sstyle=/, 'no inline style attributes')
    t.notMatch(page.body, /<style/, 'no style elements')
    t.notMatch(page.body, /\son[a-z]+=/i, 'no event handler attributes')
  })

  t.test('its assets are ours, typed, and cached for good', async t => {
    const urls = [...page.body.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map(match => match[1] ?? '')
    t.same(urls.map(url => url.split('/').pop()), ['pages.css', 'vega.min.js', 'vega-lite.min.js', 'vega-interpreter.js', 'vega-embed.min.js', 'pages.js'])
    for (const url of urls) {
      const response = await app.inject({ method: 'GET', url })
      t.equal(response.statusCode, 200, url)
      t.equal(response.headers['content-type'], url.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', url)
      t.equal(response.headers['cache-control'], 'public, max-age=31536000, immutable', url)
      t.equal(response.headers['x-content-type-options'], 'nosniff', url)
    }
    const version = urls[0]?.split('/')[2]
    const interpreter = await app.inject({ method: 'GET', url: `/assets/${version}/vega-interpreter.js` })
    t.notMatch(interpreter.body, /^\s*import\s/m, 'the interpreter imports nothing (a classic script)')
    t.notMatch(interpreter.body, /^\s*export\s/m)
    t.match(interpreter.body, 'vegaInterpreter')
    t.doesNotThrow(() => new Script(interpreter.body), 'it parses as a classic script')
    const font = await app.inject({ method: 'GET', url: `/assets/${version}/DejaVuSans.ttf` })
    t.equal(font.headers['content-type'], 'font/ttf')
    const css = await app.inject({ method: 'GET', url: `/assets/${version}/pages.css` })
    t.match(css.body, '#vg-tooltip-element', 'the tooltip styles vega-tooltip no longer injects')
    t.equal((await app.inject({ method: 'GET', url: `/assets/${version}/nope.js` })).statusCode, 404)
    const previous = await app.inject({ method: 'GET', url: '/assets/0000000000000000/pages.js' })
    t.equal(previous.statusCode, 200, 'a page of another release still gets its script')
    t.equal(previous.headers['cache-control'], 'public, max-age=300', 'but not cached for good')
  })
})

t.test('links that do not open', async t => {
  const app = await build(t)
  const admin = await userId(app, 'admin')
  const alice = await userId(app, 'alice')
  const link = new URL(app.links.url('chart', 3, admin))
  const refused = async (t: Test, url: string, status: number, text: string): Promise<Fetched> => {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, status, url)
    t.match(response.body, text)
    t.notMatch(response.body, /Revenue|region|application\/json/, 'no chart, no data')
    t.equal(response.headers['content-security-policy'], STRICT_CSP)
    t.equal(response.headers['cache-control'], 'no-store')
    return { status: response.statusCode, headers: response.headers, body: response.body }
  }

  t.test('tampered, moved or re-addressed links are not valid, all alike', async t => {
    const sig = link.searchParams.get('sig') ?? ''
    const tampered = new URL(link)
    tampered.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
    const answers = [
      await refused(t, tampered.pathname + tampered.search, 403, 'This link is not valid'),
      await refused(t, `/charts/4${link.search}`, 403, 'This link is not valid'),
      await refused(t, link.pathname + link.search.replace(`u=${admin}`, `u=${alice}`), 403, 'This link is not valid'),
      await refused(t, link.pathname + link.search.replace(/exp=\d+/, `exp=${hour() + 86_400}`), 403, 'This link is not valid'),
      await refused(t, `/dashboards/3${link.search}`, 403, 'This link is not valid'),
      await refused(t, link.pathname, 403, 'This link is not valid'),
      await refused(t, `${link.pathname}?u=1&exp=x&sig=${sig}`, 403, 'This link is not valid')
    ]
    t.equal(new Set(answers.map(answer => answer.body)).size, 1, 'one page, whatever failed')
  })

  t.test('an expired link says so, and what to do', async t => {
    const past = Math.floor(Date.now() / 1000) - 120
    const expired = new URL(app.links.url('chart', 3, admin, past))
    const page = await refused(t, expired.pathname + expired.search, 410, 'This link has expired')
    t.match(page.body, 'Ask the assistant for a new link')
    t.match(page.body, new Date(past * 1000).toISOString().slice(0, 16).replace('T', ' '), 'and when it expired')
  })

  t.test('a deactivated or deleted user\'s links stop working', async t => {
    const carol = await app.catalog.createUser({ username: 'carol', roles: ['Admin'] })
    const carolLink = app.links.url('chart', 3, carol.id)
    t.equal((await open(app, carolLink)).status, 200)
    await app.catalog.setUserActive('carol', false)
    const page = await open(app, carolLink)
    t.equal(page.status, 403)
    t.match(page.body, 'This link is not valid')
    t.equal((await open(app, app.links.url('chart', 3, 99_999))).status, 403, 'a user that does not exist')
  })

  t.test('the page follows the user\'s permissions now: hidden and missing look the same', async t => {
    const dave = await app.catalog.createUser({ username: 'dave', roles: ['Gamma'] })
    const hidden = await open(app, app.links.url('chart', 3, dave.id))
    t.equal(hidden.status, 404)
    t.match(hidden.body, 'Not found or not shared with you')
    t.notMatch(hidden.body, /Revenue/)
    const missing = await open(app, app.links.url('chart', 999, admin))
    t.equal(missing.status, 404)
    t.equal(missing.body.replace(/\s+/g, ' '), hidden.body.replace(/\s+/g, ' '), 'the same page for a chart that does not exist')
    t.equal((await open(app, app.links.url('dashboard', 1, dave.id))).status, 404, 'a dashboard whose charts they cannot see')
    const noRoles = await app.catalog.createUser({ username: 'erin', roles: [] })
    t.equal((await open(app, app.links.url('chart', 3, noRoles.id))).status, 404, 'no class permission to read charts')
    const bob = await userId(app, 'bob')
    t.equal((await open(app, app.links.url('dashboard', 1, bob))).status, 200, 'bob sees the published dashboard')
    t.equal((await open(app, app.links.url('dashboard', 2, bob))).status, 404, 'not the draft he does not own')
  })

  t.test('the Host check applies to pages too', async t => {
    const server = await startTestServer(t)
    const page = new URL(server.app.links.url('chart', 3, admin))
    const response = await rawRequest(new URL(page.pathname + page.search, server.origin), { headers: { host: 'evil.example' } })
    t.equal(response.status, 403)
    t.equal(response.json?.error, 'MCP_ERR_HOST_NOT_ALLOWED')
  })
})

t.test('pages share the link user\'s rate limit with /mcp', async t => {
  const app = await build(t, { MCP_RATE_LIMIT_CONFIG: { enabled: true, requests_per_minute: 1, burst: 2, tool_limits: {} } })
  const admin = await userId(app, 'admin')
  const link = app.links.url('chart', 3, admin)
  t.equal((await open(app, link)).status, 200)
  t.equal((await open(app, link)).status, 200, 'within the burst')
  const limited = await open(app, link)
  t.equal(limited.status, 429, 'then refused')
  t.match(limited.body, /Too many requests/)
  t.notMatch(limited.body, /application\/json/, 'with no chart data')
  t.ok(Number(limited.headers['retry-after']) >= 1, 'and a Retry-After')
  t.equal((await open(app, app.links.url('chart', 3, await userId(app, 'alice')))).status, 200, 'other users keep their own budget')
})

t.test('a dashboard page', async t => {
  const app = await build(t)
  const admin = await userId(app, 'admin')

  t.test('lays the charts out as the dashboard does', async t => {
    const page = await open(app, app.links.url('dashboard', 1, admin))
    t.equal(page.status, 200)
    t.equal(page.headers['content-security-policy'], STRICT_CSP)
    t.match(page.body, '<h1>Sales Overview</h1>')
    const cards = [...page.body.matchAll(/<article class="card span-(\d+)" data-chart-id="(\d+)">\s*<h2><a href="([^"]+)">([^<]+)<\/a>/g)]
      .map(match => ({ span: Number(match[1]), id: Number(match[2]), href: match[3] ?? '', name: match[4] }))
    t.same(cards.map(card => card.name), ['Total Revenue', 'Monthly Revenue', 'Revenue by Region', 'Orders by Channel', 'Top Products by Revenue', 'Quarterly Revenue by Category'])
    t.same(cards.map(card => card.span), [4, 8, 6, 6, 6, 6])
    t.equal((page.body.match(/<div class="dashboard-row">/g) ?? []).length, 3, 'three rows')
    t.equal(specs(page.body).size, 6, 'a spec per chart')
    const chartPage = await app.inject({ method: 'GET', url: (cards[2]?.href ?? '').replace(/&amp;/g, '&') })
    t.equal(chartPage.statusCode, 200, 'each card links to its chart\'s page')
    t.match(chartPage.body, 'Revenue by Region')
  })

  t.test('leaves out the charts the user cannot see', async t => {
    const orders = await app.catalog.findDataset('orders')
    if (orders === undefined) throw new Error('no orders dataset')
    await app.catalog.createRole('orders_only')
    await app.catalog.grantPermission('orders_only', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id })
    const frank = await app.catalog.createUser({ username: 'frank', roles: ['Gamma', 'orders_only'] })
    const page = await open(app, app.links.url('dashboard', 1, frank.id))
    t.equal(page.status, 200)
    const names = [...page.body.matchAll(/<h2><a [^>]+>([^<]+)<\/a>/g)].map(match => match[1])
    t.same(names, ['Total Revenue', 'Monthly Revenue', 'Revenue by Region', 'Orders by Channel'], 'the order_details charts are gone')
    t.notMatch(page.body, /Top Products|Quarterly Revenue/)
  })

  t.test('a chart that fails shows why in its card; the others still draw', async t => {
    const orders = await app.catalog.findDataset('orders')
    if (orders === undefined) throw new Error('no orders dataset')
    await app.catalog.createDatasetMetric(orders.id, { metric_name: 'broken', verbose_name: null, expression: 'SUM(no_such_column)', description: null, d3format: null })
    const broken = await app.catalog.createChart({ slice_name: 'Broken chart', viz_type: 'echarts_timeseries_bar', dataset_id: orders.id, params: { x_axis: 'region', metrics: ['broken'], groupby: [], row_limit: 10 }, owners: [admin] })
    // The layout places only the broken chart; chart 3 is on the dashboard but not in the layout.
    const dashboard = await app.catalog.createDashboard({
      dashboard_title: 'Mixed',
      published: true,
      chart_ids: [broken.id, 3],
      position_json: gridLayout('Mixed', [[{ chartId: broken.id, sliceName: broken.slice_name, width: 12 }]]),
      owners: [admin]
    })
    const page = await open(app, app.links.url('dashboard', dashboard.id, admin))
    t.equal(page.status, 200)
    t.match(page.body, /<article class="card span-12" data-chart-id="\d+">[\s\S]*?Broken chart[\s\S]*?<p class="chart-message">[^<]*no_such_column/, 'the error in the broken chart\'s card')
    t.match(page.body, /<div class="dashboard-row"><article class="card span-6" data-chart-id="3">/, 'a chart the layout leaves out follows in a row of its own')
    t.equal(specs(page.body).size, 1, 'the other chart is drawn')
    const chartPage = await open(app, app.links.url('chart', broken.id, admin))
    t.equal(chartPage.status, 200, 'the broken chart\'s own page opens')
    t.match(chartPage.body, /<p class="chart-message">[^<]*no_such_column/, 'and says why there is no chart')
    t.equal(specs(chartPage.body).size, 0)
    t.notMatch(chartPage.body, /<script\b[^>]*\bsrc=/, 'nor chart scripts')
  })
})

t.test('dashboard charts run at most two at a time, results in layout order', async t => {
  let running = 0
  let peak = 0
  const results = await mapLimited([1, 2, 3, 4, 5], DASHBOARD_CONCURRENCY, async n => {
    running += 1
    peak = Math.max(peak, running)
    await new Promise(resolve => setTimeout(resolve, 5 * (6 - n)))
    running -= 1
    return n * 10
  })
  t.equal(DASHBOARD_CONCURRENCY, 2)
  t.equal(peak, 2)
  t.same(results, [10, 20, 30, 40, 50])
})

t.test('an explore page shows the unsaved chart, its config and its SQL', async t => {
  const app = await build(t)
  const admin = await userId(app, 'admin')
  const orders = await app.catalog.findDataset('orders')
  if (orders === undefined) throw new Error('no orders dataset')
  const config = { chart_type: 'pie', dimension: 'channel', metric: 'order_count' }
  await app.catalog.createLinkState({ key: 'explore-key-1', kind: 'explore', user_id: admin, dataset_id: orders.id, database_id: null, payload: JSON.stringify({ config, chart_name: 'Orders per channel' }), expires_on: expiresOn() })
  const page = await open(app, app.links.url('explore', 'explore-key-1', admin))
  t.equal(page.status, 200)
  t.match(page.body, '<h1>Orders per channel</h1>')
  t.match(page.body, 'Unsaved chart')
  t.match(page.body, /<h2>Chart configuration<\/h2>\s*<pre><code>[^<]*&quot;dimension&quot;: &quot;channel&quot;/)
  t.match(page.body, /<h2>SQL<\/h2>\s*<pre><code>SELECT[\s\S]*channel[\s\S]*FROM[\s\S]*orders/)
  const spec = specs(page.body).get('chart-1-spec')
  const expected = examples(t).prepare('SELECT channel, COUNT(*) AS n FROM orders GROUP BY channel').all() as Array<{ channel: string, n: number }>
  t.equal(spec?.data?.values?.length, expected.length)
  const alice = await userId(app, 'alice')
  t.equal((await open(app, app.links.url('explore', 'explore-key-1', alice))).status, 404, 'another user\'s unsaved chart is not theirs to open')
})

t.test('a SQL page', async t => {
  const app = await build(t)
  const admin = await userId(app, 'admin')
  const database = await app.catalog.findDatabase('examples')
  if (database === undefined) throw new Error('no examples database')
  const sqlLink = async (key: string, user: number, sql: string, title = 'Orders per region'): Promise<string> => {
    await app.catalog.createLinkState({ key, kind: 'sql', user_id: user, dataset_id: null, database_id: database.id, payload: JSON.stringify({ sql, schema: null, title }), expires_on: expiresOn() })
    return app.links.url('sql', key, user)
  }

  t.test('shows the statement and its result', async t => {
    const sql = 'SELECT region, COUNT(*) AS n FROM orders GROUP BY region ORDER BY region'
    const page = await open(app, await sqlLink('sql-key-1', admin, sql))
    t.equal(page.status, 200)
    t.equal(page.headers['content-security-policy'], STRICT_CSP)
    t.match(page.body, '<h1>Orders per region</h1>')
    t.match(page.body, `<pre><code>${sql}</code></pre>`)
    t.notMatch(page.body, /<script\b[^>]*\bsrc=/, 'no chart, so no scripts')
    const expected = examples(t).prepare(sql).all() as Array<{ region: string, n: number }>
    t.same(table(page.body), { head: ['region', 'n'], rows: expected.map(row => [row.region, String(row.n)]) })
  })

  t.test('shows at most 1,000 rows, and says so', async t => {
    const page = await open(app, await sqlLink('sql-key-many', admin, 'SELECT order_id FROM orders ORDER BY order_id'))
    t.equal(page.status, 200)
    t.equal(table(page.body).rows.length, 1000)
    t.match(page.body, 'Only the first 1,000 rows are shown; the query returned more.')
  })

  t.test('runs read-only: DML shows an error and changes nothing', async t => {
    const count = (): number => (examples(t).prepare('SELECT COUNT(*) AS n FROM orders').get() as { n: number }).n
    const before = count()
    const statements: Array<[string, string]> = [['dml-1', 'DELETE FROM orders'], ['dml-2', "UPDATE orders SET region = 'x'"], ['dml-3', 'DROP TABLE orders']]
    for (const [key, sql] of statements) {
      const page = await open(app, await sqlLink(key, admin, sql))
      t.equal(page.status, 200, sql)
      t.match(page.body, /<p class="card error">The query failed: [^<]+<\/p>/, `${sql} is refused`)
      t.notMatch(page.body, /<table/)
    }
    t.equal(count(), before, 'no row changed')
  })

  t.test('is only for the user who may run SQL now', async t => {
    const bob = await userId(app, 'bob')
    const denied = await open(app, await sqlLink('sql-key-bob', bob, 'SELECT 1 AS one'))
    t.equal(denied.status, 403, 'bob (Gamma) may not run SQL')
    t.match(denied.body, 'You may not run SQL on database examples now')
    t.notMatch(denied.body, /<table/)
    const alice = await userId(app, 'alice')
    t.equal((await open(app, await sqlLink('sql-key-alice', alice, 'SELECT 1 AS one'))).status, 200, 'alice (sql_lab) may')
    t.equal((await open(app, app.links.url('sql', 'sql-key-1', alice))).status, 404, 'not with another user\'s statement')
    t.equal((await open(app, app.links.url('sql', 'no-such-key', admin))).status, 404)
  })

  t.test('is not shown where SQL is off, or when its state is unreadable', async t => {
    const closed = await app.catalog.createDatabase({ database_name: 'no_sql', backend: 'sqlite', connection: sharedExamplesFile(), expose_in_sqllab: false })
    await app.catalog.createLinkState({ key: 'sql-key-off', kind: 'sql', user_id: admin, dataset_id: null, database_id: closed.id, payload: JSON.stringify({ sql: 'SELECT 1', schema: null, title: null }), expires_on: expiresOn() })
    const off = await open(app, app.links.url('sql', 'sql-key-off', admin))
    t.equal(off.status, 403)
    t.match(off.body, 'SQL execution is disabled on database no_sql')
    t.match(off.body, '<h1>SQL query</h1>', 'an untitled query')
    await app.catalog.createLinkState({ key: 'sql-key-bad', kind: 'sql', user_id: admin, dataset_id: null, database_id: database.id, payload: 'not json', expires_on: expiresOn() })
    t.equal((await open(app, app.links.url('sql', 'sql-key-bad', admin))).status, 404)
  })

  t.test('a link without a statement runs nothing', async t => {
    const page = await open(app, await sqlLink('sql-key-empty', admin, '', 'Query on examples'))
    t.equal(page.status, 200)
    t.match(page.body, 'The link holds no SQL statement to run.')
  })

  t.test('escapes the statement and its values', async t => {
    const page = await open(app, await sqlLink('sql-key-xss', admin, "SELECT '<script>alert(1)</script>' AS \"<b>x</b>\"", '<img src=x onerror=alert(1)>'))
    t.equal(page.status, 200)
    t.notMatch(page.body, /<script>alert|<img src=x|<b>x<\/b>/)
    t.match(page.body, '&lt;img src=x onerror=alert(1)&gt;')
    t.same(table(page.body), { head: ['<b>x</b>'], rows: [['<script>alert(1)</script>']] })
  })
})

t.test('names and descriptions are escaped everywhere', async t => {
  const app = await build(t)
  const admin = await userId(app, 'admin')
  const orders = await app.catalog.findDataset('orders')
  if (orders === undefined) throw new Error('no orders dataset')
  const chart = await app.catalog.createChart({
    slice_name: '<script>alert(1)</script>',
    description: '"><img src=x onerror=alert(2)>',
    viz_type: 'echarts_timeseries_bar',
    dataset_id: orders.id,
    params: { x_axis: 'region', metrics: ['revenue'], groupby: [], row_limit: 10 },
    owners: [admin]
  })
  const dashboard = await app.catalog.createDashboard({ dashboard_title: '</title><script>alert(3)</script>', description: '<svg onload=alert(4)>', published: true, chart_ids: [chart.id], owners: [admin] })
  for (const link of [app.links.url('chart', chart.id, admin), app.links.url('dashboard', dashboard.id, admin)]) {
    const page = await open(app, link)
    t.equal(page.status, 200)
    t.notMatch(page.body, /<script>alert|<img src=x|<svg onload|<\/title><script/, 'no markup from the catalog')
    const scripts = [...page.body.matchAll(/<script\b([^>]*)>/g)].map(match => match[1] ?? '')
    for (const attributes of scripts) t.ok(/\bsrc="\/assets\//.test(attributes) || /\btype="application\/json"/.test(attributes))
  }
  const chartPage = await open(app, app.links.url('chart', chart.id, admin))
  t.match(chartPage.body, '<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>')
  t.match(chartPage.body, 'aria-label="&lt;script&gt;alert(1)&lt;/script&gt;"')
  t.match(chartPage.body, '&quot;&gt;&lt;img src=x onerror=alert(2)&gt;')
})

t.test('page HTML helpers', async t => {
  t.equal(html`<p title="${'"x" & \'y\''}">${'<b>'}${html`<i>ok</i>`}${[1, null, undefined, false, 'a']}</p>`.markup, '<p title="&quot;x&quot; &amp; &#39;y&#39;">&lt;b&gt;<i>ok</i>1a</p>')
  const element = jsonElement('spec', { text: '</script><script>alert(1)</script><!--', line: 'a\u2028b\u2029c' }).markup
  t.equal(element.match(/<\/script>/g)?.length, 1, 'only the element\'s own end tag')
  t.notMatch(element, /<!--|\u2028|\u2029/)
  const json = /<script type="application\/json" id="spec">([\s\S]*)<\/script>/.exec(element)?.[1] ?? ''
  t.same(JSON.parse(json), { text: '</script><script>alert(1)</script><!--', line: 'a\u2028b\u2029c' }, 'the same data after parsing')
})

t.test('page assets fail start-up clearly when missing or changed', async t => {
  t.throws(() => readAssetFile('/nonexistent/vega.min.js', 'vega/vega.min.js'), /page asset missing: vega\/vega.min.js .*npm ci/)
  t.throws(() => packageFile('no-such-package-for-pages', 'x.js'), /the package no-such-package-for-pages is not installed/)
  t.throws(() => exportsToGlobal('const a = 1', 'A', 'some-package'), /page asset some-package: expected the build to end with export/)
  t.equal(exportsToGlobal('const a = 1, b = 2\nexport { a as first, b };\n', 'Both', 'x').trim(), 'const a = 1, b = 2\n\nglobalThis.Both = { "first": a, "b": b };')
  t.throws(() => PageAssets.load().url('nope.js'), /no page asset named nope.js/)
})

t.test('a failure is a page too, with nothing internal on it', async t => {
  const app = await build(t)
  const link = app.links.url('chart', 3, await userId(app, 'admin'))
  await app.catalog.close()
  const page = await open(app, link)
  t.equal(page.status, 500)
  t.match(page.body, '<h1>Something went wrong</h1>')
  t.equal(page.headers['content-security-policy'], STRICT_CSP)
  t.notMatch(page.body, /catalog|sqlite|Error/i)
})

t.test('page requests keep link signatures out of the logs', async t => {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, any>)
      done()
    }
  })
  const config = testConfig(t.testdir(), { MCP_LOG_LEVEL: 'info' })
  const app = await build(t, { MCP_LOG_LEVEL: 'info' }, { logger: { ...loggerOptions(config), stream } })
  const link = new URL(app.links.url('chart', 3, await userId(app, 'admin')))
  await app.inject({ method: 'GET', url: link.pathname + link.search })
  const sig = link.searchParams.get('sig') ?? ''
  const logged = lines.find(line => line.req?.url?.startsWith('/charts/3'))
  t.match(logged?.req?.url, /sig=\[REDACTED\]/)
  t.notOk(JSON.stringify(lines).includes(sig), 'the signature appears in no log line')
})

t.test('the MCP App chart viewer is an MCP resource', async t => {
  const server = await startTestServer(t)
  const client = await connectClient(t, server.url, 'modern')
  const { resources } = await client.listResources()
  t.match(resources, [{ uri: 'instance://metadata' }, { uri: 'chart://configs' }, { uri: CHART_VIEWER_URI, name: 'chart_viewer', mimeType: 'text/html;profile=mcp-app' }])
  const { contents } = await client.readResource({ uri: CHART_VIEWER_URI })
  t.equal(contents.length, 1)
  const [viewer] = contents
  t.match(viewer, { uri: CHART_VIEWER_URI, mimeType: 'text/html;profile=mcp-app', _meta: { ui: { prefersBorder: true } } })
  const text = viewer !== undefined && 'text' in viewer ? viewer.text : ''
  t.match(text, /^<!doctype html>/)
  t.equal(text.match(/<script\b/gi)?.length, text.match(/<\/script>/gi)?.length, 'every script element ends where it should')
  t.notMatch(text, /<script\b[^>]*\bsrc=/i, 'self-contained: nothing is loaded')
  t.notMatch(text, /https?:\/\/(?!vega\.github\.io|www\.w3\.org)[a-z0-9.-]+\/[^"'\s]*\.(js|css)\b/i, 'no CDN')
  for (const needle of ['vegaEmbed', 'vegaInterpreter', 'McpExtApps', 'get_chart_preview', 'drawChart']) t.match(text, needle)
  const legacy = await connectClient(t, server.url, 'legacy')
  t.match((await legacy.readResource({ uri: CHART_VIEWER_URI })).contents, [{ mimeType: 'text/html;profile=mcp-app' }], 'for clients of either protocol era')
})
