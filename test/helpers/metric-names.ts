import type { Test } from 'tap'
import { startTestServer } from './app.ts'
import { post, toolCall } from './rpc.ts'

/** Suffixes Prometheus adds to the samples of a histogram or summary. */
const SAMPLE_SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count']
}

/**
 * Every metric name in a Prometheus text exposition: each declared name (`# TYPE`), the sample
 * names of histograms and summaries (`x_bucket`, `x_sum`, `x_count`), and the name of every sample line.
 */
export function exposedMetricNames (text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const declared = /^# TYPE (\S+) (\S+)/.exec(line)
    if (declared !== null) {
      const [, name = '', type = ''] = declared
      names.add(name)
      for (const suffix of SAMPLE_SUFFIXES[type] ?? []) names.add(`${name}${suffix}`)
      continue
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line)
    if (sample?.[1] !== undefined) names.add(sample[1])
  }
  return names
}

/**
 * The metric names the service serves after representative traffic: a dev-mode server with the
 * response cache on; health_check, list_dashboards twice (a miss, then a hit), execute_sql on
 * `examples`, an unknown tool, an unknown route. Used to check dashboards and alert rules
 * against what really exists.
 */
export async function servedMetricNames (t: Test): Promise<Set<string>> {
  const server = await startTestServer(t, { MCP_CACHE_CONFIG: { enabled: true } })
  const calls = [
    toolCall('health_check', {}, 1),
    toolCall('list_dashboards', {}, 2),
    toolCall('list_dashboards', {}, 3),
    toolCall('execute_sql', { database_id: 'examples', sql: 'SELECT 1' }, 4),
    toolCall('no_such_tool', {}, 5)
  ]
  for (const body of calls) {
    const response = await post(server.url, body)
    if (response.status !== 200) throw new Error(`tools/call answered ${response.status}: ${response.text}`)
  }
  await fetch(new URL('/no-such-route', server.origin))
  const response = await fetch(new URL('/metrics', server.origin))
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`)
  return exposedMetricNames(await response.text())
}

/** The value of the first sample of `name` carrying all of `labels`, in a Prometheus text exposition. */
export function metricValue (text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (wanted.every(label => line.includes(label))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}
