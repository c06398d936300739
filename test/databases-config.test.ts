import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.ts'
import { Catalog } from '../src/catalog/catalog.ts'
import { ConfigError } from '../src/config.ts'
import { declaredRegistrations } from '../src/plugins/databases.ts'
import { cli } from './helpers/cli.ts'
import { testConfig } from './helpers/config.ts'
import { sharedExamplesFile } from './helpers/examples.ts'
import { JSON_HEADERS, toolCall } from './helpers/rpc.ts'

// MCP_DATABASES (a Kubernetes ConfigMap) reconciled with the catalog at every start-up.

const SECRET = 'hunter2-never-in-the-catalog'

async function start (t: Test, dataDir: string, databases: unknown[]): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(dataDir, { MCP_DATABASES: databases }), { logger: false })
  t.teardown(() => app.close())
  return app
}

async function callTool (app: FastifyInstance, name: string, args: Record<string, unknown>): Promise<Record<string, any>> {
  const response = await app.inject({ method: 'POST', url: '/mcp', headers: JSON_HEADERS, payload: toolCall(name, args) as Record<string, unknown> })
  return response.json().result
}

function catalogBytes (dataDir: string): string {
  const file = path.join(dataDir, 'catalog.db')
  return [file, `${file}-wal`].filter(existsSync).map(name => readFileSync(name).toString('latin1')).join('')
}

t.test('declared databases are created at start-up and follow the declaration on the next', async t => {
  const dataDir = t.testdir({ 'pg-password': `${SECRET}\n` })
  process.env.WAREHOUSE_PASSWORD = SECRET
  t.teardown(() => { delete process.env.WAREHOUSE_PASSWORD })
  const declared = [
    { name: 'warehouse', uri: 'postgresql://analyst@db.internal:6432/sales?sslmode=verify-full', password_env: 'WAREHOUSE_PASSWORD', schemas: ['sales'], row_limit: 5000, description: 'Sales warehouse' },
    { name: 'shop', uri: `sqlite://${sharedExamplesFile()}`, expose_in_sqllab: false },
    { name: 'lake', uri: 'duckdb:///:memory:', files: ['/srv/lake/*.parquet'], timeout: 30 }
  ]

  const first = await start(t, dataDir, declared)
  const warehouse = await first.catalog.findDatabase('warehouse')
  t.match(warehouse, { backend: 'postgresql', connection: 'postgresql://analyst@db.internal:6432/sales?sslmode=verify-full', password_source: 'env:WAREHOUSE_PASSWORD', options: { schemas: ['sales'], row_limit: 5000 }, allow_dml: false, expose_in_sqllab: true, description: 'Sales warehouse' })
  t.match(await first.catalog.findDatabase('shop'), { backend: 'sqlite', connection: `sqlite://${sharedExamplesFile()}`, expose_in_sqllab: false })
  t.match(await first.catalog.findDatabase('lake'), { backend: 'duckdb', connection: 'duckdb:///:memory:', options: { files: ['/srv/lake/*.parquet'], timeout: 30 } })
  t.ok(await first.catalog.isManagedDatabase(warehouse?.id ?? 0), 'marked as declared')
  t.notOk(await first.catalog.isManagedDatabase((await first.catalog.findDatabase('examples'))?.id ?? 0), 'the examples are not')

  // get_database_info connects (it lists tables), so it is shown on the sqlite one; list_databases does not.
  const shopInfo = await callTool(first, 'get_database_info', { identifier: 'shop' })
  t.notOk(shopInfo.isError, JSON.stringify(shopInfo.content))
  t.match(shopInfo.structuredContent, { database_name: 'shop', backend: 'sqlite', host: null, port: null, database: path.basename(sharedExamplesFile()) })
  t.match(shopInfo.content[0].text, new RegExp(`^Database shop \\(id 3, sqlite, ${path.basename(sharedExamplesFile()).replace('.', '\\.')}, read-only\\)`))
  const unreachable = await callTool(first, 'get_database_info', { identifier: 'warehouse' })
  t.notOk(unreachable.isError, 'an unreachable warehouse still has its details')
  t.match(unreachable.structuredContent, { database_name: 'warehouse', host: 'db.internal', tables: [], tables_unavailable: /unavailable/ })
  t.match(unreachable.content[0].text, /Tables unknown: /)
  t.equal(shopInfo.structuredContent.tables_unavailable, null, 'a reachable one has its tables')
  const listed = await callTool(first, 'list_databases', { select_columns: ['database_name', 'backend', 'host', 'port', 'database'] })
  const byName = Object.fromEntries((listed.structuredContent.databases as Array<Record<string, unknown>>).map(item => [item.database_name, item]))
  t.same(byName.warehouse, { database_name: 'warehouse', backend: 'postgresql', host: 'db.internal', port: 6432, database: 'sales' })
  t.same(byName.lake, { database_name: 'lake', backend: 'duckdb', host: null, port: null, database: ':memory:' })
  t.same(byName.examples, { database_name: 'examples', backend: 'sqlite', host: null, port: null, database: path.basename(sharedExamplesFile()) })
  const everything = JSON.stringify([shopInfo, listed, await callTool(first, 'list_databases', {})])
  for (const hidden of ['analyst', 'sslmode', 'WAREHOUSE_PASSWORD', 'env:', path.dirname(sharedExamplesFile()), '/srv/lake', SECRET]) {
    t.notOk(everything.includes(hidden), `the tools never show ${hidden}`)
  }
  await first.close()

  // The ConfigMap changes: warehouse moves to a mounted secret, shop is no longer declared.
  const second = await start(t, dataDir, [
    { name: 'warehouse', uri: 'postgres://analyst@db2.internal/sales', password_file: path.join(dataDir, 'pg-password'), allow_dml: true },
    declared[2]
  ])
  t.match(await second.catalog.findDatabase('warehouse'), { id: warehouse?.id, connection: 'postgresql://analyst@db2.internal/sales', password_source: `file:${path.join(dataDir, 'pg-password')}`, options: {}, allow_dml: true, description: null }, 'updated in place (same id, datasets kept), to exactly the declaration')
  const shop = await second.catalog.findDatabase('shop')
  t.ok(shop, 'a database no longer declared is kept (removing it would delete its datasets)')
  t.notOk(await second.catalog.isManagedDatabase(shop?.id ?? 0), 'and left to the CLI from now on')
  const changedOn = (await second.catalog.findDatabase('lake'))?.changed_on
  await second.close()

  const third = await start(t, dataDir, [declared[2]])
  t.equal((await third.catalog.findDatabase('lake'))?.changed_on, changedOn, 'an unchanged declaration writes nothing')
  await third.close()

  t.notOk(catalogBytes(dataDir).includes(SECRET), 'the password is nowhere in the catalog file')
  t.ok(catalogBytes(dataDir).includes('env:WAREHOUSE_PASSWORD') || catalogBytes(dataDir).includes('pg-password'), 'only where it comes from')
})

t.test('the CLI warns that a declared database is restored at the next start-up', async t => {
  const dataDir = t.testdir()
  const app = await start(t, dataDir, [{ name: 'warehouse', uri: 'postgresql://analyst@db.internal/sales' }])
  await app.close()
  const env = { MCP_DATA_DIR: dataDir, MCP_EXAMPLES_PATH: sharedExamplesFile() }
  t.match((await cli(['databases', 'list'], env)).out, /\twarehouse\tpostgresql\tdb\.internal:5432\/sales\tread-only,sqllab,MCP_DATABASES\tno password/)
  const updated = await cli(['databases', 'update', 'warehouse', '--description', 'edited'], env)
  t.equal(updated.code, 0)
  t.match(updated.err, /warning: it is declared in MCP_DATABASES: the next start-up restores the declaration/)
  const restored = await start(t, dataDir, [{ name: 'warehouse', uri: 'postgresql://analyst@db.internal/sales' }])
  t.equal((await restored.catalog.findDatabase('warehouse'))?.description, null, 'restored')
  await restored.close()
  const removed = await cli(['databases', 'remove', 'warehouse'], env)
  t.match(removed.err, /the database comes back, without its datasets/)
})

t.test('a declaration takes over a database of that name registered by the CLI', async t => {
  const dataDir = t.testdir()
  const env = { MCP_DATA_DIR: dataDir, MCP_EXAMPLES_PATH: sharedExamplesFile() }
  await cli(['load-examples'], env)
  t.equal((await cli(['databases', 'add', 'ignored', '--name', 'warehouse', '--uri', 'postgresql://old@db/sales'], env)).code, 2, 'positional refused')
  t.equal((await cli(['databases', 'add', '--name', 'warehouse', '--uri', 'postgresql://old@db/sales'], env)).code, 0)
  const app = await start(t, dataDir, [{ name: 'warehouse', uri: 'postgresql://new@db/sales' }])
  t.match(await app.catalog.findDatabase('warehouse'), { id: 2, connection: 'postgresql://new@db/sales' })
  t.ok(await app.catalog.isManagedDatabase(2))
})

t.test('an invalid entry stops start-up, naming it, before anything is written', async t => {
  const cases: Array<[unknown[], RegExp]> = [
    [[{ name: 'ok', uri: 'postgresql://a@db/x' }, { name: 'bad', uri: `postgresql://analyst:${SECRET}@db/x` }], /MCP_DATABASES\[1\]\.uri: the URI holds a password: remove it and give the password with --password-env VAR or --password-file FILE \(password_env or password_file in MCP_DATABASES\)/],
    [[{ name: 'rel', uri: 'sqlite://data/shop.db' }], /MCP_DATABASES\[0\]\.uri: a sqlite URI needs an absolute path/],
    [[{ name: 'mem', uri: 'duckdb:///:memory:' }], /MCP_DATABASES\[0\]\.uri: duckdb:\/\/\/:memory: needs files/],
    [[{ name: 'pw', uri: 'postgresql://a@db/x', password_env: 'A', password_file: '/b' }], /MCP_DATABASES\[0\]\.password_file: give a password environment variable or a password file, not both/],
    [[{ name: 'pf', uri: 'postgresql://a@db/x', password_file: 'secret' }], /MCP_DATABASES\[0\]\.password_file: the password file must be an absolute path/],
    [[{ name: 'fs', uri: 'sqlite:///a.db', files: ['/x.csv'] }], /MCP_DATABASES\[0\]\.files: files apply to duckdb databases/],
    [[{ name: 'twice', uri: 'sqlite:///a.db' }, { name: 'twice', uri: 'sqlite:///b.db' }], /MCP_DATABASES\[1\]\.name: "twice" is declared twice \(also MCP_DATABASES\[0\]\)/]
  ]
  for (const [declared, message] of cases) {
    const dataDir = t.testdir()
    const err = await buildApp(testConfig(dataDir, { MCP_DATABASES: declared }), { logger: false }).then(app => app.close(), (error: unknown) => error)
    t.type(err, ConfigError, message.source)
    t.match((err as Error).message, message)
    t.notMatch((err as Error).message, SECRET, 'the refusal does not repeat a password')
    const catalog = await Catalog.open(path.join(dataDir, 'catalog.db'), { upgrade: false })
    t.equal(await catalog.findDatabase('ok'), undefined, 'nothing of the declaration was registered')
    await catalog.close()
  }
  t.throws(() => declaredRegistrations([{ name: 'x', uri: 'mysql://db/x' }]), { message: /MCP_DATABASES\[0\]\.uri: unknown database backend "mysql"/ })
})

t.test('the CLI stops with exit code 78 on an invalid MCP_DATABASES', async t => {
  const dataDir = t.testdir()
  const configFile = path.join(dataDir, 'analytics-mcp.config.json')
  writeFileSync(configFile, JSON.stringify({ MCP_DATABASES: [{ name: 'x', uri: 'sqlite://relative.db' }], MCP_SERVICE_PORT: 0, MCP_LOG_LEVEL: 'silent' }))
  const result = await cli(['run', '--config', configFile], { MCP_DATA_DIR: dataDir, MCP_EXAMPLES_PATH: sharedExamplesFile() })
  t.equal(result.code, 78)
  t.match(result.err, /MCP_DATABASES\[0\]\.uri: a sqlite URI needs an absolute path/)
})
