import t from 'tap'
import { withoutTrailingTerminator } from '../../src/query/sql-text.ts'
import { startTestServer } from '../helpers/app.ts'
import { post, toolCall } from '../helpers/rpc.ts'

// create_virtual_dataset strips a trailing `;` and comments so the SQL can be wrapped as a
// subquery. It once did so with a backtracking regular expression that took twice as long for
// every extra space after a semicolon, on the event loop: one call froze the whole process.

/** Generous: a stuck event loop never answers, a free one does within milliseconds. */
const ANSWER_WITHIN_MS = 20_000

t.test('trailing terminators and comments go, everything else stays', async t => {
  const cases: Array<[string, string]> = [
    ['SELECT 1', 'SELECT 1'],
    ['SELECT 1;', 'SELECT 1'],
    ['SELECT 1 ; ;\n;', 'SELECT 1'],
    ['SELECT 1; -- done\n-- really', 'SELECT 1'],
    ['SELECT 1 -- no terminator', 'SELECT 1'],
    ['SELECT 1; /* a block\n comment */ ;', 'SELECT 1'],
    ['SELECT 1 /* unclosed', 'SELECT 1'],
    ["SELECT 'a;--b'", "SELECT 'a;--b'"],
    ["SELECT 'a;/*b'; -- c", "SELECT 'a;/*b'"],
    ["SELECT 'it''s;' ;", "SELECT 'it''s;'"],
    ['SELECT "x;--" FROM t;', 'SELECT "x;--" FROM t'],
    ['SELECT `a;` , [b;--] FROM t ;', 'SELECT `a;` , [b;--] FROM t'],
    ["SELECT 'unclosed; --", "SELECT 'unclosed; --"],
    ['SELECT 1 - -1;', 'SELECT 1 - -1'],
    ['SELECT 1; SELECT 2;', 'SELECT 1; SELECT 2'],
    ['SELECT a -- inner\nFROM t;', 'SELECT a -- inner\nFROM t'],
    [';  -- nothing', '']
  ]
  for (const [sql, expected] of cases) t.equal(withoutTrailingTerminator(sql), expected, JSON.stringify(sql))
})

t.test('the strip is linear: a long run of spaces, semicolons or dashes is quick', async t => {
  for (const tail of [' '.repeat(200_000), '; '.repeat(100_000), '-'.repeat(200_000), ';\n'.repeat(100_000), '/**/'.repeat(50_000)]) {
    t.equal(withoutTrailingTerminator(`SELECT 1 AS a;${tail}`), 'SELECT 1 AS a', `${JSON.stringify(tail.slice(0, 4))}… is stripped`)
  }
  t.equal(withoutTrailingTerminator(`SELECT 1 AS a;${' '.repeat(200_000)}x`).length, 200_015, 'a token after them keeps them')
})

t.test('the red-team input answers, and the server stays responsive meanwhile', async t => {
  const server = await startTestServer(t)
  const health = new URL('/healthz', server.url)
  const create = (sql: string, name: string) => post(server.url, toolCall('create_virtual_dataset', { database_id: 'examples', dataset_name: name, sql }))

  for (const [spaces, name] of [[28, 'r'], [1_000, 'r_1000'], [99_980, 'r_99980'], [100_000, 'r_100000']] as const) {
    const sql = `SELECT 1 AS a;${' '.repeat(spaces)}x`
    const [call, probe] = await Promise.all([
      Promise.race([create(sql, name), new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('no answer')), ANSWER_WITHIN_MS).unref())]),
      fetch(health, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) })
    ])
    t.equal(probe.status, 200, `/healthz answers during the call (${spaces} spaces)`)
    t.equal(call.status, 200)
    const result = call.json.result
    t.equal(result.isError, true, `${spaces} spaces: "; x" is not a statement, so the call fails cleanly`)
    t.ok(['sql_error', 'invalid_arguments'].includes(result._meta?.error_type), `a proper error (${result._meta?.error_type})`)
    if (spaces > 100_000 - 'SELECT 1 AS a;x'.length) t.match(result.content[0].text, /sql/i, 'too long: the argument check says so')
    else t.match(result.content[0].text, /The dataset's SQL does not run/)
  }

  const made = await create(`SELECT 1 AS a;${' '.repeat(5_000)}-- trailing comment`, 'spaced_out')
  t.notOk(made.json.result.isError, 'a terminator and comment after many spaces are stripped')
  t.equal(made.json.result.structuredContent.sql, 'SELECT 1 AS a')
  const queried = await post(server.url, toolCall('query_dataset', { dataset_id: 'spaced_out', columns: ['a'] }))
  t.notOk(queried.json.result.isError, 'the saved SQL wraps as a subquery')
})

t.test('SQL saved by other paths with a trailing comment or terminator still wraps as a subquery', async t => {
  const server = await startTestServer(t)
  const examples = await server.app.catalog.findDatabase('examples')
  if (examples === undefined) throw new Error('no examples database')
  for (const [name, sql] of [['commented', 'SELECT region, amount FROM orders -- by region'], ['terminated', 'SELECT region, amount FROM orders;\n'], ['both', 'SELECT region, amount FROM orders; /* done */ -- end']] as const) {
    await server.app.catalog.createDataset({ database_id: examples.id, table_name: name, sql, owners: [], columns: [{ column_name: 'region', verbose_name: null, type: 'TEXT', is_dttm: false, groupby: true, filterable: true, description: null }, { column_name: 'amount', verbose_name: null, type: 'REAL', is_dttm: false, groupby: false, filterable: true, description: null }] })
    const queried = (await post(server.url, toolCall('query_dataset', { dataset_id: name, columns: ['region'], metrics: [{ name: 'amount', aggregate: 'SUM' }] }))).json.result
    t.notOk(queried.isError, `${name}: query_dataset runs (${String(queried.content?.[0]?.text).slice(0, 120)})`)
    t.equal(queried.structuredContent?.row_count, 5, `${name}: five regions`)
  }
})
