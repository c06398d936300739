import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Ajv2020 } from 'ajv/dist/2020.js'
import t from 'tap'
import { inputPortabilityFindings, leanOutputSchema, portableInputSchema } from '../src/mcp/json-schema.ts'
import { startTestServer } from './helpers/app.ts'
import { clientBin } from './helpers/client-matrix.ts'
import { TOOL_CALLS } from './helpers/tool-calls.ts'
import { connectClient, ERAS } from './helpers/client.ts'
import { bothEras, TOOL_NAMES } from './helpers/tools.ts'

// Every schema a client sees: input schemas load in every client (Gemini's subset included),
// and every result of every tool — successes and each kind of error — matches the output
// schema it declares, checked with a standard JSON Schema validator, in both eras.

const run = promisify(execFile)

t.test('portableInputSchema rewrites what Gemini, OpenAI-style clients and the Inspector refuse', async t => {
  const zodLike = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: {
      id: { anyOf: [{ type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }, { type: 'string', minLength: 1 }], description: 'id or name' },
      value: { anyOf: [{ type: ['string', 'number', 'boolean'] }, { type: 'array', items: { type: ['string', 'number'] } }] },
      note: { anyOf: [{ type: 'string', maxLength: 5 }, { type: 'null' }], description: 'null clears it' },
      maybe: { type: ['integer', 'null'] },
      count: { type: 'integer', exclusiveMinimum: 0 },
      share: { type: 'number', exclusiveMaximum: 1 },
      kind: { const: 'xy' },
      config: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: {}, properties: { chart_type: { type: 'string' } } },
      free: { type: 'object' },
      list: { type: 'array' }
    },
    required: ['id'],
    additionalProperties: false
  }
  const portable = portableInputSchema(zodLike)
  t.same(inputPortabilityFindings(portable), [{ path: '.free', rule: 'object without properties' }], 'nothing is left but what needs the source to change: an object without properties (Gemini refuses it)')
  t.same(inputPortabilityFindings(zodLike).map(finding => finding.rule).sort(), [
    'additionalProperties is a schema', 'array without items', 'no type', 'null type', 'object without properties', 'type is an array', 'type is an array', 'type is an array',
    'uses $schema', 'uses const', 'uses exclusiveMaximum', 'uses exclusiveMinimum', 'uses propertyNames'
  ].sort(), 'the checker sees each problem of the zod output')
  const properties = portable.properties as Record<string, Record<string, unknown>>
  t.same(properties.id, { description: 'id or name', anyOf: [{ type: 'integer' }, { type: 'string', minLength: 1 }] }, 'one flat anyOf, no type beside it, no safe-integer noise')
  t.same(properties.value, { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'array', items: { type: 'string' } }] }, 'a union inside a union\'s items becomes its string form')
  t.same(properties.note, { description: 'null clears it', type: 'string', maxLength: 5 }, 'null branches go; the description says what null does')
  t.same(properties.maybe, { type: 'integer' })
  t.same(properties.count, { type: 'integer', minimum: 1 }, 'an exclusive integer bound becomes the inclusive one')
  t.same(properties.share, { type: 'number', maximum: 1 })
  t.same(properties.kind, { enum: ['xy'], type: 'string' })
  t.same(properties.config, { type: 'object', additionalProperties: true, properties: { chart_type: { type: 'string' } } })
  t.same(properties.list, { type: 'array', items: { type: 'string' } })
  t.same(portable.required, ['id'], 'required and additionalProperties stay')
})

t.test('leanOutputSchema keeps structure and drops what only costs bytes', async t => {
  const lean = leanOutputSchema({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: {
      description: { type: 'string', description: 'a property named description stays' },
      n: { type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, description: 'count' },
      params: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: {} }
    },
    required: ['description', 'n'],
    additionalProperties: false
  })
  t.same(lean, { type: 'object', properties: { description: { type: 'string' }, n: { type: 'integer' }, params: { type: 'object' } }, required: ['description', 'n'] })
})

t.test('tools/list: input schemas every client accepts, output schemas that compile', async t => {
  const server = await startTestServer(t)
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
  })
  const text = await response.text()
  const tools = JSON.parse(text).result.tools as Array<{ name: string, inputSchema: Record<string, unknown>, outputSchema?: Record<string, unknown> }>
  t.same(tools.map(tool => tool.name), TOOL_NAMES)
  t.comment(`tools/list: ${Buffer.byteLength(text)} bytes for ${tools.length} tools`)
  const ajv = new Ajv2020({ strict: false })
  for (const tool of tools) {
    t.same(inputPortabilityFindings(tool.inputSchema), [], `${tool.name}: a portable input schema`)
    t.notOk(JSON.stringify(tool.inputSchema).includes('"$schema"'), `${tool.name}: no $schema`)
    t.ok(tool.outputSchema !== undefined && ajv.compile(tool.outputSchema), `${tool.name}: an output schema a validator compiles`)
  }
  t.same(tools.find(tool => tool.name === 'health_check')?.inputSchema, { type: 'object', properties: {}, additionalProperties: false }, 'health_check advertises no arguments')
  t.ok(Buffer.byteLength(text) < 100_000, 'lean output schemas keep tools/list under 100 KB (it was 125 KB)')
})

t.test('the MCP Inspector\'s own portability lint finds nothing in the input schemas', async t => {
  const server = await startTestServer(t)
  const { stdout, stderr } = await run(process.execPath, [clientBin('@modelcontextprotocol/inspector', 'mcp-inspector'), '--cli', server.url.href, '--transport', 'http', '--method', 'tools/list', '--strict', '--format', 'json'], { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 })
  const envelope = JSON.parse(stdout) as { result: { tools: unknown[] }, schemaFindings?: Array<{ toolName: string, findings: Array<{ schema: string, rule: string, path: string }> }> }
  t.equal(envelope.result.tools.length, TOOL_NAMES.length, 'the Inspector lists every tool')
  const inputFindings = (envelope.schemaFindings ?? []).flatMap(result => result.findings.filter(finding => finding.schema === 'inputSchema').map(finding => `${result.toolName} ${finding.path} ${finding.rule}`))
  t.same(inputFindings, [], 'no input-schema finding')
  t.notMatch(stderr, /[1-9]\d* errors?\b/, 'and no portability error, even in output schemas')
})

t.test('every result of every tool matches its declared output schema', async t => {
  for (const era of ERAS) {
    await t.test(`${era} era`, async t => {
      // A fresh catalog per era: the good calls of writing tools succeed once.
      const server = await startTestServer(t)
      const client = await connectClient(t, server.url, era)
      const { tools } = await client.listTools()
      const ajv = new Ajv2020({ strict: false, allErrors: true })
      const validators = new Map(tools.map(tool => [tool.name, ajv.compile(tool.outputSchema ?? {})]))
      const seenErrorTypes = new Set<string>()
      for (const name of TOOL_NAMES) {
        const calls = TOOL_CALLS[name]
        const validate = validators.get(name)
        if (validate === undefined) throw new Error(`${name} is not listed`)
        for (const args of calls.good) {
          const result = await client.callTool({ name, arguments: args })
          t.notOk(result.isError, `${name} ${JSON.stringify(args).slice(0, 80)} succeeds`)
          t.ok(validate(result.structuredContent), `${name}: its structuredContent matches the output schema${validate.errors === null || validate.errors === undefined ? '' : `: ${ajv.errorsText(validate.errors)}`}`)
        }
        for (const bad of calls.bad) {
          const result = await client.callTool({ name, arguments: bad.args })
          t.equal(result.isError, true, `${name} (${bad.kind}) is a tool error`)
          t.equal(result.structuredContent, undefined, `${name} (${bad.kind}): no structuredContent that could contradict the schema`)
          const text = (result.content as Array<{ type: string, text?: string }>).find(block => block.type === 'text')?.text ?? ''
          t.ok(text.length > 20, `${name} (${bad.kind}): the message is in the text content`)
          seenErrorTypes.add(String(result._meta?.error_type))
        }
      }
      t.ok(seenErrorTypes.size >= 5, `several kinds of error were checked: ${[...seenErrorTypes].join(', ')}`)
    })
  }
})

t.test('cached and truncated results match their schemas too', async t => {
  const server = await startTestServer(t, { MCP_CACHE_CONFIG: { enabled: true }, MCP_RESPONSE_SIZE_CONFIG: { token_limit: 2_000 } })
  await bothEras(t, server.url, async (t, { client }) => {
    const { tools } = await client.listTools()
    const ajv = new Ajv2020({ strict: false })
    const schemaOf = (name: string): ReturnType<typeof ajv.compile> => ajv.compile(tools.find(tool => tool.name === name)?.outputSchema ?? {})
    const first = await client.callTool({ name: 'list_charts', arguments: { page_size: 3 } })
    const hit = await client.callTool({ name: 'list_charts', arguments: { page_size: 3 } })
    t.match(hit._meta, { cache_status: { hit: true } }, 'the second call is a cache hit')
    t.ok(schemaOf('list_charts')(first.structuredContent) && schemaOf('list_charts')(hit.structuredContent), 'computed and cached results both match')
    const cut = await client.callTool({ name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT * FROM orders', limit: 500 } })
    t.match(cut.structuredContent, { response_truncation: { token_limit: 2_000 } }, 'a result cut by the size guard')
    t.ok(schemaOf('execute_sql')(cut.structuredContent), 'matches the schema')
  })
})
