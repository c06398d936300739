import { Writable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import t from 'tap'
import * as z from 'zod'
import type { ResponseSizeConfig } from '../src/config.ts'
import { ToolError } from '../src/errors.ts'
import { loggerOptions } from '../src/logger.ts'
import { BYTES_PER_TOKEN, bytesWithNote, estimateTokens, resultBytes, SizeGuard } from '../src/mcp/size-guard.ts'
import type { ResponseTruncation } from '../src/mcp/size-guard.ts'
import { executeSql } from '../src/tools/execute-sql.ts'
import { defineTool, READ_ONLY } from '../src/tools/tool.ts'
import type { Tool, ToolContext, ToolOutcome } from '../src/tools/tool.ts'
import { responseTruncationSchema } from '../src/tools/truncation.ts'
import { startTestServer } from './helpers/app.ts'
import type { RunningServer } from './helpers/app.ts'
import { textOf } from './helpers/client.ts'
import { testConfig } from './helpers/config.ts'
import { post, toolCall } from './helpers/rpc.ts'
import { bothEras } from './helpers/tools.ts'
import type { Structured } from './helpers/tools.ts'

// MCP_RESPONSE_SIZE_CONFIG: the response size guard. Unit tests of SizeGuard on synthetic tools
// (exact truncation boundaries, the "Response too large" refusal, exclusions, the warning
// threshold), then the real server over HTTP in both protocol eras.

const NOTICE_PREFIX = 'Response truncated to fit the context budget'
const format = (n: number): string => n.toLocaleString('en-US')

// ---------------------------------------------------------------------------------------------
// Synthetic tools and helpers
// ---------------------------------------------------------------------------------------------

const ITEMS = 20
const ITEM_CHARS = 400
const HINT = 'Ask for fewer items.'

/** Item i: a fixed-size string, so every item costs the same number of bytes. */
const itemText = (i: number): string => `item-${String(i).padStart(3, '0')}-${'x'.repeat(ITEM_CHARS)}`

const inputSchema = z.object({})
const listOutputSchema = z.object({
  items: z.array(z.string()),
  count: z.int(),
  response_truncation: responseTruncationSchema
})

/** A tool returning `n` fixed-size items; truncatable unless told otherwise. */
function syntheticTool (options: { name?: string, n?: number, truncatable?: boolean, sizeHints?: string[] } = {}): Tool {
  const n = options.n ?? ITEMS
  return defineTool<typeof inputSchema, typeof listOutputSchema>({
    name: options.name ?? 'synthetic_list',
    title: 'Synthetic list',
    description: 'A test tool returning fixed-size items.',
    annotations: READ_ONLY,
    input: inputSchema,
    output: listOutputSchema,
    run: () => {
      const items = Array.from({ length: n }, (_, i) => itemText(i))
      return { items, count: items.length }
    },
    render: result => `${result.count} items:\n${result.items.join('\n')}`,
    ...(options.truncatable === false
      ? {}
      : {
          truncation: {
            noun: 'items',
            count: result => result.items.length,
            keep: (result, keep, notice) => ({ ...result, items: result.items.slice(0, keep), count: keep, response_truncation: notice }),
            hint: HINT
          }
        }),
    ...(options.sizeHints === undefined ? {} : { sizeHints: options.sizeHints })
  })
}

/** The synthetic tools never look at their context. */
const NO_CONTEXT = {} as unknown as ToolContext

async function fullOutcome (tool: Tool): Promise<ToolOutcome> {
  return await tool.invoke({}, NO_CONTEXT)
}

function truncationOf (tool: Tool): NonNullable<Tool['truncation']> {
  if (tool.truncation === undefined) throw new Error(`${tool.name} is not truncatable`)
  return tool.truncation
}

/** What the guard builds for `keep` items under `limit`: the same notice fields as SizeGuard.largestPrefix. */
function candidate (tool: Tool, full: ToolOutcome, keep: number, limit: number): ToolOutcome {
  const truncation = truncationOf(tool)
  return truncation.keep(full.structured, keep, {
    returned: keep,
    available: truncation.count(full.structured),
    estimated_tokens: estimateTokens(full),
    token_limit: limit,
    hint: truncation.hint
  })
}

/**
 * The token limit under which exactly `keep` items fill the budget to the last token. The notice
 * quotes the limit, so the estimate depends on the limit: iterate to the fixed point.
 */
function exactLimitFor (tool: Tool, full: ToolOutcome, keep: number): number {
  let limit = estimateTokens(full)
  for (let round = 0; round < 20; round++) {
    const next = estimateTokens(candidate(tool, full, keep, limit))
    if (next === limit) return limit
    limit = next
  }
  throw new Error(`no fixed-point limit for ${keep} items`)
}

function sizeConfig (overrides: Partial<ResponseSizeConfig> = {}): ResponseSizeConfig {
  return { enabled: true, token_limit: 25_000, max_bytes: null, max_list_items: 100, warn_threshold_pct: 80, excluded_tools: [], ...overrides }
}

interface Recorder {
  guard: SizeGuard
  actions: Array<[string, string]>
  warnings: Array<{ fields: Record<string, unknown>, message: string }>
  log: FastifyBaseLogger
}

/** A guard whose metric hook and logger record what they are told. */
function recordingGuard (config: ResponseSizeConfig): Recorder {
  const actions: Array<[string, string]> = []
  const warnings: Array<{ fields: Record<string, unknown>, message: string }> = []
  const log = {
    warn: (fields: Record<string, unknown>, message: string) => { warnings.push({ fields, message }) }
  } as unknown as FastifyBaseLogger
  const guard = new SizeGuard(config, { action: (tool, action) => { actions.push([tool, action]) } })
  return { guard, actions, warnings, log }
}

/** An outcome whose estimate is exactly `tokens`, at the top of that token's byte range. */
function outcomeWithTokens (tokens: number): ToolOutcome {
  const overhead = resultBytes({ text: '', structured: {} })
  const outcome = { text: 'x'.repeat(Math.floor(tokens * BYTES_PER_TOKEN) - overhead), structured: {} }
  if (estimateTokens(outcome) !== tokens) throw new Error(`could not build an outcome of ${tokens} tokens`)
  return outcome
}

function catchToolError (fn: () => unknown): ToolError | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof ToolError) return err
    throw err
  }
  return undefined
}

function metricValue (text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    if (wanted.every(label => line.includes(label))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

async function scrape (server: RunningServer): Promise<string> {
  return await (await fetch(`${server.origin}/metrics`)).text()
}

/** A raw legacy-era tools/call: the JSON-RPC result. */
async function callTool (server: RunningServer, name: string, args: Record<string, unknown>): Promise<Structured> {
  const response = await post(server.url, toolCall(name, args))
  return response.json.result as Structured
}

/** What the client received, as the guard measures it. */
function received (result: Structured): ToolOutcome {
  return { text: textOf(result), structured: result.structuredContent as Record<string, unknown> }
}

// ---------------------------------------------------------------------------------------------
// 1. Truncation boundaries
// ---------------------------------------------------------------------------------------------

t.test('configuration defaults follow Superset', async t => {
  const config = testConfig(t.testdir()).MCP_RESPONSE_SIZE_CONFIG
  t.equal(config.enabled, true, 'the guard is on by default')
  t.equal(config.token_limit, 25_000, 'the default limit is 25,000 tokens')
  t.equal(config.warn_threshold_pct, 80, 'results over 80% of the limit are warned about by default')
  t.same([...config.excluded_tools].sort(), ['generate_explore_link', 'get_chart_preview', 'health_check', 'open_sql_lab_with_context'], 'the default exclusions')
  t.equal(BYTES_PER_TOKEN, 3.5, 'tokens are estimated at 3.5 bytes each')
  t.equal(estimateTokens({ text: '', structured: {} }), Math.ceil(resultBytes({ text: '', structured: {} }) / 3.5), 'the estimate rounds bytes / 3.5 up')
})

t.test('truncation keeps exactly as many items as fit the token limit', async t => {
  const tool = syntheticTool()
  const full = await fullOutcome(tool)
  const fullTokens = estimateTokens(full)
  const k = 7

  const limit = exactLimitFor(tool, full, k)
  t.ok(estimateTokens(candidate(tool, full, k + 1, limit)) > limit, `${k + 1} items would exceed the limit of ${limit} tokens`)
  t.ok(estimateTokens(candidate(tool, full, k, limit - 1)) > limit - 1, `${k} items do not fit one token less (${limit - 1})`)

  const { guard, actions, warnings, log } = recordingGuard(sizeConfig({ token_limit: limit }))
  const result = guard.apply(tool, full, log)
  const structured = result.structured as z.output<typeof listOutputSchema>
  t.equal(structured.items.length, k, `with token_limit ${limit}, exactly ${k} of ${ITEMS} items are returned`)
  t.same(structured.items, (full.structured.items as string[]).slice(0, k), 'the items kept are the first ones, in order')
  t.equal(structured.count, k, 'count is updated to the items returned')
  t.ok(estimateTokens(result) <= limit, `the truncated result (~${estimateTokens(result)} tokens) is within the limit (${limit})`)
  t.equal(estimateTokens(result), limit, 'at this limit the result fills the budget to the last token')
  t.same(structured.response_truncation, { returned: k, available: ITEMS, estimated_tokens: fullTokens, token_limit: limit, hint: HINT },
    'structured response_truncation says what was returned, what was available, the full estimate, the limit and how to ask for less')
  t.ok(listOutputSchema.safeParse(result.structured).success, 'the truncated result still matches the tool\'s output schema')

  const firstLine = result.text.split('\n')[0]
  t.equal(firstLine,
    `${NOTICE_PREFIX}: ${k} of ${ITEMS} items returned (the full result was ~${format(fullTokens)} tokens; the limit is ${format(limit)}). ${HINT}`,
    'the notice is the first line of the text')
  t.equal(result.text, `${firstLine}\n\n${k} items:\n${structured.items.join('\n')}`, 'the rest of the text is the re-rendered, shorter result')
  t.same(actions, [['synthetic_list', 'truncated']], 'the truncated action is counted once')
  t.equal(warnings.length, 1, 'one warning is logged')
  t.match(warnings[0], { fields: { tool: 'synthetic_list', estimated_tokens: fullTokens, token_limit: limit, returned: k, available: ITEMS }, message: 'response truncated to fit the token limit' },
    'the warning says which tool was truncated and by how much')

  const tighter = recordingGuard(sizeConfig({ token_limit: limit - 1 }))
  const fewer = tighter.guard.apply(tool, full, tighter.log)
  t.equal((fewer.structured.items as string[]).length, k - 1, `with token_limit ${limit - 1}, ${k - 1} items are returned`)
  t.ok(estimateTokens(fewer) <= limit - 1, 'and that result is within its limit')
})

t.test('for every item count, the exact limit keeps that many and one token less keeps one fewer', async t => {
  const tool = syntheticTool()
  const full = await fullOutcome(tool)
  for (let k = 0; k < ITEMS; k++) {
    const limit = exactLimitFor(tool, full, k)
    const { guard, log } = recordingGuard(sizeConfig({ token_limit: limit }))
    const kept = guard.apply(tool, full, log)
    t.equal(kept.structured.count, k, `token_limit ${limit}: ${k} items`)
    t.ok(estimateTokens(kept) <= limit, `token_limit ${limit}: the result fits`)
    if (k > 0) {
      const tighter = recordingGuard(sizeConfig({ token_limit: limit - 1 }))
      t.equal(tighter.guard.apply(tool, full, tighter.log).structured.count, k - 1, `token_limit ${limit - 1}: ${k - 1} items`)
    }
  }
})

t.test('a result at or under the limit is returned untouched', async t => {
  const tool = syntheticTool()
  const full = await fullOutcome(tool)
  const tokens = estimateTokens(full)
  for (const limit of [tokens, tokens + 1, tokens * 10]) {
    const { guard, actions, log } = recordingGuard(sizeConfig({ token_limit: limit, warn_threshold_pct: 100 }))
    const result = guard.apply(tool, full, log)
    t.equal(result, full, `a ${tokens}-token result under token_limit ${limit} is the same object`)
    t.equal(result.text, full.text, 'with the same text')
    t.notOk('response_truncation' in result.structured, 'and no truncation notice')
    t.same(actions, [], 'no action is counted')
  }
})

t.test('a result that fits only with no items returns none, with the notice', async t => {
  const tool = syntheticTool()
  const full = await fullOutcome(tool)
  const limit = exactLimitFor(tool, full, 0)
  const { guard, actions, log } = recordingGuard(sizeConfig({ token_limit: limit }))
  const result = guard.apply(tool, full, log)
  t.same(result.structured.items, [], `with token_limit ${limit} no item fits, and none is returned`)
  t.equal(result.structured.count, 0, 'count is 0')
  t.match(result.structured.response_truncation, { returned: 0, available: ITEMS }, 'the notice says 0 of 20')
  t.ok(result.text.startsWith(`${NOTICE_PREFIX}: 0 of ${ITEMS} items returned`), `the text starts with the notice: ${result.text.slice(0, 80)}`)
  t.ok(estimateTokens(result) <= limit, 'the empty result is within the limit')
  t.same(actions, [['synthetic_list', 'truncated']], 'this is a truncation, not a refusal')

  const below = recordingGuard(sizeConfig({ token_limit: limit - 1 }))
  const refused = catchToolError(() => below.guard.apply(tool, full, below.log))
  t.equal(refused?.errorType, 'response_too_large', `with token_limit ${limit - 1} not even the notice fits: the result is refused`)
  t.same(below.actions, [['synthetic_list', 'refused']], 'and counted as refused')
})

// ---------------------------------------------------------------------------------------------
// 2. "Response too large"
// ---------------------------------------------------------------------------------------------

t.test('a tool that cannot be truncated answers "Response too large" with its size hints', async t => {
  const sizeHints = ['Hint one.', 'Hint two.', 'Hint three.', 'Hint four.', 'Hint five.', 'Hint six, never shown.']
  const tool = syntheticTool({ name: 'synthetic_blob', truncatable: false, sizeHints })
  const full = await fullOutcome(tool)
  const tokens = estimateTokens(full)
  const limit = 1000
  t.ok(tokens > 1000, `the synthetic result (~${tokens} tokens) is over the limit`)

  const { guard, actions, warnings, log } = recordingGuard(sizeConfig({ token_limit: limit }))
  const error = catchToolError(() => guard.apply(tool, full, log))
  if (error === undefined) {
    t.fail('an oversized result of a tool without truncation must be refused')
    return
  }
  t.equal(error.errorType, 'response_too_large', 'the error type is response_too_large')
  const lines = error.message.split('\n')
  const reduction = Math.ceil((1 - limit / tokens) * 100)
  t.equal(lines[0], `Response too large: ~${format(tokens)} tokens (limit: ${format(limit)})`, 'the first line gives the estimate and the limit')
  t.equal(lines[1], '', 'then a blank line')
  t.same(lines.filter(line => line !== ''), [
    `Response too large: ~${format(tokens)} tokens (limit: ${format(limit)})`,
    'This response would overwhelm the LLM context window.',
    'Please modify your query to reduce the response size:',
    '1. Hint one.',
    '2. Hint two.',
    '3. Hint three.',
    '4. Hint four.',
    '5. Hint five.',
    'Tool: synthetic_blob',
    `Reduction needed: ~${reduction}%`
  ], 'the explanation, at most five numbered hints from sizeHints, the tool and the reduction needed')
  t.notMatch(error.message, /Hint six/, 'a sixth hint is not shown')
  t.same(actions, [['synthetic_blob', 'refused']], 'the refused action is counted')
  t.match(warnings, [{ fields: { tool: 'synthetic_blob', estimated_tokens: tokens, token_limit: limit }, message: 'response too large' }], 'and logged')

  const plain = syntheticTool({ name: 'synthetic_plain', truncatable: false })
  const defaults = catchToolError(() => guard.apply(plain, full, log))
  t.same(defaults?.message.split('\n').filter(line => /^\d+\. /.test(line)), [
    '1. Ask for one object at a time, or use a list tool with select_columns to fetch only the fields you need.',
    '2. Use filters or search to narrow what is returned.'
  ], 'a tool without sizeHints lists the default hints')
})

t.test('the reduction needed is rounded up', async t => {
  const tool = syntheticTool({ name: 'synthetic_blob', truncatable: false })
  for (const [tokens, limit, percent] of [[2000, 1000, 50], [1001, 1000, 1], [3000, 1000, 67], [100_000, 25_000, 75]] as const) {
    const { guard, log } = recordingGuard(sizeConfig({ token_limit: limit }))
    const error = catchToolError(() => guard.apply(tool, outcomeWithTokens(tokens), log))
    t.equal(error?.message.split('\n').at(-1), `Reduction needed: ~${percent}%`, `${tokens} tokens over a limit of ${limit}: ~${percent}%`)
  }
})

// ---------------------------------------------------------------------------------------------
// 3. Exclusions
// ---------------------------------------------------------------------------------------------

t.test('excluded tools and a disabled guard return results untouched, however large', async t => {
  const blob = await fullOutcome(syntheticTool({ truncatable: false }))
  const defaults = testConfig(t.testdir()).MCP_RESPONSE_SIZE_CONFIG
  for (const name of defaults.excluded_tools) {
    const { guard, actions, warnings, log } = recordingGuard({ ...defaults, token_limit: 1 })
    const tool = syntheticTool({ name, truncatable: false })
    t.equal(guard.apply(tool, blob, log), blob, `${name} is excluded by default: its ~${estimateTokens(blob)}-token result passes a limit of 1`)
    t.same(actions, [], `nothing is counted for ${name}`)
    t.same(warnings, [], `nothing is logged for ${name}`)
  }
  const control = recordingGuard({ ...defaults, token_limit: 1 })
  t.equal(catchToolError(() => control.guard.apply(syntheticTool({ name: 'not_excluded', truncatable: false }), blob, control.log))?.errorType, 'response_too_large',
    'the same result from a tool that is not excluded is refused')

  const custom = recordingGuard(sizeConfig({ token_limit: 1, excluded_tools: ['synthetic_list'] }))
  const truncatable = syntheticTool()
  const full = await fullOutcome(truncatable)
  t.equal(custom.guard.apply(truncatable, full, custom.log), full, 'a configured exclusion is honoured for truncatable tools too')

  const disabled = recordingGuard(sizeConfig({ enabled: false, token_limit: 1 }))
  t.equal(disabled.guard.apply(syntheticTool({ truncatable: false }), blob, disabled.log), blob, 'enabled: false returns every result untouched')
  t.equal(disabled.guard.apply(truncatable, full, disabled.log), full, 'truncatable ones too')
  t.same(disabled.actions, [], 'and counts nothing')
  t.same(disabled.warnings, [], 'and logs nothing')
})

// ---------------------------------------------------------------------------------------------
// 4. Warning threshold
// ---------------------------------------------------------------------------------------------

t.test('results between the warning threshold and the limit are untouched, counted and logged', async t => {
  const tool = syntheticTool({ name: 'synthetic_plain', truncatable: false })
  for (const [tokens, warned] of [[799, false], [800, false], [801, true], [1000, true]] as const) {
    const { guard, actions, warnings, log } = recordingGuard(sizeConfig({ token_limit: 1000, warn_threshold_pct: 80 }))
    const outcome = outcomeWithTokens(tokens)
    t.equal(guard.apply(tool, outcome, log), outcome, `${tokens} tokens under a limit of 1000 are returned untouched`)
    if (warned) {
      t.same(actions, [['synthetic_plain', 'warned']], `${tokens} tokens is over 80%: the warned action is counted`)
      t.same(warnings, [{ fields: { tool: 'synthetic_plain', estimated_tokens: tokens, token_limit: 1000 }, message: 'response uses more than 80% of the token limit' }], `and a warning is logged for ${tokens} tokens`)
    } else {
      t.same(actions, [], `${tokens} tokens is not over 80%: nothing is counted`)
      t.same(warnings, [], `and nothing logged for ${tokens} tokens`)
    }
  }
})

// ---------------------------------------------------------------------------------------------
// 5. and 6. The real server
// ---------------------------------------------------------------------------------------------

const SQL = 'SELECT * FROM orders ORDER BY order_id'
const ALL_CHART_COLUMNS = ['id', 'uuid', 'slice_name', 'viz_type', 'chart_type_display_name', 'datasource_id', 'datasource_name', 'description', 'certified_by',
  'certification_details', 'cache_timeout', 'owners', 'form_data', 'created_on', 'created_on_humanized', 'changed_on', 'changed_on_humanized', 'created_by', 'changed_by']

t.test('over HTTP, with the real tools', async t => {
  const unguarded = await startTestServer(t, { MCP_RESPONSE_SIZE_CONFIG: { enabled: false } })
  const fullSql = await callTool(unguarded, 'execute_sql', { database_id: 1, sql: SQL, limit: 500 })
  t.equal(fullSql.structuredContent.row_count, 500, 'without the guard, 500 rows come back')
  const fullSqlTokens = estimateTokens(received(fullSql))

  t.test('execute_sql is cut to the rows that fit, notice first', async t => {
    const server = await startTestServer(t, { MCP_RESPONSE_SIZE_CONFIG: { token_limit: 3000 } })
    const result = await callTool(server, 'execute_sql', { database_id: 1, sql: SQL, limit: 500 })
    t.notOk(result.isError, `a result over the limit is not an error: ${textOf(result).slice(0, 200)}`)
    const data = result.structuredContent
    const notice = data.response_truncation as ResponseTruncation | undefined
    t.ok(notice !== undefined, 'structuredContent.response_truncation is present')
    if (notice === undefined) return
    t.equal(notice.available, 500, 'available: all 500 rows the query returned')
    t.ok(notice.returned > 0 && notice.returned < 500, `returned: some but not all rows (${notice.returned})`)
    t.equal(notice.token_limit, 3000, 'the notice quotes the limit')
    t.ok(Math.abs(notice.estimated_tokens - fullSqlTokens) <= 3, `estimated_tokens (${notice.estimated_tokens}) is the size of the full result (~${fullSqlTokens}; only execution_time_ms differs)`)
    t.equal(data.rows.length, notice.returned, 'rows.length equals returned')
    t.equal(data.row_count, notice.returned, 'row_count equals returned')
    t.equal(data.truncated, true, 'truncated: true')
    t.same(data.rows, fullSql.structuredContent.rows.slice(0, notice.returned), 'the rows are the first rows of the full result')
    t.ok(textOf(result).startsWith(`${NOTICE_PREFIX}: ${notice.returned} of 500 rows returned`), `the text starts with the notice: ${textOf(result).slice(0, 100)}`)
    t.same(data.notes, [], 'the row-cap note of the full result is gone: it described 500 rows')
    t.notMatch(textOf(result), /raise `limit`/, 'nothing suggests asking for more rows')
    const bytes = resultBytes(received(result))
    t.ok(bytes <= 3000 * BYTES_PER_TOKEN, `the response (${bytes} bytes of text and structured content) is within 3000 tokens × 3.5 bytes = 10,500 bytes`)

    const charts = await callTool(server, 'list_charts', { page_size: 100, select_columns: ALL_CHART_COLUMNS })
    t.notOk(charts.isError, `list_charts over the limit is not an error: ${textOf(charts).slice(0, 200)}`)
    const listed = charts.structuredContent
    const listNotice = listed.response_truncation as ResponseTruncation | undefined
    t.ok(listNotice !== undefined, 'list_charts carries response_truncation')
    if (listNotice === undefined) return
    t.ok(listNotice.returned < listNotice.available, `some charts were cut (${listNotice.returned} of ${listNotice.available})`)
    t.equal(listed.charts.length, listNotice.returned, 'charts.length equals returned')
    t.equal(listed.count, listed.charts.length, 'count equals the charts returned')
    t.ok(textOf(charts).startsWith(`${NOTICE_PREFIX}: ${listNotice.returned} of ${listNotice.available} charts returned`), `the notice comes first: ${textOf(charts).slice(0, 100)}`)
    t.ok(resultBytes(received(charts)) <= 3000 * BYTES_PER_TOKEN, 'the list response is within the limit')

    const metrics = await scrape(server)
    t.equal(metricValue(metrics, 'mcp_response_size_guard_total', { tool: 'execute_sql', action: 'truncated' }), 1, 'the metric counts the execute_sql truncation')
    t.equal(metricValue(metrics, 'mcp_response_size_guard_total', { tool: 'list_charts', action: 'truncated' }), 1, 'and the list_charts truncation')
  })

  t.test('a tiny limit: health_check is excluded, get_dataset_info is refused', async t => {
    const server = await startTestServer(t, { MCP_RESPONSE_SIZE_CONFIG: { token_limit: 100 } })
    const health = await callTool(server, 'health_check', {})
    t.notOk(health.isError, 'health_check succeeds')
    t.equal(health.structuredContent.status, 'healthy', 'with its normal result')
    t.notOk('response_truncation' in health.structuredContent, 'untouched')

    const dataset = await callTool(server, 'get_dataset_info', { dataset_id: 1 })
    t.equal(dataset.isError, true, 'get_dataset_info over the limit is an error')
    t.equal(dataset._meta.error_type, 'response_too_large', 'of type response_too_large')
    const lines = textOf(dataset).split('\n')
    t.match(lines[0], /^Response too large: ~[\d,]+ tokens \(limit: 100\)$/, `the first line: ${lines[0]}`)
    t.ok(lines.includes('Tool: get_dataset_info'), 'names the tool')
    t.match(lines.at(-1), /^Reduction needed: ~\d+%$/, 'and ends with the reduction needed')

    const metrics = await scrape(server)
    t.equal(metricValue(metrics, 'mcp_response_size_guard_total', { tool: 'get_dataset_info', action: 'refused' }), 1, 'the refusal is counted')
    t.equal(metricValue(metrics, 'mcp_response_size_guard_total', { tool: 'health_check' }), undefined, 'health_check is never counted')
  })

  t.test('a configured exclusion lets a huge result through', async t => {
    const server = await startTestServer(t, { MCP_RESPONSE_SIZE_CONFIG: { token_limit: 100, excluded_tools: ['get_dataset_info'] } })
    const dataset = await callTool(server, 'get_dataset_info', { dataset_id: 1 })
    t.notOk(dataset.isError, 'get_dataset_info succeeds')
    t.ok(estimateTokens(received(dataset)) > 100, `with its full result (~${estimateTokens(received(dataset))} tokens, over the limit of 100)`)
  })

  t.test('a result over the warning threshold is logged and counted', async t => {
    const args = { database_id: 1, sql: 'SELECT order_id FROM orders ORDER BY order_id', limit: 100 }
    const measured = estimateTokens(received(await callTool(unguarded, 'execute_sql', args)))
    const limit = Math.round(measured / 0.9)
    const lines: string[] = []
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const settings = { MCP_RESPONSE_SIZE_CONFIG: { token_limit: limit }, MCP_LOG_LEVEL: 'warn' }
    const server = await startTestServer(t, settings, { logger: { ...loggerOptions(testConfig(t.testdir(), settings)), stream } })
    const result = await callTool(server, 'execute_sql', args)
    t.notOk(result.isError, 'the call succeeds')
    t.equal(result.structuredContent.row_count, 100, 'all 100 rows are returned')
    t.notOk('response_truncation' in result.structuredContent, 'untouched: no truncation notice')
    const tokens = estimateTokens(received(result))
    t.ok(tokens * 100 > limit * 80 && tokens <= limit, `the result (~${tokens} tokens) is between 80% and 100% of the limit (${limit})`)

    const warnings = lines.flatMap(line => line.split('\n')).filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>)
      .filter(entry => entry.msg === 'response uses more than 80% of the token limit')
    t.equal(warnings.length, 1, 'one warning is logged')
    t.match(warnings[0], { level: 40, tool: 'execute_sql', estimated_tokens: tokens, token_limit: limit }, 'at warn level, with the tool, estimate and limit')
    t.equal(metricValue(await scrape(server), 'mcp_response_size_guard_total', { tool: 'execute_sql', action: 'warned' }), 1, 'the warned action is counted')
  })

  t.test('both protocol eras get the same truncated execute_sql result', async t => {
    // Choose a limit at which the cut does not depend on how many digits execution_time_ms has
    // (the only part of the result that varies between calls).
    const tool = executeSql(testConfig(t.testdir()))
    const full = received(fullSql)
    const timed = (ms: number): ToolOutcome => ({
      structured: { ...full.structured, execution_time_ms: ms },
      text: full.text.replace(/ in [\d.]+ ms\./, ` in ${ms} ms.`)
    })
    const keptAt = (limit: number, ms: number): unknown => {
      const { guard, log } = recordingGuard(sizeConfig({ token_limit: limit }))
      return guard.apply(tool, timed(ms), log).structured.row_count
    }
    let limit = 3000
    while (keptAt(limit, 0) !== keptAt(limit, 99_999.99)) limit++
    const expected = keptAt(limit, 0)

    const server = await startTestServer(t, { MCP_RESPONSE_SIZE_CONFIG: { token_limit: limit } })
    const byEra: Record<string, Structured> = {}
    await bothEras(t, server.url, async (t, { era, call }) => {
      const result = await call('execute_sql', { database_id: 1, sql: SQL, limit: 500 }) as Structured
      t.notOk(result.isError, `${era}: not an error`)
      t.equal(result.structuredContent?.response_truncation?.returned, expected, `${era}: ${String(expected)} rows, as the guard computes for token_limit ${limit}`)
      t.ok(textOf(result).startsWith(NOTICE_PREFIX), `${era}: the notice comes first`)
      t.ok(resultBytes(received(result)) <= limit * BYTES_PER_TOKEN, `${era}: within the limit`)
      byEra[era] = result
    })
    const { legacy, modern } = byEra
    if (legacy === undefined || modern === undefined) {
      t.fail('both eras must have answered')
      return
    }
    const stable = (result: Structured): unknown => {
      const { execution_time_ms: _ms, response_truncation: notice, ...rest } = result.structuredContent as Structured
      const { estimated_tokens: _tokens, ...noticeRest } = notice as Structured
      return { ...rest, response_truncation: noticeRest }
    }
    t.same(stable(modern), stable(legacy), 'the structured results are the same in both eras (apart from execution_time_ms and the full estimate it affects)')
    const normalise = (text: string): string => text.replace(/ in [\d.]+ ms\./, ' in N ms.').replace(/~[\d,]+ tokens/, '~N tokens')
    t.equal(normalise(textOf(modern)), normalise(textOf(legacy)), 'and so is the text')
    t.ok(Math.abs(Number(modern.structuredContent.response_truncation.estimated_tokens) - Number(legacy.structuredContent.response_truncation.estimated_tokens)) <= 3,
      'the full estimates differ by at most the execution time\'s digits')
  })
})

t.test('the size of a cached answer with its note is counted without serialising it again, to the byte', async t => {
  const note = 'Served from cache (12 s old). Pass use_cache=false for a fresh answer: "now" \\ ünïcødé 📈'
  for (const text of ['', 'plain', 'line\nbreaks\tand "quotes"', 'ünïcødé 📈 \u0001 \u2028', '\ud83d']) {
    const outcome: ToolOutcome = { text, structured: { rows: [{ a: text }] } }
    t.equal(bytesWithNote(resultBytes(outcome), note), resultBytes({ ...outcome, text: `${text}\n\n${note}` }), `text of ${text.length} UTF-16 units`)
  }
})
