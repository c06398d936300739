import { spawn } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { PNG } from 'pngjs'
import t from 'tap'
import { EXIT } from '../src/cli.ts'
import { post } from './helpers/rpc.ts'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(ROOT, 'bin', 'analytics-mcp.js')
const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
const USAGE = /^analytics-mcp \S+: an MCP server for analytics\n\nUsage:\n {2}analytics-mcp run /
const INSTALL_TIMEOUT_MS = 600_000

// Packing builds dist/ and installing may compile better-sqlite3: more than the suite's per-file timeout.
t.setTimeout(INSTALL_TIMEOUT_MS + 120_000)

/**
 * A user's shell: this environment, with this Node first on PATH and, given a prefix, that
 * prefix as npm's global prefix with its bin/ before everything else. tap's process hook follows
 * every child (npm, node-gyp, the installed command); its coverage is turned off there, so that
 * neither npm nor dist/ is measured as if it were the sources.
 */
function userEnv (prefix?: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_config_(local_|global_)?prefix$/.test(name)))
  const bins = [...(prefix === undefined ? [] : [path.join(prefix, 'bin')]), path.dirname(process.execPath), env.PATH ?? '']
  return {
    ...env,
    _TAPJS_PROCESSINFO_COVERAGE_: '0',
    PATH: bins.join(path.delimiter),
    ...(prefix === undefined ? {} : { npm_config_prefix: prefix })
  }
}

async function exec (command: string, args: string[], options: { cwd: string, env: NodeJS.ProcessEnv }): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += String(chunk) })
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  return { code, stdout, stderr }
}

/** The MCP endpoint a starting server logs, or the output it exited with. */
async function servedUrl (child: ChildProcessByStdio<null, Readable, Readable>): Promise<string> {
  let output = ''
  return await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', chunk => { output += String(chunk) })
    child.stdout.on('data', chunk => {
      output += String(chunk)
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+\/mcp)"/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.once('exit', code => reject(new Error(`exited early with ${String(code)}: ${output}`)))
  })
}

t.test('npm pack, npm install -g: the installed analytics-mcp command works', { timeout: INSTALL_TIMEOUT_MS }, async t => {
  const dir = t.testdir({ prefix: {}, cwd: {}, data: {} })
  const prefix = path.join(dir, 'prefix')
  const cwd = path.join(dir, 'cwd')
  const env = userEnv(prefix)

  const pack = await exec('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, env })
  t.equal(pack.code, 0, 'npm pack succeeds (prepack builds dist/)', { stderr: pack.stderr })
  const [packed] = JSON.parse(pack.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed?.files.map(file => file.path) ?? []
  t.ok(files.includes('dist/cli.js'), 'the tarball holds the compiled CLI')
  t.ok(files.includes('dist/cli.d.ts'), 'with its declarations')
  t.ok(files.includes('dist/pages/browser/pages.js'), 'and the browser files the pages serve')
  t.ok(files.includes('dist/charts/render-worker.js'), 'and the chart render worker')
  t.ok(files.includes('assets/fonts/DejaVuSans.ttf'), 'and the fonts')
  t.ok(files.includes('bin/analytics-mcp.js'))
  t.same(files.filter(file => /^(src|test|bench|scripts)\//.test(file)), [], 'no sources, tests, benchmarks or scripts')

  const install = await exec('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, packed?.filename ?? '')], { cwd, env })
  t.equal(install.code, 0, 'npm install -g of the tarball succeeds', { stderr: install.stderr })

  const help = await exec('analytics-mcp', ['--help'], { cwd, env })
  t.equal(help.code, EXIT.ok, 'analytics-mcp --help exits 0')
  t.match(help.stdout, USAGE, 'and prints the usage')
  const printed = await exec('analytics-mcp', ['--version'], { cwd, env })
  t.equal(printed.code, EXIT.ok)
  t.equal(printed.stdout.trim(), version, 'analytics-mcp --version prints package.json\'s version')
  // --no-install: npx finds the installed command and never asks the registry (the package is not published).
  const npx = await exec('npx', ['--no-install', 'analytics-mcp', '--version'], { cwd, env })
  t.equal(npx.code, EXIT.ok, 'npx analytics-mcp --version exits 0', { stderr: npx.stderr })
  t.equal(npx.stdout.trim(), version, 'and prints the version')

  const server = spawn('analytics-mcp', ['run', '--port', '0'], { cwd, env: { ...env, MCP_DATA_DIR: path.join(dir, 'data') }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL') })
  const url = await servedUrl(server)
  const listed = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-protocol-version': '2025-11-25' })
  t.equal(listed.status, 200)
  t.ok((listed.json?.result?.tools as Array<{ name: string }> | undefined)?.some(tool => tool.name === 'health_check'), 'analytics-mcp run serves MCP: tools/list has health_check')
  const preview = await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_chart_preview', arguments: { identifier: 3, format: 'png', width: 400, height: 300 } } }, { 'mcp-protocol-version': '2025-11-25' })
  const image = (preview.json?.result?.content as Array<{ type: string, data?: string }> | undefined)?.find(item => item.type === 'image')
  t.ok(image?.data, 'a PNG preview is drawn by the installed render worker', { result: preview.text.slice(0, 500) })
  if (image?.data !== undefined) {
    const png = PNG.sync.read(Buffer.from(image.data, 'base64'))
    t.same([png.width, png.height], [400, 300], 'at the size asked for')
  }
  const exit = new Promise<number | null>(resolve => server.once('exit', code => resolve(code)))
  server.kill('SIGTERM')
  t.equal(await exit, EXIT.ok, 'and exits 0 on SIGTERM')
})

// npm pack (above) has just built dist/, which the checkout's bin runs.
t.test('the checkout\'s bin runs the CLI, directly and through a symlink (npm link)', async t => {
  const dir = t.testdir({ bin: { 'analytics-mcp': t.fixture('symlink', BIN) } })
  const env = userEnv()

  const help = await exec(process.execPath, [BIN, '--help'], { cwd: dir, env })
  t.equal(help.code, EXIT.ok)
  t.match(help.stdout, USAGE, 'node bin/analytics-mcp.js --help prints the usage')
  const printed = await exec(process.execPath, [BIN, '--version'], { cwd: dir, env })
  t.equal(printed.stdout.trim(), version, 'node bin/analytics-mcp.js --version prints the version')
  const usage = await exec(process.execPath, [BIN], { cwd: dir, env })
  t.equal(usage.code, EXIT.usage, 'no command is a usage error (exit 2)')

  const linked = await exec(path.join(dir, 'bin', 'analytics-mcp'), ['--version'], { cwd: dir, env })
  t.equal(linked.code, EXIT.ok, 'the symlinked command runs', { stderr: linked.stderr })
  t.equal(linked.stdout.trim(), version, 'and prints the version')
})
