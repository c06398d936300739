import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { dockerfileFacts } from './helpers/dockerfile.ts'
import { CHART_DIR, helmTemplate, ROOT } from './helpers/helm.ts'
import type { K8sObject } from './helpers/helm.ts'
import { createServer } from 'node:net'
import { post, toolCall } from './helpers/rpc.ts'

// The pod as the kubelet runs it, without a cluster: the chart's Deployment rendered with the
// dev values, its container started with the image's entrypoint, the env resolved from the
// rendered ConfigMap and Secret, the project tree mounted read-only where the image has the
// package, a fresh tmpfs at each emptyDir, as the image's numeric user (a private mount
// namespace: unshare --mount). Its probes are followed as declared, the helm test pod's command
// is run against it, and it is scaled down as the kubelet does — preStop, SIGTERM, the grace
// period — with calls in flight.

interface Probe {
  httpGet?: { path: string, port: string | number }
  initialDelaySeconds?: number
  periodSeconds?: number
  timeoutSeconds?: number
  failureThreshold?: number
}
interface Container {
  name: string
  command?: string[]
  args?: string[]
  workingDir?: string
  env?: Array<{ name: string, value?: string, valueFrom?: Record<string, any> }>
  envFrom?: Array<{ configMapRef?: { name: string }, secretRef?: { name: string }, prefix?: string }>
  ports?: Array<{ name?: string, containerPort: number }>
  volumeMounts?: Array<{ name: string, mountPath: string, readOnly?: boolean, subPath?: string }>
  startupProbe?: Probe
  readinessProbe?: Probe
  livenessProbe?: Probe
  lifecycle?: { preStop?: { sleep?: { seconds: number } } }
  securityContext?: { runAsUser?: number, runAsGroup?: number }
}
interface PodSpec {
  containers: Container[]
  volumes?: Array<{ name: string, emptyDir?: { sizeLimit?: string }, secret?: { secretName: string, items?: Array<{ key: string, path: string }> }, configMap?: { name: string } }>
  terminationGracePeriodSeconds?: number
  securityContext?: { runAsUser?: number, runAsGroup?: number }
}

const asRoot = process.getuid?.() === 0
const canIsolate = asRoot && existsSync('/usr/bin/unshare') && existsSync('/usr/bin/setpriv')
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function byKind (objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter(object => object.kind === kind)
}

/** The data of a rendered ConfigMap or Secret (Secret `data` is base64, `stringData` plain). */
function dataOf (objects: K8sObject[], kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> {
  const object = byKind(objects, kind).find(candidate => candidate.metadata.name === name)
  if (object === undefined) throw new Error(`the chart renders no ${kind} ${name}, but the pod refers to it`)
  const data = (object.data ?? {}) as Record<string, string>
  const decoded = kind === 'Secret' ? Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')])) : data
  return { ...decoded, ...((object.stringData ?? {}) as Record<string, string>) }
}

/** The container's environment as the kubelet builds it: envFrom first, then env, with $(VAR) references expanded. */
function resolveEnv (objects: K8sObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {}
  for (const source of container.envFrom ?? []) {
    const data = source.configMapRef !== undefined ? dataOf(objects, 'ConfigMap', source.configMapRef.name) : dataOf(objects, 'Secret', source.secretRef?.name ?? '')
    for (const [key, value] of Object.entries(data)) env[`${source.prefix ?? ''}${key}`] = value
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) {
      env[entry.name] = entry.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole)
      continue
    }
    const from = entry.valueFrom ?? {}
    if (from.configMapKeyRef !== undefined) env[entry.name] = dataOf(objects, 'ConfigMap', from.configMapKeyRef.name)[from.configMapKeyRef.key] ?? ''
    else if (from.secretKeyRef !== undefined) env[entry.name] = dataOf(objects, 'Secret', from.secretKeyRef.name)[from.secretKeyRef.key] ?? ''
    else if (from.fieldRef !== undefined) env[entry.name] = ({ 'metadata.name': 'analytics-mcp-0', 'metadata.namespace': 'analytics', 'status.podIP': '127.0.0.1' } as Record<string, string>)[from.fieldRef.fieldPath] ?? ''
    else if (from.resourceFieldRef !== undefined) env[entry.name] = '1'
  }
  return env
}

async function portIsFree (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)))
  })
}

const shellQuote = (text: string): string => `'${text.replaceAll("'", "'\\''")}'`

/** Files of the rendered Secret/ConfigMap a volume projects, written to a directory to bind-mount. */
function projectedVolume (objects: K8sObject[], volume: NonNullable<PodSpec['volumes']>[number]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'volume-'))
  const data = volume.secret !== undefined ? dataOf(objects, 'Secret', volume.secret.secretName) : dataOf(objects, 'ConfigMap', volume.configMap?.name ?? '')
  const items = volume.secret?.items ?? Object.keys(data).map(key => ({ key, path: key }))
  for (const item of items) {
    mkdirSync(path.dirname(path.join(dir, item.path)), { recursive: true })
    writeFileSync(path.join(dir, item.path), data[item.key] ?? '', { mode: 0o644 })
  }
  return dir
}

async function httpStatus (port: number, probePath: string, timeoutMs: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${probePath}`, { signal: AbortSignal.timeout(timeoutMs) })
    await response.arrayBuffer()
    return response.status
  } catch {
    return undefined
  }
}

/** Follow one probe as the kubelet does: after the initial delay, every period, until success or failureThreshold failures. */
async function followProbe (probe: Probe, portOf: (port: string | number) => number, exited: () => boolean): Promise<{ ok: boolean, attempts: number }> {
  const period = (probe.periodSeconds ?? 10) * 1000
  const threshold = probe.failureThreshold ?? 3
  const timeout = (probe.timeoutSeconds ?? 1) * 1000
  if (probe.httpGet === undefined) throw new Error('only httpGet probes are declared by the chart')
  await sleep((probe.initialDelaySeconds ?? 0) * 1000)
  let failures = 0
  let attempts = 0
  while (failures < threshold && !exited()) {
    attempts++
    const status = await httpStatus(portOf(probe.httpGet.port), probe.httpGet.path, timeout)
    if (status !== undefined && status >= 200 && status < 400) return { ok: true, attempts }
    failures++
    if (failures < threshold) await sleep(period)
  }
  return { ok: false, attempts }
}

t.test('the chart\'s pod, run as the kubelet would', { skip: canIsolate ? false : 'needs root, unshare and setpriv (a private mount namespace)' }, async t => {
  const objects = await helmTemplate({ values: [path.join(CHART_DIR, 'values-dev.yaml')] })
  const deployment = byKind(objects, 'Deployment')[0]
  if (deployment === undefined) throw new Error('the chart renders no Deployment')
  const pod = (deployment.spec as { template: { spec: PodSpec } }).template.spec
  const container = pod.containers.find(candidate => candidate.name === 'analytics-mcp') ?? pod.containers[0]
  if (container === undefined) throw new Error('the Deployment has no container')
  const image = dockerfileFacts()
  const workdir = container.workingDir ?? image.workdir ?? '/'
  const [uid, gid] = (image.user ?? '').split(':').map(Number)
  t.ok(Number.isInteger(uid) && uid !== 0, `the image runs as a numeric non-root user (${image.user ?? 'none'})`)
  const runAs = { uid: container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? uid, gid: container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup ?? gid ?? uid }

  // What the image holds at WORKDIR is this project (bin/, dist/, assets/, node_modules/): mounted read-only there.
  // The kubelet's environment: the image's ENV, overridden by the container's.
  const env = { ...image.env, ...resolveEnv(objects, container) }
  const ports = new Map((container.ports ?? []).map(port => [port.name ?? String(port.containerPort), port.containerPort]))
  const portOf = (port: string | number): number => typeof port === 'number' ? port : ports.get(port) ?? Number(port)
  const mcpPort = portOf('http')
  t.ok(await portIsFree(mcpPort), `the declared port ${mcpPort} is free on this machine (a pod has its own network)`)

  const mounts: string[] = [`mkdir -p ${shellQuote(workdir)}`, `mount --bind -o ro ${shellQuote(ROOT)} ${shellQuote(workdir)}`]
  const emptyDirs: string[] = []
  for (const mount of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find(candidate => candidate.name === mount.name)
    if (volume === undefined) throw new Error(`volume ${mount.name} is mounted but not declared`)
    if (volume.emptyDir !== undefined) {
      emptyDirs.push(mount.mountPath)
      mounts.push(`mkdir -p ${shellQuote(mount.mountPath)}`, `mount -t tmpfs -o size=${volume.emptyDir.sizeLimit === undefined ? '512m' : volume.emptyDir.sizeLimit.replace(/i$/, '').toLowerCase()},uid=${runAs.uid},gid=${runAs.gid},mode=0755 tmpfs ${shellQuote(mount.mountPath)}`)
    } else {
      const source = projectedVolume(objects, volume)
      mounts.push(`mkdir -p ${shellQuote(mount.mountPath)}`, `mount --bind -o ro ${shellQuote(mount.subPath === undefined ? source : path.join(source, mount.subPath))} ${shellQuote(mount.mountPath)}`)
    }
  }
  t.same([...emptyDirs].sort(), [...image.writablePaths].sort(), 'the pod gives the service a writable emptyDir exactly where the image writes')

  // The image's ENTRYPOINT starts its node: here it is this machine's Node 24, on the same files.
  const entrypoint = container.command ?? image.entrypoint
  const args = container.args ?? image.cmd
  const [, ...entryArgs] = entrypoint
  // Node from inside the mounts: under the project (.tools/) it is reached through WORKDIR, as an
  // emptyDir may hide where the checkout is (a clone under /tmp).
  const node = process.execPath.startsWith(ROOT) ? path.join(workdir, path.relative(ROOT, process.execPath)) : process.execPath
  const command = [node, ...entryArgs, ...args]
  const script = [...mounts, `cd ${shellQuote(workdir)}`, `exec env -u NODE_OPTIONS setpriv --reuid=${runAs.uid} --regid=${runAs.gid} --clear-groups --no-new-privs ${command.map(shellQuote).join(' ')}`].join(' && ')
  // What the image holds at WORKDIR: the package's own files (other tests may write elsewhere in the tree meanwhile).
  const snapshot = (): string => JSON.stringify(['package.json', 'bin', 'dist', 'assets'].flatMap(entry => listing(path.join(ROOT, entry))))
  const before = snapshot()
  // NODE_OPTIONS is dropped in the script: the test runner adds its own hooks to every child's.
  const output: string[] = []
  const child: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    env: { ...env, PATH: '/usr/bin:/bin', HOME: '/nonexistent' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout?.on('data', chunk => output.push(String(chunk)))
  child.stderr?.on('data', chunk => output.push(String(chunk)))
  let exit: { code: number | null, signal: NodeJS.Signals | null } | undefined
  const exited = new Promise<void>(resolve => child.once('exit', (code, signal) => { exit = { code, signal }; resolve() }))
  t.teardown(() => { if (exit === undefined) child.kill('SIGKILL') })
  const log = (): string => output.join('').split('\n').slice(-15).join('\n')

  // The kubelet: the startup probe until it succeeds (liveness and readiness wait for it), then readiness.
  if (container.startupProbe !== undefined) {
    const startup = await followProbe(container.startupProbe, portOf, () => exit !== undefined)
    t.ok(startup.ok, `the startup probe succeeds within its budget (${startup.attempts} attempts)`, { log: log() })
    if (!startup.ok) return
  }
  t.ok(container.readinessProbe, 'a readiness probe is declared')
  const readiness = await followProbe(container.readinessProbe ?? {}, portOf, () => exit !== undefined)
  t.ok(readiness.ok, 'the pod becomes ready', { log: log() })
  t.ok(container.livenessProbe?.httpGet !== undefined && (await httpStatus(portOf(container.livenessProbe.httpGet.port), container.livenessProbe.httpGet.path, 1000)) === 200, 'the liveness probe answers')

  // helm test: the test pod's command, with the Service name resolving to this pod.
  const testPod = byKind(objects, 'Pod').find(candidate => candidate.metadata.annotations?.['helm.sh/hook'] === 'test')
  t.ok(testPod, 'the chart has a helm test pod')
  const testContainer = (testPod?.spec as PodSpec | undefined)?.containers[0]
  const testArgs = (testContainer?.args ?? []).map(arg => arg.replace(/^http:\/\/[^/:]+(:\d+)?/, `http://127.0.0.1:${mcpPort}`))
  t.equal(testArgs[0], 'probe', 'it runs analytics-mcp probe')
  const probe = await new Promise<{ code: number | null, out: string }>(resolve => {
    const run = spawn(process.execPath, [path.join(ROOT, 'bin', 'analytics-mcp.js'), ...testArgs], { env: { ...process.env, ...resolveEnv(objects, testContainer ?? { name: 'test' }) } })
    let out = ''
    run.stdout.on('data', chunk => { out += String(chunk) })
    run.stderr.on('data', chunk => { out += String(chunk) })
    run.once('exit', code => resolve({ code, out }))
  })
  t.equal(probe.code, 0, `helm test passes: ${probe.out.trim()}`)
  t.match(probe.out, /\bok\b.*\d+ tools/, 'after a real initialize and tools/list')

  // Scale down with calls in flight: preStop (the pod still serves), SIGTERM, the grace period.
  const slow = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 15000000) SELECT COUNT(*) AS rows_counted FROM n"
  const calls = Array.from({ length: 3 }, async (_, i) => await post(`http://127.0.0.1:${mcpPort}/mcp`, toolCall('execute_sql', { database_id: 'examples', sql: `${slow} -- ${i}` }, i + 1)))
  const metricsPort = ports.get('metrics') ?? mcpPort
  const inFlight = async (): Promise<number> => {
    const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(async response => await response.text()).catch(() => '')
    return [...text.matchAll(/^mcp_tool_calls_in_flight(?:\{[^}]*\})? (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0)
  }
  let seen = 0
  for (let waited = 0; seen < 3 && waited < 10_000 && exit === undefined; waited += 20) {
    seen = await inFlight()
    if (seen < 3) await sleep(20)
  }
  t.equal(seen, 3, 'three calls are in flight when the pod is told to stop')
  const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0
  const grace = pod.terminationGracePeriodSeconds ?? 30
  const scaledDown = Date.now()
  await sleep(preStop * 1000)
  child.kill('SIGTERM')
  const inTime = await Promise.race([exited.then(() => true), sleep((grace - preStop) * 1000).then(() => false)])
  const seconds = (Date.now() - scaledDown) / 1000
  t.ok(inTime, `the process exits within the grace period (${seconds.toFixed(1)} s of ${grace} s)`, { log: log() })
  t.equal(exit?.code, 0, 'with status 0')
  const answers = await Promise.all(calls)
  t.ok(answers.every(answer => answer.status === 200 && answer.json?.result !== undefined && answer.json.result.isError !== true), 'the calls in flight at SIGTERM finish, none failed')
  t.ok(answers.every(answer => JSON.stringify(answer.json?.result?.structuredContent).includes('15000000')), 'each with its result')

  // The project tree was mounted read-only where the image has the package: nothing in it changed.
  t.equal(snapshot(), before, 'the service wrote nothing outside its emptyDirs')
})

/** Names, sizes and modification times of `file`, or of everything under it. */
function listing (file: string): Array<[string, number, number]> {
  const top = statSync(file)
  if (!top.isDirectory()) return [[file, top.size, top.mtimeMs]]
  return readdirSync(file, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(file, entry.name)
    if (entry.isDirectory()) return listing(full)
    const stat = statSync(full)
    return [[full, stat.size, stat.mtimeMs] as [string, number, number]]
  })
}
