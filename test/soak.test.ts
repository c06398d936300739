import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import t from 'tap'
import { dockerfileFacts } from './helpers/dockerfile.ts'
import { JwksServer } from './helpers/jwks-server.ts'
import { signWith, testKey } from './helpers/keys.ts'
import { NGINX, startNginx } from './helpers/nginx.ts'
import { freePort } from './helpers/ports.ts'
import { startPostgres } from './helpers/postgres.ts'
import { RedisServer } from './helpers/redis.ts'

// The soak: two replicas of the package's bin behind nginx, on one PostgreSQL catalog and one
// Redis (cache, rate limits, events), JWT auth through a JWKS endpoint, under a mixed workload of
// three principals for SOAK_SECONDS (90 in the suite; `make soak` runs 600). Meanwhile Redis is
// killed and restarted, PostgreSQL restarted, the JWKS endpoint taken down, and one replica
// stopped with SIGTERM and started again. Every answer is checked against an oracle; the only
// failures allowed are 5xx inside an outage (plus a short recovery), never a wrong answer.

const SECONDS = Number(process.env.SOAK_SECONDS ?? 90)
const WORKERS = Number(process.env.SOAK_WORKERS ?? 6)
const ROOT = path.join(import.meta.dirname, '..')
const BIN = path.join(ROOT, 'bin', 'analytics-mcp.js')
const SERVICE_URL = 'https://analytics.soak'
const ISSUER = 'https://idp.soak/realms/acme'
/** After an outage ends, what depended on it may fail this much longer (reconnects, nginx's fail_timeout). */
const RECOVERY_MS = 5_000
const IMAGE_NODE_OPTIONS = dockerfileFacts(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).env.NODE_OPTIONS ?? ''
const SQL = 'SELECT region, COUNT(*) AS n FROM orders GROUP BY region ORDER BY region'

t.setTimeout((SECONDS + 240) * 1000)

interface Replica { port: number, dir: string, child: ChildProcess | undefined }

if (NGINX === undefined) {
  t.fail('the soak needs nginx (apt-get install nginx-light, or `make test-services` as root)')
} else {
  t.test(`soak: ${SECONDS} s, ${WORKERS} workers, faults injected`, async t => {
    const work = t.testdir()
    const pg = await startPostgres(t)
    await pg.sql('CREATE DATABASE soak_catalog')
    const redis = await RedisServer.start(t)
    const key = testKey('soak-key')
    const jwks = await JwksServer.start(t, [key.jwk])
    const token = (sub: string): string => `Bearer ${signWith(key, { sub, iss: ISSUER, aud: `${SERVICE_URL}/mcp`, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 7200, scope: 'mcp:read mcp:write mcp:sql' })}`

    const replicas: Replica[] = [{ port: await freePort(), dir: path.join(work, 'a'), child: undefined }, { port: await freePort(), dir: path.join(work, 'b'), child: undefined }]
    const env = (replica: Replica): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      // As the image runs Node (Dockerfile): the memory the soak reports is the pods'.
      NODE_OPTIONS: IMAGE_NODE_OPTIONS,
      MCP_DATA_DIR: replica.dir,
      MCP_SERVICE_PORT: String(replica.port),
      MCP_LOG_LEVEL: 'error',
      MCP_CATALOG_URL: pg.urlFor('postgres', 'soak_catalog'),
      MCP_STORE_CONFIG: JSON.stringify({ enabled: true, CACHE_REDIS_URL: `${redis.url}/0` }),
      MCP_CACHE_CONFIG: JSON.stringify({ enabled: true }),
      // Limits on, through Redis, but above this workload: a refusal here would be the limiter's fault.
      MCP_RATE_LIMIT_CONFIG: JSON.stringify({ enabled: true, requests_per_minute: 100_000, burst: 10_000, tool_limits: { execute_sql: { per_minute: 100_000, burst: 10_000 } } }),
      MCP_AUTH_ENABLED: 'true',
      MCP_SERVICE_URL: SERVICE_URL,
      MCP_JWT_AUDIENCE: `${SERVICE_URL}/mcp`,
      MCP_JWT_ISSUER: ISSUER,
      MCP_JWT_ALGORITHM: 'RS256',
      MCP_JWKS_URI: jwks.url,
      MCP_SHUTDOWN_TIMEOUT: '20'
    })
    const start = async (replica: Replica): Promise<void> => {
      mkdirSync(replica.dir, { recursive: true })
      const child = spawn(process.execPath, [BIN, 'run'], { env: env(replica), stdio: ['ignore', 'ignore', 'pipe'] })
      replica.child = child
      for (let attempt = 0; attempt < 1200; attempt++) {
        if (child.exitCode !== null) throw new Error(`replica on ${replica.port} exited with ${child.exitCode}`)
        try {
          if ((await fetch(`http://127.0.0.1:${replica.port}/readyz`)).status === 200) return
        } catch { /* starting */ }
        await sleep(50)
      }
      throw new Error(`replica on ${replica.port} did not become ready`)
    }
    const stop = async (replica: Replica): Promise<number | null> => {
      const child = replica.child
      if (child === undefined || child.exitCode !== null) return child?.exitCode ?? null
      child.kill('SIGTERM')
      return await new Promise(resolve => child.once('exit', code => resolve(code)))
    }
    t.teardown(async () => { for (const replica of replicas) replica.child?.kill('SIGKILL') })
    for (const replica of replicas) await start(replica)

    const front = await freePort()
    const nginx = await startNginx({ dir: path.join(work, 'nginx'), port: front, upstreams: replicas.map(replica => replica.port), failover: true })
    t.teardown(() => { nginx.kill('SIGKILL') })

    const url = `http://127.0.0.1:${front}/mcp`
    const call = async (who: string, name: string, args: unknown): Promise<{ status: number, result: any, message?: string }> => {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', authorization: token(who) },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } })
        })
        const text = await response.text()
        let parsed: any
        try { parsed = JSON.parse(text) } catch { parsed = undefined }
        return { status: response.status, result: parsed?.result, message: parsed?.error?.message ?? (parsed?.result?.isError === true ? parsed.result.content?.[0]?.text : undefined) }
      } catch {
        return { status: 0, result: undefined }
      }
    }

    // Oracles: the rows straight from the example file; the other answers as first seen before any fault.
    const examples = new Database(path.join(replicas[0]!.dir, 'examples.db'), { readonly: true })
    const expectedRows = examples.prepare(SQL).all()
    examples.close()
    const snapshot = async (who: string, name: string, args: unknown, pick: (result: any) => unknown): Promise<unknown> => {
      const answer = await call(who, name, args)
      if (answer.status !== 200 || answer.result?.isError === true) throw new Error(`${name} as ${who} failed before the soak: ${JSON.stringify(answer)}`)
      return pick(answer.result)
    }
    const dashboardIds = (result: any): number[] => result.structuredContent.dashboards.map((dashboard: { id: number }) => dashboard.id).sort()
    const columnNames = (result: any): string[] => result.structuredContent.columns.map((column: { column_name: string }) => column.column_name).sort()
    const queryRows = (result: any): unknown => result.structuredContent.data
    const oracle = {
      bobDashboards: await snapshot('bob', 'list_dashboards', { page_size: 100 }, dashboardIds),
      adminDashboards: await snapshot('admin', 'list_dashboards', { page_size: 100 }, dashboardIds),
      columns: await snapshot('alice', 'get_dataset_info', { identifier: 'orders' }, columnNames),
      query: await snapshot('alice', 'query_dataset', { dataset_id: 'orders', metrics: ['revenue'], columns: ['region'] }, queryRows)
    }
    t.not(JSON.stringify(oracle.bobDashboards), JSON.stringify(oracle.adminDashboards), 'bob (Gamma) and admin see different dashboards: a shared cache entry would show')

    // Outages: [start, end) in ms since the start of the run.
    const outages: Array<{ what: string, from: number, to: number }> = []
    const began = Date.now()
    const now = (): number => Date.now() - began
    /** The outage in progress (it joins `outages` once it is over). */
    let current: { what: string, from: number } | undefined
    const counts = new Map<string, number>()
    const wrong: string[] = []
    const unexpected5xx: string[] = []
    const created: Array<{ id: number, name: string }> = []
    const count = (label: string): void => { counts.set(label, (counts.get(label) ?? 0) + 1) }

    const operations: Array<() => Promise<void>> = [
      async () => {
        const answer = await call('alice', 'execute_sql', { database_id: 1, sql: SQL })
        check('execute_sql (alice)', answer, result => JSON.stringify(result.structuredContent.rows) === JSON.stringify(expectedRows))
      },
      async () => {
        const answer = await call('bob', 'list_dashboards', { page_size: 100 })
        check('list_dashboards (bob)', answer, result => JSON.stringify(dashboardIds(result)) === JSON.stringify(oracle.bobDashboards))
      },
      async () => {
        const answer = await call('bob', 'execute_sql', { database_id: 1, sql: SQL })
        // bob (Gamma) may never get rows, whatever is down: a refusal (a tool error) or a 5xx in an outage.
        const at = now()
        count(`execute_sql (bob): ${answer.status}${answer.result?.isError === true ? ' refused' : ''}`)
        if (answer.status === 200 && answer.result?.isError !== true) wrong.push(`bob got SQL rows at ${at} ms`)
        if (answer.status >= 500 || answer.status === 0) noteFailure('execute_sql (bob)', answer.status, at, answer.message)
      },
      async () => {
        const answer = await call('alice', 'get_dataset_info', { identifier: 'orders' })
        check('get_dataset_info (alice)', answer, result => JSON.stringify(columnNames(result)) === JSON.stringify(oracle.columns))
      },
      async () => {
        const answer = await call('alice', 'query_dataset', { dataset_id: 'orders', metrics: ['revenue'], columns: ['region'] })
        check('query_dataset (alice)', answer, result => JSON.stringify(queryRows(result)) === JSON.stringify(oracle.query))
      },
      async () => {
        const name = `soak chart ${created.length + 1} ${Math.random().toString(36).slice(2, 8)}`
        const answer = await call('admin', 'generate_chart', { dataset_id: 'orders', chart_name: name, save_chart: true, config: { chart_type: 'pie', dimension: 'region', metric: 'revenue' }, preview_formats: [] })
        check('generate_chart save (admin)', answer, result => typeof result.structuredContent?.chart?.id === 'number')
        const id = answer.result?.structuredContent?.chart?.id
        if (answer.status === 200 && typeof id === 'number') created.push({ id, name })
      }
    ]
    /** Failures per outage (or none), with one message each, for the report. */
    const failuresBy = new Map<string, { count: number, sample: string }>()
    function noteFailure (label: string, status: number, at: number, message?: string): void {
      const during = [...outages].reverse().find(outage => at >= outage.from && at < outage.to + RECOVERY_MS)?.what ?? (current !== undefined && at >= current.from ? current.what : undefined)
      if (during === undefined) unexpected5xx.push(`${label}: HTTP ${status} at ${at} ms: ${String(message).slice(0, 200)}`)
      const entry = failuresBy.get(during ?? 'no outage') ?? { count: 0, sample: `${label}: HTTP ${status} ${String(message).slice(0, 160)}` }
      entry.count++
      failuresBy.set(during ?? 'no outage', entry)
    }
    function check (label: string, answer: { status: number, result: any, message?: string }, correct: (result: any) => boolean): void {
      const at = now()
      if (answer.status === 200 && answer.result !== undefined && answer.result.isError !== true) {
        count(`${label}: ok`)
        if (!correct(answer.result)) wrong.push(`${label} at ${at} ms: ${JSON.stringify(answer.result).slice(0, 300)}`)
        return
      }
      count(`${label}: ${answer.status}${answer.result?.isError === true ? ' tool error' : ''}`)
      if (answer.status >= 500 || answer.status === 0 || answer.result?.isError === true) noteFailure(label, answer.status, at, answer.message)
    }

    const deadline = SECONDS * 1000
    const workers = Array.from({ length: WORKERS }, async (_, index) => {
      for (let step = index; now() < deadline; step++) {
        const failuresBefore = [...failuresBy.values()].reduce((sum, entry) => sum + entry.count, 0)
        await operations[step % operations.length]!()
        // A client told to retry later (503) waits a little, as MCP clients do, instead of spinning.
        if ([...failuresBy.values()].reduce((sum, entry) => sum + entry.count, 0) > failuresBefore) await sleep(200)
      }
    })
    const outage = async (what: string, at: number, hold: number, down: () => Promise<void>, up: () => Promise<void>): Promise<void> => {
      await sleep(Math.max(0, at - now()))
      const from = now()
      current = { what, from }
      await down()
      await sleep(hold)
      await up()
      outages.push({ what, from, to: now() })
      current = undefined
    }
    const hold = Math.min(30_000, deadline * 0.1)
    const faults = (async () => {
      await outage('Redis killed', deadline * 0.15, hold, async () => { await redis.kill() }, async () => { await redis.restart() })
      await outage('PostgreSQL restarted', deadline * 0.35, 2_000, async () => { await pg.stop() }, async () => { await pg.start() })
      await outage('JWKS endpoint down', deadline * 0.55, hold, async () => { jwks.mode = 'down' }, async () => { jwks.mode = 'ok' })
      let exitCode: number | null = null
      await outage('replica B stopped (SIGTERM) and started', deadline * 0.75, 0, async () => { exitCode = await stop(replicas[1]!) }, async () => { await start(replicas[1]!) })
      t.equal(exitCode, 0, 'replica B drained and exited 0 on SIGTERM')
    })()
    // Resident memory per replica once warm (a tenth into the run) and at the end; replica A runs throughout.
    const rssMiB = (replica: Replica): number => {
      const status = readFileSync(`/proc/${replica.child?.pid ?? 0}/status`, 'utf8')
      return Math.round(Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024)
    }
    let warmRss: number[] = []
    const memory = (async () => {
      await sleep(deadline * 0.1)
      warmRss = replicas.map(rssMiB)
    })()
    await Promise.all([...workers, faults, memory])
    const endRss = replicas.map(rssMiB)

    // After the run: everything created is there, as the one who created it sees it.
    let missing = 0
    for (const chart of created) {
      const answer = await call('admin', 'get_chart_info', { identifier: chart.id })
      if (answer.result?.structuredContent?.slice_name !== chart.name) missing++
    }
    const total = [...counts.values()].reduce((sum, value) => sum + value, 0)
    t.comment(`soak: ${total} calls in ${Math.round(now() / 1000)} s; outages: ${outages.map(entry => `${entry.what} ${Math.round(entry.from / 1000)}–${Math.round(entry.to / 1000)} s`).join(', ')}`)
    t.comment(`failures by outage: ${[...failuresBy].map(([what, entry]) => `${what}: ${entry.count} (e.g. ${entry.sample})`).join('; ') || 'none'}`)
    t.comment(`outcomes: ${[...counts].sort().map(([label, value]) => `${label} ${value}`).join('; ')}`)
    t.comment(`RSS (NODE_OPTIONS=${IMAGE_NODE_OPTIONS}): replica A ${warmRss[0]} → ${endRss[0]} MiB; replica B ${warmRss[1]} MiB before its restart, ${endRss[1]} MiB at the end`)
    t.ok(endRss[0]! <= warmRss[0]! * 1.5, `replica A's resident memory stays flat: ${warmRss[0]} MiB warm, ${endRss[0]} MiB at the end (at most 1.5×)`)
    t.same(wrong, [], 'no wrong answer, ever (rows, dashboards visible to the user, columns, query results)')
    t.same(unexpected5xx, [], 'no failure outside an outage and its recovery')
    t.ok(created.length > 0, `charts were created during the run (${created.length})`)
    t.equal(missing, 0, `every chart created during the run is there afterwards (${created.length - missing} of ${created.length})`)
    for (const replica of replicas) t.equal(await stop(replica), 0, `replica on ${replica.port} exits 0 on SIGTERM`)
    const leaked = spawnSync('pgrep', ['-f', 'sqlite-runner']).stdout.toString().trim()
    t.equal(leaked, '', 'no SQL runner process outlives the replicas')
  })
}
