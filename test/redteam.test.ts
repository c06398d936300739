import { copyFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { sharedExamplesFile } from './helpers/examples.ts'
import { loadCorpus, outcomeOf } from './helpers/redteam.ts'
import { post, toolCall } from './helpers/rpc.ts'

const corpus = loadCorpus('sqlite.yml')

t.test('the hostile SQL corpus gets the refusals it lists, and changes nothing it should not', async t => {
  const server = await startTestServer(t, {
    MCP_DEV_USERNAME: 'alice',
    MCP_SQL_RUNNER_MEMORY_MB: 64,
    MCP_SQL_MAX_RESULT_BYTES: 1_048_576,
    MCP_RESPONSE_SIZE_CONFIG: { enabled: false }
  })
  const scratchFile = path.join(t.testdir(), 'scratch.db')
  copyFileSync(sharedExamplesFile(), scratchFile)
  const scratch = await server.app.catalog.createDatabase({ database_name: 'scratch', backend: 'sqlite', connection: scratchFile, allow_dml: true })
  await server.app.catalog.grantPermission('sql_lab', { permission: 'database_access', resource: 'Database', resource_id: scratch.id })
  t.ok(corpus.length >= 50, `${corpus.length} cases`)

  for (const [index, entry] of corpus.entries()) {
    const args = { database_id: entry.database ?? 'examples', sql: entry.sql, ...(entry.timeout === undefined ? {} : { timeout: entry.timeout }) }
    const { status, json } = await post(server.url, toolCall('execute_sql', args, index + 1))
    const result = json?.result
    const outcome = outcomeOf(json)
    t.equal(status, 200)
    t.equal(outcome, entry.expect, `${JSON.stringify(entry.sql).slice(0, 90)} on ${args.database_id}${entry.why === undefined ? '' : ` (${entry.why})`}`)
    if (result?.isError === true) t.notMatch(result.content[0].text, /\bat .*\.(ts|js):\d+|node:internal|SqliteError/, 'no internals in the message')
  }

  const count = async (database: string): Promise<unknown> => (await post(server.url, toolCall('execute_sql', { database_id: database, sql: 'SELECT COUNT(*) AS n FROM orders' }))).json.result.structuredContent.rows[0].n
  t.equal(await count('examples'), 120_000, 'the read-only database is untouched')
  t.equal(await count('scratch'), 120_000 - 10, 'only the one allowed DELETE ran on the writable copy')
  t.notOk(existsSync('/tmp/stolen.db'), 'VACUUM INTO wrote nothing')
  t.equal((await fetch(`${server.origin}/healthz`)).status, 200, 'the server is still up')
})
