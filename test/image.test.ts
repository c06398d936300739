import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { validate } from 'dockerfile-utils'
import { parse as parseYaml } from 'yaml'
import { loadServiceConfig } from '../src/server.ts'
import { DOCKERFILE, dockerfileFacts } from './helpers/dockerfile.ts'
import { freePort } from './helpers/ports.ts'

/*
 * The container image without a container engine: the Dockerfile linted and held to the
 * deployment conventions (user, paths, command, ports, pinned bases), docker-compose.yml read
 * and its settings run through the real config schema, and the compiled package started the
 * way the image starts it, from a foreign working directory, to see it writes nowhere else.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = path.join(ROOT, 'bin', 'analytics-mcp.js')
const packageJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string, files: string[], bin: Record<string, string> }
const dockerfileText = readFileSync(DOCKERFILE, 'utf8')
const facts = dockerfileFacts(dockerfileText)

/** What the final stage may hold under /app: the package as npm would install it. */
const PACKAGE_ENTRIES = ['package.json', 'bin', 'dist', 'assets', 'node_modules']

/** validate() returns LSP diagnostics: severity 1 is an error, 2 a warning (3, 4: information, hint). */
function lint (text: string): string[] {
  return validate(text).filter(diagnostic => diagnostic.severity === undefined || diagnostic.severity <= 2).map(problem => `line ${problem.range.start.line + 1}: ${problem.message}`)
}

t.test('the Dockerfile lints clean with dockerfile-utils', async t => {
  t.same(lint(dockerfileText), [])
  // The linter is live: a broken Dockerfile is reported.
  t.same(lint('FROM node:24\nEXPOSE not-a-port\nUSER\n'), ['line 2: Invalid containerPort: not-a-port', 'line 3: Instruction has no arguments'])
})

t.test('every base image is pinned by digest', async t => {
  t.ok(facts.froms.length >= 2, 'a build stage and a final stage')
  for (const from of facts.froms) t.match(from.digest, /^sha256:[0-9a-f]{64}$/, from.image)
  const final = facts.froms.at(-1)
  t.equal(final?.name, 'distroless/nodejs24-debian12')
  t.equal(final?.tag, 'nonroot')
  // Native modules built in the first stages must match the final base's Debian release.
  for (const from of facts.froms.slice(0, -1)) t.match(from.tag, /^24-bookworm/, `${from.stage ?? from.image} is Node 24 on bookworm (debian12)`)
})

t.test('the final stage runs the package bin as 65532:65532 from /app', async t => {
  t.equal(facts.user, '65532:65532')
  t.match(facts.user, /^\d+:\d+$/, 'numeric, so runAsNonRoot can verify it')
  t.equal(facts.workdir, '/app')
  t.match(facts.entrypoint[0], /\/node$/)
  t.same(facts.entrypoint.slice(1), [`/app/${packageJson.bin['analytics-mcp']}`])
  t.same(facts.cmd, ['run'])
  t.same(facts.exposed.toSorted((a, b) => a - b), [5008, 9464])
  t.same(facts.healthcheck, [...facts.entrypoint, 'probe', 'http://127.0.0.1:5008/mcp'])
})

t.test('the final stage sets the pod conventions in its environment', async t => {
  t.equal(facts.env.MCP_SERVICE_HOST, '0.0.0.0')
  t.equal(facts.env.MCP_DATA_DIR, '/data')
  t.equal(facts.env.NODE_ENV, 'production')
  t.same(facts.writablePaths, ['/data', '/tmp'])
  t.ok(facts.writablePaths.includes(facts.env.MCP_DATA_DIR as string))
  t.same(facts.volumes, ['/data'])
})

t.test('the final stage copies the package and nothing else', async t => {
  const intoApp = facts.copies.filter(copy => copy.destination !== '/data')
  for (const copy of intoApp) {
    const target = path.posix.resolve('/app', copy.destination)
    for (const source of copy.sources) {
      const entry = path.posix.basename(source)
      t.ok(PACKAGE_ENTRIES.includes(entry), `${source} is part of the package`)
      t.ok(target === '/app' || target === `/app/${entry}`, `${source} lands at /app/${entry}, not ${target}`)
    }
  }
  const shipped = intoApp.flatMap(copy => copy.sources.map(source => path.posix.basename(source)))
  t.same(shipped.toSorted(), PACKAGE_ENTRIES.toSorted(), 'all of it: package.json, bin, dist, assets (the chart font), node_modules')
  for (const file of packageJson.files.filter(file => file !== 'README.md')) t.ok(shipped.includes(file), `${file} (package.json "files") is in the image`)
  t.notOk(shipped.some(entry => ['src', 'test', 'scripts', 'bench', '.git'].includes(entry)))
  t.same(intoApp.filter(copy => copy.sources.includes('/app/node_modules')).map(copy => copy.from), ['deps'], 'node_modules from the production-only stage')
  t.ok(existsSync(path.join(ROOT, 'assets', 'fonts', 'DejaVuSans.ttf')), 'the chart font is in assets/')
})

t.test('the labels name the image, its source, licence, version and MCP server', async t => {
  t.equal(facts.labels['org.opencontainers.image.title'], 'analytics-mcp')
  t.match(facts.labels['org.opencontainers.image.description'], /MCP server/)
  t.match(facts.labels['org.opencontainers.image.source'], /^https:\/\//)
  t.equal(facts.labels['org.opencontainers.image.licenses'], 'Apache-2.0')
  t.equal(facts.labels['org.opencontainers.image.version'], '${VERSION}')
  t.match(dockerfileText, new RegExp(`^ARG VERSION=${packageJson.version.replaceAll('.', '\\.')}$`, 'm'), 'the version ARG defaults to package.json\'s version')
  t.match(facts.labels['io.modelcontextprotocol.server.name'], /^io\.github\.[\w-]+\/[\w-]+$/)
})

t.test('.dockerignore keeps local state out of the build context, and not what the build copies', async t => {
  const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map(line => line.trim()).filter(line => line !== '' && !line.startsWith('#'))
  for (const entry of ['node_modules', '.git', '.tools', '.tap', 'coverage', 'data', 'test', 'bench', '.artifacts', 'dist', '*.db', '.env']) t.ok(ignored.includes(entry), `${entry} is ignored`)
  const copiedFromContext = [...dockerfileText.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap(match => (match[1] as string).split(/\s+/).slice(0, -1))
  t.ok(copiedFromContext.includes('src'), 'the build stage copies src/')
  for (const source of copiedFromContext) t.notOk(ignored.includes(source), `${source} reaches the build`)
})

/** Bare module specifiers the compiled code loads (imports, createRequire, page asset lookups). */
function importedPackages (): Set<string> {
  const names = new Set<string>()
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) visit(file)
      else if (file.endsWith('.js')) {
        const source = readFileSync(file, 'utf8')
        const patterns = [/\bfrom\s+'([^']+)'/g, /\bimport\s*\(\s*'([^']+)'\s*\)/g, /^import\s+'([^']+)'/gm, /createRequire\([^)]*\)\(\s*'([^']+)'/g, /\bpackage(?:File|Script)\(\s*'([^']+)'/g]
        for (const pattern of patterns) {
          for (const match of source.matchAll(pattern)) {
            const specifier = match[1] as string
            if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) continue
            names.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0] as string)
          }
        }
      }
    }
  }
  visit(path.join(ROOT, 'dist'))
  return names
}

t.test('every package the compiled code loads is a production dependency (npm ci --omit=dev keeps it)', async t => {
  t.ok(existsSync(path.join(ROOT, 'dist', 'cli.js')), 'dist/ is built (make setup)')
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  const packages = importedPackages()
  for (const name of ['fastify', 'better-sqlite3', 'vega', '@modelcontextprotocol/server', 'd3-format']) t.ok(packages.has(name), `the scan finds ${name}`)
  for (const name of packages) {
    const locked = lock.packages[`node_modules/${name}`]
    t.ok(locked !== undefined && locked.dev !== true, `${name} is installed without dev dependencies`)
  }
})

/** ${NAME:-default} and ${NAME} as Compose substitutes them from `env`. */
function interpolate (value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_all, name: string, fallback: string | undefined) => env[name] ?? fallback ?? '')
}

t.test('docker-compose.yml: the service with PostgreSQL and Redis, as the image runs it', async t => {
  const compose = parseYaml(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Record<string, any>>
    volumes: Record<string, unknown>
  }
  t.same(Object.keys(compose.services).toSorted(), ['analytics-mcp', 'postgres', 'redis'])
  const service = compose.services['analytics-mcp'] as Record<string, any>
  t.equal(service.build, '.')
  t.ok((service.ports as string[]).some(port => /(^|:)5008:5008$/.test(port)), 'publishes 5008')
  t.equal(service.user, facts.user, 'the image\'s user')
  t.equal(service.read_only, true)
  t.same(service.tmpfs, ['/tmp'])
  const dataVolume = (service.volumes as string[]).find(volume => volume.endsWith(':/data'))?.split(':')[0]
  t.ok(dataVolume !== undefined && dataVolume in compose.volumes, 'a named volume at /data')
  t.same(Object.fromEntries(Object.entries(service.depends_on as Record<string, { condition: string }>).map(([name, dependency]) => [name, dependency.condition])), { postgres: 'service_healthy', redis: 'service_healthy' })

  const postgres = compose.services.postgres as Record<string, any>
  t.equal(postgres.image, 'postgres:17')
  t.ok((postgres.healthcheck.test as string[]).includes('pg_isready'))
  const redis = compose.services.redis as Record<string, any>
  t.equal(redis.image, 'redis:7')
  t.ok((redis.healthcheck.test as string[]).includes('redis-cli'))

  const environment = Object.fromEntries(Object.entries(service.environment as Record<string, string>).map(([name, value]) => [name, interpolate(String(value), {})]))
  t.equal(environment.MCP_CATALOG_URL, 'postgresql://analytics@postgres:5432/analytics')
  t.equal(environment.MCP_CATALOG_PASSWORD, interpolate(postgres.environment.POSTGRES_PASSWORD as string, {}), 'the catalog password is PostgreSQL\'s')
  t.equal(interpolate(service.environment.MCP_CATALOG_PASSWORD as string, { MCP_CATALOG_PASSWORD: 'from-the-shell' }), 'from-the-shell', 'and can come from the shell')

  // The image's ENV, then the service's: start-up would accept them.
  const config = await loadServiceConfig({ env: { ...facts.env, ...environment }, cwd: t.testdir() })
  t.equal(config.MCP_SERVICE_HOST, '0.0.0.0')
  t.equal(config.MCP_DATA_DIR, '/data')
  t.equal(config.catalogLocation, 'postgresql://analytics@postgres:5432/analytics')
  t.equal(config.MCP_STORE_CONFIG.enabled, true)
  t.equal(config.MCP_STORE_CONFIG.CACHE_REDIS_URL, 'redis://redis:6379/0')
  t.ok(config.MCP_ALLOWED_HOSTS.includes('127.0.0.1'), 'the health check\'s Host is accepted')
})

/** Every path under the repository (less dependencies and test output) with its size and mtime. */
function treeListing (): Map<string, string> {
  const skip = new Set(['node_modules', '.tap', '.git', '.tools'])
  const listing = new Map<string, string>()
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (dir === ROOT && skip.has(entry.name)) continue
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) {
        listing.set(path.relative(ROOT, file) + '/', '')
        visit(file)
      } else {
        const stat = statSync(file)
        listing.set(path.relative(ROOT, file), `${stat.size} ${stat.mtimeMs}`)
      }
    }
  }
  visit(ROOT)
  return listing
}

async function waitForReady (url: string, exited: () => boolean): Promise<boolean> {
  for (let attempt = 0; attempt < 240 && !exited(); attempt++) {
    try {
      if ((await fetch(url)).status === 200) return true
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  return false
}

async function runBin (args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null, out: string, err: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', chunk => { out += String(chunk) })
  child.stderr.on('data', chunk => { err += String(chunk) })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, out, err }
}

t.test('the compiled package runs as the image runs it, and writes only to its data directory', async t => {
  if (!existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    t.fail('dist/ is missing: run `make setup` (or `npm run build`) first')
    return
  }
  // Outside the repository (tap's testdir is under .tap/ in it).
  const base = mkdtempSync(path.join(tmpdir(), 'analytics-mcp-image-'))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  const cwd = path.join(base, 'cwd')
  mkdirSync(cwd)
  const dataDir = path.join(base, 'data')
  const before = treeListing()
  const port = await freePort()
  // The image's environment, with loopback for the test; no HOME, no config file, nothing else.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    // The image's V8 flags, so the service is shown to start with them.
    NODE_OPTIONS: facts.env.NODE_OPTIONS,
    MCP_SERVICE_HOST: '127.0.0.1',
    MCP_SERVICE_PORT: String(port),
    MCP_DATA_DIR: dataDir,
    MCP_LOG_LEVEL: 'warn'
  }
  const child = spawn(process.execPath, [BIN, 'run'], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += String(chunk) })
  child.stderr.on('data', chunk => { output += String(chunk) })
  let exitCode: number | null | undefined
  const exited = new Promise<number | null>(resolve => child.once('exit', code => {
    exitCode = code
    resolve(code)
  }))
  t.teardown(() => { if (exitCode === undefined) child.kill('SIGKILL') })

  const origin = `http://127.0.0.1:${port}`
  t.ok(await waitForReady(`${origin}/readyz`, () => exitCode !== undefined), `/readyz answers 200 ${output}`)
  const probe = await runBin(['probe', `${origin}/mcp`], { PATH: process.env.PATH }, cwd)
  t.equal(probe.code, 0, probe.err)
  t.match(probe.out, new RegExp(`^ok: analytics-mcp ${packageJson.version.replaceAll('.', '\\.')} at ${origin}/mcp, protocol 2025-11-25, \\d+ tools\\n$`))

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM: a clean exit')

  t.same(readdirSync(cwd), [], 'nothing in the working directory')
  t.ok(existsSync(path.join(dataDir, 'catalog.db')), 'the catalog is in MCP_DATA_DIR')
  const after = treeListing()
  t.same([...after.keys()].filter(entry => !before.has(entry)), [], 'no new file or directory in the repository')
  // Only the installed package's own files are compared for changes: the sources are edited by people.
  const installed = (entry: string): boolean => entry === 'package.json' || ['bin/', 'dist/', 'assets/'].some(dir => entry.startsWith(dir))
  t.same([...after.keys()].filter(entry => installed(entry) && before.get(entry) !== after.get(entry)), [], 'no file of the package changed')
})
