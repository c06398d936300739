import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import type { IIoK8sApiCoreV1Container } from 'kubernetes-models/v1/Container'
import type { K8sObject } from './helpers/helm.ts'
import { SETTINGS, resolveConfig } from '../src/config.ts'
import { CHART_DIR, helmTemplate, helmTemplateRaw, invalidObjects, objectsOf, onlyOf } from './helpers/helm.ts'

// The chart's auth.oauthServer values: what reaches the ConfigMap and the pod's env, the secrets that
// must only come from Secrets, the render-time refusals, the routes and the NetworkPolicy egress.

const skip = existsSync(join(CHART_DIR, 'templates', 'deployment.yaml')) ? false : 'helm/analytics-mcp does not exist yet'

const GATEWAY = 'gateway.networking.k8s.io/v1'
const ISSUER = 'https://keycloak.example.com:8443/realms/analytics'

/** A release serving the authorization server behind a TLS Ingress: the smallest one that renders. */
function oauthValues (oauthServer: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    serviceUrl: 'https://mcp.example.com',
    ingress: { enabled: true, preset: 'nginx', hosts: ['mcp.example.com'], tls: [{ secretName: 'mcp-tls', hosts: ['mcp.example.com'] }] },
    ...extra,
    auth: {
      ...(extra.auth as Record<string, unknown> | undefined),
      oauthServer: { enabled: true, upstream: { issuer: ISSUER, clientId: 'analytics-mcp' }, ...oauthServer }
    }
  }
}

async function render (valuesObject: Record<string, unknown>, apiVersions: string[] = []): Promise<K8sObject[]> {
  return helmTemplate({ valuesObject, apiVersions })
}

function mainContainer (objects: K8sObject[]): IIoK8sApiCoreV1Container {
  const container = onlyOf<IDeployment>(objects, 'Deployment').spec?.template.spec?.containers.find((c) => c.name === 'analytics-mcp')
  if (container === undefined) throw new Error('no container named analytics-mcp')
  return container
}

function configMapData (objects: K8sObject[]): Record<string, string> {
  return objectsOf(objects, 'ConfigMap').reduce<Record<string, string>>((all, cm) => ({ ...all, ...(cm.data as Record<string, string> | undefined) }), {})
}

/** env name → "secret/key" for every secretKeyRef of the main container. */
function secretEnv (objects: K8sObject[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const env of mainContainer(objects).env ?? []) {
    const ref = env.valueFrom?.secretKeyRef
    if (ref !== undefined) out[env.name] = `${ref.name}/${ref.key}`
  }
  return out
}

/** The message of a render that must fail. */
async function refusal (valuesObject: Record<string, unknown>): Promise<string> {
  const result = await helmTemplateRaw({ valuesObject })
  if (result.code === 0) throw new Error(`expected the render to fail: ${JSON.stringify(valuesObject)}`)
  return result.stderr
}

function egressRule (policy: INetworkPolicy, port: number): boolean {
  return (policy.spec?.egress ?? []).some((rule) => (rule.ports ?? []).some((p) => p.port === port))
}

t.test('the ConfigMap holds every authorization server setting, and the service accepts them', { skip }, async (t) => {
  const objects = await render(oauthValues({
    upstream: { issuer: ISSUER, clientId: 'analytics-mcp', scopes: ['openid', 'email', 'groups'], allowHttp: false, existingSecret: { name: 'kc-client', key: 'client-secret' } },
    accessTokenTtl: 600,
    refreshTokenTtl: 86400,
    clients: [{ client_id: 'portal', client_name: 'Analytics portal', redirect_uris: ['https://portal.example.com/oauth/callback'] }],
    dcr: { enabled: false, perHour: 5, clientTtl: 7200 },
    cimd: { enabled: true, allowPrivateAddresses: true },
    supportContact: '#data-platform on Slack'
  }))
  const data = configMapData(objects)
  t.match(data, {
    MCP_OAUTH_SERVER_ENABLED: 'true',
    MCP_OAUTH_UPSTREAM_ISSUER: ISSUER,
    MCP_OAUTH_UPSTREAM_CLIENT_ID: 'analytics-mcp',
    MCP_OAUTH_UPSTREAM_SCOPES: 'openid,email,groups',
    MCP_OAUTH_UPSTREAM_ALLOW_HTTP: 'false',
    MCP_OAUTH_ACCESS_TOKEN_TTL: '600',
    MCP_OAUTH_REFRESH_TOKEN_TTL: '86400',
    MCP_OAUTH_DCR_ENABLED: 'false',
    MCP_OAUTH_DCR_PER_HOUR: '5',
    MCP_OAUTH_DCR_CLIENT_TTL: '7200',
    MCP_OAUTH_CIMD_ENABLED: 'true',
    MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES: 'true',
    MCP_OAUTH_SUPPORT_CONTACT: '#data-platform on Slack',
    MCP_SERVICE_URL: 'https://mcp.example.com',
    MCP_AUTH_ENABLED: 'false'
  }, 'the settings, with authentication left to the authorization server')
  t.same(JSON.parse(data.MCP_OAUTH_CLIENTS ?? ''), [{ client_id: 'portal', client_name: 'Analytics portal', redirect_uris: ['https://portal.example.com/oauth/callback'] }], 'MCP_OAUTH_CLIENTS as JSON')
  t.equal(data.MCP_ALLOW_UNAUTHENTICATED_REMOTE, undefined, 'not development mode')
  const settings = { ...Object.fromEntries(Object.entries(data).filter(([name]) => name.startsWith('MCP_'))), MCP_OAUTH_UPSTREAM_CLIENT_SECRET: 'from-the-secret' }
  t.same(Object.keys(settings).filter((name) => !Object.hasOwn(SETTINGS, name)), [], 'every MCP_* key is a setting of src/config.ts')
  t.doesNotThrow(() => resolveConfig([{ source: 'environment', values: settings }]), 'the service would start with them')

  const defaults = configMapData(await render({}))
  t.equal(defaults.MCP_OAUTH_SERVER_ENABLED, 'false', 'off by default')
  t.same(Object.keys(defaults).filter((k) => k.startsWith('MCP_OAUTH_') && k !== 'MCP_OAUTH_SERVER_ENABLED'), [], 'and nothing else of it rendered')
  const bypass = configMapData(await render({ config: { MCP_OAUTH_SERVER_ENABLED: true } }))
  t.equal(bypass.MCP_OAUTH_SERVER_ENABLED, 'false', 'config.MCP_OAUTH_SERVER_ENABLED cannot bypass auth.oauthServer and its checks')
})

t.test('the client secrets and the signing key come from Secrets, never from the ConfigMap', { skip }, async (t) => {
  const objects = await render(oauthValues({
    upstream: { issuer: ISSUER, clientId: 'analytics-mcp', existingSecret: { name: 'kc-client', key: 'client-secret' } },
    signingKey: { existingSecret: { name: 'oauth-signing', key: 'signing-key' } },
    clients: [
      { client_id: 'portal', client_name: 'Portal', redirect_uris: ['https://portal.example.com/cb'], existingSecret: { name: 'portal-client', key: 'secret' } },
      { client_id: 'cli', client_name: 'CLI', redirect_uris: ['http://127.0.0.1/cb'], client_secret_env: 'CLI_SECRET' }
    ]
  }))
  t.match(secretEnv(objects), {
    MCP_OAUTH_UPSTREAM_CLIENT_SECRET: 'kc-client/client-secret',
    MCP_TOKEN_SIGNING_KEY: 'oauth-signing/signing-key',
    OAUTH_CLIENT_SECRET_0: 'portal-client/secret'
  }, 'secretKeyRef env for the upstream client secret, the signing key and a client\'s secret')
  const data = configMapData(objects)
  t.equal(data.MCP_OAUTH_UPSTREAM_CLIENT_SECRET, undefined, 'no client secret in the ConfigMap')
  t.equal(data.MCP_TOKEN_SIGNING_KEY, undefined, 'no signing key in the ConfigMap')
  t.same(JSON.parse(data.MCP_OAUTH_CLIENTS ?? '').map((c: { client_secret_env?: string }) => c.client_secret_env), ['OAUTH_CLIENT_SECRET_0', 'CLI_SECRET'], 'clients name the env var holding their secret')
  t.same(objectsOf(objects, 'Secret'), [], 'the chart renders no Secret of its own for them')
  const plain = (mainContainer(objects).env ?? []).filter((e) => e.value !== undefined && /SECRET|SIGNING/.test(e.name))
  t.same(plain, [], 'no secret as a plain env value')

  const generated = await render(oauthValues())
  t.equal(secretEnv(generated).MCP_TOKEN_SIGNING_KEY, undefined, 'no signingKey: none set, the service keeps a generated key in the catalog')
  t.equal(secretEnv(generated).MCP_OAUTH_UPSTREAM_CLIENT_SECRET, undefined, 'no upstream secret: a public client')

  const inConfig = await refusal(oauthValues({}, { config: { MCP_OAUTH_UPSTREAM_CLIENT_SECRET: 'x' } }))
  t.match(inConfig, 'config.MCP_OAUTH_UPSTREAM_CLIENT_SECRET is a secret and would land in a ConfigMap', 'config.MCP_OAUTH_UPSTREAM_CLIENT_SECRET is refused')
})

t.test('one signing key: token exchange and the authorization server share MCP_TOKEN_SIGNING_KEY', { skip }, async (t) => {
  const tokenExchange = (name: string, key: string): Record<string, unknown> => ({ auth: { apiKeys: { enabled: true }, tokenExchange: { enabled: true, existingSecret: { name, key } } } })
  const onlyExchange = await render(oauthValues({}, tokenExchange('exchange-key', 'pem')))
  t.equal(secretEnv(onlyExchange).MCP_TOKEN_SIGNING_KEY, 'exchange-key/pem', 'only the token exchange\'s: it signs both')
  const same = await render(oauthValues({ signingKey: { existingSecret: { name: 'exchange-key', key: 'pem' } } }, tokenExchange('exchange-key', 'pem')))
  t.equal((mainContainer(same).env ?? []).filter((e) => e.name === 'MCP_TOKEN_SIGNING_KEY').length, 1, 'both naming the same key: one env var')
  const onlyOAuth = await render(oauthValues({ signingKey: { existingSecret: { name: 'oauth-key', key: 'pem' } } }, { auth: { apiKeys: { enabled: true }, tokenExchange: { enabled: true } } }))
  t.equal(secretEnv(onlyOAuth).MCP_TOKEN_SIGNING_KEY, 'oauth-key/pem', 'only the authorization server\'s: token exchange uses it too')
  const conflict = await refusal(oauthValues({ signingKey: { existingSecret: { name: 'oauth-key', key: 'pem' } } }, tokenExchange('exchange-key', 'pem')))
  t.match(conflict, 'auth.tokenExchange.existingSecret (exchange-key/pem) and auth.oauthServer.signingKey.existingSecret (oauth-key/pem) name different keys', 'two different keys are refused, naming both')
  t.match(conflict, 'name the same Secret and key in both, or set only one', 'and saying how to fix it')
})

t.test('render-time refusals name the missing value', { skip }, async (t) => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['no issuer', oauthValues({ upstream: { clientId: 'analytics-mcp' } }), 'auth.oauthServer.enabled needs auth.oauthServer.upstream.issuer'],
    ['no client id', oauthValues({ upstream: { issuer: ISSUER } }), 'auth.oauthServer.enabled needs auth.oauthServer.upstream.clientId'],
    ['no serviceUrl', { ...oauthValues(), serviceUrl: '' }, 'auth.oauthServer.enabled needs serviceUrl'],
    ['an http serviceUrl', { ...oauthValues(), serviceUrl: 'http://mcp.example.com' }, 'auth.oauthServer.enabled needs an https serviceUrl'],
    ['an http issuer', oauthValues({ upstream: { issuer: 'http://keycloak.auth.svc:8080/realms/a', clientId: 'c' } }), 'auth.oauthServer.upstream.issuer (http://keycloak.auth.svc:8080/realms/a) is plain http'],
    ['no openid scope', oauthValues({ upstream: { issuer: ISSUER, clientId: 'c', scopes: ['email'] } }), 'auth.oauthServer.upstream.scopes must include openid'],
    ['a client with two secrets', oauthValues({ clients: [{ client_id: 'p', client_name: 'P', redirect_uris: ['https://p.example/cb'], client_secret_env: 'P', existingSecret: { name: 's', key: 'k' } }] }), 'auth.oauthServer.clients[0] (p): set existingSecret or client_secret_env, not both'],
    ['two replicas on SQLite', { ...oauthValues(), replicaCount: 2 }, 'needs a PostgreSQL catalog']
  ]
  for (const [what, values, message] of cases) t.match(await refusal(values), message, what)
  const inCluster = await render(oauthValues({ upstream: { issuer: 'http://keycloak.auth.svc:8080/realms/a', clientId: 'c', allowHttp: true } }))
  t.equal(configMapData(inCluster).MCP_OAUTH_UPSTREAM_ALLOW_HTTP, 'true', 'an http issuer renders with allowHttp')
  const replicas = await render({ ...oauthValues(), replicaCount: 3, catalog: { url: 'postgresql://mcp@pg.example:5432/mcp' } })
  t.equal(onlyOf<IDeployment>(replicas, 'Deployment').spec?.replicas, 3, 'several replicas render on a PostgreSQL catalog (OAuth state is in it)')
  const exposed = await render(oauthValues())
  t.equal(objectsOf(exposed, 'Ingress').length, 1, 'the authorization server alone is authentication enough for an Ingress')
})

t.test('values.schema.json refuses malformed oauthServer values', { skip }, async (t) => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['accessTokenTtl: "x"', { accessTokenTtl: 'x' }, /accessTokenTtl/],
    ['accessTokenTtl below 60', { accessTokenTtl: 30 }, /accessTokenTtl/],
    ['an unknown key', { refreshTtl: 60 }, /refreshTtl/],
    ['scopes as a string', { upstream: { issuer: ISSUER, clientId: 'c', scopes: 'openid email' } }, /scopes/],
    ['a client without redirect_uris', { clients: [{ client_id: 'p', client_name: 'P' }] }, /redirect_uris/],
    ['dcr.perHour: true', { dcr: { perHour: true } }, /perHour/]
  ]
  for (const [what, oauthServer, field] of cases) {
    const result = await helmTemplateRaw({ valuesObject: oauthValues(oauthServer) })
    t.not(result.code, 0, `${what} is refused`)
    t.match(result.stderr, field, `naming it: ${result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`)
  }
})

t.test('every object validates, and the Ingress and HTTPRoute route /oauth and /assets only when on', { skip }, async (t) => {
  const httpRoute = { enabled: true, parentRefs: [{ name: 'gw', namespace: 'gateway' }], hostnames: ['mcp.example.com'] }
  const on = await render(oauthValues({}, { httpRoute, networkPolicy: { enabled: true } }), [GATEWAY])
  t.same(invalidObjects(on), [], `every object (${on.map((o) => o.kind).join(', ')}) validates`)
  const ingressPaths = (objects: K8sObject[]): string[] => (onlyOf<IIngress>(objects, 'Ingress').spec?.rules?.[0]?.http?.paths ?? []).map((p) => p.path ?? '')
  const routePaths = (objects: K8sObject[]): string[] => (onlyOf<{ spec: { rules: Array<{ matches: Array<{ path: { value: string } }> }> } }>(objects, 'HTTPRoute').spec.rules[0]?.matches ?? []).map((m) => m.path.value)
  t.same(ingressPaths(on), ['/mcp', '/.well-known', '/oauth', '/assets'], 'Ingress: /oauth and /assets added')
  t.same(routePaths(on), ['/mcp', '/.well-known', '/oauth', '/assets'], 'HTTPRoute: /oauth and /assets added')
  const off = await render({ ...oauthValues(), auth: { enabled: true, apiKeys: { enabled: true } }, httpRoute }, [GATEWAY])
  t.same(ingressPaths(off), ['/mcp', '/.well-known'], 'off: the Ingress routes what it did')
  t.same(routePaths(off), ['/mcp', '/.well-known'], 'off: the HTTPRoute routes what it did')
  const everything = await render(oauthValues({}, { ingress: { enabled: true, hosts: ['mcp.example.com'], paths: [{ path: '/', pathType: 'Prefix' }] } }))
  t.same(ingressPaths(everything), ['/'], 'a path covering everything is left alone')
})

t.test('NetworkPolicy egress to the upstream provider and CIMD hosts only when on', { skip }, async (t) => {
  const policyOf = async (values: Record<string, unknown>): Promise<INetworkPolicy> => onlyOf<INetworkPolicy>(await render(values), 'NetworkPolicy')
  const on = await policyOf(oauthValues({}, { networkPolicy: { enabled: true } }))
  const comments = (await helmTemplateRaw({ valuesObject: oauthValues({}, { networkPolicy: { enabled: true } }) })).stdout
  t.ok(egressRule(on, 443), 'egress on 443 (the provider, client metadata documents)')
  t.ok(egressRule(on, 8443), 'egress on the issuer URL\'s own port')
  t.match(comments, '# OAuth upstream OpenID Connect provider', 'the upstream rule is labelled')
  t.match(comments, '# OAuth client metadata documents (CIMD)', 'the CIMD rule is labelled')
  const upstreamPeers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keycloak' } } }]
  const pinned = await policyOf(oauthValues({ cimd: { enabled: false } }, { networkPolicy: { enabled: true, egress: { oauthUpstream: { to: upstreamPeers } } } }))
  const toIdp = (pinned.spec?.egress ?? []).filter((rule) => (rule.ports ?? []).some((p) => p.port === 443))
  t.equal(toIdp.length, 1, 'CIMD off: one rule on 443, the provider\'s')
  t.same(toIdp[0]?.to, upstreamPeers, 'restricted to networkPolicy.egress.oauthUpstream.to')
  const off = await policyOf({ networkPolicy: { enabled: true } })
  t.notOk(egressRule(off, 443) || egressRule(off, 8443), 'off: no egress to 443 or the issuer port')
})
