import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { chromium } from 'playwright-core'
import type { Browser } from 'playwright-core'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { resolveConfig } from '../src/config.ts'
import { allowedOrigin } from '../src/plugins/cors.ts'
import { transportSecurityPolicy } from '../src/plugins/security.ts'
import { build, startTestServer } from './helpers/app.ts'
import { jwtSettings, SECRET } from './helpers/auth.ts'
import { claimsFor, signWithSecret, testKey } from './helpers/keys.ts'
import { toolCall } from './helpers/rpc.ts'

// CORS for browser-based MCP clients: the Origin check decides, CORS headers tell the browser.
// A refused Origin gets 403 without CORS headers; an admitted one may read /mcp (its Origin
// echoed, never *) and the public metadata (*); preflights are answered before any auth.

const APP = 'https://app.example'
const EVIL = 'https://evil.example'
const EXPOSED = 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, X-Request-Id, Retry-After'
const ALLOWED_HEADERS = 'Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Mcp-Method, Mcp-Name, Last-Event-ID, X-Request-Id'
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }

const jwt = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_ALLOWED_ORIGINS: [APP], ...extra })
const bearer = (scope = 'mcp:read mcp:write mcp:sql'): string => `Bearer ${signWithSecret(SECRET, claimsFor('alice', { scope }))}`

function preflight (url: string, origin: string, method = 'POST', headers = 'authorization,content-type,mcp-protocol-version'): InjectOptions {
  return { method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } }
}

async function postMcp (app: FastifyInstance, headers: Record<string, string>, body: unknown = toolCall('health_check', {})): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  return await app.inject({ method: 'POST', url: '/mcp', headers: { ...MCP_HEADERS, ...headers }, payload: JSON.stringify(body) })
}

t.test('a preflight from an allowed origin is answered before auth, with what MCP needs', async t => {
  const app = await build(t, jwt())
  const response = await app.inject(preflight('/mcp', APP, 'POST', 'authorization,content-type,mcp-protocol-version,mcp-method,mcp-param-region'))
  t.equal(response.statusCode, 204, 'not 401: a preflight carries no credentials')
  t.equal(response.headers['access-control-allow-origin'], APP, 'the origin echoed')
  t.equal(response.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
  t.equal(response.headers['access-control-allow-methods'], 'POST, GET, DELETE', 'GET and DELETE too: their 405 is then readable')
  t.equal(response.headers['access-control-allow-headers'], `${ALLOWED_HEADERS}, mcp-param-region`, 'the MCP headers, and the SEP-2243 parameter headers asked for')
  t.equal(response.headers['access-control-max-age'], '7200')
  t.equal(response.headers['access-control-allow-credentials'], undefined, 'no cookies: a page sends its token itself')
  t.equal(response.body, '')

  const other = await app.inject(preflight('/mcp', APP, 'POST', 'x-custom,mcp-param-bad name'))
  t.equal(other.headers['access-control-allow-headers'], ALLOWED_HEADERS, 'other headers are not granted')
  const unrouted = await app.inject(preflight('/mcp', APP, 'PUT'))
  t.equal(unrouted.statusCode, 204)
  t.equal(unrouted.headers['access-control-allow-origin'], undefined, 'a method /mcp does not route is not granted')
  const plain = await app.inject({ method: 'OPTIONS', url: '/mcp' })
  t.equal(plain.statusCode, 204, 'an OPTIONS that is no preflight')
  t.equal(plain.headers['access-control-allow-origin'], undefined)
})

t.test('a preflight from a refused origin is 403 without CORS headers', async t => {
  const app = await build(t, jwt())
  for (const origin of [EVIL, 'null']) {
    const response = await app.inject(preflight('/mcp', origin))
    t.equal(response.statusCode, 403, origin)
    t.equal(response.json().error, 'MCP_ERR_ORIGIN_NOT_ALLOWED')
    t.equal(response.headers['access-control-allow-origin'], undefined)
    t.equal(response.headers['access-control-allow-methods'], undefined)
  }
  const foreignHost = await app.inject({ ...preflight('/mcp', APP), headers: { ...preflight('/mcp', APP).headers, host: 'evil.example' } })
  t.equal(foreignHost.statusCode, 403, 'the Host check applies to preflights too')
})

t.test('answers from /mcp are readable by an allowed origin, errors included', async t => {
  const app = await build(t, jwt({ MCP_RATE_LIMIT_CONFIG: { enabled: true, requests_per_minute: 1, burst: 1, tool_limits: {} } }))
  const readable = (response: Awaited<ReturnType<FastifyInstance['inject']>>, name: string): void => {
    t.equal(response.headers['access-control-allow-origin'], APP, `${name}: the origin echoed`)
    t.equal(response.headers.vary, 'Origin', name)
    t.equal(response.headers['access-control-expose-headers'], EXPOSED, name)
  }

  const missing = await postMcp(app, { origin: APP })
  t.equal(missing.statusCode, 401)
  t.match(missing.headers['www-authenticate'], /^Bearer realm="analytics-mcp", resource_metadata=/)
  readable(missing, '401 without a token')
  const invalid = await postMcp(app, { origin: APP, authorization: 'Bearer not-a-token' })
  t.equal(invalid.statusCode, 401)
  t.match(invalid.headers['www-authenticate'], /error="invalid_token"/)
  readable(invalid, '401 with a bad token')

  const narrow = await postMcp(app, { origin: APP, authorization: bearer('mcp:read') }, toolCall('execute_sql', { database_id: 1, sql: 'SELECT 1' }))
  t.equal(narrow.statusCode, 403)
  t.match(narrow.headers['www-authenticate'], /error="insufficient_scope"/)
  readable(narrow, '403 insufficient_scope')

  const ok = await postMcp(app, { origin: APP, authorization: bearer() })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().result.isError, undefined)
  readable(ok, '200')
  const bad = await postMcp(app, { origin: APP, authorization: bearer() }, { id: 7, method: 'tools/list' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().id, 7)
  readable(bad, 'a JSON-RPC error')
  const limited = await postMcp(app, { origin: APP, authorization: bearer() })
  t.equal(limited.statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) >= 1)
  readable(limited, '429')

  const get = await app.inject({ method: 'GET', url: '/mcp', headers: { origin: APP, authorization: bearer() } })
  t.equal(get.statusCode, 405)
  readable(get, '405 on GET')
})

t.test('a refused origin gets 403 from /mcp, and nothing to read it with', async t => {
  const app = await build(t, jwt())
  const response = await postMcp(app, { origin: EVIL, authorization: bearer() })
  t.equal(response.statusCode, 403)
  t.equal(response.headers['access-control-allow-origin'], undefined)
  t.equal(response.headers['access-control-expose-headers'], undefined)
  t.equal(response.headers.vary, 'Origin')
  const noOrigin = await postMcp(app, { authorization: bearer() })
  t.equal(noOrigin.statusCode, 200, 'non-browser clients send no Origin')
  t.equal(noOrigin.headers['access-control-allow-origin'], undefined)
  t.equal(noOrigin.headers.vary, 'Origin')
})

t.test('the public metadata follows the same Origin rule', async t => {
  const app = await build(t, jwt())
  for (const url of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
    const allowed = await app.inject({ url, headers: { origin: APP } })
    t.equal(allowed.statusCode, 200, url)
    t.equal(allowed.headers['access-control-allow-origin'], '*', 'the same answer for everyone: *')
    t.equal(allowed.headers.vary, 'Origin')
    t.equal(allowed.json().resource, 'https://analytics.test/mcp')
    const anonymous = await app.inject({ url })
    t.equal(anonymous.headers['access-control-allow-origin'], '*', 'without an Origin too')

    const refused = await app.inject({ url, headers: { origin: EVIL } })
    t.equal(refused.statusCode, 403, 'a refused origin is refused here as on /mcp')
    t.equal(refused.headers['access-control-allow-origin'], undefined)

    // The SDK client sends MCP-Protocol-Version with its metadata request: a preflight.
    const asked = await app.inject(preflight(url, APP, 'GET', 'mcp-protocol-version'))
    t.equal(asked.statusCode, 204)
    t.equal(asked.headers['access-control-allow-origin'], '*')
    t.equal(asked.headers['access-control-allow-methods'], 'GET')
    t.equal((await app.inject(preflight(url, EVIL, 'GET'))).statusCode, 403)
  }
})

t.test('JWKS and token exchange', async t => {
  const app = await build(t, { MCP_API_KEY_ENABLED: true, MCP_TOKEN_EXCHANGE_ENABLED: true, MCP_TOKEN_SIGNING_KEY: testKey('cors-signing').privatePem, MCP_SERVICE_URL: 'https://analytics.test', MCP_ALLOWED_ORIGINS: [APP] })
  const jwks = await app.inject({ url: '/.well-known/jwks.json', headers: { origin: APP } })
  t.equal(jwks.statusCode, 200)
  t.equal(jwks.headers['access-control-allow-origin'], '*', 'public keys are public')
  t.equal((await app.inject({ url: '/.well-known/jwks.json', headers: { origin: EVIL } })).statusCode, 403)

  const exchange = await app.inject({ method: 'POST', url: '/v1/auth/', headers: { origin: APP, 'content-type': 'application/json' }, payload: { name: 'nobody', secret: 'x' } })
  t.equal(exchange.statusCode, 401)
  t.equal(exchange.headers['access-control-allow-origin'], APP, 'the exchange takes a secret: the origin echoed, never *')
  t.equal((await app.inject(preflight('/v1/auth/', APP, 'POST', 'content-type'))).headers['access-control-allow-methods'], 'POST')
})

t.test('probes, metrics and unknown paths send no CORS headers', async t => {
  const app = await build(t, jwt())
  for (const url of ['/healthz', '/readyz', '/metrics', '/nowhere']) {
    const response = await app.inject({ url, headers: { origin: APP } })
    t.equal(response.headers['access-control-allow-origin'], undefined, url)
    t.equal(response.headers.vary, undefined, url)
    t.equal((await app.inject(preflight(url, APP, 'GET'))).statusCode, 404, `${url} has no preflight`)
  }
})

t.test('which origins are granted, by policy', async t => {
  const policyFor = (values: Record<string, unknown>) => transportSecurityPolicy(resolveConfig([{ source: 'overrides', values: { MCP_ALLOW_UNAUTHENTICATED_REMOTE: true, ...values } }]))
  const loopback = policyFor({})
  t.equal(allowedOrigin(loopback, 'credentials', 'http://localhost:6274'), 'http://localhost:6274', 'a page on a localhost port (the MCP Inspector)')
  t.equal(allowedOrigin(loopback, 'credentials', EVIL), undefined)
  t.equal(allowedOrigin(loopback, 'public', EVIL), undefined)
  t.equal(allowedOrigin(loopback, 'credentials', undefined), undefined)
  t.equal(allowedOrigin(loopback, 'public', undefined), '*')

  const unchecked = policyFor({ MCP_SERVICE_HOST: '0.0.0.0' })
  t.equal(allowedOrigin(unchecked, 'credentials', EVIL), undefined, 'an Origin left unchecked is admitted but granted nothing')
  t.equal(allowedOrigin(unchecked, 'public', EVIL), '*')

  const any = policyFor({ MCP_SERVICE_HOST: '0.0.0.0', MCP_ALLOWED_ORIGINS: ['*'] })
  t.ok(any.anyOrigin)
  t.equal(allowedOrigin(any, 'credentials', EVIL), EVIL, 'MCP_ALLOWED_ORIGINS=* grants every origin')
  t.equal(allowedOrigin(any, 'credentials', 'null'), undefined, 'but never the opaque origin')
})

t.test('over HTTP: an unchecked Origin reaches /mcp but cannot read it', async t => {
  const server = await startTestServer(t, { MCP_SERVICE_HOST: '0.0.0.0', MCP_ALLOW_UNAUTHENTICATED_REMOTE: true })
  const response = await fetch(server.url, { method: 'POST', headers: { ...MCP_HEADERS, origin: EVIL }, body: JSON.stringify(toolCall('health_check', {})) })
  t.equal(response.status, 200)
  t.equal(response.headers.get('access-control-allow-origin'), null)
  await response.body?.cancel()
})

// A real browser: Debian's Chromium through playwright-core, as in browser.test.ts. Two page
// origins, mapped to loopback by Chromium's resolver: one in MCP_ALLOWED_ORIGINS, one not.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** What the page's fetch() could see: the status and headers, or the error CORS gave it. */
interface PageFetch {
  status?: number
  wwwAuthenticate?: string | null
  body?: unknown
  error?: string
}

/** A second HTTP server: the tiny page browser clients are served from, on any host name. */
async function startPageServer (t: Test): Promise<number> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>browser MCP client</title><p>client</p>')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  return (server.address() as AddressInfo).port
}

async function fetchFromPage (t: Test, browser: Browser, pageUrl: string, mcpUrl: string, authorization: string): Promise<PageFetch> {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  t.equal((await page.goto(pageUrl))?.status(), 200, `the page at ${pageUrl} loads`)
  return await page.evaluate(async ({ mcpUrl, authorization, body }) => {
    try {
      const response = await fetch(mcpUrl, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
        body
      })
      return { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), body: await response.json() as unknown }
    } catch (err) {
      return { error: String(err) }
    }
  }, { mcpUrl, authorization, body: JSON.stringify(toolCall('health_check', {})) })
}

if (!existsSync(CHROMIUM)) {
  const install = 'install Debian\'s chromium (sudo apt-get install chromium, or `make test-services` as root) or set CHROMIUM_PATH'
  if (process.env.CI !== undefined && process.env.CI !== '') {
    t.fail(`browser tests need Chromium at ${CHROMIUM}: ${install}`)
  } else {
    t.test('a browser client on another origin', { skip: `no Chromium at ${CHROMIUM}; ${install}` }, async () => {})
  }
} else {
  t.test('a browser client on another origin', async t => {
    const pagePort = await startPageServer(t)
    const allowedPage = `http://app.test:${pagePort}`
    const server = await startTestServer(t, jwt({ MCP_ALLOWED_ORIGINS: [allowedPage] }))
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--host-resolver-rules=MAP app.test 127.0.0.1, MAP evil.test 127.0.0.1']
    })
    t.teardown(() => browser.close())
    const mcpUrl = server.url.href

    await t.test('an allowed origin reads the JSON-RPC result', async t => {
      const seen = await fetchFromPage(t, browser, `${allowedPage}/`, mcpUrl, bearer())
      t.equal(seen.error, undefined, 'the preflight passed')
      t.equal(seen.status, 200)
      t.match(seen.body, { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text' }] } })
    })

    await t.test('with a bad token it reads the 401 challenge, to start OAuth', async t => {
      const seen = await fetchFromPage(t, browser, `${allowedPage}/`, mcpUrl, 'Bearer not-a-token')
      t.equal(seen.status, 401)
      t.match(seen.wwwAuthenticate, /^Bearer realm="analytics-mcp", error="invalid_token", .*resource_metadata="https:\/\/analytics\.test\/\.well-known\/oauth-protected-resource\/mcp"/)
      t.match(seen.body, { error: 'invalid_token' })
    })

    await t.test('a page on an origin not allowed cannot read anything', async t => {
      const seen = await fetchFromPage(t, browser, `http://evil.test:${pagePort}/`, mcpUrl, bearer())
      t.equal(seen.status, undefined)
      t.match(seen.error, /TypeError: Failed to fetch/)
    })
  })
}
