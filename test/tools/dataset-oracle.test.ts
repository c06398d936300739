import BetterSqlite3 from 'better-sqlite3'
import path from 'node:path'
import t from 'tap'
import { Catalog } from '../../src/catalog/catalog.ts'
import type { SqliteCatalogStore } from '../../src/catalog/store/sqlite.ts'
import { defaultLayout } from '../../src/catalog/dashboard-layout.ts'
import { applyMigrations, LATEST_CATALOG_VERSION, MIGRATIONS } from '../../src/catalog/migrations.ts'
import { startTestServer } from '../helpers/app.ts'
import { jwtSettings, SECRET } from '../helpers/auth.ts'
import { sharedExamplesFile } from '../helpers/examples.ts'
import { claimsFor, signWithSecret } from '../helpers/keys.ts'
import { post, toolCall } from '../helpers/rpc.ts'

// Names are unique only among the objects each caller may see. A name clash with a dataset
// (or a dashboard slug) the caller may not see must neither refuse the name (that answer told
// them it existed) nor show up in any answer; a caller who sees two objects of one name is
// told it is ambiguous, with the ids, rather than given one of them.

type Result = { isError?: boolean, content: Array<{ text: string }>, structuredContent: Record<string, any>, _meta?: { error_type?: string } }

const rpc = (method: string, params: Record<string, unknown>): unknown => ({ jsonrpc: '2.0', id: 1, method, params })
const textOf = (result: Result): string => result.content.map(block => block.text).join('\n')

t.test('dataset names and dashboard slugs are no oracle', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }))
  const { catalog } = server.app
  const headers = (username: string): Record<string, string> => ({ authorization: `Bearer ${signWithSecret(SECRET, claimsFor(username))}` })
  const call = async (username: string, tool: string, args: Record<string, unknown>): Promise<Result> =>
    (await post(server.url, toolCall(tool, args), headers(username))).json.result as Result
  const read = async (username: string, uri: string): Promise<{ result?: { contents: Array<{ text: string }> }, error?: { message: string } }> =>
    (await post(server.url, rpc('resources/read', { uri }), headers(username))).json

  // A second database that only u_owner's dataset lives on; u_writer may query examples only.
  const vault = await catalog.createDatabase({ database_name: 'vault', backend: 'sqlite', connection: sharedExamplesFile() })
  await catalog.createRole('writer', 'Writes datasets and dashboards')
  for (const resource of ['Dataset', 'Dashboard', 'Chart']) await catalog.grantPermission('writer', { permission: 'can_write', resource, resource_id: null })
  const owner = await catalog.createUser({ username: 'u_owner', roles: ['Gamma'] })
  const writer = await catalog.createUser({ username: 'u_writer', roles: ['Gamma', 'examples_access', 'writer'] })
  const secret = await catalog.createDataset({ database_id: vault.id, table_name: 'secret_orders', sql: 'SELECT order_id, amount FROM orders', owners: [owner.id], columns: [{ column_name: 'order_id', verbose_name: null, type: 'INTEGER', is_dttm: false, groupby: true, filterable: true, description: null }] })

  let mine = 0
  t.test('a writer who cannot see secret_orders may create their own', async t => {
    const before = await call('u_writer', 'get_dataset_info', { identifier: 'secret_orders' })
    t.equal(before._meta?.error_type, 'not_found')
    const made = await call('u_writer', 'create_virtual_dataset', { database_id: 'examples', dataset_name: 'secret_orders', sql: 'SELECT region, amount FROM orders' })
    t.notOk(made.isError, textOf(made))
    mine = made.structuredContent.id
    t.not(mine, secret.id, 'a second dataset of that name')
    const info = await call('u_writer', 'get_dataset_info', { identifier: 'secret_orders' })
    t.equal(info.structuredContent.id, mine, 'by name, the writer gets theirs')
    const listed = await call('u_writer', 'list_datasets', { search: 'secret' })
    t.same(listed.structuredContent.datasets.map((dataset: { id: number }) => dataset.id), [mine], 'and sees only theirs')
    const resource = await read('u_writer', 'dataset://secret_orders')
    t.equal(JSON.parse(resource.result?.contents[0]?.text ?? '{}').id, mine, 'dataset://secret_orders is theirs too')
    const chart = await call('u_writer', 'generate_chart', { dataset_id: 'secret_orders', config: { chart_type: 'pie', dimension: 'region', metric: { name: 'amount', aggregate: 'SUM' } }, save_chart: false, preview_formats: ['table'] })
    t.notOk(chart.isError, `a chart by dataset name draws theirs: ${textOf(chart).slice(0, 200)}`)
  })

  t.test('a name the caller sees is still refused, naming only what they see', async t => {
    const again = await call('u_writer', 'create_virtual_dataset', { database_id: 'examples', dataset_name: 'secret_orders', sql: 'SELECT 1 AS a' })
    t.equal(again._meta?.error_type, 'invalid_arguments')
    t.match(textOf(again), new RegExp(`A dataset named "secret_orders" exists already \\(id ${mine}\\)`))
    t.notMatch(textOf(again), new RegExp(`\\b${secret.id}\\b|vault`), 'the invisible one is not named')
    const example = await call('u_writer', 'create_virtual_dataset', { database_id: 'examples', dataset_name: 'orders', sql: 'SELECT 1 AS a' })
    t.match(textOf(example), /A dataset named "orders" exists already/)
  })

  t.test('to the writer, the invisible dataset answers exactly as a missing one', async t => {
    const missingUuid = '00000000-0000-4000-8000-000000000000'
    const calls: Array<[string, (identifier: number | string) => Record<string, unknown>]> = [
      ['get_dataset_info', identifier => ({ identifier })],
      ['query_dataset', identifier => ({ dataset_id: identifier, columns: ['order_id'] })],
      ['create_dataset_metric', identifier => ({ dataset_id: identifier, metric_name: 'n', expression: 'COUNT(*)' })],
      ['generate_explore_link', identifier => ({ dataset_id: identifier })],
      ['generate_chart', identifier => ({ dataset_id: identifier, config: { chart_type: 'table', columns: ['order_id'] }, save_chart: true })],
      ['list_datasets', identifier => ({ filters: [{ col: 'id', opr: 'eq', value: identifier }] })]
    ]
    for (const [tool, args] of calls) {
      for (const [hidden, missing] of [[secret.id, 99_999], [secret.uuid, missingUuid]] as const) {
        if (tool === 'list_datasets' && typeof hidden === 'string') continue
        const seen = textOf(await call('u_writer', tool, args(hidden))).replaceAll(String(hidden), 'ID')
        const none = textOf(await call('u_writer', tool, args(missing))).replaceAll(String(missing), 'ID')
        t.equal(seen, none, `${tool} on ${typeof hidden === 'number' ? 'its id' : 'its UUID'}`)
        t.notMatch(seen, /vault|secret_orders/)
      }
    }
    const database = textOf(await call('u_writer', 'get_database_info', { identifier: 'vault' })).replaceAll('vault', 'X')
    t.equal(database, textOf(await call('u_writer', 'get_database_info', { identifier: 'nowhere' })).replaceAll('nowhere', 'X'), 'nor its database')
  })

  t.test('the owner of secret_orders still gets theirs by name', async t => {
    const info = await call('u_owner', 'get_dataset_info', { identifier: 'secret_orders' })
    t.equal(info.structuredContent.id, secret.id)
    const resource = await read('u_owner', 'dataset://secret_orders')
    t.equal(JSON.parse(resource.result?.contents[0]?.text ?? '{}').id, secret.id)
  })

  t.test('an admin who sees both is told the name is ambiguous, and gets each by id or UUID', async t => {
    const byName = await call('admin', 'get_dataset_info', { identifier: 'secret_orders' })
    t.equal(byName._meta?.error_type, 'invalid_arguments')
    t.match(textOf(byName), new RegExp(`2 datasets match "secret_orders" \\(ids ${Math.min(secret.id, mine)}, ${Math.max(secret.id, mine)}\\)`))
    t.match(textOf(byName), /id or UUID/)
    t.equal((await call('admin', 'get_dataset_info', { identifier: secret.id })).structuredContent.table_name, 'secret_orders')
    t.equal((await call('admin', 'get_dataset_info', { identifier: mine })).structuredContent.database_name, 'examples')
    t.equal((await call('admin', 'get_dataset_info', { identifier: secret.uuid })).structuredContent.id, secret.id)
    const resource = await read('admin', 'dataset://secret_orders')
    t.match(resource.error?.message, /2 datasets match "secret_orders"/, 'the resource says so too')
    const chart = await call('admin', 'generate_chart', { dataset_id: 'secret_orders', config: { chart_type: 'table', columns: ['amount'] }, save_chart: false })
    t.match(textOf(chart), /2 datasets match/, 'a chart by that name is not drawn on a guess')
    const create = await call('admin', 'create_virtual_dataset', { database_id: 'examples', dataset_name: 'secret_orders', sql: 'SELECT 1 AS a' })
    t.match(textOf(create), /A dataset named "secret_orders" exists already \(id \d+, \d+\)/)
    const prompt = (await post(server.url, rpc('prompts/get', { name: 'create_chart_guided', arguments: { dataset: 'secret_orders' } }), headers('admin'))).json
    t.equal(prompt.error?.code, -32602, 'the guided prompt refuses the ambiguous name as invalid params, not an internal error')
    t.match(prompt.error?.message, /2 datasets match "secret_orders".*id or UUID/)
  })

  t.test('dashboard slugs: unique among the dashboards a caller sees', async t => {
    const hiddenChart = await catalog.createChart({ slice_name: 'Secret chart', viz_type: 'table', dataset_id: secret.id, params: {}, owners: [owner.id] })
    const draft = await catalog.createDashboard({ dashboard_title: 'Hidden plans', slug: 'hidden-plans', chart_ids: [], owners: [owner.id], created_by_fk: owner.id })
    const made = await call('u_writer', 'generate_dashboard', { chart_ids: [1], dashboard_title: 'Writer board' })
    t.notOk(made.isError, textOf(made))
    const board = made.structuredContent.dashboard.id as number
    const taken = await call('u_writer', 'update_dashboard', { identifier: board, slug: 'hidden-plans' })
    t.notOk(taken.isError, `a slug only an invisible dashboard has is free: ${textOf(taken)}`)
    t.equal((await call('u_writer', 'get_dashboard_info', { identifier: 'hidden-plans' })).structuredContent.id, board)
    t.equal((await call('u_owner', 'get_dashboard_info', { identifier: 'hidden-plans' })).structuredContent.id, draft.id, 'the owner still gets theirs')
    const ambiguous = await call('admin', 'get_dashboard_info', { identifier: 'hidden-plans' })
    t.match(textOf(ambiguous), new RegExp(`2 dashboards match "hidden-plans" \\(ids ${draft.id}, ${board}\\)`))
    const visible = await call('u_writer', 'update_dashboard', { identifier: board, slug: 'sales-overview' })
    t.match(textOf(visible), /The slug "sales-overview" is taken by another dashboard \(id \d+\)/, 'a slug the caller sees is still refused')
    t.notOk((await call('u_writer', 'update_dashboard', { identifier: board, slug: 'hidden-plans' })).isError, 'keeping its own slug is no clash')

    // A chart the writer may not see, put on their dashboard by someone else, is not shown to them.
    await catalog.updateDashboard(board, { chart_ids: [1, hiddenChart.id], position_json: defaultLayout('Writer board', [{ id: 1, slice_name: 'One' }, hiddenChart]) })
    const renamed = await call('u_writer', 'update_dashboard', { identifier: board, dashboard_title: 'Writer board 2' })
    t.same(renamed.structuredContent.positions.map((position: { chart_id: number }) => position.chart_id), [1])
    t.notMatch(textOf(renamed) + JSON.stringify(renamed.structuredContent), /Secret chart/)
  })

  t.test('a chart or dashboard resource named by several visible objects is ambiguous', async t => {
    await catalog.createDashboard({ dashboard_title: 'Twin', chart_ids: [], owners: [writer.id] })
    await catalog.createDashboard({ dashboard_title: 'Twin', chart_ids: [], owners: [writer.id] })
    const twin = await read('u_writer', 'dashboard://Twin')
    t.match(twin.error?.message, /2 dashboards you may see are named "Twin" \(ids \d+, \d+\).*dashboard:\/\/<id>/)
    await catalog.createDashboard({ dashboard_title: 'Single', chart_ids: [], owners: [writer.id] })
    t.notOk((await read('u_writer', 'dashboard://Single')).error)
  })
})

t.test('migration 5 keeps every dashboard, its charts and owners, and lets slugs repeat', async t => {
  const file = path.join(t.testdir(), 'catalog.db')
  const db = new BetterSqlite3(file)
  db.pragma('foreign_keys = ON')
  applyMigrations(db, MIGRATIONS.filter(migration => migration.version <= 4))
  const stamp = new Date().toISOString()
  db.exec(`
    INSERT INTO users (id, username, created_on, changed_on) VALUES (1, 'a', '${stamp}', '${stamp}');
    INSERT INTO databases (id, uuid, database_name, backend, connection, created_on, changed_on) VALUES (1, 'db-1', 'd', 'sqlite', 'x.db', '${stamp}', '${stamp}');
    INSERT INTO datasets (id, uuid, database_id, table_name, created_on, changed_on) VALUES (1, 'ds-1', 1, 't', '${stamp}', '${stamp}');
    INSERT INTO charts (id, uuid, slice_name, viz_type, dataset_id, created_on, changed_on) VALUES (7, 'c-7', 'c', 'table', 1, '${stamp}', '${stamp}');
    INSERT INTO dashboards (id, uuid, dashboard_title, slug, published, position_json, created_by_fk, created_on, changed_on) VALUES
      (3, 'd-3', 'Three', 'three', 1, '{"a":1}', 1, '${stamp}', '${stamp}'), (5, 'd-5', 'Five', NULL, 0, NULL, NULL, '${stamp}', '${stamp}');
    INSERT INTO dashboard_charts (dashboard_id, chart_id) VALUES (3, 7), (5, 7);
    INSERT INTO dashboard_owners (dashboard_id, user_id) VALUES (3, 1);
  `)
  const before = db.prepare('SELECT * FROM dashboards ORDER BY id').all()
  db.close()

  const catalog = await Catalog.open(file, { upgrade: true })
  t.teardown(async () => { await catalog.close() })
  t.equal(await catalog.version(), LATEST_CATALOG_VERSION)
  t.same(await catalog.store.all('SELECT * FROM dashboards ORDER BY id'), before, 'rows and ids are kept')
  t.same(await catalog.store.all('SELECT dashboard_id, chart_id FROM dashboard_charts ORDER BY dashboard_id'), [{ dashboard_id: 3, chart_id: 7 }, { dashboard_id: 5, chart_id: 7 }], 'chart links are kept')
  t.same(await catalog.store.all('SELECT dashboard_id, user_id FROM dashboard_owners'), [{ dashboard_id: 3, user_id: 1 }], 'owners are kept')
  t.same((catalog.store as SqliteCatalogStore).raw.pragma('foreign_key_check'), [], 'foreign keys hold')
  const version = (await catalog.contentState()).version
  await catalog.updateDashboard(5, { slug: 'three' })
  t.ok((await catalog.contentState()).version > version, 'a change still moves the content version (the triggers are back)')
  t.same(await catalog.store.all("SELECT id FROM dashboards WHERE slug = 'three' ORDER BY id"), [{ id: 3 }, { id: 5 }], 'two dashboards may share a slug')
  t.equal(await catalog.store.run('DELETE FROM dashboards WHERE id = 3'), 1)
  t.same(await catalog.store.all('SELECT dashboard_id FROM dashboard_charts UNION ALL SELECT dashboard_id FROM dashboard_owners'), [{ dashboard_id: 5 }], 'the link tables still cascade')
})
