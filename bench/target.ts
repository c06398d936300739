/**
 * Benchmark target: the real service and a baseline (a plain Fastify route answering canned
 * JSON) in one process, so both run under the same conditions. Prints their ports as JSON.
 */
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { buildApp } from '../src/app.ts'
import { resolveConfig } from '../src/config.ts'

const dataDir = process.argv[2]
if (dataDir === undefined) throw new Error('usage: node bench/target.ts DATA_DIR')

const app = await buildApp(resolveConfig([{ source: 'overrides', values: { MCP_DATA_DIR: dataDir, MCP_SERVICE_PORT: 0, MCP_LOG_LEVEL: 'silent' } }]), { logger: false })
await app.listen({ host: '127.0.0.1', port: 0 })

const canned = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } })
const baseline = Fastify({ logger: false })
baseline.post('/mcp', async (_request, reply) => reply.type('application/json').send(canned))
await baseline.listen({ host: '127.0.0.1', port: 0 })

process.stdout.write(`${JSON.stringify({ app: (app.server.address() as AddressInfo).port, baseline: (baseline.server.address() as AddressInfo).port })}\n`)
process.on('SIGTERM', () => {
  void Promise.all([app.close(), baseline.close()]).then(() => process.exit(0))
})
