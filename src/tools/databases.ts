import * as z from 'zod'
import { DATABASE_LIST } from '../catalog/list-specs.ts'
import type { DatabaseRecord } from '../catalog/records.ts'
import { SCOPES } from '../auth/scopes.ts'
import { describeConnection } from '../engines/connection.ts'
import { notFound, ToolError } from '../errors.ts'
import { auditColumns, auditFields, defineListTool, listModel } from './list-tool.ts'
import { objectTable, plural } from './render.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool, ToolContext } from './tool.ts'

export const identifierSchema = z.union([z.int(), z.string().min(1).max(255)])

const databaseItem = {
  id: z.int(),
  uuid: z.string(),
  database_name: z.string(),
  backend: z.string().describe('sqlite, postgresql or duckdb'),
  host: z.string().nullable().describe('server of a postgresql database; null for file databases'),
  port: z.int().nullable().describe('server port; null for file databases'),
  database: z.string().nullable().describe('database name on the server, or the file name of a sqlite or duckdb database'),
  allow_dml: z.boolean().describe('whether execute_sql may change data'),
  expose_in_sqllab: z.boolean().describe('whether execute_sql may run on it'),
  description: z.string().nullable(),
  ...auditColumns
}

type DatabaseItem = z.output<z.ZodObject<typeof databaseItem>>

async function databaseFields (database: DatabaseRecord, context: ToolContext, now: number): Promise<DatabaseItem> {
  const users = await context.catalog.userRefs([database.created_by_fk, database.changed_by_fk])
  return {
    id: database.id,
    uuid: database.uuid,
    database_name: database.database_name,
    ...describeConnection(database),
    allow_dml: database.allow_dml,
    expose_in_sqllab: database.expose_in_sqllab,
    description: database.description,
    ...auditFields(database, users, now)
  }
}

/** The model of list_databases; get_schema describes the same one. */
export const DATABASE_LIST_MODEL = listModel({
  tool: 'list_databases',
  title: 'List databases',
  description: 'List the databases registered for analytics (the connections datasets and execute_sql run against), with paging, filters and search. Use the id with get_database_info and execute_sql.',
  itemsKey: 'databases',
  noun: 'database',
  spec: DATABASE_LIST,
  permission: { permission: 'can_read', resource: 'Database' },
  item: databaseItem,
  defaultColumns: ['id', 'database_name', 'backend', 'host', 'database', 'allow_dml', 'expose_in_sqllab', 'description', 'changed_on', 'changed_on_humanized'],
  fetch: async (catalog, query, access) => await catalog.listDatabases(query, access),
  toItems: async (rows, context, _wanted, now) => {
    const items: DatabaseItem[] = []
    for (const row of rows) items.push(await databaseFields(row, context, now))
    return items
  }
})

export const listDatabases = (): Tool => defineListTool(DATABASE_LIST_MODEL)

const tableSchema = z.object({ name: z.string(), type: z.string().describe('table or view') })

export const getDatabaseInfo = (): Tool => defineTool({
  name: 'get_database_info',
  title: 'Get database details',
  description: 'Details of one database by id, UUID or name: backend, host and database name (or file name), whether it is read-only, its tables and views (for writing SQL, when you may query it), and the datasets defined on it.',
  annotations: READ_ONLY,
  // Its table list comes from the database itself, which can change without the catalog knowing.
  maxCacheSeconds: 60,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Database' },
  aliases: { id: 'identifier', database_id: 'identifier', database_name: 'identifier' },
  input: z.strictObject({
    identifier: identifierSchema.describe('database id, UUID or name')
  }),
  output: z.object({
    ...databaseItem,
    capabilities: z.object({
      sql_dialect: z.string(),
      read_only: z.boolean(),
      supports_dml: z.boolean()
    }),
    tables: z.array(tableSchema).describe('empty unless you may query the database'),
    tables_unavailable: z.string().nullable().describe('why the table list could not be read (the database is unreachable); null when it was'),
    datasets: z.array(z.object({ id: z.int(), table_name: z.string(), schema: z.string().nullable() })),
    dataset_count: z.int()
  }),
  run: async ({ identifier }, context) => {
    const { access } = context.principal
    const database = await context.catalog.findDatabase(identifier, access)
    if (database === undefined) throw notFound('database', identifier, 'id, UUID or name', 'list_databases')
    const datasets = await context.catalog.listDatasets({
      page: 1, pageSize: 100, filters: [{ col: 'database_id', opr: 'eq', value: database.id }], orderColumn: 'table_name', orderDirection: 'asc'
    }, access)
    // Table names are the database's schema: shown to those who may query the database only.
    // An unreachable warehouse still has its details and datasets: only its table list is missing.
    let tables: Awaited<ReturnType<typeof context.engines.listTables>> = []
    let tablesUnavailable: string | null = null
    if (access.canQueryDatabase(database.id)) {
      try {
        tables = await context.engines.listTables(database, context.signal)
      } catch (err) {
        if (!(err instanceof ToolError) || err.errorType !== 'database_unavailable') throw err
        tablesUnavailable = err.message
      }
    }
    return {
      ...await databaseFields(database, context, Date.now()),
      capabilities: { sql_dialect: database.backend, read_only: !database.allow_dml, supports_dml: database.allow_dml },
      tables,
      tables_unavailable: tablesUnavailable,
      datasets: datasets.rows.map(dataset => ({ id: dataset.id, table_name: dataset.table_name, schema: dataset.schema })),
      dataset_count: datasets.total
    }
  },
  render: database => [
    `Database ${database.database_name} (id ${database.id}, ${database.backend}${database.host === null ? '' : ` on ${database.host}:${database.port ?? ''}`}${database.database === null ? '' : `, ${database.database}`}, ${database.allow_dml ? 'read-write' : 'read-only'}).`,
    database.description ?? '',
    database.tables_unavailable === null ? `${plural(database.tables.length, 'table')}/views: ${database.tables.map(table => table.name).join(', ')}` : `Tables unknown: ${database.tables_unavailable}`,
    database.datasets.length === 0 ? 'No datasets.' : `Datasets:\n${objectTable(['id', 'table_name', 'schema'], database.datasets)}`
  ].filter(line => line !== '').join('\n')
})
