import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import t from 'tap'
import type { Test } from 'tap'
import { createApiKey } from '../../src/auth/api-keys.ts'
import { startTestServer } from '../helpers/app.ts'
import { clientBin, expectSuccess, expectToolError, v1Adapter } from '../helpers/client-matrix.ts'
import type { ClientAdapter } from '../helpers/client-matrix.ts'
import { TOOL_CALLS } from '../helpers/tool-calls.ts'
import type { BadCall, ToolName } from '../helpers/tool-calls.ts'
import { TOOL_NAMES } from '../helpers/tools.ts'

// mcp-remote, the stdio bridge Claude Desktop uses for HTTP servers, between an SDK v1 client on
// stdio and the real server. HTTP to 127.0.0.1 needs no --allow-http (loopback is allowed).

t.setTimeout(300_000)

const MCP_REMOTE = clientBin('mcp-remote', 'mcp-remote')

const DATASET_NOT_FOUND = notFoundCall('get_dataset_info')

function notFoundCall (name: ToolName): BadCall {
  const call = TOOL_CALLS[name].bad.find(bad => bad.kind === 'not_found')
  if (call === undefined) throw new Error(`TOOL_CALLS.${name} has no not_found call`)
  return call
}

/**
 * Spawn mcp-remote for `url` with its auth state (MCP_REMOTE_CONFIG_DIR) and home in a temporary
 * directory, and connect an SDK v1 client to it over stdio. Closed, and killed if need be, at teardown.
 */
async function bridge (t: Test, url: URL, flags: string[] = []): Promise<{ client: Client, calls: ClientAdapter, log: () => string }> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'mcp-remote-home-'))
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MCP_REMOTE, url.href, ...flags],
    env: { PATH: process.env.PATH ?? '', HOME: home, MCP_REMOTE_CONFIG_DIR: path.join(home, 'mcp-auth') },
    stderr: 'pipe'
  })
  let log = ''
  transport.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString('utf8') })
  const client = new Client({ name: 'analytics-mcp-tests-bridge', version: '1.0.0' })
  t.teardown(async () => {
    const pid = transport.pid
    // Ends stdin, then SIGTERM, then SIGKILL.
    await client.close()
    if (pid !== null && isRunning(pid)) process.kill(pid, 'SIGKILL')
    rmSync(home, { recursive: true, force: true })
  })
  await client.connect(transport)
  return { client, calls: v1Adapter(client), log: () => log }
}

function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('mcp-remote in development mode', async t => {
  const server = await startTestServer(t)

  for (const [mode, flags] of [['legacy', []], ['auto', ['--protocol', 'auto']]] as const) {
    t.test(`--protocol ${mode}: tools, a good call and a bad call through the bridge`, async t => {
      const { client, calls, log } = await bridge(t, server.url, [...flags])
      t.equal(client.getServerVersion()?.name, 'analytics-mcp', 'the server answered the handshake')
      if (mode === 'auto') t.match(log(), /speaks MCP 2026-07-28/, 'the bridge talks to the server in the modern era')
      const tools = await calls.listTools()
      t.same(tools.map(tool => tool.name), TOOL_NAMES)
      await expectSuccess(t, calls, 'list_dashboards', { page_size: 2 })
      await expectToolError(t, calls, 'get_dataset_info', DATASET_NOT_FOUND)
    })
  }
})

t.test('mcp-remote with an API key in a header, development mode off', async t => {
  const server = await startTestServer(t, { MCP_API_KEY_ENABLED: true })
  const admin = await server.app.catalog.findUserByUsername('admin')
  if (admin === undefined) throw new Error('demo user admin missing')
  const { key } = await createApiKey(server.app.catalog, { prefix: 'amcp', name: 'claude-desktop', userId: admin.id, scopes: null, expiresOn: null })

  t.test('without the key the server asks for credentials', async t => {
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
    t.equal(response.status, 401)
  })

  t.test('with the key the bridge is served as its user, without OAuth', async t => {
    const { calls } = await bridge(t, server.url, ['--header', `Authorization: Bearer ${key}`])
    t.same((await calls.listTools()).map(tool => tool.name), TOOL_NAMES)
    const info = await expectSuccess(t, calls, 'get_instance_info', {})
    t.match(info?.structuredContent, { current_user: { username: 'admin', auth_method: 'api_key' } })
    await expectToolError(t, calls, 'get_dataset_info', DATASET_NOT_FOUND)
  })
})
