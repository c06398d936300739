/**
 * Throughput from one replica to two behind nginx (Debian's package), the way the chart runs
 * them: both on one PostgreSQL catalog and one Redis (shared cache and rate limits), JWT auth
 * on. Two nginx front ends, one with a single upstream and one with both, are loaded in turn
 * with the same calls; printed as min/median/max req/s and the two-to-one ratio.
 *
 *   node bench/replicas.ts      (BENCH_DURATION=5 BENCH_REPEATS=3 BENCH_CONNECTIONS=20)
 *
 * On a 2-core machine the load generator and nginx share the cores with the replicas, so the
 * ratio is a floor of what two pods on their own nodes give.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { createSigner } from 'fast-jwt'
import { NGINX, startNginx } from '../test/helpers/nginx.ts'
import { launchPostgres } from '../test/helpers/postgres.ts'
import { freePort } from '../test/helpers/ports.ts'

const duration = Number(process.env.BENCH_DURATION ?? 5)
const repeats = Number(process.env.BENCH_REPEATS ?? 3)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20)
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
if (NGINX === undefined) {
  console.log('bench/replicas.ts: skipped, no nginx (apt-get install nginx-light)')
  process.exit(0)
}
if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.log('bench/replicas.ts: skipped, no redis-server')
  process.exit(0)
}

const SECRET = 'a-benchmark-secret-of-at-least-32-characters'
const SERVICE_URL = 'https://analytics.bench'
const work = mkdtempSync(path.join(os.tmpdir(), 'analytics-mcp-replicas-'))
const children: ChildProcess[] = []
let postgres: Awaited<ReturnType<typeof launchPostgres>> | undefined

async function waitFor (url: string, child: ChildProcess, what: string): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    try {
      if ((await fetch(url)).status === 200) return
    } catch { /* not up yet */ }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not become ready`)
}

try {
  const pg = await launchPostgres()
  postgres = pg
  await pg.sql('CREATE DATABASE bench_replicas')
  const redisPort = await freePort()
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  children.push(redis)

  const replicaPorts = [await freePort(), await freePort()]
  for (const [index, port] of replicaPorts.entries()) {
    const env = {
      ...process.env,
      MCP_DATA_DIR: path.join(work, `replica-${index}`),
      MCP_SERVICE_PORT: String(port),
      MCP_LOG_LEVEL: 'warn',
      MCP_CATALOG_URL: pg.urlFor('postgres', 'bench_replicas'),
      MCP_STORE_CONFIG: JSON.stringify({ enabled: true, CACHE_REDIS_URL: `redis://127.0.0.1:${redisPort}/0` }),
      MCP_CACHE_CONFIG: JSON.stringify({ enabled: true }),
      MCP_AUTH_ENABLED: 'true',
      MCP_SERVICE_URL: SERVICE_URL,
      MCP_JWT_AUDIENCE: `${SERVICE_URL}/mcp`,
      MCP_JWT_ALGORITHM: 'HS256',
      MCP_JWT_SECRET: SECRET
    }
    const child = spawn(process.execPath, [path.join(root, 'bin', 'analytics-mcp.js'), 'run'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
    children.push(child)
    // One at a time: the first registers the example data in the shared catalog.
    await waitFor(`http://127.0.0.1:${port}/readyz`, child, `replica ${index}`)
  }
  const fronts: Record<'one' | 'two', number> = { one: await freePort(), two: await freePort() }
  for (const [name, upstreams] of [['one', replicaPorts.slice(0, 1)], ['two', replicaPorts]] as const) {
    children.push(await startNginx({ dir: path.join(work, `nginx-${name}`), port: fronts[name], upstreams }))
  }

  const token = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: 'admin', aud: `${SERVICE_URL}/mcp`, scope: 'mcp:read mcp:write mcp:sql' })
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', authorization: `Bearer ${token}` }
  const calls = [['health_check', {}], ['list_dashboards', {}], ['get_dataset_info', { identifier: 'orders' }]] as const
  const results = new Map<string, number[]>()
  console.log(`analytics-mcp, 1 → 2 replicas behind nginx (PostgreSQL catalog, Redis cache): ${duration} s per case, ${repeats} rounds, ${connections} connections, ${os.availableParallelism()} CPUs\n`)
  for (let round = 0; round < repeats; round++) {
    for (const [name, args] of calls) {
      for (const front of ['one', 'two'] as const) {
        const options = { url: `http://127.0.0.1:${fronts[front]}/mcp`, method: 'POST' as const, headers, connections, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }) }
        await autocannon({ ...options, duration: 1 })
        const result = await autocannon({ ...options, duration })
        if (result.non2xx + result.errors > 0) throw new Error(`${name} via ${front}: ${result.non2xx} non-2xx, ${result.errors} errors`)
        const key = `${name}|${front}`
        results.set(key, [...results.get(key) ?? [], result.requests.average])
      }
    }
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
  const span = (values: number[]): string => { const sorted = [...values].sort((a, b) => a - b); return `${Math.round(sorted[0] ?? 0)} / ${Math.round(median(values))} / ${Math.round(sorted.at(-1) ?? 0)}` }
  console.log('| Call | 1 replica req/s (min / median / max) | 2 replicas req/s | 2 ÷ 1 |')
  console.log('|---|---:|---:|---:|')
  for (const [name] of calls) {
    const one = results.get(`${name}|one`) ?? []
    const two = results.get(`${name}|two`) ?? []
    console.log(`| ${name} | ${span(one)} | ${span(two)} | ${(median(two) / median(one)).toFixed(2)} |`)
  }
} finally {
  for (const child of children) child.kill('SIGKILL')
  await postgres?.destroy()
  rmSync(work, { recursive: true, force: true })
}
