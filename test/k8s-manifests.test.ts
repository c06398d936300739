import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { K8sObject } from './helpers/helm.ts'
import { CHART_DIR, K8S_DIR, helmTemplate, kustomize, objectsOf, onlyOf, invalidObjects } from './helpers/helm.ts'

// The plain manifests in k8s/ against the chart they mirror: k8s/overlays/dev against values-dev.yaml,
// k8s/overlays/production (plus its migrate kustomization) against values-production.yaml with the
// Prometheus Operator's API. Labels, the image and the names kustomize generates differ on purpose;
// what a pod runs with, what is exposed and what is allowed must not.

const MONITORING = 'monitoring.coreos.com/v1'
/** kustomize's configMapGenerator suffix: a dash and ten characters of hash. */
const HASH_SUFFIX = /-[a-z0-9]{10}$/

interface EnvVar {
  name: string
  value?: string
  valueFrom?: unknown
}
interface Container {
  name: string
  image?: string
  env?: EnvVar[]
  envFrom?: Array<{ configMapRef?: { name: string }, secretRef?: { name: string } }>
  [key: string]: unknown
}
interface PodSpec {
  containers: Container[]
  [key: string]: unknown
}
interface Workload extends K8sObject {
  spec: { template: { metadata: { labels: Record<string, string> }, spec: PodSpec }, [key: string]: unknown }
}
interface ConfigMapObject extends K8sObject {
  data: Record<string, string>
}

interface Pair {
  overlay: string
  values: string
  apiVersions: string[]
  /** Further kustomizations under the overlay that replace the chart's hooks. */
  extra: string[]
}

const pairs: Pair[] = [
  { overlay: 'dev', values: 'values-dev.yaml', apiVersions: [], extra: [] },
  { overlay: 'production', values: 'values-production.yaml', apiVersions: [MONITORING], extra: ['migrate'] }
]

function isTestHook (obj: K8sObject): boolean {
  return obj.metadata.annotations?.['helm.sh/hook'] === 'test'
}

/** The chart's objects a user applies: no Secret (the manifests reference Secrets the user creates) and no `helm test` pod. */
async function chartObjects (pair: Pair): Promise<K8sObject[]> {
  const objects = await helmTemplate({ values: [join(CHART_DIR, pair.values)], apiVersions: pair.apiVersions })
  return objects.filter((o) => o.kind !== 'Secret' && !isTestHook(o))
}

async function manifestObjects (pair: Pair): Promise<K8sObject[]> {
  const dir = join(K8S_DIR, 'overlays', pair.overlay)
  const objects = await kustomize(dir)
  for (const sub of pair.extra) objects.push(...await kustomize(join(dir, sub)))
  return objects
}

/** A ConfigMap's name without the generator's hash suffix (the dashboard's has none). */
function baseName (obj: K8sObject): string {
  return obj.kind === 'ConfigMap' ? obj.metadata.name.replace(HASH_SUFFIX, '') : obj.metadata.name
}

/** kind/name of every object, sorted; the migrate build repeats the settings ConfigMap, counted once. */
function inventory (objects: K8sObject[]): string[] {
  return [...new Set(objects.map((o) => `${o.kind}/${baseName(o)}`))].sort()
}

/** The environment a container starts with: the ConfigMaps it loads with envFrom, then its env. */
function effectiveEnv (container: Container, objects: K8sObject[]): Record<string, unknown> {
  const env: Record<string, unknown> = {}
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name
    if (name === undefined) throw new Error(`${container.name}: envFrom other than a ConfigMap: ${JSON.stringify(source)}`)
    const [configMap] = objectsOf(objects, 'ConfigMap', name) as ConfigMapObject[]
    if (configMap === undefined) throw new Error(`${container.name}: envFrom names the ConfigMap ${name}, which is not rendered`)
    Object.assign(env, configMap.data)
  }
  for (const variable of container.env ?? []) env[variable.name] = variable.value ?? variable.valueFrom
  return env
}

/** A pod spec without what legitimately differs: the image and how the settings reach the container. */
function comparablePodSpec (spec: PodSpec): PodSpec {
  const copy = structuredClone(spec)
  for (const container of copy.containers) {
    delete container.image
    delete container.env
    delete container.envFrom
  }
  return copy
}

function workload (objects: K8sObject[], kind: string, name: string): Workload {
  const [found] = objectsOf(objects, kind, name)
  if (found === undefined) throw new Error(`no ${kind} ${name}`)
  return found as Workload
}

function specOf (objects: K8sObject[], kind: string): unknown {
  return (onlyOf(objects, kind) as K8sObject & { spec: unknown }).spec
}

for (const pair of pairs) {
  const dir = join(K8S_DIR, 'overlays', pair.overlay)
  const skip = existsSync(join(dir, 'kustomization.yaml')) ? false : `k8s/overlays/${pair.overlay} does not exist yet`

  t.test(`k8s/overlays/${pair.overlay} renders the objects of the chart with ${pair.values}`, { skip }, async (t) => {
    const [chart, manifests] = await Promise.all([chartObjects(pair), manifestObjects(pair)])
    t.same(inventory(manifests), inventory(chart), 'the same kinds and names (Secrets and the helm test pod aside)')
    t.same([...new Set(manifests.map((o) => o.kind))].sort(), [...new Set(chart.map((o) => o.kind))].sort(), 'the same set of kinds')
    t.ok(manifests.every((o) => o.metadata.namespace === 'analytics'), 'every object is in the namespace analytics, as the chart rendered with -n analytics')
    t.same(invalidObjects(manifests), [], 'every object, the migrate kustomization\'s included, validates')
  })

  t.test(`k8s/overlays/${pair.overlay}: the Deployment runs what the chart's runs`, { skip }, async (t) => {
    const [chart, manifests] = await Promise.all([chartObjects(pair), manifestObjects(pair)])
    const expected = workload(chart, 'Deployment', 'analytics-mcp')
    const actual = workload(manifests, 'Deployment', 'analytics-mcp')
    const expectedContainer = expected.spec.template.spec.containers[0]
    const actualContainer = actual.spec.template.spec.containers[0]
    if (expectedContainer === undefined || actualContainer === undefined) throw new Error('a Deployment without a container')

    t.same(comparablePodSpec(actual.spec.template.spec), comparablePodSpec(expected.spec.template.spec),
      'pod spec: container (ports, probes, securityContext, resources, lifecycle, mounts), volumes, pod securityContext, grace period, spread')
    t.same(effectiveEnv(actualContainer, manifests), effectiveEnv(expectedContainer, chart), 'the same environment: every key and value, ConfigMap and Secret references')
    t.equal(actualContainer.image?.split(':').at(-1), expectedContainer.image?.split(':').at(-1), 'the same image tag')
    const { template: actualTemplate, ...actualRest } = actual.spec
    const { template: expectedTemplate, ...expectedRest } = expected.spec
    t.same(actualRest, expectedRest, 'replicas, strategy, selector and revision history')
    for (const [key, value] of Object.entries(expectedTemplate.metadata.labels)) {
      if (key.startsWith('app.kubernetes.io/') && key !== 'app.kubernetes.io/managed-by' && key !== 'app.kubernetes.io/version') {
        t.equal(actualTemplate.metadata.labels[key], value, `pod label ${key}`)
      }
    }
    const envFrom = actualContainer.envFrom?.[0]?.configMapRef?.name ?? ''
    t.match(envFrom, HASH_SUFFIX, 'the settings ConfigMap carries the generator hash, so a change of a setting rolls the pods')
    t.same(specOf(manifests, 'Service'), specOf(chart, 'Service'), 'the Service: ports and selector')
    t.same(onlyOf(manifests, 'ServiceAccount').automountServiceAccountToken, false, 'the ServiceAccount mounts no token')
  })
}

const production = pairs[1] as Pair
const productionSkip = existsSync(join(K8S_DIR, 'overlays', 'production', 'migrate', 'kustomization.yaml')) ? false : 'k8s/overlays/production/migrate does not exist yet'

t.test('k8s/overlays/production: the optional objects equal the chart\'s', { skip: productionSkip }, async (t) => {
  const [chart, manifests] = await Promise.all([chartObjects(production), manifestObjects(production)])
  for (const kind of ['NetworkPolicy', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ServiceMonitor', 'PrometheusRule', 'Ingress']) {
    t.same(specOf(manifests, kind), specOf(chart, kind), `${kind}: the same spec`)
  }
  t.same(onlyOf(manifests, 'Ingress').metadata.annotations, onlyOf(chart, 'Ingress').metadata.annotations, 'Ingress: the same annotations (streaming, timeouts, body size, issuer)')
  for (const kind of ['ServiceMonitor', 'PrometheusRule']) {
    t.equal(onlyOf(manifests, kind).metadata.labels?.release, onlyOf(chart, kind).metadata.labels?.release, `${kind}: the release label Prometheus selects`)
  }

  const [expectedBoard] = objectsOf(chart, 'ConfigMap', 'analytics-mcp-dashboard') as ConfigMapObject[]
  const [actualBoard] = objectsOf(manifests, 'ConfigMap', 'analytics-mcp-dashboard') as ConfigMapObject[]
  if (expectedBoard === undefined || actualBoard === undefined) throw new Error('no dashboard ConfigMap')
  t.same(Object.keys(actualBoard.data), Object.keys(expectedBoard.data), 'dashboard: the same file name')
  t.same(JSON.parse(actualBoard.data['analytics-mcp.json'] ?? ''), JSON.parse(expectedBoard.data['analytics-mcp.json'] ?? ''), 'dashboard: the same JSON')
  t.equal(actualBoard.metadata.labels?.grafana_dashboard, '1', 'dashboard: the Grafana sidecar label')
  t.same(actualBoard.metadata.annotations, expectedBoard.metadata.annotations, 'dashboard: the folder annotation')
  t.equal(readFileSync(join(K8S_DIR, 'overlays', 'production', 'dashboards', 'analytics-mcp.json'), 'utf8'),
    readFileSync(join(CHART_DIR, 'dashboards', 'analytics-mcp.json'), 'utf8'), 'the dashboard copy in k8s/ is the chart\'s file, byte for byte')
})

t.test('k8s/overlays/production/migrate: the Job the chart runs as a hook, on the Deployment\'s settings', { skip: productionSkip }, async (t) => {
  const [chart, overlay, migrate] = await Promise.all([
    chartObjects(production),
    kustomize(join(K8S_DIR, 'overlays', 'production')),
    kustomize(join(K8S_DIR, 'overlays', 'production', 'migrate'))
  ])
  const expected = workload(chart, 'Job', 'analytics-mcp-migrations')
  const actual = workload(migrate, 'Job', 'analytics-mcp-migrations')
  const expectedContainer = expected.spec.template.spec.containers[0]
  const actualContainer = actual.spec.template.spec.containers[0]
  if (expectedContainer === undefined || actualContainer === undefined) throw new Error('a Job without a container')

  t.same(comparablePodSpec(actual.spec.template.spec), comparablePodSpec(expected.spec.template.spec), 'the same pod spec (command, securityContext, resources, volumes)')
  t.same(effectiveEnv(actualContainer, migrate), effectiveEnv(expectedContainer, chart), 'the same environment as the chart\'s Job')
  const { template: actualTemplate, ...actualRest } = actual.spec
  const { template: expectedTemplate, ...expectedRest } = expected.spec
  t.same(actualRest, expectedRest, 'backoff, deadline and TTL')
  t.same(actualTemplate.metadata.labels, expectedTemplate.metadata.labels, 'pod labels (not selected by the Service or the NetworkPolicy)')

  const deployment = workload(overlay, 'Deployment', 'analytics-mcp').spec.template.spec.containers[0]
  if (deployment === undefined) throw new Error('a Deployment without a container')
  t.equal(actualContainer.image, deployment.image, 'the Job runs the Deployment\'s image')
  t.equal(actualContainer.envFrom?.[0]?.configMapRef?.name, deployment.envFrom?.[0]?.configMapRef?.name,
    'the Job loads the Deployment\'s ConfigMap, hash included: migrate and the overlay build the same settings')
  t.same(effectiveEnv(actualContainer, migrate), effectiveEnv(deployment, overlay), 'and so the same environment')
})
