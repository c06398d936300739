import { Writable } from 'node:stream'
import t from 'tap'
import { loggerOptions } from '../src/logger.ts'
import { startTestServer } from './helpers/app.ts'
import { testConfig } from './helpers/config.ts'
import { post, rawRequest, toolCall } from './helpers/rpc.ts'

// JSON logs: request ids, one audit line per tool call, redaction, and errors that are
// logged in full but answered without internals.

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
    server.app.catalog.listCharts = async () => {
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
    t.match(logged?.err?.stack, /logging\.test\.ts/)
  })

  t.test('a failing request outside tools is a generic 500 with the details in the log', async t => {
    const before = lines.length
    server.app.catalog.findUserByUsername = async () => {
      throw new Error('catalog exploded at /srv/catalog.db')
    }
    const response = await rawRequest(new URL('/mcp', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(toolCall('health_check', {})) })
    t.equal(response.status, 500)
    t.notMatch(response.text, /exploded|\/srv/)
    t.ok(lines.slice(before).some(line => line.level === 50 && /exploded/.test(line.err?.message ?? '')))
  })
})
