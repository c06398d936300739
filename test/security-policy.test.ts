import t from 'tap'
import { isLoopbackHost, resolveConfig } from '../src/config.ts'
import { hostAllowed, originAllowed, transportSecurityPolicy } from '../src/plugins/security.ts'

const policyFor = (values: Record<string, unknown>) => transportSecurityPolicy(resolveConfig([{ source: 'overrides', values }]))

t.test('loopback binds accept localhost names and origins only', async t => {
  const policy = policyFor({})
  for (const host of ['localhost', 'localhost:5008', '127.0.0.1:5008', '[::1]:5008']) t.ok(hostAllowed(policy, host), host)
  for (const host of ['evil.example.com', '10.0.0.5:5008', undefined, '']) t.notOk(hostAllowed(policy, host), String(host))
  t.ok(originAllowed(policy, undefined), 'non-browser clients send no Origin')
  t.ok(originAllowed(policy, 'http://localhost:6274'))
  t.ok(originAllowed(policy, 'https://127.0.0.1'))
  t.notOk(originAllowed(policy, 'https://evil.example.com'))
  t.notOk(originAllowed(policy, 'null'))
  t.notOk(originAllowed(policy, 'file://localhost/x'), 'only http(s) localhost origins')
})

t.test('a public bind behind an ingress follows MCP_SERVICE_URL', async t => {
  const policy = policyFor({ MCP_SERVICE_HOST: '0.0.0.0', MCP_SERVICE_URL: 'https://mcp.example.com' })
  t.ok(hostAllowed(policy, 'mcp.example.com'))
  t.ok(hostAllowed(policy, 'mcp.example.com:443'))
  t.notOk(hostAllowed(policy, 'localhost:5008'))
  t.ok(originAllowed(policy, 'https://mcp.example.com'))
  t.ok(originAllowed(policy, 'http://mcp.example.com'), 'origins on an accepted host pass whatever the scheme (as in the SDK)')
  t.notOk(originAllowed(policy, 'https://mcp.example.com.evil.test'))
  t.notOk(originAllowed(policy, 'http://localhost:6274'))
})

t.test('with only MCP_ALLOWED_HOSTS, origins must be on those hosts', async t => {
  const policy = policyFor({ MCP_SERVICE_HOST: '0.0.0.0', MCP_ALLOWED_HOSTS: ['mcp.internal.example'] })
  t.ok(originAllowed(policy, 'https://mcp.internal.example'))
  t.ok(originAllowed(policy, 'http://mcp.internal.example:8080'))
  t.notOk(originAllowed(policy, 'https://evil.example'))
  t.notOk(originAllowed(policy, 'ftp://mcp.internal.example'))
})

t.test('explicit allow-lists, and "*" to switch a check off', async t => {
  const listed = policyFor({ MCP_SERVICE_HOST: '0.0.0.0', MCP_ALLOWED_HOSTS: ['a.example.com'], MCP_ALLOWED_ORIGINS: ['https://claude.ai'] })
  t.ok(hostAllowed(listed, 'a.example.com:8080'))
  t.notOk(hostAllowed(listed, 'b.example.com'))
  t.ok(originAllowed(listed, 'https://claude.ai'))
  t.notOk(originAllowed(listed, 'https://chatgpt.com'))

  const open = policyFor({ MCP_ALLOWED_HOSTS: ['*'], MCP_ALLOWED_ORIGINS: ['*'] })
  t.equal(open.allowedHostnames, undefined)
  t.ok(hostAllowed(open, 'anything.example'))
  t.ok(originAllowed(open, 'https://anything.example'))
})

t.test('a public bind with nothing configured checks nothing (and the server warns)', async t => {
  const policy = policyFor({ MCP_SERVICE_HOST: '0.0.0.0' })
  t.equal(policy.allowedHostnames, undefined)
  t.equal(policy.allowedOrigins, undefined)
  t.ok(hostAllowed(policy, 'whatever:1'))
})

t.test('loopback detection', async t => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) t.ok(isLoopbackHost(host), host)
  for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com']) t.notOk(isLoopbackHost(host), host)
})
