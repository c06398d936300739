import path from 'node:path'
import t from 'tap'
import { CHART_DIR, helmTemplate, objectsOf } from './helpers/helm.ts'
import { servedMetricNames } from './helpers/metric-names.ts'

// Every metric the chart's alerts and Grafana dashboard query must be one a running server
// exposes (after real calls), or one of the few that come from elsewhere, named here with why.

/** Metrics that are not the service's: scraped from kube-state-metrics, or made by Prometheus itself. */
const EXTERNAL = new Map<RegExp, string>([
  [/^kube_/, 'kube-state-metrics'],
  [/^up$/, 'Prometheus (one per scrape target)']
])

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan'])

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or strings. */
function metricsIn (expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?[A-Za-z_]\w*\}?/g, ' ') // Grafana variables
  const names: string[] = []
  for (const match of stripped.matchAll(/(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, name = '', call] = match
    if (call !== undefined || PROMQL_WORDS.has(name.toLowerCase())) continue
    names.push(name)
  }
  return names
}

function exprsOf (value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) exprsOf(item, found)
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'expr' && typeof inner === 'string') found.push(inner)
      else exprsOf(inner, found)
    }
  }
  return found
}

t.test('the PromQL reader finds metric names, not functions, labels or strings', async t => {
  t.same(metricsIn('sum by (tool) (rate(mcp_tool_calls_total{outcome="error", tool=~"a|b"}[5m])) / sum(rate(mcp_tool_calls_total[5m])) > 0.05'), ['mcp_tool_calls_total', 'mcp_tool_calls_total'])
  t.same(metricsIn('histogram_quantile(0.99, sum(rate(mcp_tool_call_duration_seconds_bucket{namespace="$namespace"}[$__rate_interval])) by (le, tool))'), ['mcp_tool_call_duration_seconds_bucket'])
  t.same(metricsIn('max(mcp_redis_up) == 0 and on(namespace) kube_deployment_spec_replicas > 1e3'), ['mcp_redis_up', 'kube_deployment_spec_replicas'])
})

t.test('every metric of the alerts and the dashboard is served', async t => {
  const objects = await helmTemplate({ values: [path.join(CHART_DIR, 'values-production.yaml')], apiVersions: ['monitoring.coreos.com/v1'] })
  const rules = objectsOf(objects, 'PrometheusRule')
  t.equal(rules.length, 1, 'the production values render a PrometheusRule')
  const dashboards = objectsOf(objects, 'ConfigMap').filter(map => map.metadata.labels?.grafana_dashboard === '1')
  t.equal(dashboards.length, 1, 'and a dashboard ConfigMap for the Grafana sidecar')
  const dashboard = JSON.parse(Object.values((dashboards[0]?.data ?? {}) as Record<string, string>)[0] ?? '{}') as unknown

  const alertExprs = exprsOf(rules[0]?.spec)
  const panelExprs = exprsOf(dashboard)
  t.ok(alertExprs.length >= 8, `${alertExprs.length} alert expressions`)
  t.ok(panelExprs.length >= 8, `${panelExprs.length} dashboard queries`)

  const served = await servedMetricNames(t)
  const queried = new Set([...alertExprs, ...panelExprs].flatMap(metricsIn))
  t.ok(queried.size >= 10, `${queried.size} distinct metrics queried`)
  for (const name of [...queried].sort()) {
    const external = [...EXTERNAL].find(([pattern]) => pattern.test(name))
    if (external !== undefined) t.pass(`${name}: from ${external[1]}`)
    else t.ok(served.has(name), `${name} is in /metrics of a running server`)
  }
})
