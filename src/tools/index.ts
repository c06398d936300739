import type { Config } from '../config.ts'
import { getChartInfo, listCharts } from './charts.ts'
import { getDashboardInfo, listDashboards } from './dashboards.ts'
import { getDatabaseInfo, listDatabases } from './databases.ts'
import { getDatasetInfo, listDatasets } from './datasets.ts'
import { executeSql } from './execute-sql.ts'
import { getInstanceInfo, healthCheck } from './system.ts'
import type { Tool, ToolFactory } from './tool.ts'

/** Every tool of the service, in the order tools/list shows them. */
export const TOOL_FACTORIES: readonly ToolFactory[] = [
  healthCheck,
  getInstanceInfo,
  listDatabases,
  getDatabaseInfo,
  listDatasets,
  getDatasetInfo,
  listCharts,
  getChartInfo,
  listDashboards,
  getDashboardInfo,
  executeSql
]

export function buildTools (config: Config): Tool[] {
  return TOOL_FACTORIES.map(factory => factory(config))
}
