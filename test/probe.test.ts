import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { McpServer, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server'
import { SERVICE_VERSION } from '../src/version.ts'
import { startTestServer } from './helpers/app.ts'
import { jwtSettings, SECRET } from './helpers/auth.ts'
import { cli } from './helpers/cli.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { freePort } from './helpers/ports.ts'
import { post } from './helpers/rpc.ts'

const hmac = jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET })

/** The environment of a shell with no probe token in it. */
function env (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { MCP_PROBE_TOKEN: _ignored, ...rest } = process.env
  return { ...rest, ...extra }
}

async function toolCount (url: URL, authorization?: string): Promise<number> {
  const response = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, authorization === undefined ? {} : { authorization })
  return (response.json.result.tools as unknown[]).length
}

/** A plain HTTP server on a free loopback port, closed when the test ends. */
async function httpServer (t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<URL> {
  const server: Server = createServer((req, res) => { void handler(req, res) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`)
}

async function body (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

t.test('a dev-mode server: exit 0, one line naming the server, the protocol and every tool', async t => {
  const server = await startTestServer(t)
  const result = await cli(['probe', server.url.href], env())
  t.equal(result.code, 0, result.err)
  t.equal(result.err, '')
  const tools = await toolCount(server.url)
  t.ok(tools > 0)
  t.equal(result.out, `ok: analytics-mcp ${SERVICE_VERSION} at ${server.url.href}, protocol 2025-11-25, ${tools} tools`)
})

t.test('a secured server', async t => {
  const server = await startTestServer(t, hmac)
  const token = signWithSecret(SECRET, claimsFor('admin'))

  t.test('without a token: non-zero, and the reason names the 401 and invalid_token', async t => {
    const result = await cli(['probe', server.url.href], env())
    t.equal(result.code, 1)
    t.equal(result.out, '')
    t.equal(result.err.split('\n').length, 1, 'one line')
    t.equal(result.err, 'probe failed: initialize: HTTP 401 Unauthorized (the server asks for Bearer credentials) (no token given: pass --token or set MCP_PROBE_TOKEN)')
  })

  t.test('with --token: exit 0, and the token is not printed', async t => {
    const result = await cli(['probe', server.url.href, '--token', token], env())
    t.equal(result.code, 0, result.err)
    t.equal(result.out, `ok: analytics-mcp ${SERVICE_VERSION} at ${server.url.href}, protocol 2025-11-25, ${await toolCount(server.url, `Bearer ${token}`)} tools`)
    t.notMatch(result.out + result.err, token)
  })

  t.test('with MCP_PROBE_TOKEN: exit 0', async t => {
    const result = await cli(['probe', server.url.href], env({ MCP_PROBE_TOKEN: token }))
    t.equal(result.code, 0, result.err)
    t.match(result.out, /^ok: analytics-mcp /)
    t.notMatch(result.out + result.err, token)
  })

  t.test('a token the server refuses: the 401 and invalid_token are named, the token is not', async t => {
    const forged = signWithSecret('another-secret-of-at-least-32-characters!!', claimsFor('admin'))
    const result = await cli(['probe', server.url.href, '--token', forged], env())
    t.equal(result.code, 1)
    t.equal(result.err, 'probe failed: initialize: HTTP 401 Unauthorized (invalid_token: The access token is invalid)')
    t.notMatch(result.err, /no token given/)
    t.notMatch(result.out + result.err, forged)
  })

  t.test('a token a header cannot carry is a usage error that does not quote it', async t => {
    const result = await cli(['probe', server.url.href, '--token', 'secret value\nwith a break'], env())
    t.equal(result.code, 2)
    t.notMatch(result.err, 'secret value')
  })
})

t.test('a closed port: connection refused', async t => {
  const port = await freePort()
  const result = await cli(['probe', `http://127.0.0.1:${port}/mcp`], env())
  t.equal(result.code, 1)
  t.equal(result.err, 'probe failed: connection refused (ECONNREFUSED)')
})

t.test('a URL that is not an MCP endpoint', async t => {
  const server = await startTestServer(t)

  t.test('the server\'s /healthz: the HTTP status and the server\'s reason', async t => {
    const result = await cli(['probe', `${server.origin}/healthz`], env())
    t.equal(result.code, 1)
    t.match(result.err, /^probe failed: initialize: HTTP 404 Not Found \(.+\)$/)
  })

  t.test('a web page answered with 200: not JSON', async t => {
    const url = await httpServer(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Welcome</title>')
    })
    const result = await cli(['probe', url.href], env())
    t.equal(result.code, 1)
    t.equal(result.err, 'probe failed: initialize: the response is not JSON (content-type text/html): not an MCP endpoint')
  })

  t.test('a proxy without a backend: HTTP 503', async t => {
    const url = await httpServer(t, (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream')
    })
    const result = await cli(['probe', url.href], env())
    t.equal(result.code, 1)
    t.equal(result.err, 'probe failed: initialize: HTTP 503 Service Unavailable')
  })
})

t.test('a Host name the server does not accept: the HTTP status and the server\'s message', async t => {
  const server = await startTestServer(t, { MCP_ALLOWED_HOSTS: ['mcp.example.com'] })
  // A loopback address is always an accepted Host (in-pod probes); a name is checked.
  const loopback = await cli(['probe', server.url.href], env())
  t.equal(loopback.code, 0, 'the image\'s HEALTHCHECK (127.0.0.1) passes whatever MCP_ALLOWED_HOSTS says')
  const result = await cli(['probe', server.url.href.replace('127.0.0.1', 'localhost')], env())
  t.equal(result.code, 1)
  t.match(result.err, /^probe failed: initialize: HTTP 403 Forbidden \(.*[Hh]ost.*\)$/)
})

t.test('a server that never answers: timeout', async t => {
  const url = await httpServer(t, () => {})
  const result = await cli(['probe', url.href, '--timeout', '0.3'], env())
  t.equal(result.code, 1)
  t.equal(result.err, 'probe failed: no answer within 0.3 s (timeout)')
})

t.test('an MCP server that answers in event streams, with sessions', async t => {
  let tools: 'some' | 'none' | 'all disabled' = 'some'
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>()
  const url = await httpServer(t, async (req, res) => {
    const payload = await body(req)
    const sessionId = req.headers['mcp-session-id']
    let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined
    if (transport === undefined) {
      const server = new McpServer({ name: 'event-stream-server', version: '9.9.9' })
      if (tools !== 'none') {
        for (const name of ['first', 'second', 'third']) {
          const tool = server.registerTool(name, { description: `the ${name} tool` }, () => ({ content: [] }))
          if (tools === 'all disabled') tool.disable()
        }
      }
      const created: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, enableJsonResponse: false, onsessioninitialized: id => { sessions.set(id, created) } })
      transport = created
      await server.connect(transport)
    }
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value)
    const response = await transport.handleRequest(new Request(`http://127.0.0.1${req.url ?? '/'}`, { method: req.method ?? 'POST', headers, body: payload.length > 0 ? payload : null }))
    res.writeHead(response.status, Object.fromEntries(response.headers))
    if (response.body !== null) for await (const chunk of response.body) res.write(chunk)
    res.end()
  })
  t.teardown(async () => { for (const transport of sessions.values()) await transport.close() })

  const found = await cli(['probe', url.href], env())
  t.equal(found.code, 0, found.err)
  t.match(found.out, new RegExp(`^ok: event-stream-server 9\\.9\\.9 at ${url.href}, protocol \\S+, 3 tools$`))

  tools = 'none'
  const none = await cli(['probe', url.href], env())
  t.equal(none.code, 1)
  t.equal(none.err, 'probe failed: the server offers no tools (no tools capability)')

  tools = 'all disabled'
  const disabled = await cli(['probe', url.href], env())
  t.equal(disabled.code, 1)
  t.equal(disabled.err, 'probe failed: the server lists no tools')
})

t.test('command-line mistakes are usage errors', async t => {
  for (const argv of [['probe'], ['probe', 'not a url'], ['probe', 'ftp://example.com/mcp'], ['probe', 'http://127.0.0.1:1/mcp', '--timeout', '0'], ['probe', 'http://user:secret@127.0.0.1:1/mcp']]) {
    const result = await cli(argv, env())
    t.equal(result.code, 2, argv.join(' '))
  }
})
