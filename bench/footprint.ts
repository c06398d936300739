/**
 * What a pod scaling up and a long-running replica cost: start-up of the package's own `bin` to
 * the first /readyz 200 on a data directory that already holds the catalog and example data
 * (as a new replica on an existing volume or PostgreSQL catalog), and resident memory after a
 * warm-up and after BENCH_REQUESTS (default 100,000) tools/call requests with JWT auth — with
 * the V8 flags the image sets (NODE_OPTIONS in the Dockerfile) and with Node's defaults.
 *
 *   node bench/footprint.ts      (BENCH_STARTS=3 BENCH_REQUESTS=100000)
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { createSigner } from 'fast-jwt'
import { dockerfileFacts } from '../test/helpers/dockerfile.ts'
import { freePort } from '../test/helpers/ports.ts'

const starts = Number(process.env.BENCH_STARTS ?? 3)
const requests = Number(process.env.BENCH_REQUESTS ?? 100_000)
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0 && os.availableParallelism() > 1
const SECRET = 'a-benchmark-secret-of-at-least-32-characters'
const SERVICE_URL = 'https://analytics.bench'
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'analytics-mcp-footprint-'))

const imageNodeOptions = dockerfileFacts(readFileSync(path.join(root, 'Dockerfile'), 'utf8')).env.NODE_OPTIONS ?? ''

function serve (port: number, nodeOptions = imageNodeOptions): ChildProcess {
  const env = {
    ...process.env,
    NODE_OPTIONS: nodeOptions,
    MCP_DATA_DIR: dataDir,
    MCP_SERVICE_PORT: String(port),
    MCP_LOG_LEVEL: 'warn',
    MCP_AUTH_ENABLED: 'true',
    MCP_SERVICE_URL: SERVICE_URL,
    MCP_JWT_AUDIENCE: `${SERVICE_URL}/mcp`,
    MCP_JWT_ALGORITHM: 'HS256',
    MCP_JWT_SECRET: SECRET
  }
  const args = [path.join(root, 'bin', 'analytics-mcp.js'), 'run']
  return spawn(pin ? 'taskset' : process.execPath, pin ? ['-c', '0', process.execPath, ...args] : args, { env, stdio: ['ignore', 'ignore', 'inherit'] })
}

async function ready (port: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`)
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return
    } catch { /* not listening yet */ }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

async function stop (child: ChildProcess): Promise<void> {
  child.kill('SIGTERM')
  if (child.exitCode === null) await new Promise(resolve => child.once('exit', resolve))
}

function rssMiB (pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find(entry => entry.startsWith('VmRSS:')) ?? 'VmRSS: 0 kB'
  return Number(line.replace(/\D+/g, '')) / 1024
}

try {
  // The first start creates the catalog and the example data; the ones measured find them.
  const port = await freePort()
  const first = serve(port)
  await ready(port, first)
  await stop(first)

  const times: number[] = []
  for (let run = 0; run < starts; run++) {
    const started = performance.now()
    const child = serve(port)
    await ready(port, child)
    times.push(performance.now() - started)
    await stop(child)
  }
  times.sort((a, b) => a - b)
  console.log(`start-up to /readyz 200 with existing data (package bin, ${starts} starts): min ${times[0]!.toFixed(0)} ms, median ${times[Math.floor(times.length / 2)]!.toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms (target < 1500 ms)`)

  const token = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: 'admin', aud: `${SERVICE_URL}/mcp`, scope: 'mcp:read mcp:write mcp:sql' })
  if (pin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })
  for (const [label, nodeOptions] of [[`as the image runs it (NODE_OPTIONS=${imageNodeOptions})`, imageNodeOptions], ['with Node\'s defaults', '']] as const) {
    const child = serve(port, nodeOptions)
    await ready(port, child)
    const load = (amount: number, name: string, args: unknown): Promise<autocannon.Result> => autocannon({
      url: `http://127.0.0.1:${port}/mcp`,
      method: 'POST',
      connections: 10,
      amount,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } })
    })
    const mix = [['health_check', {}], ['list_dashboards', {}], ['get_dataset_info', { identifier: 'orders' }], ['list_charts', { page_size: 5 }]] as const
    // Warm-up: every kind of call once in a while, so caches and pools reach their working size.
    for (const [name, args] of mix) await load(2_500, name, args)
    const warm = rssMiB(child.pid!)
    let errors = 0
    for (const [name, args] of mix) {
      const result = await load(Math.round(requests / mix.length), name, args)
      errors += result.errors + result.non2xx
    }
    const after = rssMiB(child.pid!)
    console.log(`RSS ${label}: ${warm.toFixed(0)} MiB after warm-up; ${after.toFixed(0)} MiB after ${requests.toLocaleString('en')} more requests (${(100 * (after - warm) / warm).toFixed(1)}% growth; targets: ≤ 200 MiB, growth < 10%); ${errors} errors`)
    await stop(child)
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
