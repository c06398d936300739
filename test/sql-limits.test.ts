import { copyFileSync, mkdirSync, readdirSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { SqliteEngine } from '../src/engines/engines.ts'
import type { QueryRequest } from '../src/engines/engines.ts'
import type { RunnerEndReason } from '../src/engines/runner-pool.ts'
import { queryRequest, refusal as failure, sqliteDatabase as database, until } from './helpers/engine.ts'
import { sharedExamplesFile } from './helpers/examples.ts'

// The red-team reproductions of issue 10 against the real runner processes.

/** Heavy queries get a long timeout: they must end by their limit, not by the clock. */
const request = (sql: string, overrides: Partial<QueryRequest> = {}): QueryRequest => queryRequest(sql, { timeoutMs: 60_000, ...overrides })

/** A query that keeps a runner busy until it is stopped. */
const SLOW = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n'

t.test('memory and temporary storage are bounded by the runner, not only V8', { skip: process.platform !== 'linux' && 'RLIMIT_DATA is Linux only' }, async t => {
  // SQLite names its temp files after SQLITE_TMPDIR: an empty directory shows none were written.
  const tmp = path.join(t.testdir(), 'sqlite-tmp')
  mkdirSync(tmp)
  const previous = process.env.SQLITE_TMPDIR
  process.env.SQLITE_TMPDIR = tmp
  t.teardown(() => { process.env.SQLITE_TMPDIR = previous })
  const ended: RunnerEndReason[] = []
  const engine = new SqliteEngine({ size: 1, queueLimit: 4, memoryMb: 64, onRunnerEnded: reason => ended.push(reason) })
  t.teardown(() => engine.close())
  const examples = database(sharedExamplesFile())

  t.test('a 1 GB blob is refused with resource_limit, naming the setting', async t => {
    const error = await failure(engine.execute(examples, request('SELECT length(randomblob(999999999)) AS n')))
    t.equal(error.errorType, 'resource_limit')
    t.match(error.message, /MCP_SQL_RUNNER_MEMORY_MB/)
    t.match(error.message, /64 MiB/)
    t.ok(ended.includes('out_of_memory'), 'the runner that hit its limit is replaced')
    const three = await failure(engine.execute(examples, request('SELECT length(randomblob(300000000)), length(randomblob(300000000)), length(randomblob(300000000))')))
    t.equal(three.errorType, 'resource_limit', 'so are three big blobs in one row')
    const next = await engine.execute(examples, request('SELECT length(randomblob(1000000)) AS n'))
    t.same(next.rows, [[1_000_000]], 'a modest blob still works on the fresh runner')
  })

  t.test('a huge sort spills to memory under the limit, never to temp files', async t => {
    // SQLite unlinks its temp files as it opens them: look for them among the runner's open files.
    const openTempFiles = (): number => engine.pool.busyPids().flatMap(pid => {
      try {
        return readdirSync(`/proc/${pid}/fd`).map(fd => readlinkSync(`/proc/${pid}/fd/${fd}`))
      } catch {
        return []
      }
    }).filter(target => target.startsWith(tmp)).length
    let tempFiles = 0
    const watch = setInterval(() => { tempFiles = Math.max(tempFiles, openTempFiles()) }, 20)
    t.teardown(() => clearInterval(watch))
    const error = await failure(engine.execute(examples, request('SELECT a.*, b.* FROM orders a, orders b ORDER BY random()')))
    clearInterval(watch)
    t.equal(error.errorType, 'resource_limit')
    t.equal(tempFiles, 0, 'no temp file was opened')
    const grouped = await engine.execute(examples, request('SELECT region, COUNT(*) FROM orders GROUP BY region ORDER BY 2 DESC'))
    t.equal(grouped.rowCount, 5, 'ordinary sorts and GROUP BY still work')
  })
})

t.test('SQL after a NUL is refused, not silently dropped', async t => {
  const engine = new SqliteEngine({ size: 1, queueLimit: 4 })
  t.teardown(() => engine.close())
  const file = path.join(t.testdir(), 'writable.db')
  copyFileSync(sharedExamplesFile(), file)
  const writable = database(file, true)
  const error = await failure(engine.execute(writable, request('SELECT 1;\u0000DELETE FROM orders')))
  t.equal(error.errorType, 'sql_error')
  t.match(error.message, /NUL/)
  const error2 = await failure(engine.execute(writable, request('SELECT 1 -- \u0000')))
  t.equal(error2.errorType, 'sql_error', 'anywhere in the text')
  const count = await engine.execute(writable, request('SELECT COUNT(*) FROM orders'))
  t.same(count.rows, [[120_000]], 'nothing was deleted')
  const bound = await engine.execute(writable, request('SELECT length(?) AS n', { params: ['a\u0000b'] }))
  t.same(bound.rows, [[1]], 'a NUL in a bound value is data, not SQL (SQLite counts text to the NUL)')
})

t.test('a statement counts as a change only when it changed something', async t => {
  const engine = new SqliteEngine({ size: 1, queueLimit: 4 })
  t.teardown(() => engine.close())
  const file = path.join(t.testdir(), 'writable.db')
  copyFileSync(sharedExamplesFile(), file)
  const writable = database(file, true)
  const changed = async (sql: string, on = writable): Promise<boolean> => (await engine.execute(on, request(sql))).changed
  t.equal(await changed('DROP TABLE IF EXISTS no_such_table', database(sharedExamplesFile())), false, 'a no-op on a read-only database')
  t.equal(await changed('DROP TABLE IF EXISTS no_such_table'), false, 'a no-op DDL')
  t.equal(await changed("UPDATE orders SET status = 'x' WHERE 0"), false, 'an UPDATE of no rows')
  t.equal(await changed('SELECT COUNT(*) FROM orders'), false, 'a query')
  t.equal(await changed("UPDATE orders SET status = 'Archived' WHERE order_id = 1"), true, 'an UPDATE of a row')
  t.equal(await changed('CREATE TABLE notes (id INTEGER)'), true, 'DDL that ran')
  t.equal(await changed('CREATE TABLE IF NOT EXISTS notes (id INTEGER)'), false, 'DDL that had nothing to do')
  t.equal(await changed('INSERT INTO notes VALUES (1) RETURNING id'), true, 'a change that returns rows')
  t.equal(await changed('DROP TABLE notes'), true)
})

t.test('users share the runners fairly', async t => {
  t.test('one user\'s flood does not hold back another user\'s query', async t => {
    // Two runners, one per user by default: a flood leaves a runner for everyone else.
    const engine = new SqliteEngine({ size: 2, queueLimit: 64, perOwnerRunning: 1, perOwnerQueueLimit: 40 })
    t.teardown(() => engine.close())
    const examples = database(sharedExamplesFile())
    const flood = Array.from({ length: 40 }, () => failure(engine.execute(examples, request(SLOW, { owner: 'alice', timeoutMs: 30_000 }))))
    await until(() => engine.pool.stats().queued === 39)
    t.same(engine.pool.stats(), { runners: 1, busy: 1, queued: 39 }, 'alice runs one query, 39 wait')
    const bob = await engine.execute(examples, request('SELECT 1', { owner: 'bob' }))
    t.same(bob.rows, [[1]], 'bob\'s query ran at once')
    t.equal(engine.pool.stats().queued, 39, 'while alice\'s queries still wait')
    await engine.close()
    const errors = await Promise.all(flood)
    t.ok(errors.every(error => error.errorType === 'database_unavailable'), 'the flood ends with the pool')
  })

  t.test('waiting users take turns', async t => {
    const engine = new SqliteEngine({ size: 1, queueLimit: 64 })
    t.teardown(() => engine.close())
    const examples = database(sharedExamplesFile())
    const order: string[] = []
    const run = (owner: string, index: number): Promise<void> =>
      engine.execute(examples, request(`SELECT COUNT(*) FROM orders a, (SELECT 1 FROM orders LIMIT 3) b -- ${index}`, { owner })).then(() => { order.push(`${owner}${index}`) })
    const alice = [1, 2, 3, 4].map(index => run('alice', index))
    const bob = run('bob', 1)
    await Promise.all([...alice, bob])
    t.same(order, ['alice1', 'bob1', 'alice2', 'alice3', 'alice4'], 'bob is served right after alice\'s running query, not after her whole queue')
  })

  t.test('a full queue of one user refuses only that user, with a retry time', async t => {
    const engine = new SqliteEngine({ size: 1, queueLimit: 64, perOwnerQueueLimit: 2 })
    t.teardown(() => engine.close())
    const examples = database(sharedExamplesFile())
    const held = [1, 2, 3].map(() => failure(engine.execute(examples, request(SLOW, { owner: 'alice', timeoutMs: 1000 }))))
    await until(() => engine.pool.stats().queued === 2)
    const refused = await failure(engine.execute(examples, request('SELECT 1', { owner: 'alice' })))
    t.equal(refused.errorType, 'busy')
    t.match(refused.message, /MCP_SQL_USER_QUEUE_LIMIT/)
    t.equal(refused.details.retry_after_seconds, 2)
    const bob = failure(engine.execute(examples, request(SLOW, { owner: 'bob', timeoutMs: 1000 })))
    t.equal(engine.pool.stats().queued, 3, 'bob may still queue')
    t.same((await Promise.all([...held, bob])).map(error => error.errorType), ['query_timeout', 'query_timeout', 'query_timeout', 'query_timeout'])
  })
})
