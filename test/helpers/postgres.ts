import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { freePort } from './ports.ts'

/**
 * A real PostgreSQL server per test file: initdb and pg_ctl in a temporary directory, listening
 * on 127.0.0.1 on a free port. PostgreSQL refuses to run as root, so as root the server runs
 * as the `postgres` user (Debian's package creates it) in a directory chowned to it.
 * `postgres` logs in without a password (trust, loopback only); every other role needs its
 * password (scram-sha-256), as in production.
 */

export interface PostgresServer {
  /** postgresql://postgres@127.0.0.1:PORT/postgres (the superuser, no password). */
  url: string
  port: number
  /** The URL for another role (without its password: that comes from a password_source). */
  urlFor: (role: string, database?: string) => string
  /** Run SQL as the superuser; the rows as objects. */
  sql: <Row = Record<string, unknown>>(query: string, values?: unknown[]) => Promise<Row[]>
  /** Create the least-privilege role of the README: LOGIN, SELECT only on public's tables, read-only by default. */
  createAnalyst: (name: string, password: string) => Promise<void>
  /** Stop the server (fast shutdown) and wait. */
  stop: () => Promise<void>
  /** Start it again on the same port and data directory. */
  start: () => Promise<void>
}

const HOST = '127.0.0.1'
const running = new Set<() => void>()
process.once('exit', () => {
  for (const stop of running) stop()
})

function binDir (): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter(version => existsSync(join(root, version, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : []
  const version = versions[0]
  if (version === undefined) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql')
  return join(root, version, 'bin')
}

const asRoot = process.getuid?.() === 0

/** Run a PostgreSQL program, as the postgres user when we are root. */
async function run (program: string, args: string[]): Promise<string> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args]
  return await new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${program} ${args.join(' ')} failed: ${stderr.trim() || error.message}`))
      else resolve(stdout)
    })
  })
}

/** A PostgreSQL server per test file, stopped (and its directory removed) when the test ends. */
export async function startPostgres (t: Test): Promise<PostgresServer> {
  const server = await launchPostgres()
  t.teardown(async () => { await server.destroy() })
  return server
}

/**
 * Start a throwaway PostgreSQL server (initdb + pg_ctl in a temporary directory); `destroy`
 * stops it and removes the directory. Tests use startPostgres; benchmarks call this directly.
 */
export async function launchPostgres (): Promise<PostgresServer & { destroy: () => Promise<void> }> {
  const bin = binDir()
  const dir = mkdtempSync(join(tmpdir(), 'pg-test-'))
  const data = join(dir, 'data')
  if (asRoot) {
    const uid = Number((await new Promise<string>((resolve, reject) => execFile('id', ['-u', 'postgres'], (e, out) => e === null ? resolve(out) : reject(new Error('no postgres user: apt-get install postgresql'))))).trim())
    const gid = Number((await new Promise<string>((resolve, reject) => execFile('id', ['-g', 'postgres'], (e, out) => e === null ? resolve(out) : reject(e)))).trim())
    chownSync(dir, uid, gid)
  }
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'])
  writeFileSync(join(data, 'pg_hba.conf'), [
    'local all all trust',
    `host all postgres ${HOST}/32 trust`,
    `host all all ${HOST}/32 scram-sha-256`,
    ''
  ].join('\n'))
  const port = await freePort(HOST)
  const options = `-p ${port} -k ${dir} -c listen_addresses=${HOST} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=120`
  const log = join(dir, 'server.log')
  const start = async (): Promise<void> => {
    try {
      await run(join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-l', log, '-w', '-t', '30', 'start'])
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : ''}`)
    }
  }
  const stop = async (): Promise<void> => {
    await run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => {})
  }
  const kill = (): void => {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
      if (pid > 0) process.kill(pid, 'SIGQUIT')
    } catch {}
  }
  await start()
  running.add(kill)
  const url = `postgresql://postgres@${HOST}:${port}/postgres`
  const sql = async <Row = Record<string, unknown>>(query: string, values: unknown[] = []): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return (await client.query(query, values)).rows as Row[]
    } finally {
      await client.end()
    }
  }
  const destroy = async (): Promise<void> => {
    await stop()
    running.delete(kill)
    rmSync(dir, { recursive: true, force: true })
  }
  return {
    destroy,
    url,
    port,
    urlFor: (role, database = 'postgres') => `postgresql://${role}@${HOST}:${port}/${database}`,
    sql,
    async createAnalyst (name, password) {
      const role = `"${name.replaceAll('"', '""')}"`
      // The README's recipe: a login role that may only read, read-only even outside analytics-mcp's transactions.
      await sql(`CREATE ROLE ${role} LOGIN PASSWORD '${password.replaceAll("'", "''")}'`)
      await sql(`ALTER ROLE ${role} SET default_transaction_read_only = on`)
      await sql(`ALTER ROLE ${role} SET statement_timeout = '60s'`)
      await sql(`ALTER ROLE ${role} SET temp_file_limit = '256MB'`)
      await sql(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
      await sql(`GRANT USAGE ON SCHEMA public TO ${role}`)
      await sql(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`)
      await sql(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${role}`)
    },
    stop,
    start
  }
}
