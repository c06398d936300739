import type { Client } from '@modelcontextprotocol/client'
import type { Test } from 'tap'
import { connectClient, ERAS, textOf } from './client.ts'
import type { Era } from './client.ts'

/** Every tool of the service, in tools/list order. */
export const TOOL_NAMES = [
  'health_check', 'get_instance_info', 'get_schema', 'find_users', 'list_databases', 'get_database_info', 'list_datasets', 'get_dataset_info',
  'query_dataset', 'create_virtual_dataset', 'create_dataset_metric',
  'list_charts', 'get_chart_info', 'get_chart_data', 'get_chart_preview', 'get_chart_sql', 'get_chart_type_schema',
  'generate_chart', 'update_chart', 'update_chart_preview', 'delete_chart',
  'list_dashboards', 'get_dashboard_info', 'get_dashboard_layout', 'generate_dashboard', 'add_chart_to_existing_dashboard', 'update_dashboard',
  'generate_explore_link', 'execute_sql', 'open_sql_lab_with_context', 'generate_bug_report'
] as const

/** Tools that change something (readOnlyHint false): saved objects, or data through execute_sql. */
export const MUTATING_TOOLS: readonly string[] = [
  'create_virtual_dataset', 'create_dataset_metric', 'generate_chart', 'update_chart', 'update_chart_preview', 'delete_chart',
  'generate_dashboard', 'add_chart_to_existing_dashboard', 'update_dashboard', 'execute_sql', 'generate_explore_link'
]

/** Structured tool results are checked field by field. */
export type Structured = Record<string, any>

export interface ToolCaller {
  era: Era
  client: Client
  /** Call a tool; the result may be an error. */
  call: (name: string, args?: Record<string, unknown>) => ReturnType<Client['callTool']>
  /** A caller that asserts on `t` that the tool succeeded, and returns its structured result. */
  structuredFrom: (t: Test) => (name: string, args?: Record<string, unknown>) => Promise<Structured>
}

/** Run `body` once per protocol era, each with an SDK v2 client connected to `url` over HTTP. */
export async function bothEras (t: Test, url: URL, body: (t: Test, tools: ToolCaller) => Promise<void>): Promise<void> {
  for (const era of ERAS) {
    await t.test(`${era} era`, async t => {
      const client = await connectClient(t, url, era)
      const call = async (name: string, args: Record<string, unknown> = {}) => await client.callTool({ name, arguments: args })
      const structuredFrom = (t: Test) => async (name: string, args: Record<string, unknown> = {}): Promise<Structured> => {
        const result = await call(name, args)
        t.notOk(result.isError, `${name} succeeds: ${textOf(result).slice(0, 200)}`)
        return result.structuredContent as Structured
      }
      await body(t, { era, client, call, structuredFrom })
    })
  }
}
