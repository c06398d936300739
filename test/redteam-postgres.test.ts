import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { startPostgres } from './helpers/postgres.ts'
import { loadCorpus, outcomeOf } from './helpers/redteam.ts'
import { post, toolCall } from './helpers/rpc.ts'

const corpus = loadCorpus('postgresql.yml')

const SCHEMA = [
  `CREATE TABLE regions (region text PRIMARY KEY, manager text)`,
  `INSERT INTO regions VALUES ('north', 'Ann'), ('south', 'Bo'), ('east', 'Cy'), ('west', 'Di')`,
  `CREATE TABLE orders (order_id bigserial PRIMARY KEY, region text REFERENCES regions, product text, amount numeric(10, 2), ordered_at timestamp)`,
  `INSERT INTO orders (region, product, amount, ordered_at)
    SELECT (ARRAY['north','south','east','west'])[1 + g % 4], (ARRAY['widget','gadget','gizmo'])[1 + g % 3], (g % 97) * 1.25, timestamp '2025-01-01' + g * interval '37 minutes'
    FROM generate_series(1, 3000) g`
]

t.test('the hostile PostgreSQL corpus gets the refusals it lists, the analytics corpus runs, and nothing changes', async t => {
  const pg = await startPostgres(t)
  await pg.sql('CREATE DATABASE scratch')
  for (const statement of SCHEMA) await pg.sql(statement)
  const scratchUrl = pg.urlFor('postgres', 'scratch')
  const { default: pgModule } = await import('pg')
  const scratchClient = new pgModule.Client({ connectionString: scratchUrl })
  await scratchClient.connect()
  for (const statement of SCHEMA) await scratchClient.query(statement)
  await scratchClient.end()
  await pg.sql("ALTER SYSTEM SET temp_file_limit = '1MB'")
  await pg.sql('SELECT pg_reload_conf()')
  const fingerprint = async (): Promise<unknown> => (await pg.sql("SELECT count(*)::int AS n, sum(amount)::text AS total, (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public') AS tables FROM orders"))[0]

  const before = await fingerprint()
  const server = await startTestServer(t, {
    MCP_DEV_USERNAME: 'alice',
    MCP_SQL_MAX_RESULT_BYTES: 1_048_576,
    MCP_PG_WORK_MEM_MB: 4,
    MCP_RESPONSE_SIZE_CONFIG: { enabled: false }
  })
  for (const [name, url, allowDml] of [['warehouse', pg.url, false], ['scratch', scratchUrl, true]] as const) {
    const database = await server.app.catalog.createDatabase({ database_name: name, backend: 'postgresql', connection: url, password_source: null, allow_dml: allowDml })
    await server.app.catalog.grantPermission('sql_lab', { permission: 'database_access', resource: 'Database', resource_id: database.id })
  }
  const hostile = corpus.filter(entry => entry.expect !== 'ok')
  t.ok(hostile.length >= 40, `${hostile.length} hostile cases`)
  t.ok(corpus.length - hostile.length >= 25, `${corpus.length - hostile.length} queries that must run`)

  for (const [index, entry] of corpus.entries()) {
    const args = { database_id: entry.database ?? 'warehouse', sql: entry.sql, ...(entry.timeout === undefined ? {} : { timeout: entry.timeout }) }
    const { status, json } = await post(server.url, toolCall('execute_sql', args, index + 1))
    const result = json?.result
    const outcome = outcomeOf(json)
    t.equal(status, 200)
    t.equal(outcome, entry.expect, `${JSON.stringify(entry.sql).slice(0, 90)} on ${args.database_id}${entry.why === undefined ? '' : ` (${entry.why})`}${outcome === entry.expect ? '' : `: ${String(result?.content?.[0]?.text).slice(0, 300)}`}`)
    if (result?.isError === true) {
      t.notMatch(result.content[0].text, /\bat .*\.(ts|js):\d+|node:internal|127\.0\.0\.1|postgresql:\/\//, 'no internals, host or URL in the message')
    }
  }

  t.same(await fingerprint(), before, 'the read-only database is unchanged')
  const scratch = new pgModule.Client({ connectionString: scratchUrl })
  await scratch.connect()
  t.equal((await scratch.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 3000 - 10, 'only the one allowed DELETE ran on the writable copy')
  await scratch.end()
  const leftover = await pg.sql<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()")
  t.equal(leftover[0]?.n, 0, 'the timed-out sleep is gone from the server')
  t.equal((await fetch(`${server.origin}/healthz`)).status, 200, 'the server is still up')
})
