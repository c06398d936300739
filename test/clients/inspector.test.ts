import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { textOf } from '../helpers/client.ts'
import { clientBin } from '../helpers/client-matrix.ts'
import { TOOL_NAMES } from '../helpers/tools.ts'

// The MCP Inspector CLI, as a child process against the real server: what a developer runs to
// smoke-test the service, and what CI jobs script on its exit codes (0 ok, 1 usage or protocol
// error, 5 the tool returned isError).

t.setTimeout(300_000)

const INSPECTOR = clientBin('@modelcontextprotocol/inspector', 'mcp-inspector')
const TOOL_ERROR_EXIT = 5

interface CliRun {
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed (`--format json` prints one object), or undefined when it is not JSON. */
  json: any
}

/** Run the Inspector CLI with its state in a temporary home, killed at teardown if still running. */
async function inspector (t: Test, args: string[]): Promise<CliRun> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'inspector-home-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const child = spawn(process.execPath, [INSPECTOR, '--cli', ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      MCP_CATALOG_PATH: path.join(home, 'mcp.json'),
      MCP_CLIENT_CONFIG_PATH: path.join(home, 'client.json'),
      NO_COLOR: '1'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code] = await once(child, 'close') as [number | null]
  let json: unknown
  try {
    json = JSON.parse(stdout)
  } catch {
    json = undefined
  }
  return { code, stdout, stderr, json }
}

const show = (run: CliRun): string => `exit ${String(run.code)}; stdout: ${run.stdout.slice(0, 300)}; stderr: ${run.stderr.slice(0, 300)}`

t.test('MCP Inspector CLI', async t => {
  const server = await startTestServer(t)
  const target = [server.url.href, '--transport', 'http', '--format', 'json']

  for (const era of ['legacy', 'modern'] as const) {
    t.test(`${era} era`, async t => {
      const common = [...target, '--protocol-era', era]

      t.test('tools/list lists every tool', async t => {
        const run = await inspector(t, [...common, '--method', 'tools/list'])
        t.equal(run.code, 0, show(run))
        const names = (run.json?.result?.tools ?? []).map((tool: { name: string }) => tool.name)
        t.ok(names.includes('health_check'), 'health_check is listed')
        t.same(names, TOOL_NAMES)
      })

      t.test('a successful tools/call exits 0 with the result', async t => {
        const run = await inspector(t, [...common, '--method', 'tools/call', '--tool-name', 'list_dashboards', '--tool-arg', 'page_size=2'])
        t.equal(run.code, 0, show(run))
        const result = run.json?.result
        t.notOk(result?.isError)
        t.equal(result?.structuredContent?.page_size, 2, 'page_size=2 arrived as a number')
        t.equal(result?.structuredContent?.dashboards?.length, 2)
        t.match(textOf(result ?? {}), /2 dashboards match/)
      })

      t.test('a tool error exits 5 and shows our message', async t => {
        const run = await inspector(t, [...common, '--method', 'tools/call', '--tool-name', 'get_dataset_info', '--tool-arg', 'identifier=99999'])
        t.equal(run.code, TOOL_ERROR_EXIT, `exit 5 ("tool returned isError"), not 1: ${show(run)}`)
        t.match(run.stdout + run.stderr, /No dataset matches identifier "?99999"?/, 'the not-found message is printed')
        t.match(run.stdout + run.stderr, /list_datasets/, 'with what to do about it')
        t.equal(run.json?.result?.isError, true, 'the result is printed as it came')
        t.equal(run.json?.result?._meta?.error_type, 'not_found')
        t.match(run.stderr, /"code":"tool_is_error"/, 'and the CLI says why it exits 5')
      })
    })
  }
})
