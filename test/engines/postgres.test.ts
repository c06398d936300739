import t from 'tap'
import type { Test } from 'tap'
import type { DatabaseRecord } from '../../src/catalog/records.ts'
import { PostgresEngine, numberPlaceholders } from '../../src/engines/postgres.ts'
import { ToolError } from '../../src/errors.ts'
import { databaseRecord, queryRequest } from '../helpers/engine.ts'
import { startPostgres } from '../helpers/postgres.ts'

const server = await startPostgres(t)
await server.sql(`CREATE TABLE orders AS
  SELECT g AS order_id, (ARRAY['north','south','east','west'])[1 + g % 4] AS region, (g % 97) * 1.5 AS amount,
    timestamp '2025-01-01' + g * interval '1 hour' AS ordered_at
  FROM generate_series(1, 5000) g`)
await server.sql(`CREATE TABLE scratch (a int)`)
await server.sql(`CREATE SCHEMA sales`)
await server.sql(`CREATE TABLE sales.targets (region text, target int)`)
await server.sql(`INSERT INTO sales.targets VALUES ('north', 10)`)
await server.createAnalyst('analyst', 'analyst-secret')
// Small enough that a modest sort spills past it (the README recipe's 256MB would take a big one).
await server.sql("ALTER ROLE analyst SET temp_file_limit = '1MB'")
process.env.TEST_PG_ANALYST_PASSWORD = 'analyst-secret'

function database (overrides: Partial<DatabaseRecord> = {}): DatabaseRecord {
  return databaseRecord('postgresql', server.url, { database_name: 'warehouse', ...overrides })
}

function engine (t: Test, options: Partial<ConstructorParameters<typeof PostgresEngine>[0]> = {}): PostgresEngine {
  const created = new PostgresEngine({ poolSize: 3, queueLimit: 20, workMemMb: 16, ...options })
  t.teardown(() => created.close())
  return created
}

/** A call that must fail with a ToolError matching `wanted`. */
async function expectError (t: Test, promise: Promise<unknown>, wanted: { errorType?: string, message?: RegExp }, message?: string): Promise<void> {
  const err = await promise.then(() => undefined, (error: unknown) => error)
  t.ok(err instanceof ToolError, message ?? 'a tool error')
  t.match(err, wanted, message ?? 'the expected error')
}

const running = async (query: string): Promise<number> => Number((await server.sql<{ n: string }>(
  "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()", [`%${query}%`]))[0]?.n)

async function waitFor (condition: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await condition()) return true
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return false
}

t.test('results: columns with PostgreSQL type names, rows as JSON values', async t => {
  const pgEngine = engine(t)
  const result = await pgEngine.execute(database(), queryRequest(`SELECT 1::int AS i, 9007199254740993::bigint AS big, 42::bigint AS small, 1.5::numeric AS n,
    123456789012345678901234.5::numeric AS huge, 2.5::float8 AS f, true AS b, 'x'::text AS s, NULL::text AS nothing,
    date '2025-03-04' AS d, timestamp '2025-03-04 05:06:07' AS ts, timestamptz '2025-03-04 05:06:07+02' AS tstz,
    '\\x0102ff'::bytea AS bin, '{"a": [1, 2]}'::jsonb AS j, interval '1 day 2 hours' AS iv, ARRAY[1, 2] AS arr`))
  t.same(result.columns.map(column => column.type), ['integer', 'bigint', 'bigint', 'numeric', 'numeric', 'double precision', 'boolean', 'text', 'text', 'date', 'timestamp', 'timestamptz', 'bytea', 'jsonb', 'interval', 'integer[]'])
  t.same(result.rows[0], [1, '9007199254740993', 42, 1.5, '123456789012345678901234.5', 2.5, true, 'x', null, '2025-03-04', '2025-03-04T05:06:07', '2025-03-04T03:06:07Z', Buffer.from([1, 2, 255]).toString('base64'), { a: [1, 2] }, 'P1DT2H', '{1,2}'])
  t.equal(result.returnsRows, true)
  t.equal(result.changed, false)
  t.equal(result.affectedRows, null)
  t.same(await pgEngine.listTables(database()), [{ name: 'orders', type: 'table' }, { name: 'sales.targets', type: 'table' }, { name: 'scratch', type: 'table' }])
  t.same(await pgEngine.listTables(database({ options: { schemas: ['sales'] } })), [{ name: 'targets', type: 'table' }], 'options.schemas narrows the tables and sets search_path')
  const fromSchema = await pgEngine.execute(database({ options: { schemas: ['sales'] } }), queryRequest('SELECT target FROM targets'))
  t.same(fromSchema.rows, [[10]], 'search_path comes from options.schemas')
  const bound = await pgEngine.execute(database(), queryRequest("SELECT count(*) AS n FROM orders WHERE region = ? AND '?' = '?' LIMIT ?", { params: ['north', 5] }))
  t.same(bound.rows, [[1250]], '? placeholders become $n, not inside strings')
})

t.test('? placeholders are numbered outside strings, identifiers, comments and dollar quotes', async t => {
  t.equal(numberPlaceholders(`SELECT ?, '?', "?", $$?$$, $a$?$a$, E'\\'?', /* ? /* ? */ ? */ ? -- ?\n, ?`), `SELECT $1, '?', "?", $$?$$, $a$?$a$, E'\\'?', /* ? /* ? */ ? */ $2 -- ?\n, $3`)
})

t.test('truncation: the cursor reads the row cap plus one, never the whole result', async t => {
  const pgEngine = engine(t)
  const started = Date.now()
  // A select-list generate_series streams (one in FROM would be materialised first): a billion
  // rows could not be produced, let alone sent, within the test's time.
  const result = await pgEngine.execute(database(), queryRequest('SELECT g, md5(g::text) FROM (SELECT generate_series(1, 1000000000) AS g) s', { maxRows: 10, timeoutMs: 30_000 }))
  t.equal(result.rowCount, 10)
  t.equal(result.truncated, true)
  t.equal(result.truncatedBy, 'rows')
  t.ok(Date.now() - started < 20_000, 'answered without producing the billion rows')
  const exact = await pgEngine.execute(database(), queryRequest('SELECT g FROM generate_series(1, 10) g', { maxRows: 10 }))
  t.equal(exact.truncated, false, 'exactly the cap is not truncated')
  const bytes = await pgEngine.execute(database(), queryRequest("SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 1000) g", { maxRows: 1000, maxBytes: 20_000 }))
  t.equal(bytes.truncatedBy, 'bytes')
  t.ok(bytes.rowCount > 5 && bytes.rowCount < 25, `${bytes.rowCount} rows fit 20 kB`)
  await expectError(t, pgEngine.execute(database(), queryRequest("SELECT repeat('x', 100000)", { maxBytes: 10_000 })), { errorType: 'result_too_large' })
  const dry = await pgEngine.execute(database(), queryRequest('SELECT order_id, region FROM orders', { dryRun: true }))
  t.same(dry.columns, [{ name: 'order_id', type: 'integer' }, { name: 'region', type: 'text' }])
  t.equal(dry.rowCount, 0)
})

t.test('read-only is enforced by the transaction even when the parser check is bypassed', async t => {
  const pgEngine = engine(t)
  for (const sql of ['DELETE FROM orders', 'INSERT INTO scratch VALUES (1)', 'CREATE TABLE evil (a int)', 'WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d']) {
    await expectError(t, pgEngine.run(database(), { sql, params: [], class: 'read' }, queryRequest(sql)), { errorType: 'read_only' }, sql)
  }
  // Settings changed inside the transaction are rolled back with it; the next transaction is READ ONLY by itself.
  await pgEngine.run(database(), { sql: "SELECT set_config('default_transaction_read_only', 'off', false)", params: [], class: 'read' }, queryRequest('x'))
  await pgEngine.run(database(), { sql: 'COMMIT', params: [], class: 'read' }, queryRequest('x'))
  // A multi-statement text through the extended protocol is refused by the server itself.
  await expectError(t, pgEngine.run(database(), { sql: 'SET default_transaction_read_only = off; DELETE FROM orders', params: [], class: 'read' }, queryRequest('x')), { errorType: 'sql_error' })
  await expectError(t, pgEngine.run(database(), { sql: 'DELETE FROM orders', params: [], class: 'read' }, queryRequest('x')), { errorType: 'read_only' }, 'the next query on the same connection is read-only again')
  t.equal(Number((await server.sql<{ n: string }>('SELECT count(*) AS n FROM orders'))[0]?.n), 5000, 'nothing was deleted')
  await expectError(t, pgEngine.execute(database(), queryRequest('DELETE FROM orders')), { errorType: 'read_only' }, 'and the parser refuses it first')
})

t.test('the least-privilege role: password from password_source, reads only', async t => {
  const pgEngine = engine(t)
  const analyst = database({ id: 2, connection: server.urlFor('analyst'), password_source: 'env:TEST_PG_ANALYST_PASSWORD', allow_dml: true })
  t.same((await pgEngine.execute(analyst, queryRequest('SELECT count(*) AS n FROM orders'))).rows, [[5000]])
  await expectError(t, pgEngine.execute(analyst, queryRequest('DELETE FROM orders')), { errorType: 'read_only' }, 'even with allow_dml, the role is read-only (default_transaction_read_only)')
  await expectError(t, pgEngine.execute(analyst, queryRequest('CREATE TABLE x (a int)')), { errorType: 'read_only' })
  await expectError(t, pgEngine.execute(analyst, queryRequest('SELECT * FROM pg_authid')), { errorType: 'permission_denied', message: /permission denied/ }, 'and reads only what it was granted')
  const wrong = database({ id: 3, connection: server.urlFor('analyst'), password_source: 'env:TEST_PG_NO_SUCH_VAR' })
  await expectError(t, pgEngine.execute(wrong, queryRequest('SELECT 1')), { errorType: 'database_unavailable', message: /TEST_PG_NO_SUCH_VAR is not set/ })
  process.env.TEST_PG_WRONG_PASSWORD = 'wrong-password'
  const refused = database({ id: 4, connection: server.urlFor('analyst'), password_source: 'env:TEST_PG_WRONG_PASSWORD' })
  const err = await pgEngine.execute(refused, queryRequest('SELECT 1')).catch((error: unknown) => error)
  t.ok(err instanceof ToolError)
  t.equal((err as ToolError).errorType, 'database_unavailable')
  t.notMatch((err as Error).message, /wrong-password|127\.0\.0\.1|analyst|postgresql:\/\//, 'no password, host, user or URL in the message')
})

t.test('writes on a database that allows DML commit, with affected rows and `changed`', async t => {
  const pgEngine = engine(t)
  const writable = database({ id: 5, allow_dml: true })
  const inserted = await pgEngine.execute(writable, queryRequest('INSERT INTO scratch SELECT generate_series(1, 7)'))
  t.equal(inserted.affectedRows, 7)
  t.equal(inserted.changed, true)
  const none = await pgEngine.execute(writable, queryRequest('DELETE FROM scratch WHERE a < 0'))
  t.equal(none.affectedRows, 0)
  t.equal(none.changed, false)
  const ddl = await pgEngine.execute(writable, queryRequest('CREATE TABLE made (a int)'))
  t.equal(ddl.changed, true)
  const returning = await pgEngine.execute(writable, queryRequest('WITH d AS (DELETE FROM scratch WHERE a <= 2 RETURNING a) SELECT a FROM d ORDER BY a'))
  t.same(returning.rows, [[1], [2]])
  t.equal(Number((await server.sql<{ n: string }>('SELECT count(*) AS n FROM scratch'))[0]?.n), 5, 'committed')
  const dry = await pgEngine.execute(writable, queryRequest('DELETE FROM scratch', { dryRun: true }))
  t.equal(dry.changed, false)
  t.equal(Number((await server.sql<{ n: string }>('SELECT count(*) AS n FROM scratch'))[0]?.n), 5, 'a dry run runs nothing')
  const read = await pgEngine.execute(writable, queryRequest('SELECT count(*) FROM scratch'))
  t.equal(read.changed, false)
})

t.test('a timeout stops the query on the server', async t => {
  const pgEngine = engine(t)
  const started = Date.now()
  await expectError(t, pgEngine.execute(database(), queryRequest('SELECT pg_sleep(600)', { timeoutMs: 2000 })), { errorType: 'query_timeout' })
  t.ok(Date.now() - started < 6000, `answered after ${Date.now() - started} ms`)
  t.ok(await waitFor(async () => await running('pg_sleep(600)') === 0), 'pg_stat_activity shows it gone')
  t.same((await pgEngine.execute(database(), queryRequest('SELECT 1 AS one'))).rows, [[1]], 'the pool still works')
})

t.test('an abort cancels the query on the server', async t => {
  const pgEngine = engine(t)
  const controller = new AbortController()
  const pending = pgEngine.execute(database(), queryRequest('SELECT pg_sleep(601)', { timeoutMs: 60_000, signal: controller.signal }))
  t.ok(await waitFor(async () => await running('pg_sleep(601)') === 1), 'running')
  controller.abort()
  await expectError(t, pending, { errorType: 'cancelled' })
  t.ok(await waitFor(async () => await running('pg_sleep(601)') === 0), 'gone from pg_stat_activity')
})

t.test('PostgreSQL errors become tool errors that name no host, URL or password', async t => {
  const pgEngine = engine(t)
  const cases: Array<[string, string, RegExp]> = [
    ['SELECT nope FROM orders', 'sql_error', /column "nope" does not exist/],
    ['SELECT * FROM missing_table', 'sql_error', /relation "missing_table" does not exist/],
    ['SELECT 1/0', 'sql_error', /division by zero/],
    ["SELECT pg_rеad_file('/etc/passwd')", 'sql_error', /does not exist/]
  ]
  for (const [sql, kind, message] of cases) {
    const err = await pgEngine.execute(database(), queryRequest(sql)).catch((error: unknown) => error) as ToolError
    t.equal(err.errorType, kind, sql)
    t.match(err.message, message)
    if (/does not exist/.test(err.message) && !sql.includes('1/0')) t.match(err.hint ?? '', /dialect postgresql/)
  }
  const resource = await pgEngine.execute(database({ id: 6, connection: server.urlFor('analyst'), password_source: 'env:TEST_PG_ANALYST_PASSWORD' }),
    queryRequest('SELECT count(*) FROM (SELECT md5(g::text) AS h FROM generate_series(1, 500000) g ORDER BY 1) s', { timeoutMs: 60_000 })).catch((error: unknown) => error) as ToolError
  t.equal(resource.errorType, 'resource_limit', `temp_file_limit on the role: ${resource.message}`)
  const down = engine(t, { connectTimeoutMs: 2000 })
  const unreachable = database({ id: 7, connection: 'postgresql://someone@127.0.0.1:1/db' })
  const err = await down.execute(unreachable, queryRequest('SELECT 1')).catch((error: unknown) => error) as ToolError
  t.equal(err.errorType, 'database_unavailable')
  t.notMatch(err.message, /127\.0\.0\.1|someone|:1\b|postgresql:/)
})

t.test('fair queue: one user flooding the pool leaves a connection for another', async t => {
  const pgEngine = engine(t, { poolSize: 2 })
  const flood = Array.from({ length: 6 }, () => pgEngine.execute(database(), queryRequest('SELECT pg_sleep(1.5)', { owner: 'mallory', timeoutMs: 30_000 })))
  await new Promise(resolve => setTimeout(resolve, 200))
  const started = Date.now()
  const other = await pgEngine.execute(database(), queryRequest('SELECT 1', { owner: 'alice' }))
  t.same(other.rows, [[1]])
  t.ok(Date.now() - started < 1000, `alice waited ${Date.now() - started} ms, not for mallory's flood`)
  await Promise.all(flood)
  const crowded = engine(t, { poolSize: 1, queueLimit: 1, perOwnerQueueLimit: 1 })
  const first = crowded.execute(database(), queryRequest('SELECT pg_sleep(1)', { owner: 'bob' }))
  const second = crowded.execute(database(), queryRequest('SELECT pg_sleep(1)', { owner: 'bob' }))
  await expectError(t, crowded.execute(database(), queryRequest('SELECT 1', { owner: 'bob' })), { errorType: 'busy' })
  await Promise.all([first, second])
})

t.test('a server restart: the pool reconnects; down, the error says unavailable', async t => {
  const pgEngine = engine(t, { connectTimeoutMs: 2000 })
  t.same((await pgEngine.execute(database(), queryRequest('SELECT 1'))).rows, [[1]])
  await server.stop()
  const err = await pgEngine.execute(database(), queryRequest('SELECT 1')).catch((error: unknown) => error) as ToolError
  t.equal(err.errorType, 'database_unavailable')
  t.notMatch(err.message, /127\.0\.0\.1|postgres@|postgresql:/)
  await server.start()
  t.ok(await waitFor(async () => await pgEngine.execute(database(), queryRequest('SELECT 1')).then(() => true, () => false), 10_000), 'back after the restart')
})

t.test('work_mem is the role\'s unless MCP_PG_WORK_MEM_MB sets it for the query', async t => {
  const workMem = async (options: Partial<ConstructorParameters<typeof PostgresEngine>[0]>): Promise<unknown> =>
    (await engine(t, options).execute(database(), queryRequest("SELECT current_setting('work_mem') AS w"))).rows[0]?.[0]
  t.equal(await workMem({ workMemMb: 16 }), '16MB', 'set for the query when configured')
  t.equal(await workMem({ workMemMb: undefined }), (await server.sql<{ w: string }>("SELECT current_setting('work_mem') AS w"))[0]?.w, 'else the server\'s default stands')
})

t.test('a connection killed mid-query fails that query, not the process', async t => {
  const pgEngine = engine(t)
  // Caught at once: the rejection may come while the test is still killing the connection.
  const query = pgEngine.execute(database(), queryRequest('SELECT pg_sleep(20) AS slept')).catch((error: unknown) => error)
  t.ok(await waitFor(async () => await running('pg_sleep(20)') > 0), 'the query runs')
  await server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()")
  const err = await query
  t.ok(err instanceof ToolError, 'the call fails with a tool error')
  t.match((err as ToolError).errorType, 'database_unavailable', 'saying the database is unavailable')
  t.same((await pgEngine.execute(database(), queryRequest('SELECT 2 AS two'))).rows, [[2]], 'and the next query runs on a fresh connection')
})

t.test('each statement runs in its own transaction with its settings, which end with it', async t => {
  const pgEngine = engine(t, { poolSize: 1 })
  const settings = "SELECT current_setting('transaction_read_only') AS ro, current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds, current_setting('IntervalStyle') AS iv, current_setting('statement_timeout') AS st, current_setting('work_mem') AS wm"
  const inside = await pgEngine.execute(database(), queryRequest(settings, { timeoutMs: 30_000 }))
  const [ro, tz, ds, iv, st, wm] = inside.rows[0] as string[]
  t.same([ro, tz, ds, iv, wm], ['on', 'UTC', 'ISO, YMD', 'iso_8601', '16MB'], 'read only, UTC, ISO dates and intervals, the configured work_mem')
  t.match(st, /^(29\d\d\dms|30s)$/, `statement_timeout is the call's remaining budget (${st})`)
  const writable = await pgEngine.execute(database({ allow_dml: true }), queryRequest(settings, { timeoutMs: 30_000 }))
  t.equal((writable.rows[0] as string[])[0], 'off', 'a database that allows DML gets a read-write transaction')
  const inTransaction = await server.sql<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")
  t.equal(Number(inTransaction[0]?.n), 0, 'the pooled connection is back to idle: its transaction, and the settings local to it, ended with the call')
})
