import type { Config } from '../config.ts'
import { generateBugReport } from './bug-report.ts'
import { deleteChart, generateChart, getChartTypeSchema, updateChart, updateChartPreview } from './chart-build.ts'
import { getChartData, getChartPreview, getChartSql } from './chart-data.ts'
import { getChartInfo, listCharts } from './charts.ts'
import { addChartToExistingDashboard, generateDashboard, getDashboardLayout, updateDashboard } from './dashboard-build.ts'
import { getDashboardInfo, listDashboards } from './dashboards.ts'
import { getDatabaseInfo, listDatabases } from './databases.ts'
import { createDatasetMetric, createVirtualDataset } from './dataset-build.ts'
import { getDatasetInfo, listDatasets } from './datasets.ts'
import { executeSql } from './execute-sql.ts'
import { getSchema } from './get-schema.ts'
import { generateExploreLink, openSqlLabWithContext } from './links.ts'
import { queryDataset } from './query-dataset.ts'
import { getInstanceInfo, healthCheck } from './system.ts'
import type { Tool, ToolFactory } from './tool.ts'
import { findUsers } from './users.ts'

/** Every tool of the service, in the order tools/list shows them. */
export const TOOL_FACTORIES: readonly ToolFactory[] = [
  healthCheck,
  getInstanceInfo,
  getSchema,
  findUsers,
  listDatabases,
  getDatabaseInfo,
  listDatasets,
  getDatasetInfo,
  queryDataset,
  createVirtualDataset,
  createDatasetMetric,
  listCharts,
  getChartInfo,
  getChartData,
  getChartPreview,
  getChartSql,
  getChartTypeSchema,
  generateChart,
  updateChart,
  updateChartPreview,
  deleteChart,
  listDashboards,
  getDashboardInfo,
  getDashboardLayout,
  generateDashboard,
  addChartToExistingDashboard,
  updateDashboard,
  generateExploreLink,
  executeSql,
  openSqlLabWithContext,
  generateBugReport
]

/** Every tool of this release, MCP_DISABLED_TOOLS included. */
export function buildAllTools (config: Config): Tool[] {
  return TOOL_FACTORIES.map(factory => factory(config))
}

/** The tools this replica serves: every tool but those MCP_DISABLED_TOOLS names. */
export function buildTools (config: Config): Tool[] {
  const disabled = new Set(config.MCP_DISABLED_TOOLS)
  return buildAllTools(config).filter(tool => !disabled.has(tool.name))
}
