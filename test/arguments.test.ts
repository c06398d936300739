import t from 'tap'
import { argumentShape, normalizeArguments } from '../src/mcp/arguments.ts'
import { ToolError } from '../src/errors.ts'

const shape = argumentShape({
  properties: {
    page: { type: 'integer' },
    ratio: { type: 'number' },
    dry_run: { type: 'boolean' },
    select_columns: { type: 'array', items: { type: 'string', enum: ['a', 'b'] } },
    filters: { type: 'array', items: { type: 'object' } },
    options: { type: 'object' },
    identifier: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
    sql: { type: 'string' },
    nullable: { type: ['null', 'string'] }
  }
}, { query: 'sql', id: 'identifier' })

function fails (raw: unknown, message: RegExp): void {
  t.throws(() => normalizeArguments(raw, shape), ToolError)
  try {
    normalizeArguments(raw, shape)
  } catch (err) {
    t.match((err as Error).message, message)
  }
}

t.test('flat arguments pass through', async t => {
  t.same(normalizeArguments({ page: 2, sql: 'SELECT 1' }, shape), { page: 2, sql: 'SELECT 1' })
  t.same(normalizeArguments(undefined, shape), {})
  t.same(normalizeArguments(null, shape), {})
})

t.test("Superset's request wrapper is unwrapped", async t => {
  t.same(normalizeArguments({ request: { page: 3 } }, shape), { page: 3 })
  t.same(normalizeArguments({ request: '{"page": 4}' }, shape), { page: 4 }, 'also when double-encoded')
  t.same(normalizeArguments({ request: { page: 1 }, sql: 'x' }, shape), { page: 1, sql: 'x' })
  fails({ request: [1, 2] }, /`request` must be an object/)
  fails({ request: 'not json' }, /`request` must be an object/)
  fails({ request: { page: 1 }, page: 2 }, /page given both inside and outside `request`/)
})

t.test('synonyms are renamed', async t => {
  t.same(normalizeArguments({ query: 'SELECT 1', id: 7 }, shape), { sql: 'SELECT 1', identifier: 7 })
  fails({ query: 'a', sql: 'b' }, /either `sql` or its synonym `query`/)
})

t.test('double-encoded and stringly typed values are decoded', async t => {
  t.same(normalizeArguments({ filters: '[{"col":"a"}]', options: '{"x":1}' }, shape), { filters: [{ col: 'a' }], options: { x: 1 } })
  t.same(normalizeArguments({ select_columns: 'a, b' }, shape), { select_columns: ['a', 'b'] }, 'a comma-separated list of names')
  t.same(normalizeArguments({ select_columns: '' }, shape), { select_columns: [] })
  t.same(normalizeArguments({ page: '2', ratio: '0.5', dry_run: 'true' }, shape), { page: 2, ratio: 0.5, dry_run: true })
  t.same(normalizeArguments({ identifier: '12' }, shape), { identifier: 12 })
  t.same(normalizeArguments({ identifier: 'sales-overview' }, shape), { identifier: 'sales-overview' })
  t.same(normalizeArguments({ filters: '[broken' }, shape), { filters: '[broken' }, 'left for the schema to reject')
  t.same(normalizeArguments({ options: '[1]' }, shape), { options: '[1]' })
  t.same(normalizeArguments({ page: 'two', dry_run: 'yes' }, shape), { page: 'two', dry_run: 'yes' })
  t.same(normalizeArguments({ sql: '[1, 2]', nullable: 'x' }, shape), { sql: '[1, 2]', nullable: 'x' }, 'strings stay strings')
})

t.test('arguments must be an object', async t => {
  fails([1, 2, 3], /must be a JSON object/)
  fails('page=1', /must be a JSON object/)
})

t.test('a missing argument is called missing, even one that takes an id or a name', async t => {
  const { defineTool, describeIssues, READ_ONLY } = await import('../src/tools/tool.ts')
  const z = await import('zod')
  const tool = defineTool({
    name: 'probe',
    title: 'Probe',
    description: 'test',
    annotations: READ_ONLY,
    input: z.strictObject({ identifier: z.union([z.int(), z.string()]), page: z.int().optional() }),
    output: z.object({}),
    run: () => ({}),
    render: () => ''
  })
  await t.rejects(tool.invoke({}, {} as never), /identifier: required, but missing/)
  await t.rejects(tool.invoke({ identifier: { a: 1 } }, {} as never), /identifier: Invalid input/, 'a wrong value keeps zod\'s message')
  const unknown = z.strictObject({ a: z.string() }).safeParse({ a: 'x', b: 1 })
  t.match(describeIssues(unknown.error as never, { a: 'x', b: 1 }), /Unrecognized key/, 'an unknown argument is not "missing"')
})
