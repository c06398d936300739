import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { bothEras } from '../helpers/tools.ts'
import type { Structured } from '../helpers/tools.ts'

// get_schema describes each list tool from the model the list tool itself validates with: every
// column, sort and filter it names works in the list tool, in both eras.

t.test('get_schema says what each list tool accepts, and the list tool accepts exactly that', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { structuredFrom, call, client }) => {
    const structured = structuredFrom(t)
    const { tools } = await client.listTools()
    for (const [modelType, listTool, itemsKey] of [['chart', 'list_charts', 'charts'], ['dataset', 'list_datasets', 'datasets'], ['dashboard', 'list_dashboards', 'dashboards'], ['database', 'list_databases', 'databases']] as const) {
      const schema = await structured('get_schema', { model_type: modelType })
      t.equal(schema.list_tool, listTool)
      const input = tools.find(tool => tool.name === listTool)?.inputSchema as Structured
      t.same(schema.select_columns.map((column: Structured) => column.name).sort(), [...input.properties.select_columns.items.enum].sort(), `${modelType}: select_columns are the list tool's`)
      t.same([...schema.sortable_columns].sort(), [...input.properties.order_column.enum].sort(), `${modelType}: the sortable columns are the list tool's`)
      t.same(schema.filter_columns.map((filter: Structured) => filter.name).sort(), [...input.properties.filters.items.properties.col.enum].sort(), `${modelType}: the filter columns are the list tool's`)
      t.ok(schema.select_columns.every((column: Structured) => column.type !== 'any'), `${modelType}: every column has a type`)
      t.ok(schema.default_select_columns.every((name: string) => schema.select_columns.some((column: Structured) => column.name === name)), `${modelType}: the defaults are selectable`)
      // Each filter column with its first operator, and a sort by each column, are accepted.
      for (const filter of schema.filter_columns) {
        const opr = filter.operators[0]
        const sample = ({ integer: 1, text: 'a', boolean: true, datetime: '2025-01-01T00:00:00Z' } as Record<string, unknown>)[filter.type]
        t.not(sample, undefined, `${modelType}.${filter.name}: a known type (${filter.type})`)
        const value = opr === 'is_null' || opr === 'is_not_null' ? undefined : opr === 'in' || opr === 'nin' ? [sample] : sample
        const result = await call(listTool, { filters: [{ col: filter.name, opr, ...(value === undefined ? {} : { value }) }], page_size: 1 })
        t.notOk(result.isError, `${listTool} takes the filter ${filter.name} ${opr}`)
      }
      const sorted = await structured(listTool, { order_column: schema.sortable_columns.at(-1), select_columns: schema.default_select_columns, page_size: 1 })
      t.ok(Array.isArray(sorted[itemsKey]), `${listTool} sorts by ${String(schema.sortable_columns.at(-1))}`)
    }
    const text = await call('get_schema', { model_type: 'chart' })
    t.match((text.content as Array<{ text: string }>)[0]?.text, /list_charts: \d+ columns.*\n\nSort \(order_column\): .*\n\nsearch looks in: slice_name, description/s, 'a text answer for models without structured output')
  })
})
