import t from 'tap'
import { MemoryTokenBuckets } from '../src/store/token-buckets.ts'
import { startTestServer } from './helpers/app.ts'
import { callWith, jwtSettings, SECRET } from './helpers/auth.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { post } from './helpers/rpc.ts'

// Rate limits (MCP_RATE_LIMIT_CONFIG) with in-process buckets. Shared buckets across two
// replicas through Redis are in redis.test.ts.

const bearer = (username: string): string => `Bearer ${signWithSecret(SECRET, claimsFor(username))}`
const jwt = jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] })

t.test('off by default', async t => {
  const server = await startTestServer(t)
  const statuses = await Promise.all(Array.from({ length: 80 }, async () => (await callWith(server, undefined)).status))
  t.ok(statuses.every(status => status === 200), '80 requests at once all pass (the default burst, were it on, is 60)')
})

t.test('per principal: 429 with Retry-After once the burst is spent', async t => {
  const server = await startTestServer(t, { ...jwt, MCP_RATE_LIMIT_CONFIG: { enabled: true, requests_per_minute: 1, burst: 3, tool_limits: {} } })
  for (let i = 1; i <= 3; i++) t.equal((await callWith(server, bearer('alice'))).status, 200, `request ${i} of the burst passes`)
  const refused = await post(server.url, { jsonrpc: '2.0', id: 'r-4', method: 'tools/list' }, { authorization: bearer('alice') })
  t.equal(refused.status, 429)
  const retryAfter = Number(refused.headers.get('retry-after'))
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After is a number of seconds (${retryAfter})`)
  t.equal(refused.json.id, 'r-4', 'the JSON-RPC error answers the request id')
  t.equal(refused.json.error.code, -32000)
  t.match(refused.json.error.message, /^Rate limit exceeded: 1 requests per minute \(3 at once\)\. Retry in \d+ s\.$/)
  t.equal(refused.json.error.data.retry_after_seconds, retryAfter)
  t.equal((await callWith(server, bearer('bob'))).status, 200, 'another principal has its own bucket')
  const metrics = await (await fetch(new URL('/metrics', server.origin))).text()
  t.match(metrics, /mcp_rate_limited_total\{scope="principal",tool=""\} 1/)
})

t.test('per tool: a tool error with the retry time, other tools unaffected', async t => {
  const server = await startTestServer(t, { ...jwt, MCP_RATE_LIMIT_CONFIG: { enabled: true, requests_per_minute: 10_000, burst: 1000, tool_limits: { list_charts: { per_minute: 2 } } } })
  const call = async (tool: string): Promise<Record<string, any>> => (await callWith(server, bearer('alice'), tool, {})).json.result
  t.notOk((await call('list_charts')).isError, 'burst defaults to per_minute / 6, at least 1: the first call passes')
  const limited = await call('list_charts')
  t.equal(limited.isError, true, 'the second is refused')
  t.equal(limited._meta.error_type, 'rate_limited')
  t.ok(limited._meta.retry_after_seconds >= 1)
  t.notOk('structuredContent' in limited, 'an error result carries no structured content (it would not match the output schema)')
  t.match(limited.content[0].text, /Rate limit reached for list_charts: 2 calls per minute \(1 at once\)\. Retry in \d+ s\./)
  t.notOk((await call('list_dashboards')).isError, 'other tools are not limited')
  t.notOk((await callWith(server, bearer('bob'), 'list_charts', {})).json.result.isError, 'other principals are not limited')
  const metrics = await (await fetch(new URL('/metrics', server.origin))).text()
  t.match(metrics, /mcp_rate_limited_total\{scope="tool",tool="list_charts"\} 1/)
  t.match(metrics, /mcp_tool_calls_total\{tool="list_charts",outcome="tool_error"\} 1/)
})

t.test('buckets refill at the configured rate', async t => {
  let now = 1_000_000
  const buckets = new MemoryTokenBuckets(() => now)
  const limit = { capacity: 2, perMinute: 6 }
  t.same(await buckets.take('k', limit), { allowed: true })
  t.same(await buckets.take('k', limit), { allowed: true })
  t.same(await buckets.take('k', limit), { allowed: false, retryAfterMs: 10_000 }, '6 per minute: one token every 10 s')
  now += 5_000
  t.same(await buckets.take('k', limit), { allowed: false, retryAfterMs: 5_000 }, 'half a token after 5 s')
  now += 5_000
  t.same(await buckets.take('k', limit), { allowed: true }, 'a whole token after 10 s')
  now += 3_600_000
  t.same(await buckets.take('k', limit), { allowed: true })
  t.same(await buckets.take('k', limit), { allowed: true })
  t.same(await buckets.take('k', limit), { allowed: false, retryAfterMs: 10_000 }, 'an idle hour refills to the burst, not beyond')
  t.same(await buckets.take('other', limit), { allowed: true }, 'keys are independent')
})

t.test('a bucket is never dropped early because of another bucket\'s limit', async t => {
  let now = 0
  const buckets = new MemoryTokenBuckets(() => now)
  const slow = { capacity: 5, perMinute: 1 }
  const fast = { capacity: 10, perMinute: 6000 }
  for (let i = 0; i < 5; i++) t.same(await buckets.take('tool:execute_sql', slow), { allowed: true })
  now += 61_000
  // The per-request bucket is checked first on every call: its sweep must not refill the tool bucket.
  t.same(await buckets.take('principal', fast), { allowed: true })
  t.same(await buckets.take('tool:execute_sql', slow), { allowed: true }, 'one token came back in 61 s')
  t.same(await buckets.take('tool:execute_sql', slow), { allowed: false, retryAfterMs: 59_000 }, 'and only one')
})

t.test('a misspelt tool in tool_limits stops start-up', async t => {
  const { build } = await import('./helpers/app.ts')
  await t.rejects(build(t, { MCP_RATE_LIMIT_CONFIG: { enabled: true, tool_limits: { 'execute-sql': { per_minute: 1 } } } }), {
    name: 'ConfigError',
    message: /MCP_RATE_LIMIT_CONFIG\.tool_limits: no tool named execute-sql \(tools: health_check, /
  }, 'a typo would otherwise lift the limit without a word')
})
