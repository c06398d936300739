import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import t from 'tap'
import { clientBin } from '../helpers/client-matrix.ts'
import { chromiumAvailable, followAuthorization, launchChromium } from '../helpers/oauth-browser.ts'
import { startOAuthEnvironment } from '../helpers/oauth-server.ts'
import { DEFAULT_PASSWORD } from '../helpers/oidc-provider.ts'
import { freePort } from '../helpers/ports.ts'

// mcp-remote, the stdio bridge Claude Desktop runs for a remote server, doing the whole OAuth
// flow against the built-in authorization server: it finds the server by the 401, registers,
// "opens the browser" (a fake xdg-open on PATH hands the URL to Chromium, where the person signs
// in and allows), receives the code on its loopback callback, and bridges calls as that user.

t.setTimeout(300_000)

const MCP_REMOTE = clientBin('mcp-remote', 'mcp-remote')

/**
 * The URL mcp-remote asks the desktop to open: what the fake opener recorded, or, when its
 * opener found another way, the URL it prints for the person to copy.
 */
async function openedUrl (file: string, log: () => string): Promise<string> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const line = readFileSync(file, 'utf8').split('\n')[0]?.trim()
      if (line !== undefined && line !== '') return line
    }
    const printed = /Please authorize this client by visiting:\s+(\S+)/.exec(log())
    if (printed?.[1] !== undefined) return printed[1]
    await sleep(100)
  }
  throw new Error(`mcp-remote never opened a browser; its log:\n${log()}`)
}

if (chromiumAvailable(t)) {
  t.test('mcp-remote signs in through the browser and bridges calls as the user', async t => {
    const browser = await launchChromium(t)
    const env = await startOAuthEnvironment(t)
    const home = mkdtempSync(path.join(os.tmpdir(), 'mcp-remote-oauth-'))
    t.teardown(() => { rmSync(home, { recursive: true, force: true }) })
    // The desktop's "open this URL" (xdg-open, or $BROWSER): record it for the test's browser.
    const bin = path.join(home, 'bin')
    const opened = path.join(home, 'opened-url')
    mkdirSync(bin)
    const xdgOpen = path.join(bin, 'xdg-open')
    writeFileSync(xdgOpen, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`)
    chmodSync(xdgOpen, 0o755)

    const callbackPort = await freePort()
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MCP_REMOTE, env.resource, String(callbackPort)],
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: home, MCP_REMOTE_CONFIG_DIR: path.join(home, 'mcp-auth'), BROWSER: xdgOpen },
      stderr: 'pipe'
    })
    let log = ''
    transport.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString('utf8') })
    const client = new Client({ name: 'claude-desktop-like', version: '1.0.0' })
    t.teardown(async () => {
      const pid = transport.pid
      await client.close()
      if (pid !== null) {
        try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
      }
    })

    // The handshake waits while mcp-remote runs the sign-in.
    const connected = client.connect(transport)
    const authorizationUrl = await openedUrl(opened, () => log)
    t.ok(authorizationUrl.startsWith(`${env.origin}/oauth/authorize?`), 'mcp-remote opened our authorization endpoint')
    const params = new URL(authorizationUrl).searchParams
    t.equal(params.get('code_challenge_method'), 'S256', 'with PKCE S256')
    t.equal(params.get('redirect_uri'), `http://localhost:${callbackPort}/oauth/callback`, 'and its loopback callback')
    const outcome = await followAuthorization(browser, authorizationUrl, { username: 'alice', password: DEFAULT_PASSWORD, decision: 'allow', screenshotName: 'mcp-remote', passThrough: true })
    t.ok(outcome.url.searchParams.get('code'), 'the browser brought mcp-remote a code')
    await connected
    t.equal(client.getServerVersion()?.name, 'analytics-mcp', 'and mcp-remote connected with the tokens')

    const tools = (await client.listTools()).tools.map(tool => tool.name)
    t.ok(tools.includes('execute_sql'), 'alice\'s tools come through the bridge')
    const result = await client.callTool({ name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT 2 AS two' } })
    t.notOk(result.isError, 'and her SQL runs')
    const grants = await env.app.oauthServer!.store.grantsOfUser((await env.app.catalog.findUserByUsername('alice'))!.id)
    t.equal(grants.length, 1, 'one sign-in was recorded for alice')
  })
}
