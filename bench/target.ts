/**
 * Benchmark target: the real service in dev mode, with the response cache (in memory, and in
 * Redis when a URL is given), with bearer auth (HS256 secret, RS256 static key, API keys), and a baseline (a plain Fastify route answering canned JSON),
 * all in one process so they run under the same conditions. Prints ports and credentials as JSON.
 */
import { generateKeyPairSync } from 'node:crypto'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { createSigner } from 'fast-jwt'
import { buildApp } from '../src/app.ts'
import { createApiKey } from '../src/auth/api-keys.ts'
import { resolveConfig } from '../src/config.ts'

const dataDirArgument = process.argv[2]
if (dataDirArgument === undefined) throw new Error('usage: node bench/target.ts DATA_DIR [REDIS_URL]')
const dataDir: string = dataDirArgument

const SERVICE_URL = 'https://analytics.bench'
const AUDIENCE = `${SERVICE_URL}/mcp`
const SECRET = 'a-benchmark-secret-of-at-least-32-characters'
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })

async function start (name: string, settings: Record<string, unknown>): Promise<FastifyInstance> {
  const app = await buildApp(resolveConfig([{
    source: 'overrides',
    values: { MCP_DATA_DIR: path.join(dataDir, name), MCP_SERVICE_PORT: 0, MCP_LOG_LEVEL: 'silent', ...settings }
  }]), { logger: false })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return app
}

const secured = { MCP_AUTH_ENABLED: true, MCP_SERVICE_URL: SERVICE_URL, MCP_JWT_AUDIENCE: [AUDIENCE] }
const dev = await start('dev', {})
const cached = await start('cached', { MCP_CACHE_CONFIG: { enabled: true } })
// With a Redis URL (bench/mcp-throughput.ts starts a redis-server when it can), the same cache in Redis.
const redisUrl = process.argv[3]
const redisCached = redisUrl === undefined ? undefined : await start('redis', { MCP_CACHE_CONFIG: { enabled: true }, MCP_STORE_CONFIG: { enabled: true, CACHE_REDIS_URL: redisUrl } })
// The same service on a PostgreSQL catalog (bench/mcp-throughput.ts passes one when it can).
const catalogUrl = process.env.BENCH_CATALOG_URL
const pgCatalog = catalogUrl === undefined ? undefined : await start('pgcatalog', { MCP_CATALOG_URL: catalogUrl })
const hs256 = await start('hs256', { ...secured, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_API_KEY_ENABLED: true })
// The same JWT-secured service on the PostgreSQL catalog (bench/compare.ts passes one when it can).
const hs256Pg = catalogUrl === undefined ? undefined : await start('hs256pg', { ...secured, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_CATALOG_URL: catalogUrl })
// JWT auth with tool search on (MCP_TOOL_SEARCH_CONFIG): tools/list of a handful of tools.
const hs256Search = await start('hs256search', { ...secured, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_TOOL_SEARCH_CONFIG: { enabled: true } })
// JWT auth with the response cache on: the cached calls of bench/compare.ts.
const hs256Cached = await start('hs256cached', { ...secured, MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_CACHE_CONFIG: { enabled: true } })
const rs256 = await start('rs256', { ...secured, MCP_JWT_ALGORITHM: 'RS256', MCP_JWT_PUBLIC_KEY: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString() })

const claims = { sub: 'admin', aud: AUDIENCE, scope: 'mcp:read mcp:write mcp:sql' }
const expiresIn = 3_600_000
const admin = await hs256.catalog.findUserByUsername('admin')
if (admin === undefined) throw new Error('example data has no admin user')
// The example tables in PostgreSQL (bench/compare.ts loads them), for execute_sql beside the peers on it.
const warehouseUrl = process.env.BENCH_WAREHOUSE_URL
const warehouse = warehouseUrl === undefined ? undefined : await hs256.catalog.createDatabase({ database_name: 'warehouse', backend: 'postgresql', connection: warehouseUrl })
const apiKey = await createApiKey(hs256.catalog, { prefix: 'amcp', name: 'bench', userId: admin.id, scopes: null, expiresOn: null })

const canned = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } })
const baseline = Fastify({ logger: false })
baseline.post('/mcp', async (_request, reply) => reply.type('application/json').send(canned))
await baseline.listen({ host: '127.0.0.1', port: 0 })

const port = (app: FastifyInstance): number => (app.server.address() as AddressInfo).port
process.stdout.write(`${JSON.stringify({
  ports: { app: port(dev), cached: port(cached), ...(redisCached === undefined ? {} : { redis: port(redisCached) }), ...(pgCatalog === undefined ? {} : { pgcatalog: port(pgCatalog) }), hs256: port(hs256), ...(hs256Pg === undefined ? {} : { hs256pg: port(hs256Pg) }), hs256cached: port(hs256Cached), hs256search: port(hs256Search), rs256: port(rs256), baseline: port(baseline) },
  ...(warehouse === undefined ? {} : { warehouseDatabaseId: warehouse.id }),
  credentials: {
    hs256: `Bearer ${createSigner({ key: SECRET, algorithm: 'HS256', expiresIn })(claims)}`,
    rs256: `Bearer ${createSigner({ key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256', expiresIn })(claims)}`,
    apiKey: `Key ${apiKey.key}`
  }
})}\n`)
process.on('SIGTERM', () => {
  void Promise.all([dev.close(), cached.close(), redisCached?.close(), pgCatalog?.close(), hs256.close(), hs256Pg?.close(), hs256Cached.close(), hs256Search.close(), rs256.close(), baseline.close()]).then(() => process.exit(0))
})
