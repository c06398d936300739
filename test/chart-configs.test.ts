import { Ajv2020 } from 'ajv/dist/2020.js'
import t from 'tap'
import { CHART_TYPES, parseChartConfig } from '../src/charts/config.ts'
import { startTestServer } from './helpers/app.ts'
import { bothEras } from './helpers/tools.ts'

// chart://configs (Superset's resource of valid chart configs): every chart type with the schema
// the chart tools validate with and an example that passes it, read through the SDK v2 client.

t.test('chart://configs lists every chart type with a schema and an example the chart tools accept', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { client, structuredFrom }) => {
    const { resources } = await client.listResources()
    const listed = resources.find(resource => resource.uri === 'chart://configs')
    t.match(listed, { name: 'chart_configs', mimeType: 'application/json' }, 'listed in resources/list')
    const read = await client.readResource({ uri: 'chart://configs' })
    const body = JSON.parse((read.contents[0] as { text: string }).text) as { chart_types: Array<{ chart_type: string, schema: object, example: Record<string, unknown> }>, notes: string[] }
    t.same(body.chart_types.map(entry => entry.chart_type), [...CHART_TYPES], 'every chart type')
    const ajv = new Ajv2020({ strict: false })
    for (const entry of body.chart_types) {
      t.ok(ajv.validate(entry.schema, entry.example), `${entry.chart_type}: the example passes its schema ${JSON.stringify(ajv.errors ?? [])}`)
      t.doesNotThrow(() => parseChartConfig(entry.example), `${entry.chart_type}: the chart tools accept the example`)
      const fromTool = await structuredFrom(t)('get_chart_type_schema', { chart_type: entry.chart_type })
      t.same(entry.schema, fromTool.schema, `${entry.chart_type}: the same schema as get_chart_type_schema`)
    }
    t.ok(body.notes.length > 0)
    const made = await structuredFrom(t)('generate_chart', { dataset_id: 'orders', config: body.chart_types[0]?.example, preview_formats: [] })
    t.ok(made.row_count > 0, 'an example config draws a chart on the example data')
  })
})
