import * as z from 'zod'
import { DATASET_LIST } from '../catalog/list-specs.ts'
import type { DatasetRecord } from '../catalog/records.ts'
import { SCOPES } from '../auth/scopes.ts'
import { notFound } from '../errors.ts'
import { identifierSchema } from './databases.ts'
import { auditColumns, auditFields, defineListTool, listModel, peopleOf, userRefSchema } from './list-tool.ts'
import { objectTable } from './render.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool, ToolContext } from './tool.ts'

const datasetItem = {
  id: z.int(),
  uuid: z.string(),
  table_name: z.string(),
  schema: z.string().nullable(),
  database_id: z.int(),
  database_name: z.string(),
  description: z.string().nullable(),
  is_virtual: z.boolean().describe('true when defined by a SQL query instead of a table'),
  sql: z.string().nullable().describe('the SQL of a virtual dataset'),
  main_dttm_col: z.string().nullable().describe('default time column'),
  certified_by: z.string().nullable(),
  certification_details: z.string().nullable(),
  owners: z.array(userRefSchema),
  ...auditColumns
}

type DatasetItem = z.output<z.ZodObject<typeof datasetItem>>

async function datasetItems (rows: readonly DatasetRecord[], context: ToolContext, withOwners: boolean, now: number): Promise<DatasetItem[]> {
  const { users, owners } = await peopleOf(context.catalog, 'dataset', rows, withOwners)
  return rows.map(dataset => ({
    id: dataset.id,
    uuid: dataset.uuid,
    table_name: dataset.table_name,
    schema: dataset.schema,
    database_id: dataset.database_id,
    database_name: dataset.database_name,
    description: dataset.description,
    is_virtual: dataset.sql !== null,
    sql: dataset.sql,
    main_dttm_col: dataset.main_dttm_col,
    certified_by: dataset.certified_by,
    certification_details: dataset.certification_details,
    owners: owners.get(dataset.id) ?? [],
    ...auditFields(dataset, users, now)
  }))
}

/** The model of list_datasets; get_schema describes the same one. */
export const DATASET_LIST_MODEL = listModel({
  tool: 'list_datasets',
  title: 'List datasets',
  description: 'List datasets (tables or saved SQL queries that charts and analyses are built on), with paging, filters and search over name, description and SQL. Follow up with get_dataset_info for columns and saved metrics.',
  itemsKey: 'datasets',
  noun: 'dataset',
  spec: DATASET_LIST,
  permission: { permission: 'can_read', resource: 'Dataset' },
  item: datasetItem,
  defaultColumns: ['id', 'table_name', 'schema', 'database_name', 'description', 'certified_by', 'certification_details', 'changed_on', 'changed_on_humanized'],
  fetch: async (catalog, query, access) => await catalog.listDatasets(query, access),
  toItems: async (rows, context, wanted, now) => await datasetItems(rows, context, wanted.has('owners'), now)
})

export const listDatasets = (): Tool => defineListTool(DATASET_LIST_MODEL)

const columnSchema = z.object({
  column_name: z.string(),
  verbose_name: z.string().nullable(),
  type: z.string().nullable(),
  is_dttm: z.boolean().describe('a date/time column, usable as a time axis'),
  groupby: z.boolean().describe('usable as a dimension'),
  filterable: z.boolean(),
  description: z.string().nullable()
})

const metricSchema = z.object({
  metric_name: z.string(),
  verbose_name: z.string().nullable(),
  expression: z.string().describe('SQL aggregate expression'),
  description: z.string().nullable(),
  d3format: z.string().nullable()
})

export const getDatasetInfo = (): Tool => defineTool({
  name: 'get_dataset_info',
  title: 'Get dataset details',
  description: 'Details of one dataset by id, UUID or table name: its columns (names, types, which are dates or dimensions) and saved metrics (SQL aggregate expressions). Read this before writing SQL or building a chart on the dataset.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Dataset' },
  aliases: { id: 'identifier', dataset_id: 'identifier', datasource_id: 'identifier' },
  input: z.strictObject({
    identifier: identifierSchema.describe('dataset id, UUID or table name')
  }),
  output: z.object({
    ...datasetItem,
    columns: z.array(columnSchema),
    metrics: z.array(metricSchema),
    chart_count: z.int().describe('charts built on this dataset')
  }),
  run: async ({ identifier }, context) => {
    const { access } = context.principal
    const dataset = await context.catalog.findDataset(identifier, access)
    if (dataset === undefined) throw notFound('dataset', identifier, 'id, UUID or table name', 'list_datasets')
    const fields = await datasetItems([dataset], context, true, Date.now())
    const chartCount = await context.catalog.countCharts({ page: 1, pageSize: 1, filters: [{ col: 'datasource_id', opr: 'eq', value: dataset.id }], orderColumn: 'id', orderDirection: 'asc' }, access)
    const columns = await context.catalog.datasetColumns(dataset.id)
    const metrics = await context.catalog.datasetMetrics(dataset.id)
    return {
      ...fields[0] as DatasetItem,
      columns: columns.map(({ id: _id, ...column }) => column),
      metrics: metrics.map(({ id: _id, ...metric }) => metric),
      chart_count: chartCount
    }
  },
  render: dataset => [
    `Dataset ${dataset.table_name} (id ${dataset.id}) in database ${dataset.database_name} (id ${dataset.database_id})${dataset.is_virtual ? ', virtual' : ''}.`,
    dataset.description ?? '',
    dataset.sql === null ? '' : `SQL:\n${dataset.sql}`,
    dataset.main_dttm_col === null ? '' : `Default time column: ${dataset.main_dttm_col}.`,
    `Columns:\n${objectTable(['column_name', 'type', 'is_dttm', 'description'], dataset.columns)}`,
    dataset.metrics.length === 0 ? 'No saved metrics.' : `Saved metrics:\n${objectTable(['metric_name', 'expression', 'description'], dataset.metrics)}`
  ].filter(line => line !== '').join('\n\n')
})
