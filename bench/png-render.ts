/**
 * Time of a 640×360 PNG per chart kind (Vega-Lite compile, Vega SVG, resvg raster), and of each
 * step for one chart, against baselines measured in the same run (building the spec, and a
 * JSON round trip of it): absolute ms depend on the machine, the ratios are what to compare.
 *
 * Last, the line chart through the render pool (one worker thread, as PNG previews render),
 * with the event-loop time each render still costs the main thread (posting the spec, taking
 * the PNG back).
 *
 *   node bench/png-render.ts            (BENCH_RENDERS=60 timed renders per chart by default)
 */
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { compileSpec, renderPng, svgToPng, vegaToSvg } from '../src/charts/png.ts'
import { RenderPool } from '../src/charts/render-pool.ts'
import { toVegaLite } from '../src/charts/vega-lite.ts'
import type { ChartField, ChartView } from '../src/charts/view.ts'

const renders = Number(process.env.BENCH_RENDERS ?? 60)
const warmUps = 5
const size = { width: 640, height: 360 }

const day = (index: number): string => new Date(Date.UTC(2025, 0, 1 + index)).toISOString().slice(0, 10)
const monthStart = (index: number): string => new Date(Date.UTC(2024, index, 1)).toISOString().slice(0, 10)
const revenue: ChartField = { name: 'revenue', label: 'Revenue', type: 'quantitative', format: '$,.2f' }
const channel: ChartField = { name: 'channel', label: 'Channel', type: 'nominal' }
// Deterministic, uneven values, so every run draws the same charts.
const wave = (index: number): number => Math.round(1000 + 400 * Math.sin(index / 3) + 37 * (index % 7))

const line: ChartView = {
  title: 'Daily Revenue',
  kind: 'line',
  x: { name: 'day', label: 'Day', type: 'temporal' },
  y: [revenue],
  rows: Array.from({ length: 30 }, (_, index) => ({ day: day(index), revenue: wave(index) }))
}

const views: ChartView[] = [
  line,
  {
    title: 'Revenue by Region',
    kind: 'bar',
    x: { name: 'region', label: 'Region', type: 'nominal' },
    y: [revenue],
    rows: ['North', 'South', 'East', 'West', 'Central'].map((region, index) => ({ region, revenue: wave(index * 5) }))
  },
  {
    title: 'Orders by Channel',
    kind: 'pie',
    x: channel,
    y: [{ name: 'orders', label: 'Orders', type: 'quantitative', format: ',d' }],
    rows: [{ channel: 'web', orders: 620 }, { channel: 'store', orders: 290 }, { channel: 'phone', orders: 90 }]
  },
  {
    title: 'Revenue by Channel',
    kind: 'area',
    stacked: true,
    x: { name: 'month', label: 'Month', type: 'temporal' },
    series: channel,
    y: [revenue],
    rows: Array.from({ length: 60 }, (_, index) => ({ month: monthStart(Math.floor(index / 3)), channel: ['web', 'store', 'phone'][index % 3] ?? '', revenue: wave(index) }))
  },
  {
    title: 'Top Products',
    kind: 'table',
    y: [revenue],
    columns: [{ name: 'product', label: 'Product', type: 'nominal' }, { name: 'orders', label: 'Orders', type: 'quantitative', format: ',d' }, revenue],
    rows: Array.from({ length: 10 }, (_, index) => ({ product: `Product ${index + 1}`, orders: 500 - index * 37, revenue: wave(index) * 10 }))
  },
  {
    title: 'Total Revenue',
    kind: 'big_number',
    x: { name: 'day', label: 'Day', type: 'temporal' },
    y: [{ ...revenue, format: '$,.0f' }],
    rows: Array.from({ length: 30 }, (_, index) => ({ day: day(index), revenue: wave(index) })),
    bigNumber: { value: wave(29), subheader: 'on the latest day', trend: true }
  }
]

/** ms per call of `run`, after warm-up calls V8 can optimise on. */
async function time (run: () => unknown, count: number, warm = warmUps): Promise<number[]> {
  for (let index = 0; index < warm; index++) await run()
  const samples: number[] = []
  for (let index = 0; index < count; index++) {
    const start = performance.now()
    await run()
    samples.push(performance.now() - start)
  }
  return samples.sort((a, b) => a - b)
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
const ms = (value: number): string => value.toFixed(value < 1 ? 3 : 1)

console.log(`analytics-mcp PNG render: ${size.width}×${size.height}, ${renders} renders per chart after ${warmUps} warm-ups, Node ${process.version}, ${os.availableParallelism()} CPUs\n`)

const lineSpec = toVegaLite(line, size)
// Baselines: a spec built from its view, and a JSON round trip of it, each timed per call over 1000 calls.
const buildSpec = quantile(await time(() => toVegaLite(line, size), 1000, 100), 0.5)
const jsonRoundTrip = quantile(await time(() => JSON.parse(JSON.stringify(lineSpec)), 1000, 100), 0.5)

const all: number[] = []
const rows: Array<{ kind: string, median: number, p90: number }> = []
for (const view of views) {
  const spec = toVegaLite(view, size)
  const samples = await time(() => renderPng(spec, size), renders)
  all.push(...samples)
  rows.push({ kind: view.kind, median: quantile(samples, 0.5), p90: quantile(samples, 0.9) })
}

const vegaSpec = await compileSpec(lineSpec, size)
const svg = await vegaToSvg(vegaSpec, size)
const steps = [
  { step: 'compileSpec (Vega-Lite → Vega)', samples: await time(() => compileSpec(lineSpec, size), renders) },
  { step: 'vegaToSvg (Vega → SVG)', samples: await time(() => vegaToSvg(vegaSpec, size), renders) },
  { step: 'svgToPng (resvg)', samples: await time(() => svgToPng(svg, size.width, size.height), renders) }
]

console.log('| Chart | median ms | p90 ms | ratio to toVegaLite | ratio to JSON round trip |')
console.log('|---|---:|---:|---:|---:|')
for (const row of rows) {
  console.log(`| ${row.kind} | ${ms(row.median)} | ${ms(row.p90)} | ${Math.round(row.median / buildSpec)} | ${Math.round(row.median / jsonRoundTrip)} |`)
}
console.log(`\nSteps of the ${line.kind} chart:\n`)
console.log('| Step | median ms | p90 ms | share of the three |')
console.log('|---|---:|---:|---:|')
const stepTotal = steps.reduce((sum, { samples }) => sum + quantile(samples, 0.5), 0)
for (const { step, samples } of steps) {
  console.log(`| ${step} | ${ms(quantile(samples, 0.5))} | ${ms(quantile(samples, 0.9))} | ${((quantile(samples, 0.5) / stepTotal) * 100).toFixed(0)}% |`)
}
const pool = new RenderPool({ workers: 1, perUserRunning: 1, queueLimit: 1, perUserQueueLimit: 1, timeoutSeconds: 600, memoryMb: 512 })
const pooled = await time(() => pool.render(lineSpec, { ...size, key: 'bench' }), renders)
const loopBefore = performance.eventLoopUtilization()
for (let index = 0; index < renders; index++) await pool.render(lineSpec, { ...size, key: 'bench' })
const loopBusy = performance.eventLoopUtilization(loopBefore).active / renders
await pool.close()
const inThread = rows[0]?.median ?? NaN
console.log(`\nThrough the render pool (a worker thread): median ${ms(quantile(pooled, 0.5))} ms (p90 ${ms(quantile(pooled, 0.9))} ms), ${(quantile(pooled, 0.5) / inThread).toFixed(2)}× the in-thread ${line.kind} render; the event loop was busy ${ms(loopBusy)} ms per render.`)
console.log(`\nBaselines: toVegaLite ${ms(buildSpec)} ms, JSON.stringify + JSON.parse of the spec ${ms(jsonRoundTrip)} ms (medians).`)
all.sort((a, b) => a - b)
console.log(`png-render: median ${ms(quantile(all, 0.5))} ms (p90 ${ms(quantile(all, 0.9))} ms) over ${all.length} renders`)
