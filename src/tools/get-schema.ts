import * as z from 'zod'
import { operatorsFor } from '../catalog/list-query.ts'
import type { ListSpec } from '../catalog/list-query.ts'
import { SCOPES } from '../auth/scopes.ts'
import { CHART_LIST_MODEL } from './charts.ts'
import { DASHBOARD_LIST_MODEL } from './dashboards.ts'
import { DATABASE_LIST_MODEL } from './databases.ts'
import { DATASET_LIST_MODEL } from './datasets.ts'
import { DEFAULT_ORDER, searchColumns } from './list-tool.ts'
import { objectTable } from './render.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool } from './tool.ts'

/** What get_schema reads of a list tool's model: the same spec the list tool validates against, so the two cannot drift. */
interface SchemaSource {
  tool: string
  spec: ListSpec
  item: z.ZodRawShape
  defaultColumns: readonly string[]
}

const MODELS: Readonly<Record<'chart' | 'dataset' | 'dashboard' | 'database', SchemaSource>> = {
  chart: CHART_LIST_MODEL,
  dataset: DATASET_LIST_MODEL,
  dashboard: DASHBOARD_LIST_MODEL,
  database: DATABASE_LIST_MODEL
}

/** A column's JSON type, from the schema the list tool returns it with. */
function typeOf (schema: z.ZodType): string {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any' }) as { type?: string | string[], anyOf?: Array<{ type?: string }> }
  const types = Array.isArray(json.type) ? json.type : json.type !== undefined ? [json.type] : (json.anyOf ?? []).map(option => option.type).filter((type): type is string => type !== undefined)
  return types.filter(type => type !== 'null').join(' | ') || 'any'
}

export const getSchema = (): Tool => defineTool({
  name: 'get_schema',
  title: 'What the list tools accept',
  description: 'For one kind of object (chart, dataset, dashboard, database): the columns its list tool can return (select_columns) and returns by default, the columns it sorts by (order_column), the ones search looks in, and the columns filters take with their operators. Call it before building filters you are unsure of.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  aliases: { model: 'model_type', type: 'model_type' },
  input: z.strictObject({
    model_type: z.enum(['chart', 'dataset', 'dashboard', 'database']).describe('which list tool: list_charts, list_datasets, list_dashboards or list_databases')
  }),
  output: z.object({
    model_type: z.string(),
    list_tool: z.string(),
    select_columns: z.array(z.object({ name: z.string(), type: z.string(), description: z.string().nullable() })),
    default_select_columns: z.array(z.string()),
    sortable_columns: z.array(z.string()),
    default_sort: z.string(),
    default_sort_direction: z.enum(['asc', 'desc']),
    search_columns: z.array(z.string()),
    filter_columns: z.array(z.object({ name: z.string(), type: z.string().describe('integer, text, boolean or datetime (ISO 8601); integer for the ids of a relation'), description: z.string(), operators: z.array(z.string()) }))
  }),
  run: async ({ model_type: modelType }) => {
    // Static metadata of our own list tools (no user's data), so like Superset's it needs no class permission.
    const model = MODELS[modelType]
    return {
      model_type: modelType,
      list_tool: model.tool,
      select_columns: Object.entries(model.item).map(([name, schema]) => ({ name, type: typeOf(schema as z.ZodType), description: (schema as z.ZodType).description ?? null })),
      default_select_columns: [...model.defaultColumns],
      sortable_columns: Object.keys(model.spec.sortable),
      default_sort: DEFAULT_ORDER.column,
      default_sort_direction: DEFAULT_ORDER.direction,
      search_columns: searchColumns(model.spec),
      filter_columns: Object.entries(model.spec.filters).map(([name, filter]) => ({ name, type: filter.kind === 'column' ? filter.type : 'integer', description: filter.description, operators: [...operatorsFor(filter)] }))
    }
  },
  render: result => [
    `${result.list_tool}: ${result.select_columns.length} columns, ${result.default_select_columns.length} by default (${result.default_select_columns.join(', ')}).`,
    `Sort (order_column): ${result.sortable_columns.join(', ')}; default ${result.default_sort} ${result.default_sort_direction}.`,
    `search looks in: ${result.search_columns.join(', ')} (give search or filters, not both).`,
    `Filters ({"col", "opr", "value"}):\n${objectTable(['name', 'type', 'operators', 'description'], result.filter_columns.map(filter => ({ ...filter, operators: filter.operators.join(' ') })))}`
  ].join('\n\n')
})
