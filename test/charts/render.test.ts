import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { PNG } from 'pngjs'
import type { LoggerInterface } from 'vega'
import { compile } from 'vega-lite'
import type { TopLevelSpec } from 'vega-lite'
import { asciiChart } from '../../src/charts/ascii.ts'
import { markdownTable } from '../../src/charts/markdown.ts'
import { checkSize, renderPng, renderSvg } from '../../src/charts/png.ts'
import { toVegaLite } from '../../src/charts/vega-lite.ts'
import type { ChartField, ChartKind, ChartView } from '../../src/charts/view.ts'

// Every renderer on hand-built views of every kind: the spec compiles cleanly, the PNG is the
// requested size with real text in it, and the text renderers print the formatted values.

const month: ChartField = { name: 'month', label: 'Month', type: 'temporal' }
const region: ChartField = { name: 'region', label: 'Region', type: 'nominal' }
const channel: ChartField = { name: 'channel', label: 'Channel', type: 'nominal' }
const revenue: ChartField = { name: 'revenue', label: 'Revenue', type: 'quantitative', format: '$,.2f' }
const cost: ChartField = { name: 'cost', label: 'Cost', type: 'quantitative', format: '$,.2f' }
const orders: ChartField = { name: 'orders', label: 'Orders', type: 'quantitative', format: ',d' }
const months = ['2025-01-01', '2025-02-01', '2025-03-01', '2025-04-01', '2025-05-01', '2025-06-01']
const byRegionAndChannel = [
  { region: 'North', channel: 'web', revenue: 1234.5 },
  { region: 'North', channel: 'store', revenue: 800 },
  { region: 'South', channel: 'web', revenue: 400 },
  { region: 'South', channel: 'store', revenue: 950.25 }
]

const views = {
  line: {
    title: 'Monthly Revenue',
    kind: 'line',
    x: month,
    y: [revenue, cost],
    rows: months.map((value, index) => ({ month: value, revenue: 1000 + index * 250, cost: 600 + index * 90 }))
  },
  groupedBar: { title: 'Revenue by Region', kind: 'bar', x: region, series: channel, y: [revenue], rows: byRegionAndChannel },
  stackedBar: { title: 'Revenue by Region, stacked', kind: 'bar', x: region, series: channel, stacked: true, y: [revenue], rows: byRegionAndChannel },
  horizontalBar: {
    title: 'Orders by Channel',
    kind: 'bar',
    horizontal: true,
    x: channel,
    y: [orders],
    rows: [{ channel: 'web', orders: 1520 }, { channel: 'store', orders: 730 }, { channel: 'phone', orders: 95 }]
  },
  stackedArea: {
    title: 'Revenue by Channel',
    kind: 'area',
    stacked: true,
    x: month,
    series: channel,
    y: [revenue],
    rows: months.flatMap((value, index) => [{ month: value, channel: 'web', revenue: 500 + index * 40 }, { month: value, channel: 'store', revenue: 300 + index * 10 }])
  },
  scatter: {
    title: 'Discount vs Basket',
    kind: 'scatter',
    x: { name: 'discount', label: 'Discount', type: 'quantitative', format: '.0%' },
    y: [{ name: 'basket', label: 'Basket', type: 'quantitative', format: '$,.0f' }],
    rows: [{ discount: 0, basket: 42 }, { discount: 0.05, basket: 48 }, { discount: 0.1, basket: 61 }, { discount: 0.2, basket: 75 }]
  },
  pie: {
    title: 'Orders by Channel',
    kind: 'pie',
    x: channel,
    y: [orders],
    rows: [{ channel: 'web', orders: 600 }, { channel: 'store', orders: 300 }, { channel: 'phone', orders: 100 }]
  },
  table: {
    title: 'Top Products',
    kind: 'table',
    y: [orders, revenue],
    columns: [
      { name: 'product', label: 'Product', type: 'nominal' },
      orders,
      revenue,
      { name: 'share', label: 'Share', type: 'quantitative', format: '.1%' },
      { name: 'first_order', label: 'First order', type: 'temporal' }
    ],
    rows: [
      { product: 'Widget | Pro', orders: 1234, revenue: 1234.5, share: 0.4567, first_order: '2025-01-15T00:00:00Z' },
      { product: 'Gadget', orders: 87, revenue: 99, share: 0.031, first_order: '2025-03-02' },
      { product: 'Gizmo', orders: 12, revenue: null, share: null, first_order: null }
    ]
  },
  bigNumber: {
    title: 'Total Revenue',
    kind: 'big_number',
    x: { name: 'day', label: 'Day', type: 'temporal' },
    y: [{ name: 'revenue', label: 'Revenue', type: 'quantitative', format: '$,.0f' }],
    rows: [{ day: '2025-06-01', revenue: 10_000 }, { day: '2025-06-02', revenue: 14_000 }, { day: '2025-06-03', revenue: 12_345 }],
    bigNumber: { value: 12_345, subheader: 'on the latest day', trend: true }
  },
  histogram: {
    title: 'Order Size',
    kind: 'histogram',
    x: { name: 'bin', label: 'Amount', type: 'nominal' },
    y: [{ name: 'count', label: 'Count', type: 'quantitative', format: ',d' }],
    rows: [
      { bin: '0 – 50', bin_start: 0, bin_end: 50, count: 120 },
      { bin: '50 – 100', bin_start: 50, bin_end: 100, count: 1480 },
      { bin: '100 – 150', bin_start: 100, bin_end: 150, count: 33 }
    ]
  }
} satisfies Record<string, ChartView>

type ViewName = keyof typeof views
const names = Object.keys(views) as ViewName[]

/** The mark types of a compiled Vega spec, through nested groups. */
function vegaMarkTypes (node: unknown, found = new Set<string>()): Set<string> {
  if (typeof node !== 'object' || node === null) return found
  const marks = (node as { marks?: unknown }).marks
  if (Array.isArray(marks)) {
    for (const mark of marks as Array<{ type?: unknown }>) {
      if (typeof mark.type === 'string' && mark.type !== 'group') found.add(mark.type)
      vegaMarkTypes(mark, found)
    }
  }
  return found
}

/** A logger that keeps what Vega-Lite reports at warning level and above. */
function recordingLogger (): { logger: LoggerInterface, messages: string[] } {
  const messages: string[] = []
  const record = (...args: readonly unknown[]): void => { messages.push(args.map(String).join(' ')) }
  const logger = {
    level: (level?: number) => (level === undefined ? 2 : logger),
    error: record,
    warn: record,
    info: () => logger,
    debug: () => logger
  } as unknown as LoggerInterface
  return { logger, messages }
}

const EXPECTED_MARKS: Record<ChartKind, string[]> = {
  line: ['line', 'symbol'],
  bar: ['rect'],
  area: ['area', 'line'],
  scatter: ['symbol'],
  pie: ['arc', 'text'],
  table: ['text'],
  big_number: ['line', 'text'],
  histogram: ['rect']
}

t.test('toVegaLite: every kind compiles without warnings, with its rows inline and its title', async t => {
  const probe = recordingLogger()
  compile({ data: { values: [{ a: 1 }] }, mark: 'bar', encoding: { x: { field: 'a', type: 'quantitative' }, shape: { field: 'a', type: 'nominal' } } }, { logger: probe.logger })
  t.ok(probe.messages.length > 0, 'the logger does capture warnings (shape on a bar is dropped)')

  for (const name of names) {
    const view: ChartView = views[name]
    const spec = toVegaLite(view, { width: 640, height: 360 }) as TopLevelSpec & { data: { values: unknown }, title: { text: string } }
    const { logger, messages } = recordingLogger()
    const compiled = compile(spec, { logger }).spec
    t.same(messages, [], `${name}: no warnings`)
    t.strictSame(spec.data.values, view.rows, `${name}: rows inline`)
    t.notMatch(JSON.stringify(spec), /"url"/, `${name}: nothing to load`)
    t.equal(spec.title.text, view.title, `${name}: title`)
    const marks = vegaMarkTypes(compiled)
    for (const mark of EXPECTED_MARKS[view.kind]) t.ok(marks.has(mark), `${name}: draws ${mark} marks (has ${[...marks].join(', ')})`)
  }
})

t.test('toVegaLite: bar variants encode what they promise', async t => {
  type Encoding = Record<string, { field?: string, stack?: unknown } | undefined>
  const encodingOf = (view: ChartView): Encoding => (toVegaLite(view) as unknown as { encoding: Encoding }).encoding
  const grouped = encodingOf(views.groupedBar)
  t.equal(grouped.xOffset?.field, 'channel', 'grouped bars sit side by side')
  t.equal(grouped.y?.stack, null)
  const stacked = encodingOf(views.stackedBar)
  t.equal(stacked.xOffset, undefined, 'stacked bars share a band')
  t.not(stacked.y?.stack, null)
  const horizontal = encodingOf(views.horizontalBar)
  t.equal(horizontal.y?.field, 'channel', 'categories down the side')
  t.equal(horizontal.x?.field, 'orders')
})

interface Image {
  width: number
  height: number
  data: Buffer
}

async function render (view: ChartView, width = 640, height = 360): Promise<Image> {
  // PNG.sync.read throws on anything that is not a well-formed PNG.
  return PNG.sync.read(await renderPng(toVegaLite(view, { width, height }), { width, height }))
}

const luminance = (image: Image, offset: number): number =>
  0.2126 * (image.data[offset] ?? 0) + 0.7152 * (image.data[offset + 1] ?? 0) + 0.0722 * (image.data[offset + 2] ?? 0)

/** Pixels darker than `below` in the region [x0, x1) × [y0, y1). */
function darkPixels (image: Image, region: { x0: number, x1: number, y0: number, y1: number }, below = 100): number {
  let count = 0
  for (let y = region.y0; y < region.y1; y++) {
    for (let x = region.x0; x < region.x1; x++) if (luminance(image, (y * image.width + x) * 4) < below) count++
  }
  return count
}

function nonWhitePixels (image: Image): number {
  let count = 0
  for (let offset = 0; offset < image.data.length; offset += 4) if (luminance(image, offset) < 245) count++
  return count
}

t.test('several measures whose names hold dots and brackets are all drawn, each in its colour', async t => {
  const odd: ChartView = {
    title: 'Revenue and cost',
    kind: 'line',
    x: { name: 'day', label: 'Day', type: 'temporal' },
    y: [{ name: 'Rev. (U.S.)', label: 'Rev. (U.S.)', type: 'quantitative' }, { name: 'cost[usd]', label: 'Cost', type: 'quantitative' }],
    rows: [1, 2, 3, 4].map(index => ({ day: `2025-01-0${index}`, 'Rev. (U.S.)': 10 * index, 'cost[usd]': 5 * index }))
  }
  const svg = await renderSvg(toVegaLite(odd), { width: 640, height: 360 })
  const strokes = [...svg.matchAll(/aria-roledescription="line mark" d="M[^"]*" stroke="(#[0-9a-f]+)"/g)].map(match => match[1])
  t.equal(strokes.length, 2, 'two coloured lines')
  t.equal(new Set(strokes).size, 2, 'in two colours')
})

t.test('renderPng: every kind, at several sizes, is a PNG of exactly that size', async t => {
  for (const [width, height] of [[640, 360], [300, 200], [1200, 800]] as const) {
    for (const name of names) {
      const image = await render(views[name], width, height)
      t.same([image.width, image.height], [width, height], `${name} at ${width}×${height}`)
      t.ok(nonWhitePixels(image) > width * height * 0.001, `${name} at ${width}×${height} is not blank`)
    }
  }
})

t.test('renderPng: the data is drawn, not just the frame', async t => {
  for (const name of names) {
    const drawn = nonWhitePixels(await render(views[name]))
    const frame = nonWhitePixels(await render({ ...views[name], rows: [], bigNumber: { value: null } }))
    t.ok(drawn > frame * 2, `${name}: ${drawn} inked pixels with data, ${frame} without`)
  }
})

t.test('renderPng: text is drawn with real glyphs', async t => {
  const titleRegion = { x0: 0, x1: 320, y0: 0, y1: 24 }
  const titled = await render(views.pie)
  const untitled = await render({ ...views.pie, title: '' })
  t.ok(darkPixels(titled, titleRegion) > 100, 'the title is dark text at the top left')
  t.equal(darkPixels(untitled, titleRegion), 0, 'nothing dark there without a title')
  // Missing glyphs render as identical boxes; real ones differ in ink from letter to letter.
  const wide = darkPixels(await render({ ...views.pie, title: 'WWWWWWWW' }), titleRegion)
  const narrow = darkPixels(await render({ ...views.pie, title: 'IIIIIIII' }), titleRegion)
  t.ok(wide > narrow * 1.5, `W carries more ink than I (${wide} vs ${narrow} dark pixels)`)
})

t.test('renderPng: pie slices take distinct colours', async t => {
  const image = await render(views.pie)
  const colours = new Map<string, number>()
  for (let offset = 0; offset < image.data.length; offset += 4) {
    const [r, g, b] = [image.data[offset] ?? 0, image.data[offset + 1] ?? 0, image.data[offset + 2] ?? 0]
    if (Math.max(r, g, b) - Math.min(r, g, b) < 60) continue
    const key = `${r >> 4},${g >> 4},${b >> 4}`
    colours.set(key, (colours.get(key) ?? 0) + 1)
  }
  const large = [...colours.values()].filter(count => count > 1000)
  t.ok(large.length >= 3, `three slices, three colours (${large.length} found)`)
})

t.test('checkSize refuses sizes outside whole pixels 100..4000', async t => {
  t.throws(() => checkSize(99, 200), new RangeError('Chart width must be a whole number of pixels from 100 to 4000; got 99'))
  t.throws(() => checkSize(300, 4001), new RangeError('Chart height must be a whole number of pixels from 100 to 4000; got 4001'))
  t.throws(() => checkSize(1.5, 200), new RangeError('Chart width must be a whole number of pixels from 100 to 4000; got 1.5'))
  t.doesNotThrow(() => checkSize(100, 4000))
  await t.rejects(renderPng(toVegaLite(views.pie), { width: 99, height: 200 }), { name: 'RangeError', message: /width .* got 99/ })
})

t.test('markdownTable', async t => {
  const table = markdownTable(views.table).split('\n')
  t.strictSame(table, [
    '| Product | Orders | Revenue | Share | First order |',
    '| --- | ---: | ---: | ---: | --- |',
    '| Widget \\| Pro | 1,234 | $1,234.50 | 45.7% | 2025-01-15 |',
    '| Gadget | 87 | $99.00 | 3.1% | 2025-03-02 |',
    '| Gizmo | 12 |  |  |  |'
  ])
  t.strictSame(markdownTable(views.table, 1).split('\n').slice(-2), ['', '… 2 more rows'])
  t.strictSame(markdownTable(views.table, 2).split('\n').slice(-2), ['', '… 1 more row'])
  t.equal(markdownTable(views.bigNumber), '| Revenue |\n| ---: |\n| $12,345 |')
  t.equal(markdownTable({ ...views.bigNumber, bigNumber: { value: null } }), '| Revenue |\n| ---: |\n| – |')
  t.equal(markdownTable({ ...views.groupedBar, rows: [] }), '| Region | Channel | Revenue |\n| --- | --- | ---: |\n\nNo data.')
  t.equal(markdownTable(views.histogram).split('\n')[2], '| 0 – 50 | 120 |')
})

const WIDTH = 60
const linesOf = (text: string): string[] => text.split('\n')
const longest = (text: string): number => Math.max(...linesOf(text).map(line => [...line].length))

t.test('asciiChart: every kind has its title, its values, and no line wider than asked', async t => {
  const expected: Record<ViewName, string[]> = {
    line: ['$2,250.00', '$600.00', '2025-01-01', '2025-06-01', '• Revenue  × Cost'],
    groupedBar: ['North · web', '$1,234.50', 'South · store', '$950.25'],
    stackedBar: ['North · store', '$800.00'],
    horizontalBar: ['web', '1,520', 'phone', '95'],
    stackedArea: ['Revenue by Channel: • web  × store', '$700.00', '$300.00'],
    scatter: ['$75', '$42', '0%', '20%', '• Basket'],
    pie: ['web', '600 (60.0%)', 'store', '300 (30.0%)', '100 (10.0%)'],
    table: ['Product', 'Widget | Pro', '1,234', '$1,234.50', '45.7%', '2025-01-15'],
    bigNumber: ['$12,345', 'on the latest day', '2025-06-01 → 2025-06-03\nmin $10,000 · max $14,000'],
    histogram: ['50 – 100', '1,480', '100 – 150']
  }
  for (const name of names) {
    const text = asciiChart(views[name], { width: WIDTH })
    t.equal(linesOf(text)[0], views[name].title, `${name}: title first`)
    for (const part of expected[name]) t.ok(text.includes(part), `${name}: shows ${part}`)
    t.ok(longest(text) <= WIDTH, `${name}: lines fit ${WIDTH} columns (longest ${longest(text)})`)
    t.equal(asciiChart(views[name], { width: WIDTH }), text, `${name}: deterministic`)
    t.equal(asciiChart({ ...views[name], rows: [], bigNumber: { value: null } }), `${views[name].title}\nNo data.`, `${name}: empty`)
  }
})

t.test('asciiChart: bars scale to the largest value', async t => {
  const bars = linesOf(asciiChart(views.horizontalBar, { width: WIDTH })).slice(1)
  const lengths = bars.map(line => (line.match(/█/g) ?? []).length)
  t.equal(lengths.length, 3)
  t.ok((lengths[0] ?? 0) > (lengths[1] ?? 0) && (lengths[1] ?? 0) > (lengths[2] ?? 0), `longest bar first (${lengths.join(', ')})`)
  t.ok((lengths[0] ?? 0) >= 40, 'the largest bar fills most of the room')
})

t.test('asciiChart: several measures, negatives, gaps and long lists of bars', async t => {
  const twoMeasures = asciiChart({ ...views.horizontalBar, y: [orders, { name: 'returns', label: 'Returns', type: 'quantitative' }], rows: [{ channel: 'web', orders: 10, returns: -4 }, { channel: 'store', orders: null, returns: 2 }] }, { width: WIDTH })
  t.strictSame(linesOf(twoMeasures).slice(1).map(line => line.replace(/[█▏▎▍▌▋▊▉░]+/, '#')), [
    'web · Orders    # 10',
    'web · Returns   # −4',
    'store · Orders   –',
    'store · Returns # 2'
  ])
  t.match(twoMeasures, /Returns +░{2,} −4/, 'a negative bar is shaded, not solid')
  const many = asciiChart({ ...views.horizontalBar, rows: Array.from({ length: 35 }, (_, index) => ({ channel: `c${index}`, orders: index + 1 })) })
  t.equal(linesOf(many).at(-1), '… 5 more bars')
  t.equal(linesOf(many).length, 1 + 30 + 1)
})

t.test('asciiChart: plots of categories, one point, and a narrow width', async t => {
  const categories = asciiChart({ ...views.scatter, x: region, rows: [{ region: 'North', basket: 3 }, { region: 'South', basket: 3 }] }, { width: 40, height: 4 })
  const lines = linesOf(categories)
  t.equal(lines.length, 1 + 4 + 2 + 1)
  t.match(lines[3], /^\$3 ┤• +•$/, 'equal values sit mid-height, categories at both ends')
  t.equal(lines.filter(line => line.includes('┤')).length, 1, 'one y label for one value')
  t.match(lines[6], /^ {4}North +Region +South$/)
  const narrow = asciiChart(views.line, { width: 10 })
  t.ok(longest(narrow) <= 30, 'widths below 30 are raised to 30')
  t.match(linesOf(narrow).at(-2), /^ +2025-01… +2025-06…$/, 'x labels are cut, and the x title left out, when they do not fit')
  const onePoint = asciiChart({ ...views.line, y: [revenue], rows: [{ month: '2025-01-01', revenue: 5 }] })
  t.match(onePoint, /\n\$5\.00 ┤•\n/)
  t.match(onePoint, /\n +2025-01-01 +Month\n• Revenue$/)
  t.equal(asciiChart({ ...views.line, rows: [{ month: '2025-01-01', revenue: null, cost: null }] }), 'Monthly Revenue\nNo data.')
})

t.test('asciiChart: a newline inside a value does not break a line', async t => {
  const text = asciiChart({ ...views.horizontalBar, rows: [{ channel: 'web\nshop', orders: 10 }, { channel: 'store', orders: 5 }] }, { width: WIDTH })
  t.equal(linesOf(text).length, 3)
  t.match(linesOf(text)[1], /^web shop █+ 10$/)
})

t.test('asciiChart: a plot has the grid height asked, one glyph per series, and a legend', async t => {
  const text = asciiChart(views.line, { width: 80, height: 10 })
  const grid = linesOf(text).filter(line => /[│┤]/.test(line))
  t.equal(grid.length, 10)
  t.equal((text.match(/•/g) ?? []).length, 7, 'six revenue points and the legend')
  t.equal((text.match(/×/g) ?? []).length, 7, 'six cost points and the legend')
  t.match(grid[0], /^\$2,250\.00 ┤/)

  const many: ChartView = { ...views.stackedArea, rows: ['a', 'b', 'c', 'd', 'e', 'f'].map((series, index) => ({ month: '2025-01-01', channel: series, revenue: index })) }
  t.match(asciiChart(many), /• a {2}× b {2}\+ c {2}o d {2}\(\+2 more not shown\)/)
})

t.test('asciiChart: a big number is boxed, with a sparkline of its trend', async t => {
  const text = asciiChart(views.bigNumber, { width: WIDTH })
  t.match(text, /┌─ Revenue ─+┐\n│ +│\n│ +\$12,345 +│/)
  t.match(text, /\n▁█▅\n/)
  t.notMatch(asciiChart({ ...views.bigNumber, bigNumber: { value: 5, trend: false } }), /[▁█]/)
  t.equal(asciiChart({ ...views.bigNumber, y: [], rows: [], bigNumber: { value: 3 } }, { width: 30 }), [
    'Total Revenue',
    '┌────────────────┐',
    '│                │',
    '│       3        │',
    '│                │',
    '└────────────────┘'
  ].join('\n'))
  t.match(asciiChart({ ...views.bigNumber, bigNumber: { value: null, trend: true } }), /│ +– +│/, 'no value is a dash')
})

t.test('asciiChart: a wide table is narrowed to fit, and long tables are cut at 20 rows', async t => {
  const wide = linesOf(asciiChart(views.table, { width: 30 }))
  t.ok(longest(wide.join('\n')) <= 30)
  t.match(wide[1], /^Produ… +Orders +Revenue$/, 'text is cut, numbers are not')
  t.match(wide[3], /^Widge… +1,234 +\$1,234\.50$/)
  t.equal(wide.at(-1), '(2 more columns not shown)')
  const long: ChartView = { ...views.table, rows: Array.from({ length: 25 }, (_, index) => ({ product: `P${index}`, orders: index, revenue: index, share: 0, first_order: null })) }
  const lines = linesOf(asciiChart(long))
  t.equal(lines.at(-1), '… 5 more rows')
  t.equal(lines.length, 1 + 2 + 20 + 1)
})

t.test('renderSvg loads nothing: a data URL is refused, not fetched', async t => {
  let requests = 0
  const server = createServer((_request, response) => {
    requests++
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify([{ label: 'FETCHED_ROW', value: 5 }]))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const { port } = server.address() as AddressInfo
  const spec: TopLevelSpec = {
    data: { url: `http://127.0.0.1:${port}/x.json` },
    mark: 'bar',
    encoding: { x: { field: 'label', type: 'nominal' }, y: { field: 'value', type: 'quantitative' } }
  }
  const warnings: string[] = []
  const svg = await renderSvg(spec, { width: 300, height: 200, onWarning: message => warnings.push(message) }).catch((err: unknown) => err)
  if (typeof svg === 'string') t.notMatch(svg, /FETCHED_ROW/, 'the served rows are not drawn')
  else t.type(svg, Error)
  t.ok(warnings.some(message => message.includes('loading URLs and files is disabled')), 'the refusal is reported')
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(requests, 0, 'the server saw no request')
})
