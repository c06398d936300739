import os from 'node:os'
import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { SERVICE_VERSION } from '../version.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool } from './tool.ts'

const DAY_MS = 86_400_000

export const healthCheck = (): Tool => defineTool({
  name: 'health_check',
  title: 'Health check',
  description: 'Check that the analytics service is up and its metadata catalog answers. Takes no arguments.',
  annotations: READ_ONLY,
  volatile: true,
  input: z.strictObject({}),
  output: z.object({
    status: z.enum(['healthy', 'error']),
    timestamp: z.string(),
    service: z.string(),
    version: z.string(),
    node_version: z.string().nullable().describe('administrators only'),
    platform: z.string().nullable().describe('administrators only'),
    uptime_seconds: z.number(),
    checks: z.object({ catalog: z.enum(['ok', 'error']) })
  }),
  run: async (_args, context) => {
    let catalog: 'ok' | 'error' = 'ok'
    try {
      await context.catalog.ping()
    } catch (err) {
      context.log.warn({ err }, 'health_check: catalog ping failed')
      catalog = 'error'
    }
    // Runtime and kernel versions tell an attacker which exploits to try: administrators only.
    const admin = context.principal.access.superuser
    return {
      status: catalog === 'ok' ? 'healthy' as const : 'error' as const,
      timestamp: new Date().toISOString(),
      service: `${context.config.MCP_APP_NAME} MCP Service`,
      version: SERVICE_VERSION,
      node_version: admin ? process.version : null,
      platform: admin ? `${os.type()} ${os.release()} ${process.arch}` : null,
      uptime_seconds: Math.round(process.uptime()),
      checks: { catalog }
    }
  },
  render: health => `${health.service} ${health.version}: ${health.status} (catalog ${health.checks.catalog}, up ${health.uptime_seconds} s).`
})

export const getInstanceInfo = (): Tool => defineTool({
  name: 'get_instance_info',
  title: 'Instance overview',
  description: 'Overview of this analytics instance as you can see it: how many dashboards, charts, datasets and databases you can access, recent activity, who you are (user, roles, scopes) and which tools you may use. A good first call.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  input: z.strictObject({}),
  output: z.object({
    instance_summary: z.object({
      total_dashboards: z.int(),
      total_charts: z.int(),
      total_datasets: z.int(),
      total_databases: z.int(),
      total_users: z.int().nullable().describe('administrators only'),
      total_roles: z.int().nullable().describe('administrators only'),
      avg_charts_per_dashboard: z.number()
    }),
    recent_activity: z.object({
      dashboards_created_last_30_days: z.int(),
      charts_created_last_30_days: z.int(),
      datasets_created_last_30_days: z.int(),
      dashboards_modified_last_7_days: z.int(),
      charts_modified_last_7_days: z.int(),
      datasets_modified_last_7_days: z.int()
    }),
    dashboard_breakdown: z.object({
      published: z.int(),
      unpublished: z.int(),
      certified: z.int(),
      with_charts: z.int(),
      without_charts: z.int()
    }),
    database_breakdown: z.object({ by_type: z.record(z.string(), z.int()) }),
    popular_content: z.object({ top_creators: z.array(z.object({ username: z.string(), objects: z.int() })) }),
    current_user: z.object({
      id: z.int(),
      username: z.string(),
      first_name: z.string(),
      last_name: z.string(),
      email: z.string().nullable(),
      active: z.boolean(),
      roles: z.array(z.string()),
      auth_method: z.string(),
      scopes: z.array(z.string()).nullable().describe('null when the credential is not scope-limited')
    }),
    feature_availability: z.object({ available_tools: z.array(z.string()) }),
    timestamp: z.string()
  }),
  run: async (_args, context) => {
    const now = Date.now()
    const { user, access } = context.principal
    const stats = await context.catalog.instanceStats(new Date(now - 30 * DAY_MS).toISOString(), new Date(now - 7 * DAY_MS).toISOString(), {
      superuser: access.superuser,
      dashboards: access.dashboards(),
      charts: access.charts(),
      datasets: access.datasets(),
      databases: access.databases()
    })
    const dashboards = stats.totals.dashboards
    return {
      instance_summary: {
        total_dashboards: dashboards,
        total_charts: stats.totals.charts,
        total_datasets: stats.totals.datasets,
        total_databases: stats.totals.databases,
        total_users: stats.totals.users,
        total_roles: stats.totals.roles,
        avg_charts_per_dashboard: dashboards === 0 ? 0 : Math.round(stats.totals.dashboardChartLinks / dashboards * 10) / 10
      },
      recent_activity: {
        dashboards_created_last_30_days: stats.recent.dashboardsCreated30d,
        charts_created_last_30_days: stats.recent.chartsCreated30d,
        datasets_created_last_30_days: stats.recent.datasetsCreated30d,
        dashboards_modified_last_7_days: stats.recent.dashboardsModified7d,
        charts_modified_last_7_days: stats.recent.chartsModified7d,
        datasets_modified_last_7_days: stats.recent.datasetsModified7d
      },
      dashboard_breakdown: {
        published: stats.dashboards.published,
        unpublished: stats.dashboards.unpublished,
        certified: stats.dashboards.certified,
        with_charts: stats.dashboards.withCharts,
        without_charts: dashboards - stats.dashboards.withCharts
      },
      database_breakdown: { by_type: stats.databasesByBackend },
      popular_content: { top_creators: stats.topCreators },
      current_user: {
        id: user.id,
        username: user.username,
        first_name: user.first_name,
        last_name: user.last_name,
        email: user.email,
        active: user.active,
        roles: user.roles,
        auth_method: context.principal.authMethod,
        scopes: context.principal.scopes === undefined ? null : [...context.principal.scopes]
      },
      feature_availability: { available_tools: [...context.availableTools] },
      timestamp: new Date(now).toISOString()
    }
  },
  render: info => [
    `You are ${info.current_user.username} (roles: ${info.current_user.roles.join(', ') || 'none'}).`,
    `You can see ${info.instance_summary.total_dashboards} dashboards, ${info.instance_summary.total_charts} charts, ${info.instance_summary.total_datasets} datasets and ${info.instance_summary.total_databases} databases.`,
    `Tools available to you: ${info.feature_availability.available_tools.join(', ')}.`
  ].join('\n')
})
