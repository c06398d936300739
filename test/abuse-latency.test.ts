import t from 'tap'
import { createApiKey } from '../src/auth/api-keys.ts'
import { startTestServer } from './helpers/app.ts'
import type { RunningServer } from './helpers/app.ts'
import { post, toolCall } from './helpers/rpc.ts'

/**
 * One user's abuse must not stall the server for everyone: while each abuse of issue 10 runs,
 * /healthz is probed every 50 ms and must keep answering. The bound is on how long a probe may
 * wait, not on the heavy work, and generous for a loaded CI machine: the old code stalled
 * probes for 2–8 s (renders, ReDoS) or for good (a 1,000-space ReDoS).
 */
const PROBE_BOUND_MS = 1500

async function worstProbe (server: RunningServer, work: Promise<unknown>): Promise<number> {
  let running = true
  let worst = 0
  const probing = (async () => {
    // Timed from when each probe was due, so a stall that starts between probes counts too.
    let due = performance.now()
    while (running) {
      const response = await fetch(`${server.origin}/healthz`)
      if (response.status !== 200) throw new Error(`/healthz answered ${response.status}`)
      worst = Math.max(worst, performance.now() - due)
      due = performance.now() + 50
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })()
  await work.finally(() => { running = false })
  await probing
  return worst
}

t.test('/healthz keeps answering while one user abuses the server', async t => {
  const server = await startTestServer(t, { MCP_API_KEY_ENABLED: true, MCP_SQL_WORKERS: 2, MCP_RESPONSE_SIZE_CONFIG: { enabled: false } })
  const { catalog } = server.app
  const keyOf = async (username: string): Promise<string> => {
    const user = await catalog.findUserByUsername(username)
    if (user === undefined) throw new Error(`no user ${username}`)
    return (await createApiKey(catalog, { prefix: 'amcp', name: `abuse-${username}`, userId: user.id, scopes: null, expiresOn: null })).key
  }
  const keys = { alice: await keyOf('alice'), bob: await keyOf('bob'), admin: await keyOf('admin') }
  let id = 1
  const call = async (user: keyof typeof keys, name: string, args: Record<string, unknown>): Promise<any> =>
    (await post(server.url, toolCall(name, args, id++), { authorization: `Bearer ${keys[user]}` })).json.result

  t.test('big PNG renders', async t => {
    const config = { chart_type: 'xy', kind: 'line', x: 'order_id', y: ['revenue'], row_limit: 10_000 }
    const render = (user: keyof typeof keys): Promise<any> => call(user, 'update_chart_preview', { dataset_id: 'orders', config, preview_formats: ['png'], width: 2000, height: 2000 })
    const renders = Promise.all([render('bob'), render('bob'), render('alice')])
    const worst = await worstProbe(server, renders)
    const results = await renders
    // On a loaded machine a queued render may pass MCP_RENDER_TIMEOUT (wait + run): it is stopped, not stuck.
    t.ok(results.every(result => result.isError !== true || ['busy', 'query_timeout'].includes(result._meta.error_type)), 'each render drew its PNG, was told to retry, or was stopped at its timeout')
    t.ok(results.some(result => result.isError !== true && result.content.some((item: { type: string }) => item.type === 'image')), 'at least one PNG came back')
    t.ok(worst < PROBE_BOUND_MS, `worst /healthz wait ${Math.round(worst)} ms < ${PROBE_BOUND_MS} ms`)
  })

  t.test('a ReDoS candidate', async t => {
    const attempt = call('alice', 'create_virtual_dataset', { database_id: 'examples', dataset_name: 'redos', sql: `SELECT 1 AS a;${' '.repeat(1000)}x` })
    const worst = await worstProbe(server, attempt)
    const result = await attempt
    t.equal(result.isError, true, 'the trailing text is an error, answered at once')
    t.notMatch(result._meta.error_type, /internal_error/)
    t.ok(worst < PROBE_BOUND_MS, `worst /healthz wait ${Math.round(worst)} ms < ${PROBE_BOUND_MS} ms`)
  })

  t.test('a flood of slow SQL by one user', async t => {
    const slow = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 2000000) SELECT count(*) FROM n'
    let settled = 0
    const flood = Promise.all(Array.from({ length: 40 }, () => call('alice', 'execute_sql', { database_id: 'examples', sql: slow, timeout: 120 }).finally(() => { settled++ })))
    await new Promise(resolve => setTimeout(resolve, 200))
    const other = call('admin', 'execute_sql', { database_id: 'examples', sql: 'SELECT 1 AS one' }).then(result => ({ result, floodSettledBefore: settled }))
    const worst = await worstProbe(server, Promise.all([flood, other]))
    const { result, floodSettledBefore } = await other
    t.same(result.structuredContent.rows, [{ one: 1 }], 'another user\'s query ran')
    const aliceResults = await flood
    t.ok(aliceResults.filter(r => r.isError !== true).length > 0, 'alice\'s queries ran')
    t.ok(aliceResults.every(r => r.isError !== true || r._meta.error_type === 'busy'), 'those beyond her queue were told to retry')
    t.ok(floodSettledBefore < 40, `another user's call was answered before the flood ended (${floodSettledBefore} of 40 done)`)
    t.ok(worst < PROBE_BOUND_MS, `worst /healthz wait ${Math.round(worst)} ms < ${PROBE_BOUND_MS} ms`)
    const metrics = await (await fetch(`${server.origin}/metrics`)).text()
    t.match(metrics, /^mcp_work_queue_wait_seconds_count\{pool="sql"\} [1-9]/m, 'queue waits are measured')
    t.match(metrics, /^mcp_work_queue_refused_total\{pool="sql",reason="key_queue_full"\} [1-9]/m, 'and refusals of a full per-user queue')
  })
})
