import { PNG } from 'pngjs'
import t from 'tap'
import type { TopLevelSpec } from 'vega-lite'
import { renderPng } from '../../src/charts/png.ts'
import { RenderPool } from '../../src/charts/render-pool.ts'
import { ToolError } from '../../src/errors.ts'
import { startTestServer } from '../helpers/app.ts'
import type { RunningServer } from '../helpers/app.ts'
import { post, toolCall } from '../helpers/rpc.ts'

// PNG previews render in worker threads behind a per-user fair queue (src/charts/render-pool.ts):
// the event loop stays free, a full queue says "busy, retry", and a render past its time or
// memory is stopped without taking the pool (or the server) down.

/** A 10,000-point line chart: one point per day and country (23 series), capped at 10,000 rows. */
const BIG_LINE = { chart_type: 'xy', kind: 'line', x: 'order_date', time_grain: 'P1D', y: ['revenue'], group_by: 'country', row_limit: 10_000 }

/** A line of `points` points, inline, as a Vega-Lite spec. */
function lineSpec (points: number): TopLevelSpec {
  const values = Array.from({ length: points }, (_, index) => ({ x: index, y: Math.sin(index / 30) * 100 + (index % 7), series: `s${index % 23}` }))
  return {
    data: { values },
    mark: 'line',
    encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, color: { field: 'series', type: 'nominal' } }
  }
}

async function failure (work: Promise<unknown>): Promise<Error> {
  try {
    await work
  } catch (err) {
    if (err instanceof Error) return err
    throw err
  }
  throw new Error('expected the render to fail')
}

/** Wait for a condition (polling), e.g. a render to be running. */
async function until (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise(resolve => setTimeout(resolve, 10))
}

let id = 1
async function callTool (server: RunningServer, name: string, args: Record<string, unknown>): Promise<any> {
  return (await post(server.url, toolCall(name, args, id++))).json.result
}

function imageOf (result: any): PNG {
  const image = (result.content as Array<{ type: string, data?: string }>).find(item => item.type === 'image')
  if (image?.data === undefined) throw new Error(`no image in the result: ${JSON.stringify(result).slice(0, 300)}`)
  return PNG.sync.read(Buffer.from(image.data, 'base64'))
}

t.test('a PNG preview comes from a render worker, at the size asked for', async t => {
  const server = await startTestServer(t)
  const result = await callTool(server, 'update_chart_preview', { dataset_id: 'orders', config: BIG_LINE, preview_formats: ['png'], width: 1200, height: 900 })
  t.notOk(result.isError, 'the preview succeeds')
  const png = imageOf(result)
  t.same([png.width, png.height], [1200, 900])
  t.same([result.structuredContent.previews.png.width, result.structuredContent.previews.png.height], [1200, 900])
  t.equal(server.app.renderer.stats().threads, 1, 'rendered by the one worker thread (MCP_RENDER_WORKERS = 1)')
  const metrics = await (await fetch(`${server.origin}/metrics`)).text()
  t.match(metrics, /^chart_render_duration_seconds_count\{outcome="success"\} 1$/m, 'the render is counted')
})

t.test('the event loop stays free while big charts render', async t => {
  const server = await startTestServer(t, { MCP_RENDER_WORKERS: 2, MCP_RENDER_USER_CONCURRENCY: 2 })
  // A probe due while the loop is blocked waits for it: counting from when each probe was
  // due (not when its timer finally fired) sees a stall that begins between two probes.
  // The bound is on a probe's wait, not the renders, and generous: the old code stalled 2–5 s.
  const bound = 1000
  let running = true
  let worst = 0
  let probes = 0
  const probing = (async () => {
    let due = performance.now()
    while (running) {
      const response = await fetch(`${server.origin}/healthz`)
      t.equal(response.status, 200)
      worst = Math.max(worst, performance.now() - due)
      probes++
      due = performance.now() + 50
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })()
  const renders = await Promise.all([1, 2, 3].map(() => callTool(server, 'update_chart_preview', { dataset_id: 'orders', config: BIG_LINE, preview_formats: ['png'], width: 2000, height: 2000 })))
  running = false
  await probing
  for (const result of renders) t.same([imageOf(result).width, imageOf(result).height], [2000, 2000], 'each render drew its 2000×2000 PNG')
  t.equal(renders[0].structuredContent.row_count, 10_000, 'of 10,000 points')
  t.ok(probes > 0)
  t.ok(worst < bound, `worst /healthz wait ${Math.round(worst)} ms < ${bound} ms over ${probes} probes`)
})

t.test('a full render queue answers busy, with when to retry', async t => {
  const server = await startTestServer(t, { MCP_RENDER_QUEUE_LIMIT: 0 })
  const { renderer } = server.app
  // Another user holds the only worker.
  const blocking = renderer.render(lineSpec(20_000), { width: 2000, height: 2000, key: 'someone-else' }).catch((err: unknown) => err)
  await until(() => renderer.stats().running === 1)
  const result = await callTool(server, 'get_chart_preview', { identifier: 3, format: 'png', width: 500, height: 300 })
  t.equal(result.isError, true)
  t.equal(result._meta.error_type, 'busy')
  t.type(result._meta.retry_after_seconds, 'number')
  t.ok(result._meta.retry_after_seconds >= 1)
  t.match(result.content[0].text, /render workers are busy.*MCP_RENDER_QUEUE_LIMIT.*\nRetry in \d+ s/s)
  await blocking
  const metrics = await (await fetch(`${server.origin}/metrics`)).text()
  t.match(metrics, /^mcp_work_queue_refused_total\{pool="render",reason="queue_full"\} 1$/m)
  t.match(metrics, /^chart_render_duration_seconds_count\{outcome="busy"\} 1$/m)
})

t.test('users take turns: one user\'s queue does not hold back another\'s render', async t => {
  const server = await startTestServer(t, { MCP_RENDER_WORKERS: 1, MCP_RENDER_USER_CONCURRENCY: 1, MCP_RENDER_USER_QUEUE_LIMIT: 10 })
  const { renderer } = server.app
  const finished: string[] = []
  const render = (key: string, label: string): Promise<void> =>
    renderer.render(lineSpec(200), { width: 300, height: 200, key }).then(() => { finished.push(label) })
  // Alice's first render starts the thread, so her other three (and Bob's) queue behind it.
  const alice = [render('alice', 'alice 1'), render('alice', 'alice 2'), render('alice', 'alice 3'), render('alice', 'alice 4')]
  t.same(renderer.stats(), { running: 1, waiting: 3, threads: 0, idle: 0 })
  const bob = render('bob', 'bob 1')
  await Promise.all([...alice, bob])
  t.same(finished, ['alice 1', 'bob 1', 'alice 2', 'alice 3', 'alice 4'], 'bob goes right after the render that was running')
})

t.test('one user\'s full queue answers busy for them; a waiting render can be cancelled', async t => {
  const server = await startTestServer(t, { MCP_RENDER_USER_QUEUE_LIMIT: 1 })
  const { renderer } = server.app
  const running = renderer.render(lineSpec(20_000), { width: 2000, height: 2000, key: 'alice' }).catch((err: unknown) => err)
  await until(() => renderer.stats().running === 1)
  const controller = new AbortController()
  const waiting = failure(renderer.render(lineSpec(10), { width: 200, height: 200, key: 'alice', signal: controller.signal }))
  const full = await failure(renderer.render(lineSpec(10), { width: 200, height: 200, key: 'alice' }))
  t.equal((full as ToolError).errorType, 'busy')
  t.match(full.message, /Your render queue is full: 1 of your chart images.*MCP_RENDER_USER_QUEUE_LIMIT/)
  t.type((full as ToolError).details.retry_after_seconds, 'number')
  controller.abort()
  t.equal((await waiting as ToolError).errorType, 'cancelled', 'the waiting render leaves the queue')
  t.same(renderer.stats().waiting, 0)
  await running
})

t.test('a render past MCP_RENDER_TIMEOUT is stopped, and its worker replaced', async t => {
  const server = await startTestServer(t, { MCP_RENDER_TIMEOUT: 1 })
  const { renderer } = server.app
  const error = await failure(renderer.render(lineSpec(200_000), { width: 2000, height: 2000, key: 'alice' }))
  t.ok(error instanceof ToolError)
  t.equal((error as ToolError).errorType, 'query_timeout')
  t.match(error.message, /within 1 s \(MCP_RENDER_TIMEOUT/)
  // The thread's start counts against the next render's 1 s too: let it finish first.
  await until(() => renderer.stats().idle === 1)
  t.equal(renderer.stats().threads, 1, 'a fresh thread replaced the stopped one')
  const png = PNG.sync.read(await renderer.render(lineSpec(100), { width: 300, height: 200, key: 'alice' }))
  t.same([png.width, png.height], [300, 200], 'the next render works')
  const metrics = await (await fetch(`${server.origin}/metrics`)).text()
  t.match(metrics, /^chart_render_duration_seconds_count\{outcome="timeout"\} 1$/m)
})

t.test('a render that needs more than MCP_RENDER_MEMORY_MB ends its worker, not the server', async t => {
  const server = await startTestServer(t, { MCP_RENDER_MEMORY_MB: 32 })
  const result = await callTool(server, 'update_chart_preview', { dataset_id: 'orders', config: BIG_LINE, preview_formats: ['png'], width: 2000, height: 2000 })
  t.equal(result.isError, true)
  t.equal(result._meta.error_type, 'resource_limit')
  t.match(result.content[0].text, /MCP_RENDER_MEMORY_MB = 32 MiB/)
  t.match(result.content[0].text, /fewer points.*smaller width and height/s)
  const next = await callTool(server, 'get_chart_preview', { identifier: 3, format: 'png', width: 500, height: 300 })
  t.notOk(next.isError, 'the next render works')
  t.same([imageOf(next).width, imageOf(next).height], [500, 300])
  const metrics = await (await fetch(`${server.origin}/metrics`)).text()
  t.match(metrics, /^chart_render_duration_seconds_count\{outcome="crashed"\} 1$/m)
})

t.test('a caller that goes away stops its render', async t => {
  const server = await startTestServer(t)
  const { renderer } = server.app
  const controller = new AbortController()
  const rendering = failure(renderer.render(lineSpec(200_000), { width: 2000, height: 2000, key: 'alice', signal: controller.signal }))
  await until(() => renderer.stats().running === 1)
  controller.abort()
  const error = await rendering
  t.equal((error as ToolError).errorType, 'cancelled')
  const png = PNG.sync.read(await renderer.render(lineSpec(100), { width: 300, height: 200, key: 'alice' }))
  t.equal(png.width, 300, 'the pool renders on')
})

t.test('a spec Vega rejects fails as it does on the main thread', async t => {
  const server = await startTestServer(t)
  const bad = { data: { values: [{ x: 1 }] }, mark: 'no-such-mark', encoding: { x: { field: 'x', type: 'quantitative' } } } as unknown as TopLevelSpec
  const inPool = await failure(server.app.renderer.render(bad, { width: 300, height: 200, key: 'alice' }))
  const onMain = await failure(renderPng(bad, { width: 300, height: 200 }))
  t.notOk(inPool instanceof ToolError, 'not a tool error: the tool wrapper logs it as an internal error, as before')
  t.equal(inPool.name, onMain.name)
  t.equal(inPool.message, onMain.message)
  const metrics = await (await fetch(`${server.origin}/metrics`)).text()
  t.match(metrics, /^chart_render_duration_seconds_count\{outcome="error"\} 1$/m)
})

t.test('closing the app refuses renders', async t => {
  const server = await startTestServer(t)
  const { renderer } = server.app
  await renderer.render(lineSpec(10), { width: 200, height: 200, key: 'alice' })
  await server.app.close()
  const error = await failure(renderer.render(lineSpec(10), { width: 200, height: 200, key: 'alice' }))
  t.equal((error as ToolError).errorType, 'busy')
  t.match(error.message, /shutting down/)
  t.equal(renderer.stats().threads, 0, 'the threads are gone')
})

t.test('threads that cannot start fail renders at once, not at the timeout', async t => {
  // 4 MiB is below the setting's minimum: a thread runs out of memory loading Vega (or, at the
  // latest, drawing). With a 600 s timeout, an answer at all shows the render did not wait for it.
  const pool = new RenderPool({ workers: 2, perUserRunning: 2, queueLimit: 4, perUserQueueLimit: 4, timeoutSeconds: 600, memoryMb: 4 })
  t.teardown(() => pool.close())
  for (const attempt of [1, 2]) {
    const error = await failure(pool.render(lineSpec(10), { width: 200, height: 200, key: 'alice' }))
    t.equal((error as ToolError).errorType, 'resource_limit', `attempt ${attempt}: resource_limit`)
    t.match(error.message, /MCP_RENDER_MEMORY_MB = 4 MiB/)
  }
})

t.test('closing the app during a render ends it as shutting down', async t => {
  const server = await startTestServer(t)
  const { renderer } = server.app
  const rendering = failure(renderer.render(lineSpec(200_000), { width: 2000, height: 2000, key: 'alice' }))
  await until(() => renderer.stats().running === 1)
  await server.app.close()
  const error = await rendering
  t.equal((error as ToolError).errorType, 'busy')
  t.match(error.message, /shutting down/)
})
