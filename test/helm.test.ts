import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { parse } from 'yaml'
import type { HelmTemplateOptions, K8sObject } from './helpers/helm.ts'
import { CHART_DIR, K8S_DIR, helmLint, helmTemplate, helmTemplateRaw, invalidObjects, kustomize, objectsOf } from './helpers/helm.ts'

// The chart and the plain manifests, checked without a cluster: helm lint --strict, every object
// that helm template and kubectl kustomize render validated against its schema (Kubernetes,
// Prometheus Operator, Gateway API), the Capabilities guards, and values.schema.json refusing bad values.

const MONITORING = 'monitoring.coreos.com/v1'
const GATEWAY = 'gateway.networking.k8s.io/v1'

const chartMissing = existsSync(join(CHART_DIR, 'Chart.yaml')) && existsSync(join(CHART_DIR, 'templates'))
  ? false
  : 'helm/analytics-mcp does not exist yet'

/** '' (the chart's defaults) and each values-*.yaml of the chart. */
const valuesFiles: string[] = chartMissing === false
  ? ['', ...readdirSync(CHART_DIR).filter((f) => /^values-.+\.ya?ml$/.test(f)).sort()]
  : []

function describe (file: string): string {
  return file === '' ? 'default values' : file
}

function optionsFor (file: string, extra: HelmTemplateOptions = {}): HelmTemplateOptions {
  return { ...extra, values: file === '' ? [] : [join(CHART_DIR, file)] }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function merge (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const current = out[key]
    out[key] = isObject(current) && isObject(value) ? merge(current, value) : value
  }
  return out
}

/** The values helm computes from values.yaml and one values file (maps merge, the rest replaces). */
function mergedValues (file: string): Record<string, unknown> {
  const defaults = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>
  return file === '' ? defaults : merge(defaults, (parse(readFileSync(join(CHART_DIR, file), 'utf8')) ?? {}) as Record<string, unknown>)
}

function enabled (values: Record<string, unknown>, key: string): boolean {
  const section = values[key]
  return isObject(section) && section.enabled === true
}

function validateAll (t: Test, objects: K8sObject[], what: string): void {
  t.ok(objects.length > 0, `${what}: renders objects`)
  t.same(invalidObjects(objects), [], `${what}: every object (${objects.map((o) => o.kind).join(', ')}) validates`)
}

t.test('helm lint --strict passes with the default values and with each values file', { skip: chartMissing }, async (t) => {
  t.ok(valuesFiles.includes('values-dev.yaml'), 'the chart ships values-dev.yaml')
  t.ok(valuesFiles.includes('values-production.yaml'), 'the chart ships values-production.yaml')
  for (const file of valuesFiles) {
    const args = ['--strict', CHART_DIR, ...(file === '' ? [] : ['-f', join(CHART_DIR, file)])]
    const result = await helmLint(args)
    t.equal(result.code, 0, `helm lint --strict with ${describe(file)}: ${result.code === 0 ? 'ok' : result.stdout + result.stderr}`)
  }
})

t.test('every rendered object validates, with and without the monitoring and Gateway APIs', { skip: chartMissing }, async (t) => {
  for (const file of valuesFiles) {
    const values = mergedValues(file)
    const apiSets: string[][] = [[], [MONITORING]]
    if (enabled(values, 'httpRoute')) apiSets.push([MONITORING, GATEWAY])
    for (const apiVersions of apiSets) {
      const what = `${describe(file)} with APIs [${apiVersions.join(', ')}]`
      const objects = await helmTemplate(optionsFor(file, { apiVersions }))
      validateAll(t, objects, what)
      const monitoring = apiVersions.includes(MONITORING)
      t.equal(objectsOf(objects, 'ServiceMonitor').length, monitoring && enabled(values, 'serviceMonitor') ? 1 : 0, `${what}: ServiceMonitor only when enabled and the API is served`)
      t.equal(objectsOf(objects, 'PrometheusRule').length, monitoring && enabled(values, 'prometheusRule') ? 1 : 0, `${what}: PrometheusRule only when enabled and the API is served`)
      t.equal(objectsOf(objects, 'HTTPRoute').length, apiVersions.includes(GATEWAY) && enabled(values, 'httpRoute') ? 1 : 0, `${what}: HTTPRoute only when enabled and the API is served`)
      t.equal(objectsOf(objects, 'Deployment').length, 1, `${what}: one Deployment`)
    }
  }
})

t.test('every optional object validates when switched on', { skip: chartMissing }, async (t) => {
  // everything the chart can render at once, on a PostgreSQL catalog with auth on
  const valuesObject = {
    replicaCount: 2,
    serviceUrl: 'https://mcp.example.com',
    catalog: { url: 'postgresql://mcp@pg.example:5432/mcp?sslmode=verify-full', existingSecret: { name: 'catalog-db', key: 'password' } },
    redis: { url: 'rediss://redis.example:6380/0' },
    auth: { enabled: true, jwt: { jwksUri: 'https://idp.example/jwks', issuer: 'https://idp.example/', audience: ['https://mcp.example.com/mcp'] }, apiKeys: { enabled: true } },
    databases: [{ name: 'warehouse', uri: 'postgresql://reader@wh.example/analytics', existingSecret: { name: 'wh-db', key: 'password' } }],
    ingress: { enabled: true, className: 'nginx', preset: 'nginx', hosts: ['mcp.example.com'], tls: [{ secretName: 'mcp-tls', hosts: ['mcp.example.com'] }] },
    httpRoute: { enabled: true, parentRefs: [{ name: 'public', namespace: 'gateway' }], hostnames: ['mcp.example.com'] },
    autoscaling: { enabled: true, toolCallsInFlight: { enabled: true } },
    networkPolicy: { enabled: true },
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true },
    grafanaDashboard: { enabled: true },
    migrations: { enabled: true },
    tests: { probe: { tokenSecret: { name: 'probe-token' } } }
  }
  const objects = await helmTemplate({ valuesObject, apiVersions: [MONITORING, GATEWAY] })
  validateAll(t, objects, 'everything on')
  const kinds = new Set(objects.map((o) => o.kind))
  for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'ConfigMap', 'Ingress', 'HTTPRoute', 'HorizontalPodAutoscaler',
    'PodDisruptionBudget', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule', 'Job', 'Pod']) {
    t.ok(kinds.has(kind), `renders a ${kind}`)
  }
  const guarded = await helmTemplate({ valuesObject })
  t.same(objectsOf(guarded, 'ServiceMonitor').concat(objectsOf(guarded, 'PrometheusRule'), objectsOf(guarded, 'HTTPRoute')), [],
    'without the monitoring and Gateway APIs, no ServiceMonitor, PrometheusRule or HTTPRoute is rendered')
  validateAll(t, guarded, 'everything on, no optional APIs')
})

t.test('values.schema.json refuses a wrong type or an unknown key, naming it', { skip: chartMissing }, async (t) => {
  t.ok(existsSync(join(CHART_DIR, 'values.schema.json')), 'the chart has values.schema.json')
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a string for an integer', { replicaCount: 'three' }, 'replicaCount'],
    ['an unknown top-level key', { replicaCont: 2 }, 'replicaCont'],
    ['an unknown nested key', { auth: { jwt: { jwksUrl: 'https://idp.example/jwks' } } }, 'jwksUrl'],
    ['a boolean as a string', { networkPolicy: { enabled: 'true' } }, 'enabled'],
    ['an unknown ingress preset', { ingress: { preset: 'apache' } }, 'preset']
  ]
  for (const [what, valuesObject, key] of cases) {
    const result = await helmTemplateRaw({ valuesObject })
    t.not(result.code, 0, `${what} is refused`)
    t.match(result.stderr, key, `the message names ${key}: ${result.stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
  }
})

const overlays = ['dev', 'production']
for (const overlay of overlays) {
  const dir = join(K8S_DIR, 'overlays', overlay)
  const skip = existsSync(join(dir, 'kustomization.yaml')) ? false : `k8s/overlays/${overlay} does not exist yet`
  t.test(`kubectl kustomize k8s/overlays/${overlay}: every object validates`, { skip }, async (t) => {
    const objects = await kustomize(dir)
    validateAll(t, objects, `k8s/overlays/${overlay}`)
    t.equal(objectsOf(objects, 'Deployment').length, 1, 'one Deployment')
  })
}
