import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EXIT } from '../src/cli.ts'
import { cli } from './helpers/cli.ts'
import { sharedExamplesFile } from './helpers/examples.ts'
import { post, toolCall } from './helpers/rpc.ts'

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli.ts')

t.test('usage', async t => {
  const env = { MCP_DATA_DIR: t.testdir() }
  const help = await cli(['--help'], env)
  t.equal(help.code, EXIT.ok)
  t.match(help.out, /analytics-mcp run \[--host HOST\] \[--port PORT\] \[--debug\]/)
  t.equal((await cli([], env)).code, EXIT.usage)
  t.equal((await cli(['users', 'create', '--help'], env)).code, EXIT.ok)
  const unknown = await cli(['frobnicate'], env)
  t.equal(unknown.code, EXIT.usage)
  t.match(unknown.err, /unknown command "frobnicate"/)
  const badFlag = await cli(['db', 'upgrade', '--force'], env)
  t.equal(badFlag.code, EXIT.usage)
  t.match(badFlag.err, /--force/)
  t.equal((await cli(['db', 'migrate'], env)).code, EXIT.usage)
  t.equal((await cli(['users', 'delete'], env)).code, EXIT.usage)
  t.match((await cli(['--version'], env)).out, /^\d+\.\d+\.\d+$/)
})

t.test('a bad setting exits 78 naming it', async t => {
  const result = await cli(['db', 'version'], { MCP_DATA_DIR: t.testdir(), MCP_SERVICE_PORT: 'eighty' })
  t.equal(result.code, EXIT.config)
  t.match(result.err, /MCP_SERVICE_PORT \(environment\)/)
})

t.test('db upgrade, db version', async t => {
  const env = { MCP_DATA_DIR: t.testdir(), MCP_CATALOG_AUTO_UPGRADE: 'false' }
  const before = await cli(['db', 'version'], env)
  t.equal(before.code, EXIT.failure, 'a missing catalog is reported')
  t.match(before.err, /there is no catalog at .*; run `analytics-mcp db upgrade`/)
  t.notOk(existsSync(path.join(env.MCP_DATA_DIR, 'catalog.db')), 'and not created')
  const upgrade = await cli(['db', 'upgrade'], env)
  t.equal(upgrade.code, EXIT.ok)
  t.match(upgrade.out, /Applied migration 1: /)
  t.match(upgrade.out, /Applied migration 2: role permissions/)
  t.match(upgrade.out, /Applied migration 3: catalog identity and content version/)
  t.match(upgrade.out, /Applied migration 4: link states/)
  t.match(upgrade.out, /Applied migration 5: dashboard slugs unique per caller/)
  t.match(upgrade.out, /Applied migration 6: warehouse connections/)
  t.match(upgrade.out, /Applied migration 7: databases declared in MCP_DATABASES/)
  t.match(upgrade.out, /Applied migration 8: OAuth authorization server/)
  t.match(upgrade.out, /Applied migration 9: ids are never reused/)
  t.match((await cli(['db', 'upgrade'], env)).out, /up to date \(schema version 9\)/)
  t.match((await cli(['db', 'version'], env)).out, /schema version 9 \(this release: 9\)/)
})

t.test('load-examples and users', async t => {
  const env = { MCP_DATA_DIR: t.testdir(), MCP_EXAMPLES_PATH: sharedExamplesFile() }
  const load = await cli(['load-examples'], env)
  t.equal(load.code, EXIT.ok)
  t.match(load.out, /Registered database "examples"/)
  t.match(load.out, /Created users: admin, alice, bob/)
  const again = await cli(['load-examples'], env)
  t.match(again.out, /already registered/)

  const created = await cli(['users', 'create', '--username', 'dana', '--first-name', 'Dana', '--email', 'dana@example.com', '--role', 'Gamma', '--role', 'sql_lab'], env)
  t.equal(created.code, EXIT.ok)
  t.match(created.out, /Created user dana \(id 4, roles: Gamma, sql_lab\)/)
  const inactive = await cli(['users', 'create', '--username', 'eve', '--inactive'], env)
  t.match(inactive.out, /roles: none, inactive/)
  const duplicate = await cli(['users', 'create', '--username', 'dana'], env)
  t.equal(duplicate.code, EXIT.failure)
  t.match(duplicate.err, /already exists/)
  const badRole = await cli(['users', 'create', '--username', 'fred', '--role', 'Wizard'], env)
  t.match(badRole.err, /unknown role\(s\): Wizard/)
  t.equal((await cli(['users', 'create'], env)).code, EXIT.usage)

  const list = await cli(['users', 'list'], env)
  t.match(list.out, /^1\tadmin\tAda Admin\tadmin@example.com\tAdmin\tactive$/m)
  t.match(list.out, /^4\tdana\tDana\tdana@example.com\tGamma,sql_lab\tactive$/m)
  t.match(list.out, /^5\teve\t\t\t\tinactive$/m)

  t.match((await cli(['users', 'deactivate', 'dana'], env)).out, /User dana is now inactive/)
  t.match((await cli(['users', 'deactivate', 'dana'], env)).out, /User dana was already inactive/)
  t.match((await cli(['users', 'list'], env)).out, /^4\tdana\t.*\tinactive$/m)
  t.match((await cli(['users', 'activate', 'eve'], env)).out, /User eve is now active/)
  const unknown = await cli(['users', 'deactivate', 'nobody'], env)
  t.equal(unknown.code, EXIT.failure)
  t.match(unknown.err, /no user named "nobody"/)
  t.equal((await cli(['users', 'deactivate'], env)).code, EXIT.usage)
})

t.test('run serves MCP and shuts down gracefully on SIGTERM', async t => {
  const dataDir = t.testdir()
  const child = spawn(process.execPath, [CLI, 'run', '--port', '0', '--host', '127.0.0.1'], {
    env: { ...process.env, MCP_DATA_DIR: dataDir, MCP_EXAMPLES_PATH: sharedExamplesFile(), MCP_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let output = ''
  child.stderr.on('data', chunk => { output += String(chunk) })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', chunk => {
      output += String(chunk)
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+\/mcp)"/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.once('exit', code => reject(new Error(`exited early with ${String(code)}: ${output}`)))
  })
  t.ok(existsSync(path.join(dataDir, 'catalog.db')), 'the catalog was created in MCP_DATA_DIR')
  const response = await post(url, toolCall('get_instance_info', {}))
  t.equal(response.json.result.structuredContent.current_user.username, 'admin')

  const exit = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  child.kill('SIGTERM')
  t.equal(await exit, 0, 'exits 0 after closing')
  t.match(output, /"msg":"shutting down"/)
  const lines = output.split('\n').filter(line => line.startsWith('{'))
  t.ok(lines.every(line => { try { JSON.parse(line); return true } catch { return false } }), 'every log line is JSON')
})

t.test('SIGTERM lets an in-flight query on a keep-alive connection finish, then exits 0', async t => {
  const child = spawn(process.execPath, [CLI, 'run', '--port', '0'], {
    env: { ...process.env, MCP_DATA_DIR: t.testdir(), MCP_EXAMPLES_PATH: sharedExamplesFile(), MCP_LOG_LEVEL: 'info', MCP_SHUTDOWN_TIMEOUT: '60' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const url = await new Promise<string>((resolve, reject) => {
    let output = ''
    child.stdout.on('data', chunk => {
      output += String(chunk)
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+\/mcp)"/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.once('exit', code => reject(new Error(`exited early with ${String(code)}`)))
  })
  // A query of a few seconds, on fetch's keep-alive connection.
  const slow = post(url, toolCall('execute_sql', { database_id: 1, sql: 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000000) SELECT COUNT(*) AS n FROM n', timeout: 60 }))
  for (let i = 0; i < 500; i++) {
    const metrics = await (await fetch(new URL('/metrics', url), { headers: { connection: 'close' } })).text()
    if (/mcp_tool_calls_in_flight\{tool="execute_sql"\} 1/.test(metrics)) break
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  const exit = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  child.kill('SIGTERM')
  // While the query runs, the server stops listening: a new connection is refused (a load
  // balancer moves on to another replica) rather than answered with 503.
  let refused = false
  for (let i = 0; i < 300 && !refused; i++) {
    refused = await fetch(new URL('/healthz', url), { headers: { connection: 'close' } }).then(() => false, (err: { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED')
    if (!refused) await new Promise(resolve => setTimeout(resolve, 10))
  }
  t.ok(refused, 'new connections are refused during shutdown')
  const response = await slow
  t.equal(response.status, 200, 'the in-flight request is answered')
  t.same(response.json.result.structuredContent.rows, [{ n: 20_000_000 }], 'with its result')
  t.equal(response.headers.get('connection'), 'close')
  t.equal(await exit, 0, 'and the process exits 0 without waiting for the keep-alive timeout')
})

t.test('run refuses to start with a clear message when the port is taken', async t => {
  const dataDir = t.testdir()
  const env = { ...process.env, MCP_DATA_DIR: dataDir, MCP_EXAMPLES_PATH: sharedExamplesFile(), MCP_LOG_LEVEL: 'silent' }
  const first = spawn(process.execPath, [CLI, 'run', '--port', '0'], { env: { ...env, MCP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => { first.kill('SIGKILL') })
  const port = await new Promise<string>(resolve => {
    let output = ''
    first.stdout.on('data', chunk => {
      output += String(chunk)
      const match = /127\.0\.0\.1:(\d+)\/mcp/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
  })
  const second = spawn(process.execPath, [CLI, 'run', '--port', port], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  second.stderr.on('data', chunk => { stderr += String(chunk) })
  const code = await new Promise<number | null>(resolve => second.once('exit', resolve))
  t.equal(code, EXIT.failure)
  t.match(stderr, /EADDRINUSE/)
})
