import path from 'node:path'
import t from 'tap'
import { Catalog } from '../src/catalog/catalog.ts'
import { EXIT } from '../src/cli.ts'
import { EngineRegistry } from '../src/engines/engines.ts'
import { cli } from './helpers/cli.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

// `analytics-mcp databases …`: registering warehouse databases as an administrator does.

t.test('databases add, list, test, update and remove', async t => {
  const env = { MCP_DATA_DIR: t.testdir(), MCP_EXAMPLES_PATH: sharedExamplesFile() }
  await cli(['load-examples'], env)
  const examplesFile = path.basename(sharedExamplesFile())

  const initial = await cli(['databases', 'list'], env)
  t.equal(initial.code, EXIT.ok)
  t.equal(initial.out, `1\texamples\tsqlite\t${examplesFile}\tread-only,sqllab\tno password`, 'the examples, by file name only')

  const tested = await cli(['databases', 'test', 'examples'], env)
  t.equal(tested.code, EXIT.ok, tested.err)
  t.match(tested.out, /^OK: examples \(sqlite examples-v\d+\.db\) answered SELECT 1; server version 3\.\d+\.\d+\.$/)

  const shop = await cli(['databases', 'add', '--name', 'shop', '--uri', `sqlite://${sharedExamplesFile()}`, '--description', 'the shop'], env)
  t.equal(shop.code, EXIT.ok, shop.err)
  t.match(shop.out, new RegExp(`Registered database shop \\(id 2, sqlite ${examplesFile.replace('.', '\\.')}\\)\\.`))
  t.match((await cli(['databases', 'test', 'shop'], env)).out, /^OK: shop \(sqlite /, 'a sqlite:/// URI connects')

  const pg = await cli(['databases', 'add', '--name', 'warehouse', '--uri', 'postgresql://analyst@127.0.0.1:1/sales?sslmode=disable', '--password-env', 'PG_PASSWORD',
    '--schemas', 'sales, ops', '--row-limit', '5000', '--timeout', '5', '--no-sqllab'], env)
  t.equal(pg.code, EXIT.ok, pg.err)
  t.match(pg.out, /Registered database warehouse \(id 3, postgresql 127\.0\.0\.1:1\/sales, password from env:PG_PASSWORD\)/)
  const lake = await cli(['databases', 'add', '--name', 'lake', '--uri', 'duckdb:///:memory:', '--files', '/srv/lake/*.parquet', '--files', '/srv/lake/*.csv', '--allow-dml'], env)
  t.equal(lake.code, EXIT.ok, lake.err)

  const list = await cli(['databases', 'list'], env)
  t.match(list.out, /^3\twarehouse\tpostgresql\t127\.0\.0\.1:1\/sales\tread-only,no-sqllab\tenv:PG_PASSWORD$/m)
  t.match(list.out, /^4\tlake\tduckdb\t:memory:\tdml,sqllab\tno password$/m)
  t.notMatch(list.out, /\/srv|analyst|sslmode/, 'no paths, users or parameters')

  const catalog = async (): Promise<Catalog> => await Catalog.open(path.join(env.MCP_DATA_DIR, 'catalog.db'), { upgrade: false })
  const stored = await catalog()
  t.match(await stored.findDatabase('warehouse'), { connection: 'postgresql://analyst@127.0.0.1:1/sales?sslmode=disable', password_source: 'env:PG_PASSWORD', options: { schemas: ['sales', 'ops'], row_limit: 5000, timeout: 5 }, expose_in_sqllab: false })
  t.match(await stored.findDatabase('lake'), { backend: 'duckdb', options: { files: ['/srv/lake/*.parquet', '/srv/lake/*.csv'] }, allow_dml: true })
  await stored.close()

  const unreachable = await cli(['databases', 'test', 'warehouse'], { ...env, PG_PASSWORD: 'pw' })
  t.equal(unreachable.code, EXIT.failure, 'a database that cannot be reached fails the test')
  t.match(unreachable.err, /database warehouse \(postgresql 127\.0\.0\.1:1\/sales\) failed: /)

  const updated = await cli(['databases', 'update', 'warehouse', '--uri', 'postgresql://analyst@db.internal/sales', '--password-file', '/var/run/secrets/pg', '--expose-in-sqllab', '--description', 'Sales warehouse'], env)
  t.equal(updated.code, EXIT.ok, updated.err)
  t.match(updated.out, /Updated database warehouse \(id 3, postgresql db\.internal:5432\/sales, read-only,sqllab, password from file:\/var\/run\/secrets\/pg\)/)
  t.equal(updated.err, '', 'no warning for a database the CLI registered')
  const renamed = await cli(['databases', 'update', 'warehouse', '--name', 'sales', '--row-limit', '100'], env)
  t.equal(renamed.code, EXIT.ok, renamed.err)
  const after = await catalog()
  t.match(await after.findDatabase('sales'), { connection: 'postgresql://analyst@db.internal/sales', password_source: 'file:/var/run/secrets/pg', options: { schemas: ['sales', 'ops'], row_limit: 100, timeout: 5 }, description: 'Sales warehouse' }, 'what an update leaves out is kept')
  await after.close()
  t.match((await cli(['databases', 'update', 'sales', '--no-password'], env)).out, /Updated database sales \(id 3, postgresql db\.internal:5432\/sales, read-only,sqllab\)\./)
  t.match((await cli(['databases', 'update', 'examples', '--allow-dml'], env)).out, /Updated database examples \(id 1, sqlite examples-v\d+\.db, dml,sqllab\)/, 'a stored bare path updates')
  t.match((await cli(['databases', 'update', 'examples', '--no-allow-dml'], env)).out, /read-only,sqllab/)

  const refused = await cli(['databases', 'remove', 'examples'], env)
  t.equal(refused.code, EXIT.failure)
  t.match(refused.err, /database "examples" has \d+ dataset\(s\) used by \d+ chart\(s\); remove them first, or pass --force/)
  t.match((await cli(['databases', 'remove', 'lake'], env)).out, /^Removed database lake\.$/)
  const forced = await cli(['databases', 'remove', 'examples', '--force'], env)
  t.equal(forced.code, EXIT.ok, forced.err)
  t.match(forced.out, /Removed database examples with \d+ dataset\(s\) and \d+ chart\(s\)\./)
  const emptied = await catalog()
  t.teardown(async () => { await emptied.close() })
  t.equal((await emptied.listDatasets({ page: 1, pageSize: 10, filters: [], orderColumn: 'id', orderDirection: 'asc' })).total, 0)
  t.equal((await emptied.listCharts({ page: 1, pageSize: 10, filters: [], orderColumn: 'id', orderDirection: 'asc' })).total, 0, 'its charts went with it')
  t.same(await emptied.rolePermissions('examples_access'), [], 'and the grants naming it: a later database with its id inherits nothing')
  t.match((await cli(['databases', 'list'], env)).out, /^2\tshop\t/)
})

t.test('databases refuses what it cannot register safely', async t => {
  const env = { MCP_DATA_DIR: t.testdir(), MCP_EXAMPLES_PATH: sharedExamplesFile() }
  await cli(['load-examples'], env)
  const add = (...argv: string[]): string[] => ['databases', 'add', '--name', 'x', ...argv]
  const refusals: Array<[string[], RegExp]> = [
    [add('--uri', 'postgresql://analyst:s3cret@db/sales'), /the URI holds a password: remove it and give the password with --password-env VAR or --password-file FILE/],
    [add('--uri', 'postgresql://analyst@db/sales', '--password-env', 'A', '--password-file', '/b'), /give --password-env or --password-file, not both/],
    [add('--uri', 'sqlite://data/shop.db'), /needs an absolute path/],
    [add('--uri', 'data/shop.db'), /neither a URI nor an absolute path/],
    [add('--uri', 'mysql://db/sales'), /unknown database backend "mysql"/],
    [add('--uri', 'duckdb:///:memory:'), /needs files/],
    [add('--uri', 'duckdb:///:memory:', '--files', 'lake/*.csv'), /file globs must be absolute paths/],
    [add('--uri', 'postgresql://analyst@db/sales', '--password-file', 'secret.txt'), /the password file must be an absolute path/],
    [add('--uri', 'sqlite:///data/shop.db', '--password-env', 'X'), /a sqlite database takes no password/],
    [add('--uri', 'sqlite:///data/shop.db', '--row-limit', '0'), /--row-limit is a whole number from 1 to 1000000/],
    [add('--uri', 'sqlite:///data/shop.db', '--timeout', '1.5'), /--timeout is a whole number from 1 to 3600/],
    [add('--uri', 'sqlite:///data/shop.db', '--no-sqllab', '--expose-in-sqllab'), /give --expose-in-sqllab or --no-sqllab, not both/],
    [add('--uri', 'sqlite:///data/shop.db', '--colour', 'red'), /Unknown option '--colour'/],
    [add(), /databases add needs --name and --uri/],
    [['databases', 'add', '--name', 'examples', '--uri', 'sqlite:///data/shop.db'], /a database named "examples" already exists/],
    [['databases', 'update', 'examples', '--password-env', 'X', '--no-password'], /--no-password takes no --password-env/],
    [['databases', 'update', 'examples', '--name', ' '], /--name must not be empty/],
    [['databases', 'test', 'nope'], /there is no database named "nope"/],
    [['databases', 'remove'], /expected 1 argument, got 0/],
    [['databases', 'frobnicate'], /unknown databases command "frobnicate"/]
  ]
  for (const [argv, message] of refusals) {
    const result = await cli(argv, env)
    t.equal(result.code, EXIT.usage, argv.join(' '))
    t.match(result.err, message, argv.join(' '))
    t.notMatch(result.err, /s3cret/, 'a refused password is not repeated')
  }
  t.match((await cli(['databases', 'list'], env)).out, /^1\texamples\t[^\n]*$/, 'nothing was registered')
})

t.test('the usage text lists the databases commands', async t => {
  const help = await cli(['--help'], {})
  t.match(help.out, /analytics-mcp databases add --name NAME --uri URI \[--password-env VAR \| --password-file FILE\]/)
  t.match(help.out, /analytics-mcp databases remove NAME \[--force\]/)
})

t.test('databases test names a backend this build has no engine for', async t => {
  const env = { MCP_DATA_DIR: t.testdir(), MCP_EXAMPLES_PATH: sharedExamplesFile() }
  await cli(['load-examples'], env)
  const catalog = await Catalog.open(path.join(env.MCP_DATA_DIR, 'catalog.db'), { upgrade: false })
  const database = await catalog.findDatabase('examples')
  await catalog.close()
  if (database === undefined) throw new Error('no examples database')
  // What `databases test` prints after "failed: " when createEngines has no engine for the backend.
  await t.rejects(new EngineRegistry([]).execute({ ...database, backend: 'duckdb' }, { sql: 'SELECT 1', maxRows: 1, maxBytes: 1024, timeoutMs: 1000, dryRun: false }),
    { message: 'No SQL engine for backend "duckdb" in this build.' })
})
