import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { post } from './helpers/rpc.ts'

const LIST = { jsonrpc: '2.0', id: 7, method: 'tools/list' }

/** Keep the event loop (shared with the in-process server) lagging ~100 ms per turn for a while. */
async function lagTheEventLoop (totalMs: number): Promise<void> {
  const end = Date.now() + totalMs
  while (Date.now() < end) {
    const turn = Date.now() + 100
    while (Date.now() < turn) { /* busy: the lag a CPU-heavy request would cause */ }
    await new Promise(resolve => setImmediate(resolve))
  }
}

t.test('while the event loop lags, /mcp sheds load and the probes still answer', async t => {
  const server = await startTestServer(t, { MCP_EVENT_LOOP_MAX_DELAY_MS: 50 })
  t.equal((await post(server.url, LIST)).status, 200, 'a calm server answers')

  await lagTheEventLoop(1500)
  const [shed, health, ready] = await Promise.all([
    post(server.url, LIST),
    fetch(`${server.origin}/healthz`),
    fetch(`${server.origin}/readyz`)
  ])
  t.equal(shed.status, 503, '/mcp is shed')
  t.equal(shed.headers.get('retry-after'), '2')
  t.equal(shed.json.jsonrpc, '2.0')
  t.equal(shed.json.error.code, -32000)
  t.match(shed.json.error.message, /overloaded.*Retry in 2 s/)
  t.equal(shed.json.error.data.retry_after_seconds, 2)
  t.equal(health.status, 200, '/healthz stays cheap and honest: the process serves HTTP')
  t.equal(ready.status, 200, 'a lagging replica stays in the Service (it recovers by itself)')
  t.equal((await ready.json() as { checks: Record<string, string> }).checks.event_loop, 'degraded', 'but /readyz says why it sheds')

  // Calm again: after the next samples the lag is gone.
  let status = 503
  for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
    await sleep(100)
    status = (await post(server.url, LIST)).status
  }
  t.equal(status, 200, 'the replica recovers by itself')
  const metrics = await (await fetch(`${server.origin}/metrics`)).text()
  t.match(metrics, /^mcp_load_shed_total [1-9]/m, 'shed requests are counted')
  t.match(metrics, /^nodejs_eventloop_utilization_ratio \d/m, 'event-loop utilisation is exported')
  t.match(metrics, /^nodejs_eventloop_lag_p99_seconds \d/m, 'and the lag')
})

t.test('MCP_EVENT_LOOP_MAX_DELAY_MS=0 turns load shedding off', async t => {
  const server = await startTestServer(t, { MCP_EVENT_LOOP_MAX_DELAY_MS: 0 })
  await lagTheEventLoop(1200)
  t.equal((await post(server.url, LIST)).status, 200)
})
