import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { metricValue } from './helpers/metric-names.ts'
import { post, toolCall } from './helpers/rpc.ts'

// GET /metrics: what Prometheus scrapes, with bounded label values.

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
