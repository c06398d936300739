import t from 'tap'
import { resolveConfig } from '../src/config.ts'
import { isLoopbackHost } from '../src/hosts.ts'
import { helmetHeaders, hostAllowed, originAllowed, transportSecurityPolicy } from '../src/plugins/security.ts'
import { startTestServer } from './helpers/app.ts'
import { post, postRaw, rawRequest } from './helpers/rpc.ts'

// The security plugin: helmet headers and the Host/Origin allow-lists (DNS-rebinding protection).

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } }
}

// Non-loopback binds need authentication or this explicit opt-in; the policy does not depend on it.
const policyFor = (values: Record<string, unknown>) => transportSecurityPolicy(resolveConfig([{ source: 'overrides', values: { MCP_ALLOW_UNAUTHENTICATED_REMOTE: true, ...values } }]))

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

t.test('DNS-rebinding protection over HTTP', async t => {
  const server = await startTestServer(t, { MCP_ALLOWED_ORIGINS: ['https://claude.ai'] })

  t.test('a foreign Host is refused with 403', async t => {
    const response = await postRaw(server.url, INITIALIZE, { host: 'evil.example.com' })
    t.equal(response.status, 403)
    t.match(response.json.error.message, /Host header/)
    const withPort = await postRaw(server.url, INITIALIZE, { host: 'attacker.test:5008' })
    t.equal(withPort.status, 403)
  })

  t.test('localhost names are accepted on a loopback bind', async t => {
    for (const host of ['localhost', '127.0.0.1:5008', '[::1]:5008']) {
      const response = await postRaw(server.url, INITIALIZE, { host })
      t.equal(response.status, 200, host)
    }
  })

  t.test('a foreign Origin is refused with 403', async t => {
    const response = await post(server.url, INITIALIZE, { origin: 'https://evil.example.com' })
    t.equal(response.status, 403)
    t.match(response.json.error.message, /Origin header/)
    const nullOrigin = await post(server.url, INITIALIZE, { origin: 'null' })
    t.equal(nullOrigin.status, 403, 'the opaque "null" origin is refused')
  })

  t.test('allowed and localhost origins pass', async t => {
    for (const origin of ['https://claude.ai', 'http://localhost:6274', 'http://127.0.0.1:3000']) {
      const response = await post(server.url, INITIALIZE, { origin })
      t.equal(response.status, 200, origin)
    }
  })

  t.test('probes and metrics are exempt from the Host check', async t => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const response = await rawRequest(new URL(path, server.url), { headers: { host: '10.1.2.3:5008' } })
      t.equal(response.status, 200, path)
    }
    const mcp = await postRaw(server.url, INITIALIZE, { host: '10.1.2.3:5008' })
    t.equal(mcp.status, 403, 'while /mcp is not')
  })
})

t.test('helmet sets protective headers on every response, errors included', async t => {
  const server = await startTestServer(t)
  const expected = {
    'content-security-policy': "default-src 'none';frame-ancestors 'none'",
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'origin-agent-cluster': '?1',
    'referrer-policy': 'no-referrer',
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'x-content-type-options': 'nosniff',
    'x-dns-prefetch-control': 'off',
    'x-download-options': 'noopen',
    'x-frame-options': 'SAMEORIGIN',
    'x-permitted-cross-domain-policies': 'none',
    'x-xss-protection': '0'
  }
  for (const [path, body] of [['/healthz', INITIALIZE], ['/mcp', INITIALIZE], ['/mcp', { jsonrpc: '2.0', id: 1, method: 'tools/list' }], ['/no-such-path', {}]] as const) {
    const response = await post(new URL(path, server.url), body)
    const seen = Object.fromEntries(Object.keys(expected).map(name => [name, response.headers.get(name)]))
    t.same(seen, expected, `${path} (${response.status}): every helmet header`)
  }
  t.same(helmetHeaders(), expected, 'and exactly the headers helmet computes')
})

t.test('a loopback address is always an accepted Host, a loopback name only on a loopback bind', async t => {
  const policy = { allowedHostnames: ['mcp.example.com'] } as unknown as Parameters<typeof hostAllowed>[0]
  for (const host of ['127.0.0.1', '127.0.0.1:5008', '[::1]:5008']) t.ok(hostAllowed(policy, host), `${host} (an in-pod probe)`)
  for (const host of ['localhost:5008', 'evil.example.com', '127.0.0.1.evil.example.com', '127.0.0.2:5008']) t.notOk(hostAllowed(policy, host), `${host} is checked against MCP_ALLOWED_HOSTS`)
})
