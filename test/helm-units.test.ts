import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import type { IIoK8sApiCoreV1Container } from 'kubernetes-models/v1/Container'
import type { IIoK8sApiCoreV1PodSpec } from 'kubernetes-models/v1/PodSpec'
import type { HelmTemplateOptions, K8sObject } from './helpers/helm.ts'
import { DOCKERFILE, dockerfileFacts } from './helpers/dockerfile.ts'
import { SETTINGS, resolveConfig } from '../src/config.ts'
import { CHART_DIR, helmTemplate, helmTemplateRaw, objectsOf, onlyOf } from './helpers/helm.ts'

// Unit tests of the chart on what `helm template` renders: the pod's security, probes and
// shutdown budget, config/secret checksums, existingSecret references, the NetworkPolicy derived
// from the configured URLs, the render-time refusals, and the pod agreeing with the image.

const skip = existsSync(join(CHART_DIR, 'Chart.yaml')) && existsSync(join(CHART_DIR, 'templates', 'deployment.yaml'))
  ? false
  : 'helm/analytics-mcp (templates/deployment.yaml) does not exist yet'

const MONITORING = 'monitoring.coreos.com/v1'
const POSTGRES_CATALOG = 'postgresql://mcp@pg.example:5432/mcp'

async function render (valuesObject: Record<string, unknown> = {}, extra: HelmTemplateOptions = {}): Promise<K8sObject[]> {
  return helmTemplate({ ...extra, valuesObject })
}

function podSpecOf (objects: K8sObject[]): IIoK8sApiCoreV1PodSpec {
  const spec = onlyOf<IDeployment>(objects, 'Deployment').spec?.template.spec
  if (spec === undefined) throw new Error('the Deployment has no pod spec')
  return spec
}

function mainContainer (objects: K8sObject[]): IIoK8sApiCoreV1Container {
  const container = podSpecOf(objects).containers.find((c) => c.name === 'analytics-mcp')
  if (container === undefined) throw new Error('no container named analytics-mcp')
  return container
}

function podAnnotations (objects: K8sObject[]): Record<string, string> {
  return onlyOf<IDeployment>(objects, 'Deployment').spec?.template.metadata?.annotations ?? {}
}

/** Every MCP_* setting the container gets from the chart's ConfigMaps (envFrom) and its env list. */
function settingsOf (objects: K8sObject[]): Record<string, string> {
  const out: Record<string, string> = {}
  const container = mainContainer(objects)
  for (const from of container.envFrom ?? []) {
    const name = from.configMapRef?.name
    if (name === undefined) continue
    const cm = objectsOf(objects, 'ConfigMap', name)[0]
    Object.assign(out, (cm?.data ?? {}) as Record<string, string>)
  }
  for (const env of container.env ?? []) if (env.value !== undefined) out[env.name] = env.value
  return out
}

function secretData (secret: K8sObject): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries((secret.data ?? {}) as Record<string, string>)) out[k] = Buffer.from(v, 'base64').toString('utf8')
  Object.assign(out, (secret.stringData ?? {}) as Record<string, string>)
  return out
}

/** The chart's own Secrets' keys whose value contains `needle`. */
function chartSecretKeysHolding (objects: K8sObject[], needle: string): string[] {
  return objectsOf(objects, 'Secret').flatMap((s) => Object.entries(secretData(s)).filter(([, v]) => v.includes(needle)).map(([k]) => `${s.metadata.name}/${k}`))
}

/** name/key pairs of Secrets the pod reads: env secretKeyRef, envFrom secretRef (key *), secret and projected volumes. */
function secretRefsOf (spec: IIoK8sApiCoreV1PodSpec): string[] {
  const refs: string[] = []
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const env of c.env ?? []) {
      const ref = env.valueFrom?.secretKeyRef
      if (ref !== undefined) refs.push(`${ref.name}/${ref.key}`)
    }
    for (const from of c.envFrom ?? []) if (from.secretRef !== undefined) refs.push(`${from.secretRef.name}/*`)
  }
  for (const v of spec.volumes ?? []) {
    if (v.secret !== undefined) {
      if (v.secret.items === undefined) refs.push(`${v.secret.secretName}/*`)
      for (const item of v.secret.items ?? []) refs.push(`${v.secret.secretName}/${item.key}`)
    }
    for (const source of v.projected?.sources ?? []) {
      for (const item of source.secret?.items ?? []) refs.push(`${source.secret?.name}/${item.key}`)
    }
  }
  return refs
}

t.test('the pod runs under the restricted Pod Security Standard, as the image user', { skip }, async (t) => {
  for (const [what, values] of [['default values', {}], ['migrations on a PostgreSQL catalog', { catalog: { url: POSTGRES_CATALOG }, migrations: { enabled: true } }]] as const) {
    const objects = await render(values)
    const spec = podSpecOf(objects)
    t.equal(spec.automountServiceAccountToken, false, `${what}: the pod does not mount a service account token`)
    t.same(spec.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' }
    }, `${what}: pod securityContext`)
    const restricted = {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' }
    }
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
      t.same(c.securityContext, restricted, `${what}: container ${c.name} securityContext`)
    }
    t.equal(spec.hostNetwork ?? false, false, `${what}: no host network`)
    // hook Job and helm test pod too
    const others = [...objectsOf(objects, 'Job'), ...objectsOf(objects, 'Pod')]
    if (what !== 'default values') t.ok(objectsOf(objects, 'Job').length === 1, 'the migration Job is rendered')
    for (const obj of others) {
      const podSpec = (obj.kind === 'Job' ? (obj.spec as { template: { spec: IIoK8sApiCoreV1PodSpec } }).template.spec : obj.spec) as IIoK8sApiCoreV1PodSpec
      t.equal(podSpec.automountServiceAccountToken, false, `${obj.kind} ${obj.metadata.name}: no service account token`)
      t.match(podSpec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, `${obj.kind} ${obj.metadata.name}: pod securityContext`)
      for (const c of podSpec.containers) t.same(c.securityContext, restricted, `${obj.kind} ${obj.metadata.name}: container ${c.name} securityContext`)
    }
  }
  const sa = objectsOf(await render(), 'ServiceAccount')
  t.equal(sa.length, 1, 'one ServiceAccount')
  t.equal(sa[0]?.automountServiceAccountToken, false, 'the ServiceAccount does not automount its token')
})

t.test('probes: /healthz for liveness and startup, /readyz for readiness, on the http port', { skip }, async (t) => {
  const container = mainContainer(await render())
  t.match(container.ports, [{ name: 'http', containerPort: 5008 }, { name: 'metrics', containerPort: 9464 }], 'ports http 5008 and metrics 9464')
  t.match(container.livenessProbe, { httpGet: { path: '/healthz', port: 'http' } }, 'liveness probe')
  t.match(container.startupProbe, { httpGet: { path: '/healthz', port: 'http' } }, 'startup probe')
  t.match(container.readinessProbe, { httpGet: { path: '/readyz', port: 'http' } }, 'readiness probe')
  const objects = await render({ metrics: { separatePort: { enabled: false } } })
  t.same(mainContainer(objects).ports?.map((p) => p.name), ['http'], 'without the separate metrics port only http is exposed')
  t.equal(settingsOf(objects).MCP_METRICS_PORT, undefined, 'and MCP_METRICS_PORT is unset')
  t.equal(settingsOf(await render()).MCP_METRICS_PORT, '9464', 'MCP_METRICS_PORT=9464 with the separate port')
})

t.test('checksum/config and checksum/secret change with what they cover, and only then', { skip }, async (t) => {
  const base = { config: { MCP_LOG_LEVEL: 'info' }, linkSecret: { value: 'a'.repeat(40) } }
  const of = async (values: Record<string, unknown>): Promise<[string | undefined, string | undefined]> => {
    const a = podAnnotations(await render(values))
    return [a['checksum/config'], a['checksum/secret']]
  }
  const [config, secret] = await of(base)
  t.ok(config !== undefined && secret !== undefined, 'both checksums are set')
  const [configAgain, secretAgain] = await of(base)
  t.same([configAgain, secretAgain], [config, secret], 'the same values render the same checksums')
  const [configChanged, secretSame] = await of({ ...base, config: { MCP_LOG_LEVEL: 'debug' } })
  t.not(configChanged, config, 'a config value changes checksum/config')
  t.equal(secretSame, secret, 'a config value leaves checksum/secret alone')
  const [configSame, secretChanged] = await of({ ...base, linkSecret: { value: 'b'.repeat(40) } })
  t.not(secretChanged, secret, 'a secret value changes checksum/secret')
  t.equal(configSame, config, 'a secret value leaves checksum/config alone')
  const [configUnrelated, secretUnrelated] = await of({ ...base, resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '2', memory: '1Gi' } }, podLabels: { team: 'x' } })
  t.same([configUnrelated, secretUnrelated], [config, secret], 'resources and pod labels change neither checksum')
})

t.test('existingSecret: the chart Secret no longer holds the value and the pod reads the named secret and key', { skip }, async (t) => {
  const cases: Array<{ what: string, inline?: Record<string, unknown>, needle?: string, existing: Record<string, unknown>, ref: string }> = [
    {
      what: 'catalog password',
      inline: { catalog: { url: POSTGRES_CATALOG, password: 'inline-catalog-pw' } },
      needle: 'inline-catalog-pw',
      existing: { catalog: { url: POSTGRES_CATALOG, existingSecret: { name: 'catalog-sec', key: 'pw' } } },
      ref: 'catalog-sec/pw'
    },
    {
      what: 'Redis URL',
      inline: { redis: { url: 'rediss://:inline-redis-pw@redis.example:6380/0' } },
      needle: 'inline-redis-pw',
      existing: { redis: { existingSecret: { name: 'redis-sec', key: 'url' } } },
      ref: 'redis-sec/url'
    },
    {
      what: 'link secret',
      inline: { linkSecret: { value: 'inline-link-secret-'.padEnd(40, 'x') } },
      needle: 'inline-link-secret-',
      existing: { linkSecret: { existingSecret: { name: 'link-sec', key: 'k' } } },
      ref: 'link-sec/k'
    },
    {
      what: 'JWT shared secret',
      existing: { auth: { enabled: true, jwt: { algorithm: 'HS256', audience: ['analytics-mcp'], existingSecret: { name: 'jwt-sec', key: 'k' } } } },
      ref: 'jwt-sec/k'
    },
    {
      what: 'token signing key',
      existing: { auth: { enabled: true, apiKeys: { enabled: true }, jwt: { jwksUri: 'https://idp.example/jwks', audience: ['https://mcp.example.com/mcp'] }, tokenExchange: { enabled: true, existingSecret: { name: 'sign-sec', key: 'pem' } } } },
      ref: 'sign-sec/pem'
    },
    {
      what: 'MCP_* settings Secret',
      existing: { existingSecret: 'settings-sec' },
      ref: 'settings-sec/*'
    }
  ]
  for (const c of cases) {
    if (c.inline !== undefined && c.needle !== undefined) {
      const inline = await render(c.inline)
      t.not(chartSecretKeysHolding(inline, c.needle).length, 0, `${c.what} inline: the chart's Secret holds it`)
      t.notOk(JSON.stringify(objectsOf(inline, 'ConfigMap')).includes(c.needle), `${c.what} inline: no ConfigMap holds it`)
    }
    const objects = await render(c.existing)
    if (c.needle !== undefined) t.same(chartSecretKeysHolding(objects, c.needle), [], `${c.what} from existingSecret: the chart's Secret does not hold it`)
    t.ok(secretRefsOf(podSpecOf(objects)).includes(c.ref), `${c.what}: the pod reads ${c.ref} (reads ${secretRefsOf(podSpecOf(objects)).join(', ')})`)
    t.same(objectsOf(objects, 'Secret').filter((s) => [c.ref.split('/')[0]].includes(s.metadata.name)), [], `${c.what}: the chart does not render the existing Secret`)
  }
})

/**
 * The environment the container would start with: the ConfigMaps and Secrets it loads with envFrom,
 * then its env list (a secretKeyRef resolved from the chart's Secret, or a placeholder for a Secret
 * the chart does not render), with Kubernetes' $(VAR) substitution.
 */
function containerEnv (objects: K8sObject[]): Record<string, string> {
  const env: Record<string, string> = {}
  const container = mainContainer(objects)
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef !== undefined) Object.assign(env, objectsOf(objects, 'ConfigMap', from.configMapRef.name)[0]?.data ?? {})
    if (from.secretRef !== undefined) Object.assign(env, Object.fromEntries(objectsOf(objects, 'Secret', from.secretRef.name).flatMap((s) => Object.entries(secretData(s)))))
  }
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef
    if (ref !== undefined) {
      const own = objectsOf(objects, 'Secret', ref.name)[0]
      env[e.name] = own !== undefined ? (secretData(own)[ref.key] ?? '') : e.name.includes('REDIS') ? 'rediss://:placeholder@redis.example:6380/0' : 'placeholder-'.padEnd(48, 'x')
    } else if (e.value !== undefined) {
      env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole)
    }
  }
  return env
}

t.test('replicas: the HPA owns them when autoscaling, and a PDB only guards more than one pod', { skip }, async (t) => {
  const single = await render()
  t.equal(onlyOf<IDeployment>(single, 'Deployment').spec?.replicas, 1, 'one replica by default')
  t.equal(objectsOf(single, 'PodDisruptionBudget').length, 0, 'no PodDisruptionBudget for a single replica (it would block every drain)')
  const scaled = await render({ catalog: { url: POSTGRES_CATALOG }, autoscaling: { enabled: true, minReplicas: 3 } })
  t.equal(onlyOf<IDeployment>(scaled, 'Deployment').spec?.replicas, undefined, 'with autoscaling the Deployment leaves replicas to the HPA')
  t.match(onlyOf(scaled, 'HorizontalPodAutoscaler'), { spec: { minReplicas: 3, scaleTargetRef: { kind: 'Deployment', name: onlyOf(scaled, 'Deployment').metadata.name } } }, 'the HPA targets the Deployment')
  const pdb = onlyOf<{ spec: { selector: { matchLabels: Record<string, string> } } }>(scaled, 'PodDisruptionBudget')
  t.same(pdb.spec.selector.matchLabels, onlyOf<IDeployment>(scaled, 'Deployment').spec?.selector.matchLabels, 'the PDB selects the Deployment\'s pods')
})

t.test('the settings the chart renders are accepted by the service\'s own config schema', { skip }, async (t) => {
  const cases: Array<[string, HelmTemplateOptions]> = [
    ['default values', {}],
    ...['values-dev.yaml', 'values-production.yaml'].filter((f) => existsSync(join(CHART_DIR, f))).map((f): [string, HelmTemplateOptions] => [f, { values: [join(CHART_DIR, f)] }]),
    ['Redis, PostgreSQL catalog, databases, JWKS auth', {
      valuesObject: {
        replicaCount: 2,
        config: { MCP_LOG_LEVEL: 'debug', MCP_CACHE_CONFIG: { enabled: true }, MCP_SHUTDOWN_TIMEOUT: 20 },
        redis: { url: 'rediss://redis.example:6380/0', keyPrefix: 'mcp-test' },
        catalog: { url: POSTGRES_CATALOG, existingSecret: { name: 'catalog-sec', key: 'pw' } },
        databases: [{ name: 'warehouse', uri: 'postgresql://w@wh.example/db', existingSecret: { name: 'wh', key: 'pw' } }],
        auth: { enabled: true, jwt: { jwksUri: 'https://idp.example/jwks', issuer: 'https://idp.example/', audience: ['https://mcp.example.com/mcp'] } },
        linkSecret: { existingSecret: { name: 'link-sec', key: 'k' } }
      }
    }],
    ['HS256 with a Redis URL in a Secret', { valuesObject: { auth: { enabled: true, jwt: { algorithm: 'HS256', audience: ['analytics-mcp'], existingSecret: { name: 'jwt', key: 'k' } } }, redis: { existingSecret: { name: 'r', key: 'url' } } } }]
  ]
  for (const [what, options] of cases) {
    const objects = await helmTemplate(options)
    const env = containerEnv(objects)
    const settings = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('MCP_')))
    const unknown = Object.keys(settings).filter((name) => !Object.hasOwn(SETTINGS, name))
    t.same(unknown, [], `${what}: every MCP_* variable is a setting of src/config.ts`)
    t.doesNotThrow(() => resolveConfig([{ source: 'environment', values: settings }]), `${what}: the service would start with these settings`)
    t.equal(env.MCP_SERVICE_HOST, '0.0.0.0', `${what}: MCP_SERVICE_HOST is 0.0.0.0`)
  }
})

t.test('ServiceMonitor and PrometheusRule only when the cluster serves monitoring.coreos.com/v1', { skip }, async (t) => {
  const values = { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } }
  const without = await render(values)
  t.equal(objectsOf(without, 'ServiceMonitor').length + objectsOf(without, 'PrometheusRule').length, 0, 'none without the API')
  const withApi = await render(values, { apiVersions: [MONITORING] })
  const sm = onlyOf<{ spec: { endpoints: Array<{ port?: string, path?: string }> } }>(withApi, 'ServiceMonitor')
  t.match(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics' }], 'the ServiceMonitor scrapes the metrics port')
  t.equal(objectsOf(withApi, 'PrometheusRule').length, 1, 'one PrometheusRule with the API')
  const off = await render({}, { apiVersions: [MONITORING] })
  t.equal(objectsOf(off, 'ServiceMonitor').length + objectsOf(off, 'PrometheusRule').length, 0, 'none when not enabled, even with the API')
})

interface PortSet { ports: string[], ruleWithoutPorts: boolean }

function egressPorts (policy: INetworkPolicy): PortSet {
  const ports = new Set<string>()
  let ruleWithoutPorts = false
  for (const rule of policy.spec?.egress ?? []) {
    if (rule.ports === undefined || rule.ports.length === 0) ruleWithoutPorts = true
    for (const p of rule.ports ?? []) ports.add(`${p.port}/${p.protocol ?? 'TCP'}`)
  }
  return { ports: [...ports].sort(), ruleWithoutPorts }
}

t.test('NetworkPolicy egress: DNS plus exactly the ports of the configured Redis, catalog, databases and JWKS', { skip }, async (t) => {
  const configured = await render({
    networkPolicy: { enabled: true },
    redis: { url: 'rediss://redis.example:6380/0' },
    catalog: { url: 'postgresql://u@pg.example:5433/db' },
    databases: [{ name: 'warehouse', uri: 'postgresql://w@wh.example/db' }],
    auth: { enabled: true, jwt: { jwksUri: 'https://idp.example/jwks', audience: ['https://mcp.example.com/mcp'] } }
  })
  const policy = onlyOf<INetworkPolicy>(configured, 'NetworkPolicy')
  t.ok(policy.spec?.policyTypes?.includes('Egress') && policy.spec.policyTypes.includes('Ingress'), 'the policy covers ingress and egress')
  const got = egressPorts(policy)
  t.same(got.ports, ['443/TCP', '53/TCP', '53/UDP', '5432/TCP', '5433/TCP', '6380/TCP'], 'egress ports: 53 udp/tcp, 6380, 5433, 5432, 443')
  t.equal(got.ruleWithoutPorts, false, 'no egress rule without ports')
  const bare = egressPorts(onlyOf<INetworkPolicy>(await render({ networkPolicy: { enabled: true } }), 'NetworkPolicy'))
  t.same(bare, { ports: ['53/TCP', '53/UDP'], ruleWithoutPorts: false }, 'nothing configured: DNS only')
  const fromSecret = egressPorts(onlyOf<INetworkPolicy>(await render({ networkPolicy: { enabled: true }, redis: { existingSecret: { name: 'r', key: 'url' }, port: 6390 } }), 'NetworkPolicy'))
  t.same(fromSecret.ports, ['53/TCP', '53/UDP', '6390/TCP'], 'Redis URL in a Secret: redis.port')
})

t.test('NetworkPolicy ingress: only from the configured namespaces, each to its port', { skip }, async (t) => {
  const objects = await render({
    networkPolicy: {
      enabled: true,
      ingress: {
        controller: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'edge' } } }],
        monitoring: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prom' } } }]
      }
    }
  })
  const rules = onlyOf<INetworkPolicy>(objects, 'NetworkPolicy').spec?.ingress ?? []
  const summary = rules.map((r) => ({
    // a namespace by name, or a pod of the release's own namespace by its component (the helm test pod)
    from: (r.from ?? []).map((p) => p.namespaceSelector !== undefined
      ? p.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name']
      : `pod:${p.podSelector?.matchLabels?.['app.kubernetes.io/component']}`),
    ports: (r.ports ?? []).map((p) => String(p.port))
  }))
  t.ok(rules.every((r) => (r.from ?? []).length > 0 && (r.ports ?? []).length > 0), 'every ingress rule names its peers and ports')
  const toHttp = summary.filter((r) => r.ports.some((p) => p === 'http' || p === '5008'))
  const toMetrics = summary.filter((r) => r.ports.some((p) => p === 'metrics' || p === '9464'))
  t.same(toHttp.flatMap((r) => r.from).sort(), ['edge', 'pod:test'], 'the http port only from the controller namespace and the release\'s helm test pod')
  t.same(toMetrics.flatMap((r) => r.from), ['prom'], 'the metrics port only from the monitoring namespace')
  t.equal(rules.length, toHttp.length + toMetrics.length, 'no ingress rule to any other port')
  const testPeer = rules.flatMap((r) => r.from ?? []).find((p) => p.namespaceSelector === undefined)
  t.match(testPeer?.podSelector?.matchLabels, { 'app.kubernetes.io/instance': 'analytics-mcp', 'app.kubernetes.io/component': 'test' }, 'the pod peer is this release\'s test pod')
})

t.test('terminationGracePeriodSeconds outlasts the preStop sleep and MCP_SHUTDOWN_TIMEOUT', { skip }, async (t) => {
  for (const [shutdown, sleep] of [[undefined, 5], [30, 5], [10, 12]] as const) {
    const values = { lifecycle: { preStopSleep: { enabled: true, seconds: sleep } }, ...(shutdown === undefined ? {} : { config: { MCP_SHUTDOWN_TIMEOUT: shutdown } }) }
    const objects = await render(values)
    const spec = podSpecOf(objects)
    const preStop = mainContainer(objects).lifecycle?.preStop?.sleep?.seconds
    t.equal(preStop, sleep, `preStop sleeps ${sleep} s`)
    const budget = sleep + (shutdown ?? 10)
    t.ok((spec.terminationGracePeriodSeconds ?? 30) > budget, `grace ${spec.terminationGracePeriodSeconds} > preStop ${sleep} + shutdown ${shutdown ?? 10}`)
  }
  const tooShort = await helmTemplateRaw({ valuesObject: { terminationGracePeriodSeconds: 10 } })
  t.not(tooShort.code, 0, 'a grace period shorter than preStop + MCP_SHUTDOWN_TIMEOUT is refused')
  t.match(tooShort.stderr, 'terminationGracePeriodSeconds', 'naming terminationGracePeriodSeconds')
})

t.test('more than one replica on the SQLite catalog is refused at render', { skip }, async (t) => {
  for (const values of [{ replicaCount: 2 }, { autoscaling: { enabled: true } }]) {
    const result = await helmTemplateRaw({ valuesObject: values })
    t.not(result.code, 0, `${JSON.stringify(values)} without catalog.url is refused`)
    t.match(result.stderr, /catalog/i, `the message points at the catalog: ${result.stderr.trim().split('\n')[0]}`)
    const ok = await helmTemplate({ valuesObject: { ...values, catalog: { url: POSTGRES_CATALOG } } })
    t.equal(objectsOf(ok, 'Deployment').length, 1, `${JSON.stringify(values)} renders on a PostgreSQL catalog`)
  }
})

t.test('settings the service would refuse at start-up are refused at render', { skip }, async (t) => {
  const noAudience = await helmTemplateRaw({ valuesObject: { auth: { enabled: true, jwt: { jwksUri: 'https://idp.example/jwks' } } } })
  t.not(noAudience.code, 0, 'JWT auth without an audience is refused')
  t.match(noAudience.stderr, 'auth.jwt.audience', 'naming auth.jwt.audience')
  const withAudience = await helmTemplate({ valuesObject: { auth: { enabled: true, jwt: { jwksUri: 'https://idp.example/jwks', audience: ['https://mcp.example.com/mcp'] } } } })
  t.equal(objectsOf(withAudience, 'Deployment').length, 1, 'and renders with one')
  const drainBlocked = await helmTemplateRaw({ valuesObject: { replicaCount: 2, catalog: { url: POSTGRES_CATALOG }, podDisruptionBudget: { minAvailable: 2 } } })
  t.not(drainBlocked.code, 0, 'a PDB whose minAvailable is every replica (no eviction ever possible) is refused')
  t.match(drainBlocked.stderr, 'podDisruptionBudget.minAvailable', 'naming podDisruptionBudget.minAvailable')
  const drainable = await helmTemplate({ valuesObject: { replicaCount: 3, catalog: { url: POSTGRES_CATALOG }, podDisruptionBudget: { minAvailable: 2 } } })
  t.equal(objectsOf(drainable, 'PodDisruptionBudget').length, 1, 'minAvailable below the replicas renders')
})

const imageSkip = skip !== false ? skip : (existsSync(DOCKERFILE) ? false : 'no Dockerfile yet')

t.test('the Deployment matches the image: user, ports, writable paths, data dir, entrypoint', { skip: imageSkip }, async (t) => {
  const image = dockerfileFacts()
  const objects = await render()
  const spec = podSpecOf(objects)
  const container = mainContainer(objects)
  const [uid, gid] = (image.user ?? '').split(':')
  t.equal(String(container.securityContext?.runAsUser ?? spec.securityContext?.runAsUser), uid, 'runAsUser is the image USER')
  t.equal(String(container.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup), gid ?? uid, 'runAsGroup is the image USER group')
  t.ok(image.exposed.includes(5008), 'the image exposes 5008')
  t.ok(container.ports?.some((p) => p.containerPort === 5008 && p.name === 'http'), 'the container declares the image\'s MCP port as http')
  for (const port of container.ports ?? []) t.ok(image.exposed.includes(port.containerPort), `container port ${port.name} ${port.containerPort} is EXPOSEd by the image`)
  const emptyDirs = new Set((spec.volumes ?? []).filter((v) => v.emptyDir !== undefined).map((v) => v.name))
  const writable = (container.volumeMounts ?? []).filter((m) => emptyDirs.has(m.name) && m.readOnly !== true).map((m) => m.mountPath).sort()
  t.same(writable, [...image.writablePaths].sort(), `emptyDir mounts are exactly the image's writable paths (${image.writablePaths.join(', ')})`)
  t.equal(image.env.MCP_DATA_DIR, '/data', 'the image sets MCP_DATA_DIR=/data')
  const dataDir = settingsOf(objects).MCP_DATA_DIR
  t.ok(dataDir === undefined || dataDir === image.env.MCP_DATA_DIR, `MCP_DATA_DIR in the pod (${dataDir ?? 'from the image'}) matches the image`)
  t.equal(image.entrypoint.at(-1), '/app/bin/analytics-mcp.js', 'the image ENTRYPOINT runs /app/bin/analytics-mcp.js')
  t.same(image.cmd, ['run'], 'the image CMD is run')
  t.equal(container.command, undefined, 'no command override bypassing the entrypoint')
  t.ok(container.args === undefined || container.args[0] === 'run', `args start with run (${JSON.stringify(container.args)})`)
})
