/**
 * The service against what a user would pick instead, measured in one run (this machine is
 * noisy: compare the ratios, never the absolute numbers):
 *
 * - ceilings: a bare Fastify route answering the same bytes as each of our answers;
 * - references: one trivial tool served as the SDK docs show, SDK v2 `createMcpHandler` and
 *   SDK v1 stateless `StreamableHTTPServerTransport`;
 * - ours with JWT (HS256) auth, both eras: tools/list, health_check, list_dashboards computed
 *   and cached, get_dataset_info, execute_sql, query_dataset, generate_chart with a PNG preview;
 *   and the catalog reads again on a PostgreSQL catalog (when PostgreSQL is installed);
 * - peers on the same SQLite file: @bytebase/dbhub and Google's MCP Toolbox for Databases (its
 *   Linux binary from @toolbox-sdk/server-linux-*), their execute_sql on the same aggregation and
 *   their tools/list (`make bench` installs them into .tools/peers; skipped when absent); and
 *   the same aggregation by them and by us on the example tables loaded into PostgreSQL.
 *
 * Servers are pinned to CPU 0 and autocannon to CPU 1 (when `taskset` works). Each case: a
 * warm-up, then BENCH_DURATION seconds, the whole list repeated BENCH_REPEATS times; printed as
 * min/median/max req/s, p50/p99 latency and server CPU µs per request (from /proc), with the
 * ratios and targets of issue 14, and a PNG bar chart drawn by our own chart renderer.
 *
 *   node bench/compare.ts       (BENCH_DURATION=5 BENCH_REPEATS=3 BENCH_CONNECTIONS=10; BENCH_ONLY=regex of case names)
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import pg from 'pg'
import { renderPng } from '../src/charts/png.ts'
import { toVegaLite } from '../src/charts/vega-lite.ts'
import { copyExampleTables } from '../src/examples/copy-into.ts'
import { ensureExamplesDatabase } from '../src/examples/generate.ts'
import { postgresWriter } from '../src/examples/load-into.ts'
import { launchPostgres } from '../test/helpers/postgres.ts'
import { freePort } from '../test/helpers/ports.ts'

const duration = Number(process.env.BENCH_DURATION ?? 5)
const repeats = Number(process.env.BENCH_REPEATS ?? 3)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10)
const here = path.dirname(fileURLToPath(import.meta.url))
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0 && os.availableParallelism() > 1
const TICKS_PER_SECOND = 100

const LEGACY = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' }
const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {}
}
const modernHeaders = (name: string): Record<string, string> => ({ ...LEGACY, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name })
const call = (name: string, args: unknown, modern = false): string =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, ...(modern ? { _meta: MODERN_META } : {}) } })

type Server = 'ours' | 'oursCached' | 'oursPg' | 'oursSearch' | 'ceiling' | 'sdkV2' | 'sdkV1' | 'dbhub' | 'toolbox' | 'dbhubPg' | 'toolboxPg'
interface Case {
  name: string
  server: Server
  body: string
  headers: Record<string, string>
  /** Our case whose answer this ceiling repeats (same bytes). */
  ceilingOf?: string
}
interface Measured { rps: number[], p50: number[], p99: number[], cpuUs: number[], errors: number, bytes: number }

const SHARED_SQL = 'SELECT region, COUNT(*) AS n FROM orders GROUP BY region'
const ours = (name: string, server: Server, body: string, headers: Record<string, string> = LEGACY): Case => ({ name, server, body, headers })
const CASES: Case[] = [
  ours('tools/list', 'ours', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })),
  ours('tools/list, tool search on', 'oursSearch', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })),
  ours('health_check (legacy)', 'ours', call('health_check', {})),
  ours('health_check (2026-07-28)', 'ours', call('health_check', {}, true), modernHeaders('health_check')),
  ours('list_dashboards', 'ours', call('list_dashboards', {})),
  ours('list_dashboards, cached', 'oursCached', call('list_dashboards', {})),
  ours('get_dataset_info', 'ours', call('get_dataset_info', { identifier: 'orders' })),
  ours('get_dataset_info, cached', 'oursCached', call('get_dataset_info', { identifier: 'orders' })),
  ours('execute_sql, small aggregation', 'ours', call('execute_sql', { database_id: 1, sql: SHARED_SQL })),
  ours('query_dataset', 'ours', call('query_dataset', { dataset_id: 'orders', metrics: ['revenue'], columns: ['region'] })),
  ours('generate_chart, PNG preview', 'ours', call('generate_chart', { dataset_id: 'orders', config: { chart_type: 'xy', kind: 'bar', x: 'region', y: ['revenue'] }, save_chart: false, preview_formats: ['png'] })),
  // The same service on the PostgreSQL catalog (when PostgreSQL is installed).
  ours('tools/list, PostgreSQL catalog', 'oursPg', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })),
  ours('health_check, PostgreSQL catalog', 'oursPg', call('health_check', {})),
  ours('list_dashboards, PostgreSQL catalog', 'oursPg', call('list_dashboards', {})),
  ours('get_dataset_info, PostgreSQL catalog', 'oursPg', call('get_dataset_info', { identifier: 'orders' })),
  ours('execute_sql, small aggregation, PostgreSQL catalog', 'oursPg', call('execute_sql', { database_id: 1, sql: SHARED_SQL })),
  // execute_sql on the example tables loaded into PostgreSQL, beside the peers on the same database.
  ours('execute_sql, same aggregation, PostgreSQL warehouse', 'ours', call('execute_sql', { database_id: 'warehouse', sql: SHARED_SQL })),
  { name: 'ceiling: tools/list bytes', server: 'ceiling', body: '{}', headers: LEGACY, ceilingOf: 'tools/list' },
  { name: 'ceiling: health_check bytes', server: 'ceiling', body: '{}', headers: LEGACY, ceilingOf: 'health_check (legacy)' },
  { name: 'ceiling: list_dashboards bytes', server: 'ceiling', body: '{}', headers: LEGACY, ceilingOf: 'list_dashboards' },
  { name: 'ceiling: get_dataset_info bytes', server: 'ceiling', body: '{}', headers: LEGACY, ceilingOf: 'get_dataset_info' },
  ours('SDK v2 createMcpHandler, trivial tool (legacy)', 'sdkV2', call('health_check', {})),
  ours('SDK v2 createMcpHandler, trivial tool (2026-07-28)', 'sdkV2', call('health_check', {}, true), modernHeaders('health_check')),
  ours('SDK v1 stateless transport, trivial tool', 'sdkV1', call('health_check', {})),
  // Peers on the same SQLite file (installed into .tools/peers by `make bench`; skipped without them).
  ours('peer: dbhub execute_sql, same aggregation', 'dbhub', call('execute_sql', { sql: SHARED_SQL }), { ...LEGACY, 'mcp-protocol-version': '2025-06-18' }),
  ours('peer: dbhub tools/list', 'dbhub', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), { ...LEGACY, 'mcp-protocol-version': '2025-06-18' }),
  ours('peer: MCP Toolbox execute_sql, same aggregation', 'toolbox', call('execute_sql', { sql: SHARED_SQL }), { ...LEGACY, 'mcp-protocol-version': '2025-06-18' }),
  ours('peer: MCP Toolbox tools/list', 'toolbox', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), { ...LEGACY, 'mcp-protocol-version': '2025-06-18' }),
  ours('peer: dbhub execute_sql, PostgreSQL warehouse', 'dbhubPg', call('execute_sql', { sql: SHARED_SQL }), { ...LEGACY, 'mcp-protocol-version': '2025-06-18' }),
  ours('peer: MCP Toolbox execute_sql, PostgreSQL warehouse', 'toolboxPg', call('execute_sql', { sql: SHARED_SQL }), { ...LEGACY, 'mcp-protocol-version': '2025-06-18' })
]

const PEERS = path.join(here, '..', '.tools', 'peers', 'node_modules')
const DBHUB = path.join(PEERS, '@bytebase', 'dbhub', 'dist', 'index.js')
const TOOLBOX = path.join(PEERS, '@toolbox-sdk', `server-linux-${process.arch}`, 'bin', 'toolbox')

/** Where a peer reads the example tables: the SQLite file, or PostgreSQL (host, port, database; superuser on trust). */
type PeerData = { sqlite: string } | { postgres: { host: string, port: number, database: string } }

/** A peer server on the example data, pinned like ours; undefined when it is not installed. */
async function startPeer (kind: 'dbhub' | 'toolbox', data: PeerData): Promise<{ child: ChildProcess, port: number } | undefined> {
  if (!existsSync(kind === 'dbhub' ? DBHUB : TOOLBOX)) return undefined
  const port = await freePort()
  const pgData = 'postgres' in data ? data.postgres : undefined
  const dsn = pgData === undefined ? `sqlite://${'sqlite' in data ? data.sqlite : ''}` : `postgres://postgres@${pgData.host}:${pgData.port}/${pgData.database}?sslmode=disable`
  const command = kind === 'dbhub'
    ? [process.execPath, DBHUB, '--transport', 'http', '--port', String(port), '--dsn', dsn]
    : [TOOLBOX, '--prebuilt', pgData === undefined ? 'sqlite' : 'postgres', '--port', String(port), '--disable-version-check', '--log-level', 'WARN']
  // Toolbox's prebuilt configurations read their connection from the environment.
  const env = pgData === undefined
    ? { SQLITE_DATABASE: 'sqlite' in data ? data.sqlite : '' }
    : { POSTGRES_HOST: pgData.host, POSTGRES_PORT: String(pgData.port), POSTGRES_DATABASE: pgData.database, POSTGRES_USER: 'postgres', POSTGRES_PASSWORD: 'trust' }
  const child = spawn(pin ? 'taskset' : command[0]!, pin ? ['-c', '0', ...command] : command.slice(1), { stdio: 'ignore', env: { ...process.env, ...env } })
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'POST', headers: { ...LEGACY, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
      if (response.status === 200) return { child, port }
    } catch { /* not listening yet */ }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`${kind} did not start`)
}

function startJson (script: string, args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcessByStdio<null, Readable, null>, info: Record<string, any> }> {
  const command = pin ? 'taskset' : process.execPath
  const child = spawn(command, [...(pin ? ['-c', '0', process.execPath] : []), path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } })
  return new Promise((resolve, reject) => {
    let output = ''
    child.stdout.on('data', chunk => {
      output += String(chunk)
      const line = output.split('\n').find(candidate => candidate.startsWith('{'))
      if (line !== undefined) resolve({ child, info: JSON.parse(line) as Record<string, any> })
    })
    child.once('exit', code => reject(new Error(`${script} exited with ${String(code)}`)))
  })
}

/** utime + stime of a process and its threads, in clock ticks. */
function cpuTicks (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
  return Number(fields[11]) + Number(fields[12])
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
const fmt = (value: number, digits = 0): string => value.toFixed(digits)

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'analytics-mcp-compare-'))
// PostgreSQL, when installed: a catalog for the second copy of ours, and a warehouse holding the
// example tables for execute_sql (ours and the peers) on the same database.
const postgres = existsSync('/usr/lib/postgresql') ? await launchPostgres() : undefined
const pgEnv: Record<string, string> = {}
if (postgres !== undefined) {
  await postgres.sql('CREATE DATABASE bench_catalog')
  await postgres.sql('CREATE DATABASE bench_warehouse')
  const examples = path.join(dataDir, 'warehouse-source.db')
  ensureExamplesDatabase(examples)
  const client = new pg.Client({ connectionString: postgres.urlFor('postgres', 'bench_warehouse') })
  await client.connect()
  await copyExampleTables(examples, 'postgresql', postgresWriter(client))
  await client.end()
  pgEnv.BENCH_CATALOG_URL = postgres.urlFor('postgres', 'bench_catalog')
  pgEnv.BENCH_WAREHOUSE_URL = postgres.urlFor('postgres', 'bench_warehouse')
}
const target = await startJson('target.ts', [dataDir], pgEnv)
const references = await startJson('references.ts', [])
const dbhub = await startPeer('dbhub', { sqlite: path.join(dataDir, 'dev', 'examples.db') })
const toolbox = await startPeer('toolbox', { sqlite: path.join(dataDir, 'dev', 'examples.db') })
const pgPeer = postgres === undefined ? undefined : { host: '127.0.0.1', port: Number(new URL(postgres.url).port), database: 'bench_warehouse' }
const dbhubPg = pgPeer === undefined ? undefined : await startPeer('dbhub', { postgres: pgPeer })
const toolboxPg = pgPeer === undefined ? undefined : await startPeer('toolbox', { postgres: pgPeer })
const peers = { dbhub, toolbox, dbhubPg, toolboxPg }
const present = (server: Server): boolean =>
  server in peers ? peers[server as keyof typeof peers] !== undefined : server !== 'oursPg' || target.info.ports.hs256pg !== undefined
// BENCH_ONLY: a regular expression over case names, to re-measure a few cases (ratios whose cases are left out are not printed).
const only = process.env.BENCH_ONLY === undefined ? undefined : new RegExp(process.env.BENCH_ONLY, 'i')
const cases = CASES.filter(entry => present(entry.server) && (!entry.name.endsWith('PostgreSQL warehouse') || target.info.warehouseDatabaseId !== undefined) &&
  (only === undefined || only.test(entry.name) || (entry.ceilingOf !== undefined && only.test(entry.ceilingOf))))
if (pin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })

try {
  const ports: Record<Server, number> = {
    ours: target.info.ports.hs256,
    oursCached: target.info.ports.hs256cached,
    ceiling: references.info.ports.ceiling,
    sdkV2: references.info.ports.sdkV2,
    sdkV1: references.info.ports.sdkV1,
    oursPg: target.info.ports.hs256pg ?? 0,
    oursSearch: target.info.ports.hs256search,
    dbhub: dbhub?.port ?? 0,
    toolbox: toolbox?.port ?? 0,
    dbhubPg: dbhubPg?.port ?? 0,
    toolboxPg: toolboxPg?.port ?? 0
  }
  const pids: Record<Server, number> = {
    ours: target.child.pid!,
    oursCached: target.child.pid!,
    oursPg: target.child.pid!,
    oursSearch: target.child.pid!,
    ceiling: references.child.pid!,
    sdkV2: references.child.pid!,
    sdkV1: references.child.pid!,
    dbhub: dbhub?.child.pid ?? 0,
    toolbox: toolbox?.child.pid ?? 0,
    dbhubPg: dbhubPg?.child.pid ?? 0,
    toolboxPg: toolboxPg?.child.pid ?? 0
  }
  const authorization = target.info.credentials.hs256 as string
  const headersOf = (entry: Case): Record<string, string> => entry.server.startsWith('ours') ? { ...entry.headers, authorization } : entry.headers
  const urlOf = (entry: Case): string => entry.server === 'ceiling' ? `http://127.0.0.1:${ports.ceiling}/ceiling/${encodeURIComponent(entry.ceilingOf ?? '')}` : `http://127.0.0.1:${ports[entry.server]}/mcp`

  // Each answer once: checked, and its bytes given to the ceiling route of the same size.
  const answers: Record<string, string> = {}
  for (const entry of cases.filter(candidate => candidate.ceilingOf === undefined)) {
    // Replicas still loading their example data answer 503 for a moment.
    let response = await fetch(urlOf(entry), { method: 'POST', headers: headersOf(entry), body: entry.body })
    for (let attempt = 0; response.status === 503 && attempt < 60; attempt++) {
      await new Promise(resolve => setTimeout(resolve, 500))
      response = await fetch(urlOf(entry), { method: 'POST', headers: headersOf(entry), body: entry.body })
    }
    const text = await response.text()
    if (response.status !== 200 || /"isError":\s*true|"error":\{/.test(text)) throw new Error(`${entry.name}: HTTP ${response.status} ${text.slice(0, 300)}`)
    answers[entry.name] = text
  }
  await fetch(`http://127.0.0.1:${ports.ceiling}/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(answers) })

  console.log(`analytics-mcp against ceilings and references: ${duration} s per case, ${repeats} rounds, ${connections} connections, Node ${process.version}${pin ? ', servers on CPU 0, load on CPU 1' : ''}\n`)
  const results = new Map<string, Measured>(cases.map(entry => [entry.name, { rps: [], p50: [], p99: [], cpuUs: [], errors: 0, bytes: Buffer.byteLength(answers[entry.ceilingOf ?? entry.name] ?? '') }]))
  for (let round = 0; round < repeats; round++) {
    for (const entry of cases) {
      const options = { url: urlOf(entry), method: 'POST' as const, headers: headersOf(entry), body: entry.body, connections }
      await autocannon({ ...options, duration: 1 })
      const before = cpuTicks(pids[entry.server])
      const result = await autocannon({ ...options, duration })
      const ticks = cpuTicks(pids[entry.server]) - before
      const measured = results.get(entry.name)!
      measured.rps.push(result.requests.average)
      measured.p50.push(result.latency.p50)
      measured.p99.push(result.latency.p99)
      measured.cpuUs.push(result.requests.total > 0 ? (ticks / TICKS_PER_SECOND) * 1e6 / result.requests.total : 0)
      measured.errors += result.errors + result.non2xx
    }
  }

  console.log('| Case | answer bytes | req/s min / median / max | p50 / p99 ms | CPU µs/req | errors |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const entry of cases) {
    const m = results.get(entry.name)!
    const sorted = [...m.rps].sort((a, b) => a - b)
    console.log(`| ${entry.name} | ${m.bytes} | ${fmt(sorted[0] ?? 0)} / ${fmt(median(m.rps))} / ${fmt(sorted.at(-1) ?? 0)} | ${median(m.p50)} / ${median(m.p99)} | ${fmt(median(m.cpuUs))} | ${m.errors} |`)
  }

  const rps = (name: string): number => median(results.get(name)?.rps ?? [])
  const p50 = (name: string): number => median(results.get(name)?.p50 ?? [])
  const p99 = (name: string): number => median(results.get(name)?.p99 ?? [])
  const reference = rps('SDK v2 createMcpHandler, trivial tool (legacy)')
  const checks: Array<{ what: string, value: number, target: number, better: 'higher' | 'lower' }> = [
    { what: 'tools/list / its same-size ceiling', value: rps('tools/list') / rps('ceiling: tools/list bytes'), target: 0.5, better: 'higher' },
    { what: 'list_dashboards cached / its ceiling', value: rps('list_dashboards, cached') / rps('ceiling: list_dashboards bytes'), target: 0.35, better: 'higher' },
    { what: 'get_dataset_info cached / its ceiling', value: rps('get_dataset_info, cached') / rps('ceiling: get_dataset_info bytes'), target: 0.35, better: 'higher' },
    { what: 'health_check (legacy) / SDK v2 reference', value: rps('health_check (legacy)') / reference, target: 3, better: 'higher' },
    { what: 'health_check (2026-07-28) / SDK v2 reference (2026-07-28)', value: rps('health_check (2026-07-28)') / rps('SDK v2 createMcpHandler, trivial tool (2026-07-28)'), target: 3, better: 'higher' },
    { what: 'health_check / SDK v1 reference', value: rps('health_check (legacy)') / rps('SDK v1 stateless transport, trivial tool'), target: 3, better: 'higher' },
    { what: 'list_dashboards / SDK v2 reference', value: rps('list_dashboards') / reference, target: 3, better: 'higher' },
    { what: 'get_dataset_info / SDK v2 reference', value: rps('get_dataset_info') / reference, target: 3, better: 'higher' },
    ...(dbhub === undefined ? [] : [{ what: 'execute_sql (same aggregation) / dbhub', value: rps('execute_sql, small aggregation') / rps('peer: dbhub execute_sql, same aggregation'), target: 1, better: 'higher' as const }]),
    ...(toolbox === undefined ? [] : [{ what: 'execute_sql (same aggregation) / MCP Toolbox', value: rps('execute_sql, small aggregation') / rps('peer: MCP Toolbox execute_sql, same aggregation'), target: 1, better: 'higher' as const }]),
    ...(dbhubPg === undefined ? [] : [{ what: 'execute_sql on PostgreSQL (same aggregation) / dbhub on it', value: rps('execute_sql, same aggregation, PostgreSQL warehouse') / rps('peer: dbhub execute_sql, PostgreSQL warehouse'), target: 1, better: 'higher' as const }]),
    ...(toolboxPg === undefined ? [] : [{ what: 'execute_sql on PostgreSQL (same aggregation) / MCP Toolbox on it', value: rps('execute_sql, same aggregation, PostgreSQL warehouse') / rps('peer: MCP Toolbox execute_sql, PostgreSQL warehouse'), target: 1, better: 'higher' as const }]),
    ...(results.has('health_check, PostgreSQL catalog')
      ? [
          { what: 'health_check, PostgreSQL catalog / SDK v2 reference', value: rps('health_check, PostgreSQL catalog') / reference, target: 3, better: 'higher' as const },
          { what: 'list_dashboards, PostgreSQL catalog / SDK v2 reference', value: rps('list_dashboards, PostgreSQL catalog') / reference, target: 3, better: 'higher' as const },
          { what: 'get_dataset_info, PostgreSQL catalog / SDK v2 reference', value: rps('get_dataset_info, PostgreSQL catalog') / reference, target: 3, better: 'higher' as const }
        ]
      : []),
    { what: 'health_check p99 / reference p50 (ms)', value: p99('health_check (legacy)') / Math.max(p50('SDK v2 createMcpHandler, trivial tool (legacy)'), 1), target: 1, better: 'lower' }
  ]
  console.log('\n| Ratio (same run, medians) | measured | target | met |')
  console.log('|---|---:|---:|:---:|')
  for (const check of checks.filter(candidate => Number.isFinite(candidate.value) && candidate.value > 0)) {
    const met = check.better === 'higher' ? check.value >= check.target : check.value <= check.target
    console.log(`| ${check.what} | ${fmt(check.value, 2)} | ${check.better === 'higher' ? '≥' : '≤'} ${check.target} | ${met ? 'yes' : 'no'} |`)
  }

  // The chart: median req/s per case, drawn by the service's own renderer.
  const out = path.join(here, '..', '.artifacts', 'bench')
  mkdirSync(out, { recursive: true })
  const png = await renderPng(toVegaLite({
    title: 'req/s per case (median), one server core',
    kind: 'bar',
    x: { name: 'case', label: 'Case', type: 'nominal' },
    y: [{ name: 'rps', label: 'req/s', type: 'quantitative', format: ',.0f' }],
    rows: cases.map(entry => ({ case: entry.name, rps: Math.round(rps(entry.name)) }))
  }, { width: 960, height: 540 }), { width: 960, height: 540 })
  writeFileSync(path.join(out, 'compare.png'), png)
  console.log(`\nchart: ${path.relative(process.cwd(), path.join(out, 'compare.png'))}`)
} finally {
  for (const child of [target.child, references.child, ...Object.values(peers).flatMap(peer => peer === undefined ? [] : [peer.child])]) {
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
  }
  await postgres?.destroy()
  rmSync(dataDir, { recursive: true, force: true })
}
