import t from 'tap'
import { Catalog } from '../src/catalog/catalog.ts'
import { EXIT } from '../src/cli.ts'
import { cli } from './helpers/cli.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

// `analytics-mcp roles …` and `analytics-mcp api-keys …`: what an administrator runs.

t.test('roles', async t => {
  const env = { MCP_DATA_DIR: t.testdir(), MCP_EXAMPLES_PATH: sharedExamplesFile() }
  await cli(['load-examples'], env)

  const list = await cli(['roles', 'list'], env)
  t.match(list.out, /^Admin\tbuilt-in, superuser\t1 user\(s\)/m)
  t.match(list.out, /^examples_access\tcustom\t2 user\(s\)/m)
  t.match((await cli(['roles', 'show', 'Gamma'], env)).out, /can_read on Chart\n {2}can_read on Dashboard/)
  t.match((await cli(['roles', 'show', 'Admin'], env)).out, /superuser: every permission/)

  t.match((await cli(['roles', 'create', 'finance', '--description', 'Finance team'], env)).out, /Created role finance/)
  t.match((await cli(['roles', 'grant', 'finance', 'can_read', '--on', 'Chart'], env)).out, /Granted can_read on Chart to finance/)
  t.match((await cli(['roles', 'grant', 'finance', 'can_read', '--on', 'Chart'], env)).out, /finance already had can_read on Chart/)
  t.match((await cli(['roles', 'grant', 'finance', 'datasource_access', '--on', 'dataset:orders'], env)).out, /Granted datasource_access on Dataset 1 to finance/)
  t.match((await cli(['roles', 'grant', 'finance', 'database_access', '--on', 'database:examples'], env)).out, /database_access on Database 1/)
  t.match((await cli(['roles', 'grant', 'finance', 'all_datasource_access'], env)).out, /Granted all_datasource_access to finance/)
  t.match((await cli(['roles', 'revoke', 'finance', 'all_datasource_access'], env)).out, /Revoked all_datasource_access from finance/)
  t.match((await cli(['roles', 'add-user', 'finance', 'bob'], env)).out, /Added bob to finance/)
  t.match((await cli(['roles', 'remove-user', 'finance', 'bob'], env)).out, /Removed bob from finance/)
  t.match((await cli(['roles', 'show', 'finance'], env)).out, /finance: Finance team\n {2}can_read on Chart\n {2}database_access on Database 1\n {2}datasource_access on Dataset 1/)

  const refusals: Array<[string[], RegExp]> = [
    [['roles', 'grant', 'finance', 'can_fly', '--on', 'Chart'], /unknown permission "can_fly"/],
    [['roles', 'grant', 'finance', 'can_write', '--on', 'SQLLab'], /can_write needs --on Chart\|Dashboard\|Dataset\|Database/],
    [['roles', 'grant', 'finance', 'can_execute_sql_query', '--on', 'Chart'], /needs --on SQLLab/],
    [['roles', 'grant', 'finance', 'datasource_access', '--on', 'dataset:nope'], /no dataset matches "nope"/],
    [['roles', 'grant', 'finance', 'datasource_access'], /needs --on dataset:ID_OR_NAME/],
    [['roles', 'grant', 'finance', 'all_database_access', '--on', 'Chart'], /takes no --on/],
    [['roles', 'grant', 'finance'], /expected 2 arguments, got 1/],
    [['roles', 'frobnicate'], /unknown roles command/]
  ]
  for (const [argv, message] of refusals) {
    const result = await cli(argv, env)
    t.equal(result.code, EXIT.usage, argv.join(' '))
    t.match(result.err, message)
  }
  const builtin = await cli(['roles', 'delete', 'Gamma'], env)
  t.equal(builtin.code, EXIT.failure)
  t.match(builtin.err, /built-in role and cannot be deleted/)
  t.match((await cli(['roles', 'delete', 'finance'], env)).out, /Deleted role finance/)
  t.match((await cli(['roles', 'show', 'finance'], env)).err, /there is no role named "finance"/)
  t.match((await cli(['roles', 'add-user', 'Gamma', 'ghost'], env)).err, /there is no user named "ghost"/)
})

t.test('api-keys', async t => {
  const env = { MCP_DATA_DIR: t.testdir(), MCP_EXAMPLES_PATH: sharedExamplesFile() }
  await cli(['load-examples'], env)

  const created = await cli(['api-keys', 'create', '--user', 'alice', '--name', 'notebook', '--scope', 'mcp:read', '--scope', 'mcp:sql', '--expires-in', '30'], env)
  t.equal(created.code, EXIT.ok)
  t.match(created.out, /Created API key notebook for alice \(scopes: mcp:read mcp:sql; expires \d{4}-/)
  t.match(created.out, /cannot be shown again\.\namcp_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
  t.match(created.err, /MCP_API_KEY_ENABLED is off/, 'a reminder when the server would not accept it')
  const key = created.out.split('\n').at(-1) ?? ''

  const unscoped = await cli(['api-keys', 'create', '--user', 'admin', '--name', 'ci', '--expires-on', '2099-01-31'], env)
  t.match(unscoped.out, /scopes: any the user's roles allow; expires 2099-01-31T00:00:00\.000Z/)

  const list = await cli(['api-keys', 'list'], env)
  t.match(list.out, /^1\tnotebook\talice\tmcp:read mcp:sql\tactive until \d{4}-.*\tlast used never$/m)
  t.match(list.out, /^2\tci\tadmin\t\(all\)\tactive until 2099/m)
  t.notMatch(list.out, new RegExp(key.slice(-20)), 'the list never shows a secret')
  t.match((await cli(['api-keys', 'list', '--user', 'admin'], env)).out, /^2\tci/)

  t.match((await cli(['api-keys', 'revoke', 'notebook'], env)).out, /Revoked API key notebook/)
  t.match((await cli(['api-keys', 'revoke', '1'], env)).out, /was already revoked/)
  t.match((await cli(['api-keys', 'list'], env)).out, /^1\tnotebook\talice\tmcp:read mcp:sql\trevoked /m)

  const catalog = await Catalog.open(`${env.MCP_DATA_DIR}/catalog.db`, { upgrade: false })
  t.teardown(async () => { await catalog.close() })
  t.equal((await catalog.findApiKey('notebook'))?.secret_hash.length, 64, 'a SHA-256 is stored')

  const refusals: Array<[string[], RegExp]> = [
    [['api-keys', 'create', '--name', 'x'], /needs --user and --name/],
    [['api-keys', 'create', '--user', 'ghost', '--name', 'x'], /there is no user named "ghost"/],
    [['api-keys', 'create', '--user', 'alice', '--name', 'x', '--scope', 'admin'], /unknown scope\(s\) admin/],
    [['api-keys', 'create', '--user', 'alice', '--name', 'x', '--expires-in', '0'], /--expires-in is a number of days/],
    [['api-keys', 'create', '--user', 'alice', '--name', 'x', '--expires-on', '2001-01-01'], /--expires-on is a future date/],
    [['api-keys', 'create', '--user', 'alice', '--name', 'x', '--expires-in', '3', '--expires-on', '2099-01-01'], /not both/],
    [['api-keys', 'revoke', 'nope'], /no API key matches "nope"/],
    [['api-keys', 'list', '--user', 'ghost'], /there is no user named "ghost"/]
  ]
  for (const [argv, message] of refusals) {
    const result = await cli(argv, env)
    t.equal(result.code, EXIT.usage, argv.join(' '))
    t.match(result.err, message)
  }
  const duplicate = await cli(['api-keys', 'create', '--user', 'alice', '--name', 'ci'], env)
  t.equal(duplicate.code, EXIT.failure)
  t.match(duplicate.err, /an API key named "ci" already exists/)
  const numeric = await cli(['api-keys', 'create', '--user', 'alice', '--name', '2'], env)
  t.equal(numeric.code, EXIT.failure, 'a name that reads as an id would make revoke ambiguous')
  t.match(numeric.err, /cannot be a number/)
  const keyId = (await catalog.findApiKey('ci'))?.key_id ?? ''
  const lookalike = await cli(['api-keys', 'create', '--user', 'alice', '--name', keyId], env)
  t.match(lookalike.err, new RegExp(`an API key named "${keyId}" already exists`), 'nor may a name be another key\'s id')
  t.match((await cli(['api-keys', 'list'], env)).out, /^2\tci\tadmin\t\(all\)\tactive/m, 'the key revoke 2 names is still the one listed as 2')
})
