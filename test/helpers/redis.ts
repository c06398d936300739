import { execFile, spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { freePort } from './ports.ts'
import { tlsFiles } from './tls.ts'

/**
 * Real redis-server processes for tests: plain, TLS-only and ACL-protected servers, crashes
 * and restarts on the same port, and a sentinel in front of a server. Each one listens on
 * loopback on a random port with its own temporary directory, and is killed when the test ends.
 */

export interface RedisUser {
  name: string
  password: string
  /** ACL rules after the password; `~* &* +@all` (everything) when left out. */
  rules?: string
}

export interface RedisServerOptions {
  /** Serve TLS only (rediss://), with a CA and a server certificate generated for this server (CN/SAN localhost and 127.0.0.1). */
  tls?: boolean
  /** Redis 6 ACL users besides `default`, e.g. [{ name: 'mcp', password: 's3cret', rules: '~* +@all' }]; when given, the default user is disabled (`user default off`). */
  users?: RedisUser[]
}

const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 10_000
const POLL_MS = 50
/** A readiness probe that hangs (something that is not redis holds the port) must not eat the whole start-up time. */
const POLL_CLI_TIMEOUT_MS = 2000
const START_ATTEMPTS = 3
const LOG_TAIL_LINES = 25

/** Servers still running and directories not removed yet: a test process that exits without its teardowns must not leave them behind. */
const running = new Set<ChildProcess>()
const leftovers = new Set<string>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
  for (const dir of leftovers) rmSync(dir, { recursive: true, force: true })
})

let tools: { pdeathsig: boolean } | undefined

/** Fail early and plainly when redis is not installed, instead of with a spawn error in the middle of a test. */
function checkTools (): { pdeathsig: boolean } {
  if (tools !== undefined) return tools
  const server = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (server.error !== undefined) {
    throw new Error(`redis-server not found (${server.error.message}): apt-get install redis-server`)
  }
  const major = Number(/v=(\d+)\./.exec(server.stdout)?.[1] ?? 0)
  if (major < 6) throw new Error(`redis-server 6 or later is needed (ACL users, TLS), found: ${server.stdout.trim()}`)
  const cli = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' })
  if (cli.error !== undefined) throw new Error(`redis-cli not found (${cli.error.message}): apt-get install redis-tools`)
  // A test process killed with SIGKILL (tap does that to a test that times out) runs no exit
  // handler; on Linux, setpriv makes the kernel SIGKILL redis-server when its parent dies.
  const setpriv = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'])
  tools = { pdeathsig: setpriv.error === undefined && setpriv.status === 0 }
  return tools
}

/**
 * A value for redis.conf: double-quoted, as redis unquotes it (a path or a password may hold
 * spaces). Control characters other than \n, \r and \t cannot be written this way.
 */
function quote (value: string): string {
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(value)) throw new Error(`cannot write ${JSON.stringify(value)} into a redis config file`)
  return JSON.stringify(value)
}

async function acceptsConnections (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = connect({ host: HOST, port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

interface CliResult { code: number, stdout: string, stderr: string }

async function runCli (args: string[], timeout = 5000): Promise<CliResult> {
  return await new Promise(resolve => {
    // REDISCLI_AUTH from the developer's shell would be sent as the default user's password.
    execFile('redis-cli', args, { timeout, env: { ...process.env, REDISCLI_AUTH: undefined } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout, stderr: error !== null && stderr === '' ? error.message : stderr })
    })
  })
}

/** `redis-cli -e` (error replies give a non-zero exit): stdout trimmed, or a rejection with what redis-cli said. */
async function cliOrThrow (connection: string[], args: string[]): Promise<string> {
  const result = await runCli(['-e', ...connection, ...args])
  if (result.code !== 0) {
    throw new Error(`redis-cli ${args.join(' ')} failed (exit ${result.code}): ${(result.stderr.trim() || result.stdout.trim()) || 'no output'}`)
  }
  return result.stdout.trim()
}

/** A start-up that failed; `portTaken` when another process had the port, so that a new port is worth a try. */
class StartError extends Error {
  portTaken = false
}

/** One redis-server (or sentinel) process over its lifetimes: started, killed, started again from the same config. */
class RedisProcess {
  readonly configFile: string
  readonly logFile: string
  private readonly extraArgs: string[]
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()

  constructor (configFile: string, logFile: string, extraArgs: string[] = []) {
    this.configFile = configFile
    this.logFile = logFile
    this.extraArgs = extraArgs
  }

  logTail (): string {
    let log: string
    try {
      log = readFileSync(this.logFile, 'utf8')
    } catch {
      return '(no log)'
    }
    return log.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n')
  }

  /**
   * Spawn and poll `ready` every 50 ms until it says yes, the process dies, or 10 s pass; `ready`
   * throws for an answer that will not change (the process is killed in both cases).
   */
  async start (what: string, ready: () => Promise<boolean>): Promise<void> {
    const args = [this.configFile, ...this.extraArgs]
    // redis writes its log to the logfile; anything printed before that (a config file error) goes to the same file.
    const out = openSync(this.logFile, 'a')
    let child: ChildProcess
    try {
      child = checkTools().pdeathsig
        ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'redis-server', ...args], { stdio: ['ignore', out, out] })
        : spawn('redis-server', args, { stdio: ['ignore', out, out] })
    } finally {
      closeSync(out)
    }
    // Not holding the event loop open: a script that forgets to stop a server still ends (and the exit handler kills it).
    child.unref()
    running.add(child)
    this.child = child
    let status: string | undefined
    this.exited = new Promise(resolve => {
      const done = (detail: string): void => {
        status ??= detail
        running.delete(child)
        if (this.child === child) this.child = undefined
        resolve()
      }
      child.once('exit', (code, signal) => done(signal !== null ? `signal ${signal}` : `exit code ${code}`))
      child.once('error', error => done(error.message))
    })
    const deadline = Date.now() + READY_TIMEOUT_MS
    for (;;) {
      if (status !== undefined) {
        const tail = this.logTail()
        const error = new StartError(`${what} ended during start-up (${status}); last lines of ${this.logFile}:\n${tail}`)
        error.portTaken = /Address already in use/.test(tail)
        throw error
      }
      let answered: boolean
      try {
        // Something else on the port (redis died on "Address already in use") may accept and never answer.
        answered = await Promise.race([ready(), this.exited.then(() => false)])
      } catch (error) {
        await this.kill()
        throw new StartError(`${what}: ${(error as Error).message}; last lines of ${this.logFile}:\n${this.logTail()}`)
      }
      if (answered) return
      if (Date.now() > deadline) {
        await this.kill()
        throw new StartError(`${what} did not answer within ${READY_TIMEOUT_MS / 1000} s; last lines of ${this.logFile}:\n${this.logTail()}`)
      }
      await sleep(POLL_MS)
    }
  }

  /** SIGKILL, and wait for the exit (a no-op when not running). */
  async kill (): Promise<void> {
    const child = this.child
    if (child === undefined) return
    child.ref()
    child.kill('SIGKILL')
    await this.exited
  }
}

/** Start on a fresh port, and on another one when someone took it between `freePort` and redis binding it. */
async function startOnFreePort (what: string, proc: RedisProcess, configFor: (port: number) => string, ready: (port: number) => Promise<boolean>): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(HOST)
    writeFileSync(proc.configFile, configFor(port))
    writeFileSync(proc.logFile, '')
    try {
      await proc.start(`${what} on port ${port}`, async () => await ready(port))
      return port
    } catch (error) {
      if (!(error instanceof StartError && error.portTaken && attempt < START_ATTEMPTS)) throw error
    }
  }
}

/** A temporary directory removed by the test's teardown (or at process exit), after the process in it is dead. */
function workDir (t: Test, prefix: string, proc: () => RedisProcess | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  leftovers.add(dir)
  t.teardown(async () => {
    await proc()?.kill()
    rmSync(dir, { recursive: true, force: true })
    leftovers.delete(dir)
  })
  return dir
}

/** A redis-server on 127.0.0.1 (the address the TLS certificate is made for), without persistence. */
export class RedisServer {
  readonly port: number
  readonly host = HOST
  /** redis://127.0.0.1:PORT (or rediss:// when tls) — without credentials. */
  readonly url: string
  /** PEM file of the CA that signed the server certificate (tls only). */
  readonly caFile: string | undefined
  readonly tls: boolean
  /** The ACL users; the first one is the one `cli()` and a sentinel log in as. */
  readonly users: readonly RedisUser[]
  private readonly proc: RedisProcess

  private constructor (port: number, options: { caFile: string | undefined, users: readonly RedisUser[] }, proc: RedisProcess) {
    this.port = port
    this.caFile = options.caFile
    this.tls = options.caFile !== undefined
    this.users = options.users
    this.url = `${this.tls ? 'rediss' : 'redis'}://${HOST}:${port}`
    this.proc = proc
  }

  static async start (t: Test, options: RedisServerOptions = {}): Promise<RedisServer> {
    checkTools()
    const users = options.users ?? []
    const tls = options.tls === true ? tlsFiles() : undefined
    let proc: RedisProcess | undefined
    const dir = workDir(t, 'redis-test-', () => proc)
    proc = new RedisProcess(join(dir, 'redis.conf'), join(dir, 'redis.log'))
    const connection = (port: number): string[] => connectionArgs(port, tls?.caFile, users[0])
    const configFor = (port: number): string => [
      `bind ${HOST}`,
      ...(tls === undefined
        ? [`port ${port}`]
        : [
            'port 0',
            `tls-port ${port}`,
            `tls-cert-file ${quote(tls.certFile)}`,
            `tls-key-file ${quote(tls.keyFile)}`,
            `tls-ca-cert-file ${quote(tls.caFile)}`,
            // Clients (ioredis, redis-cli) present no certificate.
            'tls-auth-clients no'
          ]),
      `dir ${quote(dir)}`,
      `logfile ${quote(join(dir, 'redis.log'))}`,
      'save ""',
      'appendonly no',
      // Protected mode refuses non-loopback clients of a server without passwords: never in the way here, even if the bind line changes.
      'protected-mode no',
      'daemonize no',
      ...users.map(user => `user ${quote(user.name)} on ${quote(`>${user.password}`)} ${user.rules ?? '~* &* +@all'}`),
      ...(users.length > 0 ? ['user default off'] : []),
      ''
    ].join('\n')
    const port = await startOnFreePort('redis-server', proc, configFor, async port => await answersPing(connection(port)))
    return new RedisServer(port, { caFile: tls?.caFile, users }, proc)
  }

  /** SIGKILL the process (a crash), and wait until it has exited and the port no longer accepts connections. */
  async kill (): Promise<void> {
    await this.proc.kill()
    const deadline = Date.now() + 2000
    while (await acceptsConnections(this.port)) {
      if (Date.now() > deadline) throw new Error(`port ${this.port} still accepts connections after redis-server was killed`)
      await sleep(POLL_MS)
    }
  }

  /**
   * Start it again on the SAME port with the same configuration (killed first if still running;
   * data may be lost: no persistence), and wait until it answers PING.
   */
  async restart (): Promise<void> {
    await this.proc.kill()
    try {
      await this.proc.start(`redis-server restarting on port ${this.port}`, async () => await answersPing(this.connection()))
    } catch (error) {
      if (error instanceof StartError && error.portTaken) error.message = `another process took port ${this.port} while redis-server was down: ${error.message}`
      throw error
    }
  }

  /**
   * Run a redis-cli command against it (handles tls/auth, as the first ACL user) and return stdout
   * trimmed — for test assertions like `await redis.cli('GET', 'k')`. An error reply rejects.
   */
  async cli (...args: string[]): Promise<string> {
    return await cliOrThrow(this.connection(), args)
  }

  private connection (): string[] {
    return connectionArgs(this.port, this.caFile, this.users[0])
  }
}

function connectionArgs (port: number, caFile: string | undefined, user: RedisUser | undefined): string[] {
  return [
    '-h', HOST,
    '-p', String(port),
    ...(caFile === undefined ? [] : ['--tls', '--cacert', caFile]),
    ...(user === undefined ? [] : ['--user', user.name, '--pass', user.password, '--no-auth-warning'])
  ]
}

/** Whether the server answers PING yet; a refusal of our credentials or of PING itself will not go away by waiting. */
async function answersPing (connection: string[]): Promise<boolean> {
  const result = await runCli([...connection, 'PING'], POLL_CLI_TIMEOUT_MS)
  const answer = `${result.stdout.trim()} ${result.stderr.trim()}`.trim()
  if (/WRONGPASS|NOPERM|NOAUTH/.test(answer)) throw new Error(`PING was refused (the first ACL user must be allowed to log in and PING): ${answer}`)
  return result.code === 0 && result.stdout.trim() === 'PONG'
}

/**
 * A Redis Sentinel (`redis-server <conf> --sentinel`) monitoring one server with quorum 1, for
 * clients that find the master through sentinels. It speaks plain TCP only, and so cannot watch
 * a TLS-only server (that would need tls-port and tls-replication in the sentinel as well).
 */
export class SentinelServer {
  readonly port: number
  readonly host = HOST
  readonly masterName: string
  private constructor (port: number, masterName: string) {
    this.port = port
    this.masterName = masterName
  }

  /**
   * Start `redis-server <conf> --sentinel` monitoring `master` (quorum 1, down after 1 s) and
   * wait until `SENTINEL get-master-addr-by-name` returns the master and the sentinel has talked
   * to it (logged in as the master's first ACL user, if it has users).
   */
  static async start (t: Test, master: RedisServer, masterName = 'mymaster'): Promise<SentinelServer> {
    checkTools()
    if (master.tls) throw new Error('SentinelServer cannot monitor a TLS-only redis-server: this helper runs sentinels over plain TCP')
    let proc: RedisProcess | undefined
    const dir = workDir(t, 'redis-test-sentinel-', () => proc)
    // --sentinel after the file; the sentinel rewrites this file (its id, epochs, the default user), so it lives in the temp dir.
    proc = new RedisProcess(join(dir, 'sentinel.conf'), join(dir, 'sentinel.log'), ['--sentinel'])
    const auth = master.users[0]
    const configFor = (port: number): string => [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${quote(dir)}`,
      `logfile ${quote(join(dir, 'sentinel.log'))}`,
      'protected-mode no',
      'daemonize no',
      `sentinel monitor ${masterName} ${HOST} ${master.port} 1`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      ...(auth === undefined ? [] : [`sentinel auth-user ${masterName} ${quote(auth.name)}`, `sentinel auth-pass ${masterName} ${quote(auth.password)}`]),
      ''
    ].join('\n')
    const ready = async (port: number): Promise<boolean> => {
      const connection = ['-h', HOST, '-p', String(port)]
      const address = await runCli([...connection, 'SENTINEL', 'get-master-addr-by-name', masterName], POLL_CLI_TIMEOUT_MS)
      if (address.code !== 0 || address.stdout.trim().split('\n').join(':') !== `${HOST}:${master.port}`) return false
      // The run id comes from the master's INFO: the sentinel has connected and logged in.
      const state = await runCli([...connection, 'SENTINEL', 'master', masterName], POLL_CLI_TIMEOUT_MS)
      const fields = state.stdout.trim().split('\n')
      const field = (name: string): string | undefined => fields.includes(name) ? fields[fields.indexOf(name) + 1] : undefined
      return state.code === 0 && field('flags') === 'master' && (field('runid') ?? '') !== ''
    }
    const port = await startOnFreePort(`redis sentinel for ${masterName}`, proc, configFor, ready)
    return new SentinelServer(port, masterName)
  }

  /** Run a redis-cli command against the sentinel, e.g. `cli('SENTINEL', 'master', 'mymaster')`; stdout trimmed. */
  async cli (...args: string[]): Promise<string> {
    return await cliOrThrow(['-h', HOST, '-p', String(this.port)], args)
  }
}
