import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { parseChartConfig } from '../charts/config.ts'
import type { ChartConfig } from '../charts/config.ts'
import { configToFormData } from '../charts/form-data.ts'
import { chartSql, datasetModel } from '../charts/run.ts'
import { storeExploreState, storeLinkState, visibleDataset } from '../charts/service.ts'
import { notFound, permissionDenied, ToolError } from '../errors.ts'
import { withoutTrailingTerminator } from '../query/sql-text.ts'
import { configArgument } from './chart-common.ts'
import { identifierSchema } from './databases.ts'
import { defineTool } from './tool.ts'
import type { Tool } from './tool.ts'

/**
 * Links write only the state behind them, never a saved object. Annotated as Superset does:
 * generate_explore_link as a write (it stores the unsaved chart's form data), the SQL Lab link
 * as a read.
 */
const LINK = { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false }
const EXPLORE_LINK = { ...LINK, readOnlyHint: false }

export const generateExploreLink = (): Tool => defineTool({
  name: 'generate_explore_link',
  title: 'Link to explore a dataset',
  description: 'A signed link to a page that shows an unsaved chart of a dataset (or, without config, a sample of its rows), for a person to open in a browser without an MCP token. Nothing is saved; the link expires. Also returns the form_data_key for get_chart_data, get_chart_preview and update_chart_preview.',
  annotations: EXPLORE_LINK,
  // Every call makes a new link; a cached answer would hand out an old one.
  volatile: true,
  scope: SCOPES.read,
  permission: { permission: 'can_read', resource: 'Chart' },
  aliases: { datasource_id: 'dataset_id', name: 'chart_name', title: 'chart_name' },
  input: z.strictObject({
    dataset_id: identifierSchema.describe('dataset id, UUID or name'),
    config: configArgument.optional().describe('a chart config (see get_chart_type_schema); omit it for a table of sample rows'),
    chart_name: z.string().trim().min(1).max(255).optional()
  }),
  output: z.object({
    success: z.literal(true),
    url: z.string(),
    form_data_key: z.string(),
    form_data: z.record(z.string(), z.unknown()),
    sql: z.string(),
    expires_at: z.string()
  }),
  run: async (args, context) => {
    const dataset = await visibleDataset(context, args.dataset_id)
    let config: ChartConfig
    if (args.config === undefined) {
      const columns = (await datasetModel(context.catalog, dataset)).columns.slice(0, 8).map(column => column.column_name)
      config = parseChartConfig({ chart_type: 'table', columns, query_mode: 'raw', row_limit: 100 })
    } else {
      config = parseChartConfig(args.config)
    }
    // Compiling checks every name against the dataset now, not when a person opens the link.
    const compiled = await chartSql(context.catalog, dataset, config)
    const state = await storeExploreState(context, dataset, config, args.chart_name ?? (args.config === undefined ? `${dataset.table_name} sample` : `${dataset.table_name} chart`))
    return {
      success: true as const,
      url: context.links.url('explore', state.key, context.principal.user.id),
      form_data_key: state.key,
      form_data: configToFormData(config, dataset.id),
      sql: compiled.sql,
      expires_at: state.expires_on
    }
  },
  render: result => `Explore link (opens without a token until ${result.expires_at}): ${result.url}\nform_data_key: ${result.form_data_key}`
})

export const openSqlLabWithContext = (): Tool => defineTool({
  name: 'open_sql_lab_with_context',
  title: 'Link to a SQL query',
  description: 'A signed link to a page that runs a SQL query (read-only, at most 1,000 rows) on a database and shows its result, for a person to open in a browser without an MCP token. Without sql, a query over dataset_in_context (or nothing). The link expires.',
  annotations: LINK,
  volatile: true,
  scope: SCOPES.sql,
  permission: { permission: 'can_execute_sql_query', resource: 'SQLLab' },
  aliases: { database_id: 'database_connection_id', database: 'database_connection_id', query: 'sql' },
  input: z.strictObject({
    database_connection_id: identifierSchema.describe('database id, UUID or name'),
    schema: z.string().max(255).optional(),
    dataset_in_context: z.string().max(255).optional().describe('a dataset name to start from'),
    sql: z.string().max(100_000).optional(),
    title: z.string().trim().max(255).optional()
  }),
  output: z.object({
    success: z.literal(true),
    url: z.string(),
    database_id: z.int(),
    database_name: z.string(),
    schema: z.string().nullable(),
    title: z.string(),
    sql: z.string(),
    expires_at: z.string()
  }),
  run: async (args, context) => {
    const { access } = context.principal
    const database = await context.catalog.findDatabase(args.database_connection_id, access)
    if (database === undefined) throw notFound('database', args.database_connection_id, 'id, UUID or name', 'list_databases')
    if (!access.canQueryDatabase(database.id)) throw permissionDenied(`You may not run SQL on database ${database.database_name}: that needs database access to it.`, 'Ask an administrator for database_access on it.')
    if (!database.expose_in_sqllab) throw new ToolError('not_allowed', `SQL is disabled on database ${database.database_name}.`)
    let sql = args.sql?.trim() ?? ''
    if (sql === '' && args.dataset_in_context !== undefined) {
      const dataset = await visibleDataset(context, args.dataset_in_context)
      if (dataset.database_id !== database.id) throw notFound('dataset', args.dataset_in_context, 'name', 'list_datasets')
      sql = dataset.sql === null ? `SELECT * FROM "${dataset.table_name.replace(/"/g, '""')}" LIMIT 100` : `SELECT * FROM (${withoutTrailingTerminator(dataset.sql)}) AS ${JSON.stringify(dataset.table_name)} LIMIT 100`
    }
    const title = args.title ?? (args.dataset_in_context === undefined ? `Query on ${database.database_name}` : `${args.dataset_in_context} in ${database.database_name}`)
    const state = await storeLinkState(context, { kind: 'sql', dataset_id: null, database_id: database.id, payload: JSON.stringify({ sql, schema: args.schema ?? null, title }) })
    return {
      success: true as const,
      url: context.links.url('sql', state.key, context.principal.user.id, Date.parse(state.expires_on) / 1000),
      database_id: database.id,
      database_name: database.database_name,
      schema: args.schema ?? null,
      title,
      sql,
      expires_at: state.expires_on
    }
  },
  render: result => `SQL link "${result.title}" on ${result.database_name} (opens without a token until ${result.expires_at}): ${result.url}`
})
