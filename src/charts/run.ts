import type { Catalog } from '../catalog/catalog.ts'
import type { DatabaseRecord, DatasetRecord } from '../catalog/records.ts'
import type { Config } from '../config.ts'
import type { EngineRegistry } from '../engines/engines.ts'
import { ToolError } from '../errors.ts'
import { dialectFor } from '../query/dialect.ts'
import { compileQuery } from '../query/semantic.ts'
import type { CompiledQuery, DatasetModel, ResultField, SemanticQuery } from '../query/semantic.ts'
import type { ChartConfig } from './config.ts'
import { planChart } from './plan.ts'
import type { ResultRow } from './plan.ts'
import type { ChartView } from './view.ts'

/** What running a query or a chart needs from the service. */
export interface QueryContext {
  catalog: Catalog
  engines: EngineRegistry
  config: Config
  signal: AbortSignal
}

export interface QueryOutcome {
  compiled: CompiledQuery
  database: DatabaseRecord
  fields: ResultField[]
  rows: ResultRow[]
  /** More rows existed than row_limit (or the size budget) allowed. */
  truncated: boolean
  executionMs: number
}

export interface ChartOutcome extends QueryOutcome {
  view: ChartView
}

/** The dataset with its columns and saved metrics, as the compiler needs it. */
export async function datasetModel (catalog: Catalog, dataset: DatasetRecord): Promise<DatasetModel> {
  const columns = await catalog.datasetColumns(dataset.id)
  const metrics = await catalog.datasetMetrics(dataset.id)
  return { dataset, columns, metrics }
}

/**
 * The SQL a query runs, as get_chart_sql shows it: its LIMIT is one more than row_limit, so
 * that the extra row (never returned) tells whether more rows exist.
 */
export async function compileFor (catalog: Catalog, dataset: DatasetRecord, query: SemanticQuery): Promise<CompiledQuery> {
  return compileQuery({ ...query, rowLimit: query.rowLimit + 1 }, await datasetModel(catalog, dataset), dialectFor(dataset.backend))
}

/** Run a semantic query on its dataset's database, read-only, with the service's SQL timeout and size budget. */
export async function runQuery (context: QueryContext, dataset: DatasetRecord, query: SemanticQuery): Promise<QueryOutcome> {
  const compiled = await compileFor(context.catalog, dataset, query)
  const database = await context.catalog.findDatabase(dataset.database_id)
  if (database === undefined) throw new ToolError('database_unavailable', `The database of dataset ${dataset.table_name} is gone.`)
  const result = await context.engines.execute({ ...database, allow_dml: false }, {
    sql: compiled.sql,
    params: compiled.params,
    maxRows: query.rowLimit,
    maxBytes: context.config.MCP_SQL_MAX_RESULT_BYTES,
    timeoutMs: context.config.MCP_SQL_DEFAULT_TIMEOUT * 1000,
    dryRun: false,
    signal: context.signal
  }).catch((err: unknown) => {
    // Generated SQL failing is the dataset's problem (a broken saved metric or virtual SQL), not the caller's SQL.
    if (err instanceof ToolError && err.errorType === 'sql_error') {
      throw new ToolError('sql_error', `The query for dataset ${dataset.table_name} failed: ${err.message}`, 'Check the dataset\'s saved metrics and SQL with get_dataset_info, or use other columns or metrics.')
    }
    throw err
  })
  const rows = result.rows.map(row => Object.fromEntries(compiled.fields.map((field, index) => [field.name, (row[index] ?? null) as ResultRow[string]])))
  return { compiled, database, fields: compiled.fields, rows, truncated: result.truncated, executionMs: result.executionMs }
}

/** Run a chart config on its dataset: its data (binned for histograms) and its view. */
export async function runChart (context: QueryContext, dataset: DatasetRecord, config: ChartConfig, title: string): Promise<ChartOutcome> {
  const plan = planChart(config, await datasetModel(context.catalog, dataset))
  const outcome = await runQuery(context, dataset, plan.query)
  const data = plan.data(outcome.rows, outcome.fields)
  return { ...outcome, fields: data.fields, rows: data.rows, view: plan.view(data, title) }
}

/** The SQL a chart config runs, without running it. */
export async function chartSql (catalog: Catalog, dataset: DatasetRecord, config: ChartConfig): Promise<CompiledQuery> {
  return await compileFor(catalog, dataset, planChart(config, await datasetModel(catalog, dataset)).query)
}
