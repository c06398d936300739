import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import pg from 'pg'
import t from 'tap'
import type { Test } from 'tap'
import { Catalog, CatalogError } from '../src/catalog/catalog.ts'
import { compileList, escapeLike, normalizeDateTime } from '../src/catalog/list-query.ts'
import type { ListQuery } from '../src/catalog/list-query.ts'
import { CHART_LIST } from '../src/catalog/list-specs.ts'
import { applyMigrations, BOOKKEEPING, catalogVersion, ID_TABLES, LATEST_CATALOG_VERSION, MIGRATIONS, pendingMigrations, postgresSql } from '../src/catalog/migrations.ts'
import type { IdTable } from '../src/catalog/migrations.ts'
import { copyCatalog } from '../src/catalog/copy.ts'
import { gridLayout } from '../src/catalog/dashboard-layout.ts'
import { ToolError } from '../src/errors.ts'
import { loadExamples } from '../src/examples/load.ts'
import { CATALOG_BACKENDS, freshPostgresCatalogUrl, openTestCatalog } from './helpers/catalogs.ts'
import type { CatalogBackendName } from './helpers/catalogs.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

// Every test about catalog behaviour runs on both backends (the embedded SQLite file and
// PostgreSQL); what only a SQLite file can do (nested directories, unreadable files, the
// better-sqlite3 migration functions) stays SQLite-only, with a PostgreSQL equivalent where
// one exists. Pure functions (date parsing, SQL compilation, layouts) run once.

const query = (overrides: Partial<ListQuery> = {}): ListQuery => ({
  page: 1, pageSize: 100, filters: [], orderColumn: 'id', orderDirection: 'asc', ...overrides
})

/** Where a new catalog of its own goes: a file in a fresh directory, or a fresh PostgreSQL database. */
async function freshLocation (t: Test, backend: CatalogBackendName): Promise<string> {
  if (backend === 'postgresql') return await freshPostgresCatalogUrl()
  const dir = mkdtempSync(path.join(tmpdir(), 'catalog-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return path.join(dir, 'catalog.db')
}

/** Open the catalog at `location` (closed when the test ends). */
async function openAt (t: Test, location: string, upgrade: boolean): Promise<Catalog> {
  const catalog = await Catalog.open(location, { upgrade })
  t.teardown(async () => { await catalog.close() })
  return catalog
}

async function openWithExamples (t: Test, backend: CatalogBackendName): Promise<Catalog> {
  const catalog = await openTestCatalog(t, backend)
  await loadExamples(catalog, sharedExamplesFile())
  return catalog
}

/** Run SQL directly on a PostgreSQL catalog database (not through Catalog). */
async function onPostgres<Row = Record<string, unknown>> (url: string, statements: Array<[string, unknown[]?]>): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    let rows: Row[] = []
    for (const [text, values] of statements) rows = (await client.query(text, values)).rows as Row[]
    return rows
  } finally {
    await client.end()
  }
}

t.test('migrations', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      t.test('a new catalog is created at the latest version, with built-in roles', async t => {
        // SQLite: the file's directories are created too.
        const location = backend === 'sqlite' ? path.join(t.testdir(), 'nested', 'catalog.db') : await freshPostgresCatalogUrl()
        const catalog = await openAt(t, location, true)
        t.equal(await catalog.version(), LATEST_CATALOG_VERSION)
        t.same(catalog.appliedAtOpen.map(m => m.version), MIGRATIONS.map(m => m.version))
        t.same(await catalog.roleNames(), ['Admin', 'Alpha', 'Gamma', 'sql_lab'])
        await t.resolves(catalog.ping())
      })

      if (backend === 'sqlite') {
        t.test('applying twice is a no-op', async t => {
          const db = new BetterSqlite3(':memory:')
          t.teardown(() => db.close())
          t.equal(catalogVersion(db), 0)
          t.equal(applyMigrations(db).length, MIGRATIONS.length)
          t.same(applyMigrations(db), [])
          t.same(pendingMigrations(db), [])
        })
      } else {
        t.test('opening an up-to-date catalog with upgrade applies nothing', async t => {
          const url = await freshPostgresCatalogUrl()
          const first = await openAt(t, url, true)
          t.equal(first.appliedAtOpen.length, MIGRATIONS.length)
          const second = await openAt(t, url, true)
          t.same(second.appliedAtOpen, [])
          t.equal(await second.version(), LATEST_CATALOG_VERSION)
          const versions = await onPostgres<{ version: number }>(url, [['SELECT version FROM schema_migrations ORDER BY version']])
          t.same(versions.map(row => Number(row.version)), MIGRATIONS.map(m => m.version), 'each migration recorded once')
        })
      }

      t.test('without upgrading, a missing catalog is refused and not created', async t => {
        if (backend === 'sqlite') {
          const file = path.join(t.testdir(), 'absent.db')
          await t.rejects(Catalog.open(file, { upgrade: false }), { message: /there is no catalog at .*absent\.db; run `analytics-mcp db upgrade`/ })
          t.notOk(existsSync(file))
        } else {
          const url = await freshPostgresCatalogUrl()
          const name = new URL(url).pathname.slice(1)
          await t.rejects(Catalog.open(url, { upgrade: false }), { name: 'CatalogError', message: new RegExp(`there is no catalog at .*${name}; run \`analytics-mcp db upgrade\``) })
          const [present] = await onPostgres<{ present: boolean }>(url, [["SELECT to_regclass('schema_migrations') IS NOT NULL AS present"]])
          t.equal(present?.present, false, 'nothing was created in the empty database')
        }
      })

      t.test('a catalog behind the code is refused unless upgrading, naming the command', async t => {
        let location: string
        if (backend === 'sqlite') {
          location = path.join(t.testdir(), 'catalog.db')
          new BetterSqlite3(location).close()
        } else {
          // A catalog one migration behind, as an older release left it.
          location = await freshPostgresCatalogUrl()
          const older = MIGRATIONS.slice(0, -1)
          await onPostgres(location, [[BOOKKEEPING], ...older.flatMap((migration): Array<[string, unknown[]?]> => [
            [postgresSql(migration)],
            ['INSERT INTO schema_migrations (version, name, applied_on) VALUES ($1, $2, $3)', [migration.version, migration.name, new Date().toISOString()]]
          ])])
          await t.rejects(Catalog.open(location, { upgrade: false }), { message: new RegExp(`schema version ${LATEST_CATALOG_VERSION - 1} and this release needs ${LATEST_CATALOG_VERSION}`) })
        }
        await t.rejects(Catalog.open(location, { upgrade: false }), { name: 'CatalogError', message: /analytics-mcp db upgrade/ })
        const upgraded = await Catalog.open(location, { upgrade: true })
        t.equal(await upgraded.version(), LATEST_CATALOG_VERSION)
        if (backend === 'postgresql') t.same(upgraded.appliedAtOpen.map(m => m.version), [LATEST_CATALOG_VERSION], 'only the missing migration is applied')
        await upgraded.close()
      })

      t.test('a catalog newer than the code is refused', async t => {
        if (backend === 'sqlite') {
          const file = path.join(t.testdir(), 'catalog.db')
          const db = new BetterSqlite3(file)
          applyMigrations(db, [...MIGRATIONS, { version: LATEST_CATALOG_VERSION + 1, name: 'from the future', sql: 'CREATE TABLE future (id INTEGER)' }])
          db.close()
          await t.rejects(Catalog.open(file, { upgrade: true }), { message: /newer than this release understands/ })
        } else {
          const url = await freshPostgresCatalogUrl()
          const catalog = await Catalog.open(url, { upgrade: true })
          await catalog.store.run('INSERT INTO schema_migrations (version, name, applied_on) VALUES (?, ?, ?)', [999, 'from the future', new Date().toISOString()])
          await catalog.close()
          await t.rejects(Catalog.open(url, { upgrade: false }), { name: 'CatalogError', message: /schema version 999, newer than this release understands/ })
          await t.rejects(Catalog.open(url, { upgrade: true }), { name: 'CatalogError', message: /schema version 999, newer than this release understands/ }, 'upgrading does not help')
        }
      })

      if (backend === 'sqlite') {
        t.test('an unreadable file is a clear error', async t => {
          const dir = t.testdir({ 'not-a-db.db': 'this is not sqlite'.repeat(100) })
          await t.rejects(Catalog.open(path.join(dir, 'not-a-db.db'), { upgrade: true }), CatalogError)
        })
      }
    })
  }
})

t.test('users', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const catalog = await openTestCatalog(t, backend)
      const user = await catalog.createUser({ username: 'carol', first_name: 'Carol', email: 'carol@example.com', roles: ['Gamma', 'sql_lab'] })
      t.same(user.roles, ['Gamma', 'sql_lab'])
      t.equal(user.active, true)
      t.equal((await catalog.findUserByUsername('carol'))?.email, 'carol@example.com')
      await t.rejects(catalog.createUser({ username: 'carol', roles: [] }), { message: /already exists/ })
      await t.rejects(catalog.createUser({ username: 'dave', roles: ['Wizard'] }), { message: /unknown role\(s\): Wizard/ })
      const inactive = await catalog.createUser({ username: 'erin', roles: [], active: false })
      t.equal(inactive.active, false)
      t.same((await catalog.listUsers()).map(u => u.username), ['carol', 'erin'])
      t.same([...(await catalog.userRefs([user.id, null, 999])).keys()], [user.id])
    })
  }
})

t.test('lookups by id, UUID and name', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const catalog = await openWithExamples(t, backend)
      const sales = await catalog.findDashboard('sales-overview')
      t.equal(sales?.dashboard_title, 'Sales Overview')
      t.equal((await catalog.findDashboard(sales?.uuid.toUpperCase() ?? ''))?.id, sales?.id, 'UUIDs match case-insensitively')
      t.equal((await catalog.findDashboard(String(sales?.id)))?.id, sales?.id)
      t.equal(await catalog.findDashboard(' '), undefined)
      t.equal(await catalog.findDashboard(1.5), undefined)
      t.equal(await catalog.findChart('Monthly Revenue'), undefined, 'charts are looked up by id or UUID only')
      t.equal((await catalog.findDataset('orders'))?.main_dttm_col, 'order_date')
      t.equal((await catalog.findDatabase('examples'))?.backend, 'sqlite')
      t.same((await catalog.chartsOfDashboard(sales?.id ?? 0)).map(c => c.slice_name).length, 6)
      t.same((await catalog.dashboardsOfChart(3)).map(d => d.slug), ['sales-overview'])
      const owners = await catalog.ownersOf('dashboard', [1, 2])
      t.same(owners.get(1)?.map(o => o.username), ['admin'])
      t.same(owners.get(2)?.map(o => o.username), ['admin', 'alice'])
    })
  }
})

t.test('list queries', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const catalog = await openWithExamples(t, backend)
      const names = async (overrides: Partial<ListQuery>): Promise<string[]> => (await catalog.listCharts(query(overrides))).rows.map(chart => chart.slice_name)

      t.same(await names({ filters: [{ col: 'slice_name', opr: 'eq', value: 'Total Revenue' }] }), ['Total Revenue'])
      t.equal((await names({ filters: [{ col: 'slice_name', opr: 'ne', value: 'Total Revenue' }] })).length, 7)
      t.same(await names({ filters: [{ col: 'slice_name', opr: 'ew', value: 'by Segment' }] }), ['Customers by Segment'])
      t.same(await names({ filters: [{ col: 'slice_name', opr: 'ct', value: 'Quarterly' }] }), ['Quarterly Revenue by Category'])
      t.same(await names({ filters: [{ col: 'slice_name', opr: 'like', value: 'Top%' }] }), ['Top Products by Revenue'])
      t.same(await names({ filters: [{ col: 'slice_name', opr: 'ilike', value: 'top%' }] }), ['Top Products by Revenue'])
      t.same(await names({ filters: [{ col: 'id', opr: 'in', value: [1, '2'] }] }), ['Total Revenue', 'Monthly Revenue'])
      t.equal((await names({ filters: [{ col: 'id', opr: 'nin', value: [1, 2] }] })).length, 6)
      t.same(await names({ filters: [{ col: 'id', opr: 'gt', value: 6 }] }), ['Customers by Segment', 'Customers by Region'])
      t.equal((await names({ filters: [{ col: 'id', opr: 'gte', value: 6 }] })).length, 3)
      t.same(await names({ filters: [{ col: 'id', opr: 'lt', value: 2 }] }), ['Total Revenue'])
      t.equal((await names({ filters: [{ col: 'id', opr: 'lte', value: 2 }] })).length, 2)
      t.equal((await names({ filters: [{ col: 'datasource_id', opr: 'is_not_null' }] })).length, 8)
      t.equal((await names({ filters: [{ col: 'dashboards', opr: 'in', value: [1, 2] }] })).length, 8)
      t.equal((await names({ filters: [{ col: 'dashboards', opr: 'nin', value: [1] }] })).length, 2)
      t.equal((await names({ filters: [{ col: 'dashboards', opr: 'ne', value: 2 }] })).length, 5)
      t.equal((await names({ filters: [{ col: 'dashboards', opr: 'is_null' }] })).length, 0)
      t.equal((await names({ filters: [{ col: 'dashboards', opr: 'is_not_null' }] })).length, 8)
      t.equal((await names({ filters: [{ col: 'created_on', opr: 'gte', value: '2000-01-01' }] })).length, 8)
      t.equal((await names({ filters: [{ col: 'changed_on', opr: 'lt', value: '2000-01-01T00:00:00Z' }] })).length, 0)
      t.same(await names({ search: 'segment' }), ['Customers by Segment'])
      t.same(await names({ search: '100%' }), [], 'search wildcards are literal')
      t.same(await names({ orderColumn: 'slice_name', orderDirection: 'desc', pageSize: 1 }), ['Total Revenue'])
      t.same(await names({ page: 2, pageSize: 3 }), ['Orders by Channel', 'Top Products by Revenue', 'Quarterly Revenue by Category'])
      t.equal((await catalog.listCharts(query({ page: 9 }))).total, 8, 'the total does not depend on the page')
      t.equal((await catalog.listDashboards(query({ filters: [{ col: 'published', opr: 'eq', value: 'false' }] }))).total, 1)
      t.equal((await catalog.listDatasets(query({ filters: [{ col: 'owner', opr: 'eq', value: 2 }] }))).total, 4)
      t.equal((await catalog.listDatabases(query({ filters: [{ col: 'allow_dml', opr: 'eq', value: false }] }))).total, 1)

      const invalid: Array<[Partial<ListQuery>, RegExp]> = [
        [{ filters: [{ col: 'nope', opr: 'eq', value: 1 }] }, /Cannot filter on "nope"/],
        [{ filters: [{ col: 'id', opr: 'ct', value: 1 }] }, /Operator "ct" does not apply to "id"/],
        [{ filters: [{ col: 'id', opr: 'eq', value: 'abc' }] }, /expects an integer, got "abc"/],
        [{ filters: [{ col: 'id', opr: 'in', value: 3 }] }, /needs a non-empty list/],
        [{ filters: [{ col: 'id', opr: 'in', value: [] }] }, /needs a non-empty list/],
        [{ filters: [{ col: 'id', opr: 'in', value: Array.from({ length: 501 }, (_, i) => i) }] }, /more than 500 values/],
        [{ filters: [{ col: 'created_on', opr: 'gt', value: 'yesterday' }] }, /ISO date/],
        [{ filters: [{ col: 'created_on', opr: 'gt', value: '2025-02-30' }] }, /ISO date/],
        [{ filters: [{ col: 'slice_name', opr: 'eq', value: { a: 1 } }] }, /expects a string/],
        [{ filters: [{ col: 'dashboards', opr: 'eq', value: 'x' }] }, /expects an integer/],
        [{ orderColumn: 'params' }, /Cannot order by "params"/]
      ]
      for (const [overrides, message] of invalid) {
        let error: unknown
        try {
          await catalog.listCharts(query(overrides))
        } catch (err) {
          error = err
        }
        t.ok(error instanceof ToolError && error.errorType === 'invalid_arguments', `${JSON.stringify(overrides).slice(0, 60)} is an invalid_arguments error`)
        t.match((error as Error | undefined)?.message, message)
      }
    })
  }
})

t.test('filter dates are real calendar dates, read as UTC', async t => {
  t.equal(normalizeDateTime('2025-01-31'), '2025-01-31')
  t.equal(normalizeDateTime('2024-02-29'), '2024-02-29', 'a leap day')
  t.equal(normalizeDateTime('2025-02-29'), undefined, 'not a leap year')
  t.equal(normalizeDateTime('2025-02-30'), undefined)
  t.equal(normalizeDateTime('2025-13-01'), undefined)
  t.equal(normalizeDateTime('2025-01-31 12:30'), '2025-01-31T12:30:00.000Z', 'no zone means UTC, whatever the server time zone')
  t.equal(normalizeDateTime('2025-01-31T12:30:15.5+02:00'), '2025-01-31T10:30:15.500Z')
  t.equal(normalizeDateTime('2025-01-31T25:00'), undefined)
  t.equal(normalizeDateTime('yesterday'), undefined)
})

t.test('a name shared by several objects is ambiguous, not missing', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const catalog = await openWithExamples(t, backend)
      const other = await catalog.createDatabase({ database_name: 'copy', backend: 'sqlite', connection: sharedExamplesFile() })
      await catalog.createDataset({ database_id: other.id, table_name: 'orders', columns: [] })
      let error: unknown
      try {
        await catalog.findDataset('orders')
      } catch (err) {
        error = err
      }
      t.ok(error instanceof ToolError)
      t.match((error as Error).message, /^2 datasets match "orders" \(ids 1, 5\)/)
      t.match((error as ToolError).hint, /Pass the id/)
      t.equal((await catalog.findDataset(5))?.database_id, other.id)
    })
  }
})

t.test('compiled list SQL binds every value', async t => {
  const compiled = compileList(CHART_LIST, query({ filters: [{ col: 'slice_name', opr: 'eq', value: "x' OR 1=1 --" }], search: 'a%b' }))
  t.notMatch(compiled.pageSql, /OR 1=1/)
  t.ok(compiled.params.includes("x' OR 1=1 --"))
  t.equal(escapeLike('50%_\\'), '50\\%\\_\\\\')
  const withAccess = compileList(CHART_LIST, query(), { visible: (kind, alias) => kind === 'chart' ? { sql: `${alias}.id = ?`, params: [3] } : undefined })
  t.match(withAccess.countSql, /WHERE \(c\.id = \?\)/)
  t.same(withAccess.params, [3])
})

t.test('dashboard layouts follow Superset position_json v2', async t => {
  const layout = gridLayout('Demo', [[{ chartId: 1, sliceName: 'A', width: 4 }, { chartId: 2, sliceName: 'B', width: 8 }]])
  t.equal(layout.DASHBOARD_VERSION_KEY, 'v2')
  t.match(layout['CHART-2'], { type: 'CHART', parents: ['ROOT_ID', 'GRID_ID', 'ROW-1'], meta: { chartId: 2, width: 8, height: 50 } })
  t.throws(() => gridLayout('Too wide', [[{ chartId: 1, sliceName: 'A', width: 8 }, { chartId: 2, sliceName: 'B', width: 8 }]]), /16 columns wide/)
})

t.test('the content version moves with every change tools can show, and only then', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const catalog = await openWithExamples(t, backend)
      const changes: string[] = []
      catalog.onChange(change => changes.push(change))
      const before = await catalog.contentState()
      t.match(before.instanceId, /^[0-9a-f]{32}$/)
      const dataset = await catalog.findDataset('orders')
      if (dataset === undefined) throw new Error('example data missing')
      await catalog.createChart({ slice_name: 'New', viz_type: 'table', dataset_id: dataset.id, params: {} })
      const afterChart = await catalog.contentState()
      t.ok(afterChart.version > before.version, 'a new chart moves it')
      t.equal(afterChart.instanceId, before.instanceId, 'the identity stays')
      t.same(changes, ['content'])

      const alice = await catalog.findUserByUsername('alice')
      if (alice === undefined) throw new Error('demo user missing')
      await catalog.createApiKey({ key_id: 'k1', name: 'n1', user_id: alice.id, secret_hash: 'x'.repeat(64), scopes: null, expires_on: null })
      await catalog.touchApiKey((await catalog.findApiKey('n1'))?.id ?? 0, new Date().toISOString())
      t.equal((await catalog.contentState()).version, afterChart.version, 'API key bookkeeping does not')
      await catalog.grantPermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: dataset.id })
      t.equal((await catalog.contentState()).version, afterChart.version, 'permissions do not (principal fingerprints cover them)')
      t.same(changes, ['content', 'access'], 'but they are announced as access changes')
      t.notOk(await catalog.grantPermission('Gamma', { permission: 'datasource_access', resource: 'Dataset', resource_id: dataset.id }))
      t.same(changes, ['content', 'access'], 'a grant that changes nothing is not announced')
      await catalog.setUserActive('bob', false)
      t.ok((await catalog.contentState()).version > afterChart.version, 'user changes do: results show names')

      const other = await openAt(t, await freshLocation(t, backend), true)
      await loadExamples(other, sharedExamplesFile())
      t.not((await other.contentState()).instanceId, before.instanceId, 'each catalog has its own identity')
    })
  }
})

t.test('SQLite: versions read once per event-loop turn, never reused after a write or into the next turn', async t => {
  const file = await freshLocation(t, 'sqlite')
  const catalog = await openAt(t, file, true)
  const sameFile = await openAt(t, file, false)
  let turned = false
  setImmediate(() => { turned = true })
  const first = await catalog.contentState()
  t.same(await catalog.contentState(), first, 'read again in the same turn: the same')
  // Another catalog object on the same file writes without telling this one.
  await sameFile.noteDataChanged()
  const afterWrite = await catalog.contentState()
  t.notOk(turned, 'still the same turn')
  t.ok(afterWrite.version > first.version, 'a write in this process is seen at once, even in the same turn')

  // Another process (the CLI) writes: seen from the next turn on.
  const other = new BetterSqlite3(file)
  other.prepare("UPDATE catalog_state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'content_version'").run()
  other.close()
  await new Promise(resolve => setImmediate(resolve))
  t.equal((await catalog.contentState()).version, afterWrite.version + 1, 'another process\'s write is seen in the next turn')
})

t.test('inside a transaction, reads see its own writes and nothing is remembered from it', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const catalog = await openTestCatalog(t, backend)
      const seen = await catalog.transaction(async () => {
        const before = await catalog.findUserByUsername('zed')
        await catalog.createUser({ username: 'zed', roles: ['Gamma'] })
        return [before, await catalog.findUserByUsername('zed')]
      })
      t.equal(seen[0], undefined, 'not there before')
      t.equal(seen[1]?.username, 'zed', 'there after its creation, in the same transaction')
      await t.rejects(catalog.transaction(async () => {
        await catalog.createUser({ username: 'yan', roles: [] })
        t.ok(await catalog.findUserByUsername('yan'), 'seen inside the transaction')
        await catalog.grantPermission('Gamma', { permission: 'all_datasource_access', resource: 'all', resource_id: null })
        throw new Error('changed my mind')
      }), /changed my mind/)
      t.equal(await catalog.findUserByUsername('yan'), undefined, 'a rolled-back user is not remembered')
      t.notOk((await catalog.permissionsOfUser(seen[1]?.id ?? 0)).grants.some(grant => grant.permission === 'all_datasource_access'), 'nor a rolled-back grant')
    })
  }
})

t.test('per-request lookups are reused, and a change by another process still applies at once', async t => {
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const location = await freshLocation(t, backend)
      const server = await openAt(t, location, true)
      await loadExamples(server, sharedExamplesFile())
      const cli = await openAt(t, location, false)
      const bob = await server.findUserByUsername('bob')
      if (bob === undefined) throw new Error('demo user missing')
      t.equal(await server.findUserByUsername('bob'), bob, 'the same lookup is served from memory')
      t.notOk((await server.permissionsOfUser(bob.id)).grants.some(grant => grant.permission === 'can_execute_sql_query'), 'bob cannot run SQL yet')
      await cli.grantPermission('Gamma', { permission: 'can_execute_sql_query', resource: 'SQLLab', resource_id: null })
      // PostgreSQL pushes the other connection's change (LISTEN/NOTIFY); SQLite reads versions per call.
      await server.caughtUp()
      t.ok((await server.permissionsOfUser(bob.id)).grants.some(grant => grant.permission === 'can_execute_sql_query'), 'a grant made through another connection is seen on the next lookup')
      await cli.setUserActive('bob', false)
      await server.caughtUp()
      t.equal((await server.findUserByUsername('bob'))?.active, false, 'so is a deactivation')
      await cli.addUserToRole('bob', 'Alpha')
      await server.caughtUp()
      t.ok((await server.findUserByUsername('bob'))?.roles.includes('Alpha'), 'and a new role')
    })
  }
})

t.test('a sqlite:/// URL names the same file as its path', async t => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'catalog-url-')), 'catalog.db')
  const byUrl = await Catalog.open(`sqlite://${file}`, { upgrade: true })
  await byUrl.createUser({ username: 'urlish', roles: [] })
  await byUrl.close()
  t.ok(existsSync(file), 'the file is at the path of the URL')
  const byPath = await Catalog.open(file, { upgrade: false })
  t.teardown(async () => { await byPath.close() })
  t.equal((await byPath.findUserByUsername('urlish'))?.username, 'urlish', 'and opening the path finds what the URL wrote')
})

t.test('an id, once given, is never given again: not after deleting the newest row, not after a copy', async t => {
  // One of each object a tool shows or takes by id; a dataset brings a column and a metric.
  const createAll = async (catalog: Catalog, n: number): Promise<Record<IdTable, number>> => {
    const user = await catalog.createUser({ username: `user${n}`, roles: ['Gamma'] })
    const role = await catalog.createRole(`role${n}`)
    const database = await catalog.createDatabase({ database_name: `db${n}`, backend: 'sqlite', connection: sharedExamplesFile() })
    const dataset = await catalog.createDataset({
      database_id: database.id,
      table_name: `orders${n}`,
      columns: [{ column_name: 'amount', verbose_name: null, type: 'REAL', is_dttm: false, groupby: false, filterable: true, description: null }],
      metrics: [{ metric_name: 'revenue', verbose_name: null, expression: 'SUM(amount)', description: null, d3format: null }]
    })
    const chart = await catalog.createChart({ slice_name: `chart${n}`, viz_type: 'table', dataset_id: dataset.id, params: {} })
    const dashboard = await catalog.createDashboard({ dashboard_title: `dashboard${n}`, chart_ids: [chart.id] })
    const key = await catalog.createApiKey({ key_id: `k${n}`, name: `key${n}`, user_id: user.id, secret_hash: 'x', scopes: null, expires_on: null })
    const [column] = await catalog.datasetColumns(dataset.id)
    const [metric] = await catalog.datasetMetrics(dataset.id)
    return { users: user.id, roles: role.id, databases: database.id, datasets: dataset.id, dataset_columns: column!.id, dataset_metrics: metric!.id, charts: chart.id, dashboards: dashboard.id, api_keys: key.id }
  }
  const deleteAll = async (catalog: Catalog, ids: Record<IdTable, number>): Promise<void> => {
    for (const table of ['api_keys', 'dashboards', 'charts', 'dataset_metrics', 'dataset_columns', 'datasets', 'databases', 'roles', 'users'] as const) {
      await catalog.store.run(`DELETE FROM ${table} WHERE id = ?`, [ids[table]])
    }
  }
  for (const backend of CATALOG_BACKENDS) {
    t.test(backend, async t => {
      const catalog = await openTestCatalog(t, backend)
      const first = await createAll(catalog, 1)
      await deleteAll(catalog, first)
      const second = await createAll(catalog, 2)
      for (const table of ID_TABLES) t.ok(second[table] > first[table], `${table}: the newest row deleted, the next one gets a new id (${first[table]} → ${second[table]})`)
      // The public path of the defect: delete_chart's catalog call, then a new chart.
      await catalog.deleteChart(second.charts)
      const third = await catalog.createChart({ slice_name: 'chart3', viz_type: 'table', dataset_id: second.datasets, params: {} })
      t.ok(third.id > second.charts, `after deleteChart(${second.charts}) the next chart is ${third.id}`)

      // A copy keeps the ids its source gave and deleted unused.
      await catalog.store.run('DELETE FROM charts WHERE id = ?', [third.id])
      for (const targetBackend of CATALOG_BACKENDS) {
        // (openTestCatalog's SQLite file is per test: the source's own file here.)
        const target = targetBackend === 'sqlite' ? await Catalog.open(path.join(t.testdir(), 'copy.db'), { upgrade: true }) : await openTestCatalog(t, targetBackend)
        if (targetBackend === 'sqlite') t.teardown(async () => { await target.close() })
        await copyCatalog(catalog, target, { force: true })
        const copied = await target.createChart({ slice_name: 'after copy', viz_type: 'table', dataset_id: second.datasets, params: {} })
        t.ok(copied.id > third.id, `copied into ${targetBackend}: the next chart is ${copied.id}, past the deleted ${third.id}`)
      }
    })
  }
})
