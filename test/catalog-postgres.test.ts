import { mkdtempSync, writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { Catalog, PUSHED_VERSION_MAX_AGE_MS } from '../src/catalog/catalog.ts'
import { TABLES_IN_DEPENDENCY_ORDER } from '../src/catalog/schema.ts'
import { LATEST_CATALOG_VERSION } from '../src/catalog/migrations.ts'
import { loggerOptions } from '../src/logger.ts'
import { build, startTestServer } from './helpers/app.ts'
import { testConfig } from './helpers/config.ts'
import type { RunningServer } from './helpers/app.ts'
import { callWith, jwtSettings, SECRET } from './helpers/auth.ts'
import { freshPostgresCatalogUrl, sharedPostgres } from './helpers/catalogs.ts'
import { cli } from './helpers/cli.ts'
import { sharedExamplesFile } from './helpers/examples.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { post } from './helpers/rpc.ts'
import { startPostgres } from './helpers/postgres.ts'

// The catalog on PostgreSQL as a Kubernetes deployment uses it: several replicas on one
// catalog, the CLI writing beside them, replicas starting together, PostgreSQL restarting
// under load, and the move from the embedded SQLite catalog with `db copy`.

const AUTH = jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] })
const bearer = (username: string): string => `Bearer ${signWithSecret(SECRET, claimsFor(username))}`
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function toolsOf (server: RunningServer, username: string): Promise<string[]> {
  const response = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: bearer(username) })
  return (response.json.result.tools as Array<{ name: string }>).map(tool => tool.name)
}

async function structured (server: RunningServer, tool: string, args: Record<string, unknown>, username = 'admin'): Promise<Record<string, any>> {
  const result = (await callWith(server, bearer(username), tool, args)).json.result
  if (result?.isError === true) throw new Error(`${tool} failed: ${JSON.stringify(result.content)}`)
  return result.structuredContent
}

/** Poll `check` until it holds or `boundMs` passes; resolves to the milliseconds it took, or undefined. */
async function within (boundMs: number, check: () => Promise<boolean>): Promise<number | undefined> {
  const started = Date.now()
  while (Date.now() - started <= boundMs) {
    if (await check()) return Date.now() - started
    await sleep(50)
  }
  return undefined
}

function cliEnv (dir: string, url: string): NodeJS.ProcessEnv {
  return { MCP_DATA_DIR: dir, MCP_CATALOG_URL: url, MCP_EXAMPLES_PATH: sharedExamplesFile(), MCP_LOG_LEVEL: 'silent' }
}

t.test('two replicas on one PostgreSQL catalog see each other\'s writes, and the CLI\'s', async t => {
  const url = await freshPostgresCatalogUrl()
  const a = await startTestServer(t, { ...AUTH, MCP_CATALOG_URL: url })
  const b = await startTestServer(t, { ...AUTH, MCP_CATALOG_URL: url })

  const listed = async (server: RunningServer): Promise<string[]> =>
    (await structured(server, 'list_charts', { search: 'Shared across replicas', select_columns: ['id', 'slice_name'] })).charts.map((chart: { slice_name: string }) => chart.slice_name)
  t.same(await listed(b), [], 'b has no such chart yet (and may have cached that answer)')
  const created = await structured(a, 'generate_chart', { dataset_id: 'orders', chart_name: 'Shared across replicas', save_chart: true, config: { chart_type: 'pie', dimension: 'region', metric: 'revenue' } })
  t.ok(created.chart?.id, 'a saved the chart')
  t.same(await listed(b), ['Shared across replicas'], 'b lists the chart a created, not its cached empty answer')

  // bob (Gamma) may not run SQL until an administrator adds him to sql_lab with the CLI.
  t.notOk((await toolsOf(a, 'bob')).includes('execute_sql'), 'bob has no SQL on a')
  t.notOk((await toolsOf(b, 'bob')).includes('execute_sql'), 'bob has no SQL on b')
  const added = await cli(['roles', 'add-user', 'sql_lab', 'bob'], cliEnv(mkdtempSync(path.join(tmpdir(), 'cli-')), url))
  t.equal(added.code, 0, added.err)
  const bound = PUSHED_VERSION_MAX_AGE_MS + 5_000
  for (const [name, server] of [['a', a], ['b', b]] as const) {
    const took = await within(bound, async () => (await toolsOf(server, 'bob')).includes('execute_sql'))
    t.ok(took !== undefined, `the role change reaches ${name} within the documented bound (${took ?? 'never'} ms)`)
  }
  t.ok(a.app.catalog.store.receivingChanges(), 'changes are pushed (LISTEN), not polled')
})

t.test('five replicas starting at once on an empty catalog apply the migrations once and register the examples once', async t => {
  const url = await freshPostgresCatalogUrl()
  const apps = await Promise.all(Array.from({ length: 5 }, async () => await build(t, { MCP_CATALOG_URL: url, MCP_CATALOG_POOL_SIZE: 3 })))
  t.equal(apps.length, 5, 'all five started')
  const pg = await sharedPostgres()
  const database = new URL(url).pathname.slice(1)
  const inCatalog = async <Row> (query: string): Promise<Row[]> => {
    const client = new (await import('pg')).default.Client({ connectionString: pg.urlFor('postgres', database) })
    await client.connect()
    try {
      return (await client.query(query)).rows as Row[]
    } finally {
      await client.end()
    }
  }
  t.same((await inCatalog<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).map(row => row.version),
    Array.from({ length: LATEST_CATALOG_VERSION }, (_, i) => i + 1), 'each migration recorded once')
  t.same(await inCatalog('SELECT database_name FROM databases'), [{ database_name: 'examples' }], 'one examples database')
  const [counts] = await inCatalog<Record<string, number>>(`SELECT (SELECT COUNT(*)::int FROM datasets) AS datasets, (SELECT COUNT(*)::int FROM charts) AS charts,
    (SELECT COUNT(*)::int FROM dashboards) AS dashboards, (SELECT COUNT(*)::int FROM users) AS users`)

  // What one registration makes, on an embedded catalog of its own.
  const alone = await Catalog.open(path.join(mkdtempSync(path.join(tmpdir(), 'alone-')), 'catalog.db'), { upgrade: true })
  t.teardown(async () => { await alone.close() })
  const { loadExamples } = await import('../src/examples/load.ts')
  await loadExamples(alone, sharedExamplesFile())
  const [single] = await alone.store.all<Record<string, number>>(`SELECT (SELECT COUNT(*) FROM datasets) AS datasets, (SELECT COUNT(*) FROM charts) AS charts,
    (SELECT COUNT(*) FROM dashboards) AS dashboards, (SELECT COUNT(*) FROM users) AS users`)
  t.same(counts, single, 'the examples were registered exactly once')
})

t.test('PostgreSQL stopped for 10 s: calls fail cleanly, /readyz says so, and the service recovers without a restart', async t => {
  const pg = await startPostgres(t)
  await pg.sql('CREATE DATABASE restart_catalog')
  const server = await startTestServer(t, { ...AUTH, MCP_CATALOG_URL: pg.urlFor('postgres', 'restart_catalog') })
  const dashboards = async (): Promise<Record<string, any>> => (await callWith(server, bearer('alice'), 'list_dashboards', {})).json
  const readyz = async (): Promise<{ status: number, body: any }> => {
    const response = await server.app.inject({ method: 'GET', url: '/readyz' })
    return { status: response.statusCode, body: response.json() }
  }
  const before = await dashboards()
  t.notOk(before.result.isError, 'list_dashboards works')
  t.equal((await readyz()).status, 200, 'ready')

  await pg.stop()
  const downSince = Date.now()
  const failures: string[] = []
  let ready: { status: number, body: any } | undefined
  while (Date.now() - downSince < 10_000) {
    const answer = await dashboards()
    const text = JSON.stringify(answer)
    if (answer.error !== undefined || answer.result?.isError === true) failures.push(text)
    t.notMatch(text, /127\.0\.0\.1|ECONNREFUSED|postgres(ql)?:\/\/|\n\s+at /, 'no host, URL or stack trace in the answer')
    ready ??= await readyz()
    await sleep(500)
  }
  t.ok(failures.length > 0, `calls fail while the catalog is down (${failures.length} failed)`)
  t.match(failures[0], /catalog cannot be reached right now/, 'and say why: the catalog, not the credential')
  t.notMatch(failures.join('\n'), /invalid_token/, 'no client is told to sign in again')
  t.equal(ready?.status, 503, '/readyz fails while the catalog is down')
  t.equal(ready?.body?.checks?.catalog, 'unavailable', 'and names the catalog')

  await pg.start()
  let last = ''
  const recovered = await within(30_000, async () => {
    const [probe, answer] = [await readyz(), await dashboards()]
    last = JSON.stringify({ probe, answer }).slice(0, 400)
    return probe.status === 200 && answer.result !== undefined && answer.result.isError !== true
  })
  t.ok(recovered !== undefined, `recovered ${recovered ?? 'never'} ms after PostgreSQL came back, with no restart`, { last })
  t.same((await dashboards()).result.structuredContent.total_count, before.result.structuredContent.total_count, 'the same dashboards')
  const took = await within(PUSHED_VERSION_MAX_AGE_MS * 2, async () => server.app.catalog.store.receivingChanges())
  t.ok(took !== undefined, 'the change listener is back')
})

t.test('db copy moves a whole SQLite catalog to PostgreSQL, and the service runs on the copy', async t => {
  const dir = t.testdir()
  const sqliteFile = path.join(dir, 'catalog.db')
  const env = { MCP_DATA_DIR: dir, MCP_EXAMPLES_PATH: sharedExamplesFile(), MCP_LOG_LEVEL: 'silent' }
  t.equal((await cli(['load-examples'], env)).code, 0, 'examples loaded into SQLite')
  t.equal((await cli(['users', 'create', '--username', 'carol', '--role', 'Gamma', '--email', 'carol@example.com'], env)).code, 0)
  t.equal((await cli(['roles', 'create', 'finance'], env)).code, 0)
  t.equal((await cli(['roles', 'grant', 'finance', 'datasource_access', '--on', 'dataset:orders'], env)).code, 0)
  t.equal((await cli(['roles', 'add-user', 'finance', 'carol'], env)).code, 0)
  const key = await cli(['api-keys', 'create', '--user', 'carol', '--name', 'carol-laptop'], env)
  t.equal(key.code, 0, key.err)
  const apiKey = key.out.split('\n').at(-1)
  t.ok(apiKey, 'an API key was printed')

  const url = await freshPostgresCatalogUrl()
  const copied = await cli(['db', 'copy', '--from', sqliteFile, '--to', url], env)
  t.equal(copied.code, 0, copied.err)
  t.match(copied.out, /Copied .* users/, 'says what it copied')
  t.notMatch(copied.out + copied.err, /password/i)

  const source = await Catalog.open(sqliteFile, { upgrade: false })
  const target = await Catalog.open(url, { upgrade: false })
  t.teardown(async () => { await source.close(); await target.close() })
  for (const table of TABLES_IN_DEPENDENCY_ORDER) {
    const rows = async (catalog: Catalog): Promise<unknown[]> => await catalog.store.all(`SELECT * FROM ${table} ORDER BY ${table === 'role_permissions' ? '1, 2, 3, 4' : '1, 2'}`)
    t.same(await rows(target), await rows(source), `${table}: every row identical`)
  }
  t.equal(await target.linkSecret(), await source.linkSecret(), 'links signed before the move still open')

  const again = await cli(['db', 'copy', '--from', sqliteFile, '--to', url], env)
  t.not(again.code, 0, 'a second copy onto the filled catalog is refused')
  t.match(again.err, /not empty.*--force/, 'and says how to overwrite it')
  t.equal((await cli(['db', 'copy', '--from', sqliteFile, '--to', url, '--force'], env)).code, 0, '--force replaces it')

  const server = await startTestServer(t, { ...AUTH, MCP_CATALOG_URL: url, MCP_API_KEY_ENABLED: true, MCP_LOAD_EXAMPLES: false })
  const viaKey = (await callWith(server, `Bearer ${apiKey ?? ''}`, 'list_datasets', {})).json.result
  t.notOk(viaKey.isError, 'the API key made on SQLite signs carol in on the copy')
  t.same(viaKey.structuredContent.datasets.map((dataset: { table_name: string }) => dataset.table_name), ['orders'], 'with her grants: the orders dataset only')
  const maxChart = (await target.store.get<{ id: number }>('SELECT MAX(id) AS id FROM charts'))?.id ?? 0
  const created = await structured(server, 'generate_chart', { dataset_id: 'orders', chart_name: 'After the move', save_chart: true, config: { chart_type: 'pie', dimension: 'region', metric: 'revenue' } })
  t.equal(created.chart.id, maxChart + 1, 'new objects continue the copied ids')
})

t.test('the catalog password comes from a file and never shows', async t => {
  const pg = await sharedPostgres()
  const password = 'catalog-s3cret-pass'
  await pg.sql(`CREATE ROLE catalog_owner LOGIN PASSWORD '${password}'`)
  await pg.sql('CREATE DATABASE owned_catalog OWNER catalog_owner')
  const dir = t.testdir()
  const file = path.join(dir, 'catalog-password')
  writeFileSync(file, `${password}\n`)
  const url = pg.urlFor('catalog_owner', 'owned_catalog')
  const env = { MCP_DATA_DIR: dir, MCP_CATALOG_URL: url, MCP_CATALOG_PASSWORD_FILE: file, MCP_LOG_LEVEL: 'silent' }
  const upgraded = await cli(['db', 'upgrade'], env)
  t.equal(upgraded.code, 0, upgraded.err)
  t.match(upgraded.out, /Applied migration 7/)
  const version = await cli(['db', 'version'], env)
  t.match(version.out, new RegExp(`schema version ${LATEST_CATALOG_VERSION}`))

  const inUrl = await cli(['db', 'version'], { ...env, MCP_CATALOG_PASSWORD_FILE: undefined, MCP_CATALOG_URL: url.replace('catalog_owner@', `catalog_owner:${password}@`) })
  t.equal(inUrl.code, 0, 'a password in the URL works too')
  t.notMatch(inUrl.out + inUrl.err, password, 'and is not shown')

  writeFileSync(file, 'wrong-password')
  const refused = await cli(['db', 'version'], env)
  t.not(refused.code, 0, 'a wrong password stops the command')
  t.match(refused.err, /password authentication failed/, 'saying why')
  t.notMatch(refused.err, /wrong-password|catalog-s3cret/, 'without the password')

  const missing = await cli(['db', 'version'], { ...env, MCP_CATALOG_PASSWORD_FILE: path.join(dir, 'absent') })
  t.not(missing.code, 0)
  t.match(missing.err, /MCP_CATALOG_PASSWORD_FILE/, 'an unreadable password file is named')

  // A replica with the password in its URL, logging at debug level, through a password change
  // that makes every new connection fail: no log line and no answer shows the password.
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const withPassword = url.replace('catalog_owner@', `catalog_owner:${password}@`)
  const config = testConfig(mkdtempSync(path.join(tmpdir(), 'logs-')), { ...AUTH, MCP_CATALOG_URL: withPassword, MCP_LOG_LEVEL: 'debug' })
  const server = await startTestServer(t, { ...AUTH, MCP_CATALOG_URL: withPassword, MCP_LOG_LEVEL: 'debug' }, { logger: { ...loggerOptions(config), stream } })
  t.notOk((await callWith(server, bearer('admin'), 'list_dashboards', {})).json.result.isError, 'the replica works')
  await pg.sql(`ALTER ROLE catalog_owner PASSWORD 'rotated-elsewhere'`)
  await pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'catalog_owner'")
  const answers: string[] = []
  for (let i = 0; i < 5; i++) answers.push((await callWith(server, bearer('admin'), 'list_charts', { search: `after ${i}` })).text)
  answers.push((await server.app.inject({ method: 'GET', url: '/readyz' })).body)
  t.ok(answers.some(answer => /catalog cannot be reached|unavailable/.test(answer)), 'calls fail while the password is wrong')
  t.ok(lines.length > 0, 'the replica logged')
  t.notMatch(lines.join('') + answers.join(''), password, 'the password is in no log line and no answer')
  await pg.sql(`ALTER ROLE catalog_owner PASSWORD '${password}'`)
})

t.test('catalog queries run in a bounded pool, under a statement timeout', async t => {
  const url = await freshPostgresCatalogUrl()
  const server = await startTestServer(t, { ...AUTH, MCP_CATALOG_URL: url, MCP_CATALOG_POOL_SIZE: 2, MCP_CATALOG_STATEMENT_TIMEOUT: 1 })
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await callWith(server, bearer(i % 2 === 0 ? 'alice' : 'bob'), 'list_dashboards', { search: `x${i}` })).json))
  t.ok(answers.every(answer => answer.result !== undefined && answer.result.isError !== true), '20 concurrent calls all answered')
  const pg = await sharedPostgres()
  const [activity] = await pg.sql<{ connections: number }>("SELECT COUNT(*)::int AS connections FROM pg_stat_activity WHERE datname = $1 AND application_name = 'analytics-mcp catalog'", [new URL(url).pathname.slice(1)])
  t.ok(activity !== undefined && activity.connections <= 3, `at most MCP_CATALOG_POOL_SIZE connections plus the listener (${activity?.connections ?? 'none'})`)
  await t.rejects(server.app.catalog.store.all('SELECT pg_sleep(3)'), /statement timeout/, 'a catalog query running past MCP_CATALOG_STATEMENT_TIMEOUT is stopped by PostgreSQL')
})

t.test('catalog connections killed in the middle of a transaction fail it cleanly, and the replica goes on', async t => {
  const url = await freshPostgresCatalogUrl()
  const server = await startTestServer(t, { ...AUTH, MCP_CATALOG_URL: url })
  const catalog = server.app.catalog
  const database = new URL(url).pathname.slice(1)
  const pg = await sharedPostgres()
  const doomed = catalog.transaction(async () => {
    await catalog.createRole('doomed')
    // Every connection to this catalog is killed while the transaction holds one, idle between statements.
    await pg.sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database])
    await sleep(200)
    await catalog.createRole('never')
  })
  await t.rejects(doomed, 'the transaction fails')
  t.equal(await catalog.findRole('doomed'), undefined, 'and left nothing behind')
  t.notOk((await callWith(server, bearer('admin'), 'list_dashboards', {})).json.result.isError, 'the replica answers the next call')
})
