import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { ConfigError, resolveConfig } from '../src/config.ts'
import { build, startTestServer } from './helpers/app.ts'
import { exposedMetricNames, metricValue, servedMetricNames } from './helpers/metric-names.ts'
import { freePort } from './helpers/ports.ts'
import { post, toolCall } from './helpers/rpc.ts'
import type { RunningServer } from './helpers/app.ts'

// MCP_METRICS_PORT: /metrics on a port of its own, so the MCP port (and an ingress) never exposes it.

/** A server with MCP_METRICS_PORT on a free port; freePort may race another process, so retry. */
async function startWithMetricsPort (t: Test): Promise<{ server: RunningServer, metricsUrl: URL }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      const server = await startTestServer(t, { MCP_METRICS_PORT: port })
      const address = server.app.metricsServer?.address() as AddressInfo
      return { server, metricsUrl: new URL(`http://127.0.0.1:${address.port}/metrics`) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 5) throw err
    }
  }
}

t.test('with MCP_METRICS_PORT, /metrics answers there and only there', async t => {
  const { server, metricsUrl } = await startWithMetricsPort(t)
  t.not(metricsUrl.port, new URL(server.origin).port, 'a port other than the MCP port')

  const health = await post(server.url, toolCall('health_check', {}, 1))
  t.equal(health.status, 200, '/mcp still works on the main port')
  t.equal(health.json?.result?.isError, undefined)
  await post(server.url, toolCall('list_charts', {}, 2))
  await post(server.url, toolCall('list_charts', {}, 3))

  const scrape = await fetch(metricsUrl)
  t.equal(scrape.status, 200)
  t.match(scrape.headers.get('content-type'), /^text\/plain/)
  const text = await scrape.text()
  t.equal(metricValue(text, 'mcp_tool_calls_total', { tool: 'health_check', outcome: 'success' }), 1)
  t.equal(metricValue(text, 'mcp_tool_calls_total', { tool: 'list_charts', outcome: 'success' }), 2)
  t.equal(metricValue(text, 'mcp_requests_total', { method: 'tools/call', era: 'legacy' }), 3)

  const onMain = await fetch(new URL('/metrics', server.origin))
  t.equal(onMain.status, 404, 'the MCP port does not serve /metrics')
  t.notMatch(await onMain.text(), /mcp_tool_calls_total/)

  t.equal((await fetch(new URL('/healthz', server.origin))).status, 200, 'the probes stay on the main port')
  t.equal((await fetch(new URL('/mcp', metricsUrl))).status, 404, 'the metrics port serves nothing else')
  t.equal((await fetch(metricsUrl, { method: 'POST', body: '{}' })).status, 405)
  const head = await fetch(metricsUrl, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(await head.text(), '')
})

t.test('without MCP_METRICS_PORT, /metrics is on the main port as before', async t => {
  const server = await startTestServer(t)
  t.equal(server.app.metricsServer, null)
  await post(server.url, toolCall('health_check', {}))
  const response = await fetch(new URL('/metrics', server.origin))
  t.equal(response.status, 200)
  t.equal(metricValue(await response.text(), 'mcp_tool_calls_total', { tool: 'health_check', outcome: 'success' }), 1)
})

t.test('MCP_METRICS_PORT equal to MCP_SERVICE_PORT stops start-up, naming both', async t => {
  const error = (() => {
    try {
      resolveConfig([{ source: 'environment', values: { MCP_SERVICE_PORT: '9464', MCP_METRICS_PORT: '9464' } }])
    } catch (err) {
      return err
    }
  })()
  t.ok(error instanceof ConfigError)
  const problems = (error as ConfigError).problems
  t.equal(problems.length, 1)
  t.match(problems[0], /^MCP_METRICS_PORT: 9464 is also MCP_SERVICE_PORT/)

  t.equal(resolveConfig([{ source: 'environment', values: { MCP_SERVICE_PORT: '0', MCP_METRICS_PORT: '0' } }]).MCP_METRICS_PORT, 0, 'port 0 (a free port) twice is two ports')
  t.equal(resolveConfig([{ source: 'environment', values: { MCP_METRICS_PORT: '' } }]).MCP_METRICS_PORT, undefined, 'blank is unset')
  t.throws(() => resolveConfig([{ source: 'environment', values: { MCP_METRICS_PORT: '70000' } }]), /MCP_METRICS_PORT \(environment\): expected an integer between 0 and 65535/)
})

t.test('a metrics port in use stops start-up', async t => {
  const occupier = createServer()
  await new Promise<void>(resolve => occupier.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => occupier.close(resolve)))
  const { port } = occupier.address() as AddressInfo
  await t.rejects(build(t, { MCP_METRICS_PORT: port }), { code: 'EADDRINUSE', port })
})

t.test('closing the app closes the metrics port', async t => {
  const { server, metricsUrl } = await startWithMetricsPort(t)
  t.equal((await fetch(metricsUrl)).status, 200)
  let metricsOpenAtMainClose: number | undefined
  server.app.server.once('close', () => {
    metricsOpenAtMainClose = server.app.metricsServer?.listening === true ? 1 : 0
  })
  await server.app.close()
  t.equal(metricsOpenAtMainClose, 1, 'the metrics port was still open when the main server had drained')
  t.equal(server.app.metricsServer?.listening, false)
  await t.rejects(fetch(metricsUrl), { cause: { code: 'ECONNREFUSED' } }, 'connection refused after close')
})

t.test('the metric names the service serves', async t => {
  const names = await servedMetricNames(t)
  for (const name of [
    'mcp_tool_calls_total', 'mcp_tool_call_duration_seconds', 'mcp_tool_call_duration_seconds_bucket',
    'mcp_tool_call_duration_seconds_count', 'mcp_tool_calls_in_flight', 'mcp_requests_total',
    'mcp_cache_requests_total', 'sql_query_duration_seconds_bucket', 'sql_rows_returned_sum',
    'http_requests_total', 'http_request_duration_seconds_bucket', 'mcp_auth_attempts_total',
    'process_cpu_user_seconds_total', 'nodejs_eventloop_utilization_ratio'
  ]) t.ok(names.has(name), name)
  t.notOk(names.has('mcp_tool_calls'), 'exact exposed names, no invented ones')

  t.same([...exposedMetricNames([
    '# HELP h_seconds A histogram',
    '# TYPE h_seconds histogram',
    'h_seconds_bucket{le="1"} 0',
    '# TYPE c_total counter',
    'c_total{a="b"} 2',
    'untyped_sample 1'
  ].join('\n'))].sort(), ['c_total', 'h_seconds', 'h_seconds_bucket', 'h_seconds_count', 'h_seconds_sum', 'untyped_sample'])
})
