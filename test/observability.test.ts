import { Writable } from 'node:stream'
import t from 'tap'
import { loggerOptions } from '../src/logger.ts'
import { startTestServer } from './helpers/app.ts'
import { testConfig } from './helpers/config.ts'
import { post, rawRequest, toolCall } from './helpers/rpc.ts'

/** A log destination that keeps every JSON line. */
function captureLogs (): { stream: Writable, lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, any>)
      done()
    }
  })
  return { stream, lines }
}

function metricValue (text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (wanted.every(label => line.includes(label))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

t.test('health probes', async t => {
  const server = await startTestServer(t)
  const health = await fetch(new URL('/healthz', server.url))
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const ready = await fetch(new URL('/readyz', server.url))
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready', checks: { catalog: 'ok' } })

  server.app.catalog.close()
  const notReady = await fetch(new URL('/readyz', server.url))
  t.equal(notReady.status, 503, 'a dead catalog makes the replica not ready')
  t.same(await notReady.json(), { status: 'not_ready', checks: { catalog: 'unavailable' } })
  const stillAlive = await fetch(new URL('/healthz', server.url))
  t.equal(stillAlive.status, 200, 'liveness does not depend on the catalog')

  const mcp = await post(server.url, toolCall('list_charts', {}))
  t.equal(mcp.status, 500, 'MCP calls fail cleanly while the catalog is down')
  // Authentication runs before the body is read, so the id is not known yet (JSON-RPC: null).
  t.same(mcp.json, { jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal server error' } })
})

t.test('a slow readiness check times out instead of hanging the probe', async t => {
  const server = await startTestServer(t)
  server.app.registerReadinessCheck('slow', () => new Promise(() => {}))
  const ready = await fetch(new URL('/readyz', server.url))
  t.equal(ready.status, 503)
  t.same((await ready.json() as { checks: unknown }).checks, { catalog: 'ok', slow: 'unavailable' })
})

t.test('metrics', async t => {
  const server = await startTestServer(t)
  await post(server.url, toolCall('list_charts', {}))
  await post(server.url, toolCall('list_charts', { page_size: 'lots' }))
  await post(server.url, toolCall('execute_sql', { database_id: 1, sql: 'SELECT order_id FROM orders', limit: 25 }))
  await post(server.url, toolCall('execute_sql', { database_id: 1, sql: 'DELETE FROM orders' }))
  await post(server.url, toolCall('execute_sql', { database_id: 1, sql: 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n', timeout: 1 }))
  await post(server.url, toolCall('drop_everything', {}))
  await post(server.url, { jsonrpc: '2.0', id: 1, method: 'made/up' })
  await fetch(new URL('/no-such-route', server.url))

  const response = await fetch(new URL('/metrics', server.url))
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), /text\/plain/)
  const text = await response.text()

  t.equal(metricValue(text, 'mcp_tool_calls_total', { tool: 'list_charts', outcome: 'success' }), 1)
  t.equal(metricValue(text, 'mcp_tool_calls_total', { tool: 'list_charts', outcome: 'tool_error' }), 1)
  t.equal(metricValue(text, 'mcp_tool_calls_total', { tool: 'execute_sql', outcome: 'success' }), 1)
  t.equal(metricValue(text, 'mcp_tool_calls_total', { tool: 'execute_sql', outcome: 'tool_error' }), 2)
  t.equal(metricValue(text, 'mcp_tool_calls_total', { tool: 'get_chart_info', outcome: 'success' }), 0, 'every tool has a series from the start')
  t.equal(metricValue(text, 'mcp_tool_call_duration_seconds_count', { tool: 'execute_sql', outcome: 'success' }), 1)
  t.equal(metricValue(text, 'mcp_tool_calls_in_flight', { tool: 'execute_sql' }), 0)
  t.notMatch(text, /drop_everything/, 'unknown tool names never become label values')

  t.equal(metricValue(text, 'mcp_requests_total', { method: 'tools/call', era: 'legacy' }), 6)
  t.equal(metricValue(text, 'mcp_requests_total', { method: 'other', era: 'legacy' }), 1)
  t.notMatch(text, /made\/up/)

  t.equal(metricValue(text, 'http_requests_total', { method: 'POST', route: '/mcp', status_code: '200' }), 7)
  t.equal(metricValue(text, 'http_requests_total', { method: 'GET', route: 'unmatched', status_code: '404' }), 1)
  t.notMatch(text, /no-such-route/)
  t.ok((metricValue(text, 'http_request_duration_seconds_count', { route: '/mcp' }) ?? 0) >= 7)

  t.equal(metricValue(text, 'sql_query_duration_seconds_count', { backend: 'sqlite', outcome: 'success' }), 1)
  t.equal(metricValue(text, 'sql_query_duration_seconds_count', { backend: 'sqlite', outcome: 'refused' }), 1)
  t.equal(metricValue(text, 'sql_query_duration_seconds_count', { backend: 'sqlite', outcome: 'timeout' }), 1)
  t.equal(metricValue(text, 'sql_rows_returned_sum', { backend: 'sqlite' }), 25)
  t.equal(metricValue(text, 'sql_runner_restarts_total', { reason: 'timeout' }), 1)
  t.ok(metricValue(text, 'process_cpu_user_seconds_total', {}) !== undefined, 'process metrics are exported')
})

t.test('logs', async t => {
  const dir = t.testdir()
  const config = testConfig(dir, { MCP_LOG_LEVEL: 'info' })
  const { stream, lines } = captureLogs()
  const server = await startTestServer(t, { MCP_LOG_LEVEL: 'info' }, { logger: { ...loggerOptions(config), stream } })

  t.test('one audit line per tool call, with redacted arguments and the request id', async t => {
    const longSql = `SELECT '${'x'.repeat(900)}' AS long_text`
    const response = await post(server.url, toolCall('execute_sql', { database_id: 1, sql: longSql, password: 'hunter2' }), { 'x-request-id': 'req-123' })
    t.equal(response.headers.get('x-request-id'), 'req-123', 'a sane incoming request id is kept')
    const audit = lines.filter(line => line.audit === 'tool_call')
    t.equal(audit.length, 1)
    const [line] = audit
    t.match(line, { tool: 'execute_sql', user: 'admin', auth_method: 'dev', outcome: 'tool_error', error_type: 'invalid_arguments', request_id: 'req-123' })
    t.equal(typeof line?.duration_ms, 'number')
    t.match(line?.call_id, /^[0-9a-f]{16}$/)
    t.equal(line?.arguments.password, '[REDACTED]')
    t.ok(line?.arguments.sql.length < 600, 'long arguments are shortened')
    t.notMatch(JSON.stringify(lines), /hunter2/, 'the secret appears in no log line')
  })

  t.test('authorization headers never reach the logs', async t => {
    await post(server.url, toolCall('health_check', {}), { authorization: 'Bearer super-secret-token' })
    t.notMatch(JSON.stringify(lines), /super-secret-token/)
  })

  t.test('an invalid request id is replaced', async t => {
    const response = await post(server.url, toolCall('health_check', {}), { 'x-request-id': 'bad id with spaces and \u00e9' })
    t.match(response.headers.get('x-request-id'), /^[0-9a-f-]{36}$/)
  })

  t.test('an unexpected failure is logged in full but answered without internals', async t => {
    server.app.catalog.listCharts = () => {
      throw new Error('boom: cannot read /srv/secret/path.db')
    }
    const response = await post(server.url, toolCall('list_charts', {}))
    const result = response.json.result
    t.equal(result.isError, true)
    t.match(result.content[0].text, /^Internal error in list_charts\. It has been logged with call id [0-9a-f]{16}/)
    t.notMatch(response.text, /boom|\/srv\/secret|\.ts:\d+/)
    t.equal(result._meta.error_type, 'internal_error')
    const logged = lines.find(line => line.msg === 'tool call failed unexpectedly')
    t.match(logged?.err?.message, /boom/)
    t.match(logged?.err?.stack, /observability\.test\.ts/)
  })

  t.test('a failing request outside tools is a generic 500 with the details in the log', async t => {
    const before = lines.length
    server.app.catalog.findUserByUsername = () => {
      throw new Error('catalog exploded at /srv/catalog.db')
    }
    const response = await rawRequest(new URL('/mcp', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(toolCall('health_check', {})) })
    t.equal(response.status, 500)
    t.notMatch(response.text, /exploded|\/srv/)
    t.ok(lines.slice(before).some(line => line.level === 50 && /exploded/.test(line.err?.message ?? '')))
  })
})
