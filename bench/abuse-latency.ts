/**
 * How long /healthz (and another user's SELECT 1) waits while one user abuses the server, per
 * abuse: a ReDoS candidate, big PNG renders, a flood of slow SQL, a huge blob and a huge sort.
 *
 *   node bench/abuse-latency.ts [--checkout DIR] [--only TEXT]
 *
 * Starts the real server of DIR (default: this checkout) from its sources on a free port, with
 * API keys for alice (sql_lab) and bob, and prints one line per abuse: the worst /healthz
 * latency while it ran, the idle baseline measured in the same run, and their ratio. Point
 * --checkout at an older worktree (git worktree add /tmp/before <commit>) to compare.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { checkout: { type: 'string', default: path.join(import.meta.dirname, '..') }, only: { type: 'string' } } })
const checkout = path.resolve(values.checkout ?? '.')
const cli = path.join(checkout, 'src', 'cli.ts')
const dataDir = mkdtempSync(path.join(tmpdir(), 'abuse-bench-'))
const sqliteTmp = mkdtempSync(path.join(tmpdir(), 'abuse-sqlite-tmp-'))

async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

const port = await freePort()
const env = {
  ...process.env,
  MCP_DATA_DIR: dataDir,
  MCP_SERVICE_PORT: String(port),
  MCP_API_KEY_ENABLED: 'true',
  MCP_LOG_LEVEL: 'error',
  MCP_SQL_RUNNER_MEMORY_MB: '256',
  MCP_RESPONSE_SIZE_CONFIG: '{"enabled": false}',
  SQLITE_TMPDIR: sqliteTmp
}

function createKey (user: string): string {
  const out = execFileSync(process.execPath, [cli, 'api-keys', 'create', '--user', user, '--name', `bench-${user}`], { env, encoding: 'utf8' })
  const key = /\b(amcp_\S+)/.exec(out)?.[1]
  if (key === undefined) throw new Error(`no key in: ${out}`)
  return key
}

execFileSync(process.execPath, [cli, 'load-examples'], { env, stdio: 'ignore' })
const keys = { alice: createKey('alice'), bob: createKey('bob'), admin: createKey('admin') }
const server = spawn(process.execPath, [cli, 'run'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
const origin = `http://127.0.0.1:${port}`
for (let i = 0; i < 200; i++) {
  try {
    if ((await fetch(`${origin}/healthz`)).ok) break
  } catch {}
  await new Promise(resolve => setTimeout(resolve, 100))
}

let nextId = 1
async function call (user: keyof typeof keys, name: string, args: Record<string, unknown>): Promise<{ isError: boolean, text: string, ms: number }> {
  const started = performance.now()
  try {
    const response = await fetch(`${origin}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${keys[user]}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } })
    })
    const body = await response.json() as { result?: { isError?: boolean, content?: Array<{ text?: string }> }, error?: { message: string } }
    return { isError: body.result?.isError === true || body.error !== undefined, text: body.result?.content?.[0]?.text ?? body.error?.message ?? '', ms: performance.now() - started }
  } catch (err) {
    // A stalled server may reset a pooled keep-alive connection.
    return { isError: true, text: String(err), ms: performance.now() - started }
  }
}

let failedProbes = 0

/** Probe /healthz every 25 ms while `work` runs; the worst latency. */
async function worstProbe (work: () => Promise<unknown>): Promise<{ worstMs: number, workMs: number }> {
  let running = true
  let worstMs = 0
  const probing = (async () => {
    while (running) {
      const started = performance.now()
      // A stalled server may drop the probe's keep-alive connection: that counts as the wait.
      await fetch(`${origin}/healthz`).catch(() => { failedProbes++ })
      worstMs = Math.max(worstMs, performance.now() - started)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  })()
  const started = performance.now()
  await work().catch(() => {})
  const workMs = performance.now() - started
  running = false
  await probing
  return { worstMs, workMs }
}

/** Bytes of the temp files the query runners hold open in SQLITE_TMPDIR (SQLite unlinks them on open). */
const openTempBytes = (): number => {
  let bytes = 0
  for (const pid of runnerPids()) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(sqliteTmp)) bytes += statSync(`/proc/${pid}/fd/${fd}`).size
      }
    } catch {}
  }
  return bytes
}

function runnerPids (): string[] {
  return readdirSync('/proc').filter(name => /^\d+$/.test(name)).filter(pid => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sqlite-runner')
    } catch {
      return false
    }
  })
}

const runnerRssMb = (): number => {
  let worst = 0
  for (const pid of readdirSync('/proc').filter(name => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (!cmdline.includes('sqlite-runner')) continue
      const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
      worst = Math.max(worst, Number(kib ?? 0) / 1024)
    } catch {}
  }
  return worst
}

const LINE_10K = { chart_type: 'xy', kind: 'line', x: 'order_id', y: ['revenue'], row_limit: 10_000 }
const png = (user: keyof typeof keys): Promise<unknown> => call(user, 'update_chart_preview', { dataset_id: 'orders', config: LINE_10K, preview_formats: ['png'], width: 2000, height: 2000 })
const SLOW_SQL = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3000000) SELECT count(*) FROM n'

const baseline = await worstProbe(() => new Promise(resolve => setTimeout(resolve, 2000)))
const abuses: Array<[string, () => Promise<unknown>, () => string]> = [
  ['ReDoS candidate (create_virtual_dataset, 28 spaces)', () => call('alice', 'create_virtual_dataset', { database_id: 'examples', dataset_name: `r${Date.now()}`, sql: `SELECT 1 AS a;${' '.repeat(28)}x` }), () => ''],
  ['one 10,000-point 2000×2000 PNG', () => png('bob'), () => ''],
  ['four such PNGs at once', () => Promise.all([png('bob'), png('bob'), png('alice'), png('alice')]), () => ''],
  ['40 slow queries by alice, then admin\'s SELECT 1', async () => {
    const flood = Array.from({ length: 40 }, () => call('alice', 'execute_sql', { database_id: 'examples', sql: SLOW_SQL, timeout: 60 }))
    await new Promise(resolve => setTimeout(resolve, 300))
    bobWaitMs = (await call('admin', 'execute_sql', { database_id: 'examples', sql: 'SELECT 1' })).ms
    await Promise.all(flood)
  }, () => `admin's SELECT 1 took ${Math.round(bobWaitMs)} ms`],
  ['SELECT length(randomblob(999999999))', async () => { blob = await call('alice', 'execute_sql', { database_id: 'examples', sql: 'SELECT length(randomblob(999999999)) AS n' }) }, () => `${blob?.isError === true ? 'refused' : 'ran'}; runner peak RSS ${Math.round(runnerRssMb())} MiB`],
  ['cross-join sort (ORDER BY random()), 20 s timeout', async () => {
    const watch = setInterval(() => { tempBytes = Math.max(tempBytes, openTempBytes()) }, 100)
    await call('alice', 'execute_sql', { database_id: 'examples', sql: 'SELECT a.*, b.* FROM orders a, orders b ORDER BY random()', timeout: 20 })
    clearInterval(watch)
  }, () => `temp files: up to ${(tempBytes / 1048576).toFixed(0)} MiB`]
]
let bobWaitMs = 0
let blob: { isError: boolean } | undefined
let tempBytes = 0

console.log(`checkout ${checkout}`)
console.log(`idle baseline: worst /healthz ${baseline.worstMs.toFixed(1)} ms`)
for (const [name, work, detail] of abuses) {
  if (values.only !== undefined && !name.includes(values.only)) continue
  failedProbes = 0
  const { worstMs, workMs } = await worstProbe(work)
  const failed = failedProbes === 0 ? '' : `, ${failedProbes} probe(s) dropped`
  console.log(`${name}: worst /healthz ${worstMs.toFixed(1)} ms (${(worstMs / Math.max(baseline.worstMs, 1)).toFixed(1)}× idle${failed}) over ${(workMs / 1000).toFixed(1)} s${detail() === '' ? '' : `; ${detail()}`}`)
}
server.kill('SIGTERM')
