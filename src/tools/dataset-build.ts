import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { datasetModel } from '../charts/run.ts'
import { visibleDataset } from '../charts/service.ts'
import { invalidArguments, notFound, permissionDenied, ToolError } from '../errors.ts'
import { dialectFor } from '../query/dialect.ts'
import { compileQuery } from '../query/semantic.ts'
import { withoutTrailingTerminator } from '../query/sql-text.ts'
import { identifierSchema } from './databases.ts'
import { assertMayModify, defineTool, WRITES } from './tool.ts'
import type { Tool, ToolContext } from './tool.ts'

const DATE_TYPE = /DATE|TIME/i
const NAME = /^[A-Za-z_][A-Za-z0-9_ ]{0,249}$/

/** Run generated or given SQL read-only on a database, to check it before saving anything. */
async function probe (context: ToolContext, databaseId: number, sql: string, params: Array<string | number | null> = [], maxRows = 1) {
  const database = await context.catalog.findDatabase(databaseId)
  if (database === undefined) throw new ToolError('database_unavailable', `Database ${databaseId} is gone.`)
  return await context.engines.execute({ ...database, allow_dml: false }, {
    sql,
    params,
    maxRows,
    maxBytes: context.config.MCP_SQL_MAX_RESULT_BYTES,
    timeoutMs: context.config.MCP_SQL_DEFAULT_TIMEOUT * 1000,
    dryRun: false,
    signal: context.signal
  })
}

/** A column type from its values, when SQLite declares none (expressions): the first non-null one decides. */
function typeOfValues (values: readonly unknown[]): string | null {
  const value = values.find(candidate => candidate !== null && candidate !== undefined)
  if (typeof value === 'number') return Number.isInteger(value) ? 'INTEGER' : 'REAL'
  if (typeof value === 'string') return /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?/.test(value) ? (value.length > 10 ? 'DATETIME' : 'DATE') : 'TEXT'
  return null
}

export const createVirtualDataset = (): Tool => defineTool({
  name: 'create_virtual_dataset',
  title: 'Save SQL as a dataset',
  description: 'Save a SELECT statement as a dataset (a "virtual" dataset) so charts and query_dataset can use it. The query is run once (one row) to infer its columns; date columns are found by type or name. Optional saved metrics (metric_name, expression) are checked the same way. You become its owner.',
  annotations: WRITES,
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Dataset' },
  aliases: { database: 'database_id', name: 'dataset_name', table_name: 'dataset_name', query: 'sql' },
  input: z.strictObject({
    database_id: identifierSchema.describe('database id, UUID or name'),
    sql: z.string().trim().min(1).max(100_000).describe('one SELECT statement'),
    dataset_name: z.string().trim().min(1).max(250).regex(NAME, 'letters, digits, spaces and _, starting with a letter or _'),
    schema: z.string().max(255).optional(),
    description: z.string().max(2000).optional(),
    metrics: z.array(z.strictObject({
      metric_name: z.string().trim().min(1).max(255),
      expression: z.string().trim().min(1).max(10_000).describe('an aggregate SQL expression, e.g. SUM(amount)'),
      verbose_name: z.string().max(255).optional(),
      d3format: z.string().max(50).optional()
    })).max(50).default([])
  }),
  output: z.object({
    success: z.literal(true),
    id: z.int(),
    dataset_name: z.string(),
    database_id: z.int(),
    sql: z.string(),
    columns: z.array(z.object({ name: z.string(), type: z.string().nullable(), is_dttm: z.boolean() })),
    main_dttm_col: z.string().nullable(),
    metrics: z.array(z.string())
  }),
  run: async (args, context) => {
    const { access } = context.principal
    const database = await context.catalog.findDatabase(args.database_id, access)
    if (database === undefined) throw notFound('database', args.database_id, 'id, UUID or name', 'list_databases')
    if (!access.canQueryDatabase(database.id)) throw permissionDenied(`You may not define datasets on database ${database.database_name}: that needs database access to it.`, 'Ask an administrator for database_access on it.')
    // Only the datasets this caller may see can clash: one they may not see is not revealed. (The
    // schema's unique (database, schema, name) index cannot clash with one either: defining a
    // dataset on a database needs database access to it, and that shows every dataset there.)
    await context.catalog.assertDatasetNameFree(args.dataset_name, access)
    const sql = withoutTrailingTerminator(args.sql)
    if (sql === '') throw invalidArguments('The SQL holds no statement, only comments or semicolons.', 'Give one SELECT statement.')
    // On lines of its own, so a trailing -- comment cannot swallow the closing parenthesis.
    const result = await probe(context, database.id, `SELECT * FROM (\n${sql}\n) AS virtual_dataset`, [], 200).catch((err: unknown) => {
      if (err instanceof ToolError) throw new ToolError(err.errorType, `The dataset's SQL does not run: ${err.message}`, 'Fix the SELECT statement (execute_sql helps to try it); nothing was saved.')
      throw err
    })
    const names = result.columns.map(column => column.name)
    const duplicate = names.find((name, index) => names.indexOf(name) !== index)
    if (duplicate !== undefined) throw invalidArguments(`The query returns two columns named "${duplicate}".`, 'Give every column a distinct alias (AS …).')
    // SQLite declares no type for expressions: take it from the first value that is not NULL.
    const types: Array<string | null> = []
    for (const [index, column] of result.columns.entries()) {
      let type = column.type ?? typeOfValues(result.rows.map(row => row[index]))
      if (type === null) {
        const quoted = `"${column.name.replaceAll('"', '""')}"`
        const sample = await probe(context, database.id, `SELECT ${quoted} FROM (\n${sql}\n) AS virtual_dataset WHERE ${quoted} IS NOT NULL`)
        type = typeOfValues(sample.rows.map(row => row[0]))
      }
      types.push(type)
    }
    const columns = result.columns.map((column, index) => ({
      column_name: column.name,
      verbose_name: null,
      type: types[index] ?? null,
      is_dttm: DATE_TYPE.test(column.type ?? '') || /(^|_)(date|time|day|month|ts)($|_)|_at$|_on$/i.test(column.name),
      groupby: true,
      filterable: true,
      description: null
    }))
    const mainDate = columns.find(column => column.is_dttm)?.column_name ?? null
    // Each metric is run over the dataset before anything is saved.
    const model = { dataset: { id: 0, table_name: args.dataset_name, schema: args.schema ?? null, sql, main_dttm_col: mainDate }, columns, metrics: args.metrics.map(metric => ({ metric_name: metric.metric_name, verbose_name: metric.verbose_name ?? null, expression: metric.expression, d3format: metric.d3format ?? null })) }
    for (const metric of args.metrics) {
      const compiled = compileQuery({ dimensions: [], metrics: [{ saved: metric.metric_name }], filters: [], rowLimit: 1 }, model, dialectFor(database.backend))
      await probe(context, database.id, compiled.sql, compiled.params).catch((err: unknown) => {
        if (err instanceof ToolError) throw invalidArguments(`Metric "${metric.metric_name}" does not run: ${err.message}`, 'Use an aggregate over the query\'s columns, e.g. SUM(amount); nothing was saved.')
        throw err
      })
    }
    const userId = context.principal.user.id
    const dataset = await context.catalog.createDataset({
      database_id: database.id,
      table_name: args.dataset_name,
      schema: args.schema ?? null,
      sql,
      description: args.description ?? null,
      main_dttm_col: mainDate,
      created_by_fk: userId,
      owners: [userId],
      columns,
      metrics: model.metrics.map(metric => ({ ...metric, description: null }))
    }, { uniqueAmong: access })
    return {
      success: true as const,
      id: dataset.id,
      dataset_name: dataset.table_name,
      database_id: database.id,
      sql,
      columns: columns.map(column => ({ name: column.column_name, type: column.type, is_dttm: column.is_dttm })),
      main_dttm_col: mainDate,
      metrics: args.metrics.map(metric => metric.metric_name)
    }
  },
  render: result => [
    `Created dataset "${result.dataset_name}" (id ${result.id}) with ${result.columns.length} columns: ${result.columns.map(column => `${column.name}${column.type === null ? '' : ` (${column.type})`}`).join(', ')}.`,
    result.main_dttm_col === null ? 'No date column found: time ranges need time_column on a date column.' : `Main date column: ${result.main_dttm_col}.`,
    result.metrics.length === 0 ? '' : `Saved metrics: ${result.metrics.join(', ')}.`
  ].filter(line => line !== '').join('\n')
})

export const createDatasetMetric = (): Tool => defineTool({
  name: 'create_dataset_metric',
  title: 'Add a saved metric',
  description: 'Add a saved metric to a dataset: a name and an aggregate SQL expression over its columns (e.g. SUM(amount) / COUNT(DISTINCT customer_id)). The expression is run once before it is saved. Only the dataset\'s owners and administrators may.',
  annotations: WRITES,
  scope: SCOPES.write,
  permission: { permission: 'can_write', resource: 'Dataset' },
  aliases: { datasource_id: 'dataset_id', name: 'metric_name', sql: 'expression' },
  input: z.strictObject({
    dataset_id: identifierSchema,
    metric_name: z.string().trim().min(1).max(255).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _, starting with a letter or _'),
    expression: z.string().trim().min(1).max(10_000),
    verbose_name: z.string().trim().max(255).optional(),
    description: z.string().max(2000).optional(),
    d3format: z.string().max(50).optional().describe('d3 number format, e.g. "$,.2f" or ",d"')
  }),
  output: z.object({
    success: z.literal(true),
    dataset_id: z.int(),
    dataset_name: z.string(),
    metric: z.object({ id: z.int(), metric_name: z.string(), expression: z.string(), verbose_name: z.string().nullable(), d3format: z.string().nullable() }),
    sample_value: z.union([z.number(), z.string(), z.null()]).describe('the metric over the whole dataset')
  }),
  run: async (args, context) => {
    const dataset = await visibleDataset(context, args.dataset_id)
    await assertMayModify(context, 'Dataset', dataset.id, dataset.table_name, 'Use an ad-hoc metric ({"name": column, "aggregate": "SUM"}) in your query instead.')
    // An expression is SQL run on the database: it may read any table there, so it needs the
    // same database access as execute_sql and virtual datasets.
    if (!context.principal.access.canQueryDatabase(dataset.database_id)) {
      throw permissionDenied(`Saved metrics are SQL on database ${dataset.database_name}, and you have no database access to it.`, 'Use an ad-hoc metric ({"name": column, "aggregate": "SUM"}) in your query, or ask an administrator for database_access.')
    }
    const model = await datasetModel(context.catalog, dataset)
    const clash = [...model.metrics.map(metric => metric.metric_name), ...model.columns.map(column => column.column_name)].find(name => name.toLowerCase() === args.metric_name.toLowerCase())
    if (clash !== undefined) throw invalidArguments(`Dataset ${dataset.table_name} already has a metric or column named "${clash}".`, 'Choose another metric_name.')
    const metric = { metric_name: args.metric_name, verbose_name: args.verbose_name ?? null, expression: args.expression, description: args.description ?? null, d3format: args.d3format ?? null }
    const compiled = compileQuery({ dimensions: [], metrics: [{ saved: metric.metric_name }], filters: [], rowLimit: 1 }, { ...model, metrics: [...model.metrics, metric] }, dialectFor(dataset.backend))
    const result = await probe(context, dataset.database_id, compiled.sql, compiled.params).catch((err: unknown) => {
      if (err instanceof ToolError) throw invalidArguments(`The expression does not run on dataset ${dataset.table_name}: ${err.message}`, `Use an aggregate over its columns (${model.columns.map(column => column.column_name).join(', ')}); nothing was saved.`)
      throw err
    })
    const sample = result.rows[0]?.[0]
    const saved = await context.catalog.createDatasetMetric(dataset.id, metric)
    return {
      success: true as const,
      dataset_id: dataset.id,
      dataset_name: dataset.table_name,
      metric: { id: saved.id, metric_name: saved.metric_name, expression: saved.expression, verbose_name: saved.verbose_name, d3format: saved.d3format },
      sample_value: typeof sample === 'number' || typeof sample === 'string' ? sample : null
    }
  },
  render: result => `Added metric "${result.metric.metric_name}" = ${result.metric.expression} to dataset ${result.dataset_name} (id ${result.dataset_id}). Over the whole dataset it is ${String(result.sample_value)}.`
})
