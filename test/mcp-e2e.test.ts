import t from 'tap'
import type { Test } from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { startTestServer } from './helpers/app.ts'
import { connectClient, ERAS, textOf } from './helpers/client.ts'
import { MUTATING_TOOLS, TOOL_NAMES } from './helpers/tools.ts'
import type { Structured } from './helpers/tools.ts'

// End to end: the real server on a free port, driven by the SDK v2 client over HTTP in both
// protocol eras, the way Claude, ChatGPT or the Inspector use it.

const EXPECTED_TOOLS: readonly string[] = TOOL_NAMES

t.test('end to end over HTTP', async t => {
  const server = await startTestServer(t)

  for (const era of ERAS) {
    t.test(`${era} era`, async t => {
      const client = await connectClient(t, server.url, era)
      const call = async (name: string, args: Record<string, unknown> = {}) => await client.callTool({ name, arguments: args })
      /** Call a tool that must succeed (asserted on `t`) and return its structured result. */
      const structuredFrom = (t: Test) => async (name: string, args: Record<string, unknown> = {}): Promise<Structured> => {
        const result = await call(name, args)
        t.notOk(result.isError, `${name} succeeds: ${textOf(result).slice(0, 200)}`)
        return result.structuredContent as Structured
      }

      t.test('negotiates the era it asked for', async t => {
        const version = client.getNegotiatedProtocolVersion()
        if (era === 'legacy') t.equal(version, '2025-11-25')
        else t.equal(version, '2026-07-28')
        t.equal(client.getServerVersion()?.name, 'analytics-mcp')
        t.match(client.getInstructions() ?? '', /execute_sql/)
      })

      t.test('tools/list shows every tool with valid schemas and annotations', async t => {
        const { tools } = await client.listTools()
        t.same(tools.map(tool => tool.name), EXPECTED_TOOLS)
        const ajv = new Ajv2020({ strict: false })
        for (const tool of tools) {
          t.ok((tool.description ?? '').length >= 40, `${tool.name} has a description written for a model`)
          t.ok(tool.annotations?.title, `${tool.name} has a title annotation`)
          t.equal(typeof tool.annotations?.readOnlyHint, 'boolean', `${tool.name} says whether it is read-only`)
          t.ok(ajv.compile(tool.inputSchema), `${tool.name} input schema compiles`)
          t.ok(tool.outputSchema !== undefined && ajv.compile(tool.outputSchema), `${tool.name} output schema compiles`)
          // Gemini CLI rejects $ref/$defs in tool schemas.
          t.notMatch(JSON.stringify(tool.inputSchema), /\$ref|\$defs/, `${tool.name} input schema is flat`)
        }
        const readOnly = tools.filter(tool => tool.annotations?.readOnlyHint === true).map(tool => tool.name)
        t.same(readOnly, EXPECTED_TOOLS.filter(name => !MUTATING_TOOLS.includes(name)), 'only the tools that create, change or delete, and execute_sql, say they may change something')
        // Superset's destructive subset (its native tool inventory), among the tools we share.
        const destructive = tools.filter(tool => tool.annotations?.destructiveHint === true).map(tool => tool.name).sort()
        t.same(destructive, ['delete_chart', 'execute_sql', 'update_chart', 'update_dashboard'], 'the tools Superset marks destructive, and only those')
      })

      t.test('Superset request wrapper and synonyms work', async t => {
        const structured = structuredFrom(t)
        const wrapped = await structured('list_charts', { request: { page_size: 2, order_column: 'id', order_direction: 'asc' } })
        t.same(wrapped.charts.map((c: Structured) => c.id), [1, 2])
        const aliased = await structured('get_chart_info', { chart_id: 1 })
        t.equal(aliased.slice_name, 'Total Revenue')
        const jsonString = await structured('list_charts', { filters: '[{"col":"viz_type","opr":"eq","value":"table"}]' })
        t.equal(jsonString.total_count, 1)
      })

      t.test('bad arguments are tool errors that say how to fix the call', async t => {
        const tooBig = await call('list_charts', { page_size: 1000 })
        t.equal(tooBig.isError, true)
        t.match(textOf(tooBig), /page_size/)
        t.match(textOf(tooBig), /100/)

        const unknownArgument = await call('list_charts', { colour: 'blue' })
        t.equal(unknownArgument.isError, true)
        t.match(textOf(unknownArgument), /colour/)
        t.match(textOf(unknownArgument), /Arguments of list_charts: .*page_size/)

        const badFilter = await call('list_dashboards', { filters: [{ col: 'nope', opr: 'eq', value: 1 }] })
        t.equal(badFilter.isError, true)
        t.match(textOf(badFilter), /filters\.0\.col/)

        const badOperator = await call('list_dashboards', { filters: [{ col: 'published', opr: 'gt', value: 1 }] })
        t.equal(badOperator.isError, true)
        t.match(textOf(badOperator), /Operator "gt" does not apply to "published"/)

        const missing = await call('get_chart_info', { identifier: 9999 })
        t.equal(missing.isError, true)
        t.match(textOf(missing), /No chart matches identifier 9999/)
        t.match(textOf(missing), /list_charts/)

        const noIdentifier = await call('get_dataset_info', {})
        t.equal(noIdentifier.isError, true)
        t.match(textOf(noIdentifier), /identifier/)
      })

      t.test('every tool refuses arguments it does not know, naming them', async t => {
        for (const name of EXPECTED_TOOLS) {
          const result = await call(name, { bogus_argument: 1 })
          t.equal(result.isError, true, `${name} refuses bogus_argument`)
          t.match(textOf(result), /bogus_argument/)
          t.equal((result._meta as Structured | undefined)?.error_type, 'invalid_arguments')
        }
        for (const name of ['get_database_info', 'get_dataset_info', 'get_chart_info', 'get_dashboard_info']) {
          const missing = await call(name, { identifier: 'does-not-exist' })
          t.equal(missing.isError, true, `${name} reports an unknown identifier`)
          t.match(textOf(missing), /No \w+ matches identifier "does-not-exist"/)
          const wrongType = await call(name, { identifier: { id: 1 } })
          t.equal(wrongType.isError, true, `${name} refuses an object identifier`)
        }
        for (const [name, args] of [['list_databases', { filters: [{ col: 'backend', opr: 'in', value: 'sqlite' }] }], ['list_datasets', { order_column: 'rows' }], ['list_charts', { page: 0 }], ['list_dashboards', { select_columns: ['css'] }]] as const) {
          const result = await call(name, args)
          t.equal(result.isError, true, `${name} refuses ${JSON.stringify(args)}`)
        }
      })

      t.test('unknown tools are JSON-RPC errors (-32602)', async t => {
        await t.rejects(client.callTool({ name: 'drop_everything', arguments: {} }), { code: -32602 })
      })
    })
  }
})
