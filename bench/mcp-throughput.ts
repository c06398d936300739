/**
 * Throughput of tools/list and tools/call over HTTP, against a baseline measured in the same
 * run (a plain Fastify route returning canned JSON): absolute req/s depend on the machine,
 * the ratios are what to compare across runs.
 *
 *   node bench/mcp-throughput.ts            (BENCH_DURATION=5 BENCH_CONNECTIONS=10 by default)
 *
 * When `taskset` exists the server runs on CPU 0 and the load generator on CPU 1.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { launchPostgres } from '../test/helpers/postgres.ts'

const duration = Number(process.env.BENCH_DURATION ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10)
const here = path.dirname(fileURLToPath(import.meta.url))
const cpus = os.availableParallelism()
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0 && cpus > 1

const LEGACY = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {}
}
const call = (name: string, args: unknown, meta?: unknown) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) } })

type Target = 'app' | 'cached' | 'redis' | 'pgcatalog' | 'hs256' | 'rs256' | 'baseline'
type Credential = 'hs256' | 'rs256' | 'apiKey'
interface Scenario { name: string, target: Target, body: string, headers: Record<string, string>, credential?: Credential }

const scenarios: Scenario[] = [
  { name: 'baseline: Fastify route, canned JSON', target: 'baseline', body: call('x', {}), headers: LEGACY },
  { name: 'tools/list (legacy)', target: 'app', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), headers: LEGACY },
  { name: 'tools/call health_check (legacy)', target: 'app', body: call('health_check', {}), headers: LEGACY },
  {
    name: 'tools/call health_check (2026-07-28)',
    target: 'app',
    body: call('health_check', {}, META),
    headers: { ...LEGACY, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'health_check' }
  },
  { name: 'tools/call health_check, JWT HS256', target: 'hs256', body: call('health_check', {}), headers: LEGACY, credential: 'hs256' },
  { name: 'tools/call health_check, JWT RS256 (static key)', target: 'rs256', body: call('health_check', {}), headers: LEGACY, credential: 'rs256' },
  { name: 'tools/call health_check, API key', target: 'hs256', body: call('health_check', {}), headers: LEGACY, credential: 'apiKey' },
  { name: 'tools/call list_dashboards (legacy)', target: 'app', body: call('list_dashboards', {}), headers: LEGACY },
  { name: 'tools/call list_dashboards, PostgreSQL catalog', target: 'pgcatalog', body: call('list_dashboards', {}), headers: LEGACY },
  { name: 'tools/call list_dashboards, cache hit (memory)', target: 'cached', body: call('list_dashboards', {}), headers: LEGACY },
  { name: 'tools/call list_dashboards, cache hit (Redis)', target: 'redis', body: call('list_dashboards', {}), headers: LEGACY },
  { name: 'tools/call get_dataset_info orders', target: 'app', body: call('get_dataset_info', { identifier: 'orders' }), headers: LEGACY },
  { name: 'tools/call get_dataset_info orders, cache hit (memory)', target: 'cached', body: call('get_dataset_info', { identifier: 'orders' }), headers: LEGACY },
  { name: 'tools/call execute_sql, 1-row aggregate', target: 'app', body: call('execute_sql', { database_id: 1, sql: "SELECT COUNT(*) AS n FROM orders WHERE order_date >= '2026-06-01'" }), headers: LEGACY }
]

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'analytics-mcp-bench-'))
// A redis-server for the Redis-backed cache scenario, when one is installed (pinned to CPU 1).
const redisPort = 20_000 + Math.floor(Math.random() * 20_000)
const redisServer = spawnSync('redis-server', ['--version']).status === 0
  ? spawn(pin ? 'taskset' : 'redis-server', [...(pin ? ['-c', '1', 'redis-server'] : []), '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  : undefined
// The PostgreSQL catalog scenario: BENCH_CATALOG_URL, else a throwaway server when PostgreSQL is installed.
const postgres = process.env.BENCH_CATALOG_URL === undefined && existsSync('/usr/lib/postgresql') ? await launchPostgres() : undefined
if (postgres !== undefined) await postgres.sql('CREATE DATABASE bench_catalog')
const catalogUrl = process.env.BENCH_CATALOG_URL ?? postgres?.urlFor('postgres', 'bench_catalog')
const targetArgs = [path.join(here, 'target.ts'), dataDir, ...(redisServer === undefined ? [] : [`redis://127.0.0.1:${redisPort}/0`])]
const command = pin ? 'taskset' : process.execPath
const args = pin ? ['-c', '0', process.execPath, ...targetArgs] : targetArgs
const target = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...(catalogUrl === undefined ? {} : { BENCH_CATALOG_URL: catalogUrl }) } })
if (pin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })

try {
  const started = await new Promise<{ ports: Partial<Record<Target, number>>, credentials: Record<Credential, string> }>((resolve, reject) => {
    let output = ''
    target.stdout.on('data', chunk => {
      output += String(chunk)
      const line = output.split('\n').find(candidate => candidate.startsWith('{'))
      if (line !== undefined) resolve(JSON.parse(line) as { ports: Partial<Record<Target, number>>, credentials: Record<Credential, string> })
    })
    target.once('exit', code => reject(new Error(`target exited with ${String(code)}`)))
  })

  console.log(`analytics-mcp throughput: ${duration} s per scenario, ${connections} connections, Node ${process.version}, ${cpus} CPUs${pin ? ', server pinned to CPU 0, load to CPU 1' : ''}\n`)
  const rows: Array<{ name: string, rps: number, p50: number, p99: number, errors: number }> = []
  for (const scenario of scenarios) {
    if (started.ports[scenario.target] === undefined) continue
    const url = `http://127.0.0.1:${started.ports[scenario.target]}/mcp`
    const headers = scenario.credential === undefined ? scenario.headers : { ...scenario.headers, authorization: started.credentials[scenario.credential] }
    // A short warm-up lets V8 optimise before measuring.
    await autocannon({ url, method: 'POST', headers, body: scenario.body, connections, duration: 1 })
    const result = await autocannon({ url, method: 'POST', headers, body: scenario.body, connections, duration })
    rows.push({ name: scenario.name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx })
  }
  const baseline = rows[0]?.rps ?? 1
  console.log('| Scenario | req/s | p50 ms | p99 ms | errors | ratio to baseline |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const row of rows) {
    console.log(`| ${row.name} | ${Math.round(row.rps)} | ${row.p50} | ${row.p99} | ${row.errors} | ${(row.rps / baseline).toFixed(3)} |`)
  }
  const sqliteCatalog = rows.find(row => row.name === 'tools/call list_dashboards (legacy)')
  const pgCatalog = rows.find(row => row.name === 'tools/call list_dashboards, PostgreSQL catalog')
  if (sqliteCatalog !== undefined && pgCatalog !== undefined) {
    console.log(`\nlist_dashboards on the PostgreSQL catalog: ${(pgCatalog.rps / sqliteCatalog.rps).toFixed(3)} of the SQLite catalog's throughput (target >= 0.60)`)
  }
} finally {
  target.kill('SIGTERM')
  await new Promise(resolve => target.once('exit', resolve))
  redisServer?.kill('SIGKILL')
  await postgres?.destroy()
  rmSync(dataDir, { recursive: true, force: true })
}
