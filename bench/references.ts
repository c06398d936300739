/**
 * What a user would run instead, in one process for bench/compare.ts (pinned like the service):
 *
 * - ceilings: a bare Fastify route answering canned JSON, one route per case, each the same
 *   bytes as the service's own answer (POST /setup registers them);
 * - the SDK v2 reference: `createMcpHandler` with one trivial tool, a new McpServer per
 *   request, mounted in a plain Fastify handler through the web-standard `fetch` (the SDK
 *   docs' mount, and the faster of the two);
 * - the SDK v1 reference: McpServer + StreamableHTTPServerTransport, stateless (a new server
 *   and transport per request, `sessionIdGenerator: undefined`, JSON responses), on node:http
 *   as its README shows.
 *
 * Prints {"ports": {...}} once listening.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server'
import Fastify from 'fastify'

const canned = new Map<string, string>()
const ceiling = Fastify({ logger: false })
ceiling.post('/setup', async request => {
  for (const [name, body] of Object.entries(request.body as Record<string, string>)) canned.set(name, body)
  return { ok: true }
})
ceiling.post('/ceiling/:name', async (request, reply) => reply.type('application/json').send(canned.get((request.params as { name: string }).name) ?? '{}'))
await ceiling.listen({ host: '127.0.0.1', port: 0 })

// SDK v2, as its docs show: a factory per request, one trivial tool.
const v2 = createMcpHandler(() => {
  const server = new McpServer({ name: 'reference', version: '1.0.0' })
  server.registerTool('health_check', { description: 'Reports that the server is up' }, async () => ({ content: [{ type: 'text', text: 'ok' }] }))
  return server
}, { legacy: 'stateless' })
const v2App = Fastify({ logger: false })
v2App.all('/mcp', async (request, reply) => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers.set(name, value)
  const webRequest = new Request(`http://${request.headers.host ?? '127.0.0.1'}${request.url}`, { method: request.method, headers, body: request.method === 'POST' ? JSON.stringify(request.body) : undefined })
  const response = await v2.fetch(webRequest, { parsedBody: request.body })
  reply.code(response.status)
  response.headers.forEach((value, name) => { reply.header(name, value) })
  return reply.send(Buffer.from(await response.arrayBuffer()))
})
await v2App.listen({ host: '127.0.0.1', port: 0 })

// SDK v1, stateless: a new server and transport for every request (its README's pattern).
const v1 = createServer((request, response) => {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    void (async () => {
      const server = new McpServerV1({ name: 'reference', version: '1.0.0' })
      server.registerTool('health_check', { description: 'Reports that the server is up' }, async () => ({ content: [{ type: 'text' as const, text: 'ok' }] }))
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
      response.on('close', () => { void transport.close(); void server.close() })
      await server.connect(transport)
      await transport.handleRequest(request, response, JSON.parse(Buffer.concat(chunks).toString('utf8')))
    })().catch(() => { if (!response.headersSent) response.writeHead(500).end() })
  })
})
await new Promise<void>(resolve => v1.listen(0, '127.0.0.1', resolve))

const port = (address: AddressInfo | string | null): number => (address as AddressInfo).port
process.stdout.write(`${JSON.stringify({ ports: { ceiling: port(ceiling.server.address()), sdkV2: port(v2App.server.address()), sdkV1: port(v1.address()) } })}\n`)
process.on('SIGTERM', () => { void Promise.all([ceiling.close(), v2App.close(), new Promise(resolve => v1.close(resolve))]).then(() => process.exit(0)) })
