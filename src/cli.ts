import { Catalog, CatalogError } from './catalog/catalog.ts'
import { copyCatalog } from './catalog/copy.ts'
import { openConfiguredCatalog } from './catalog/configured.ts'
import { LATEST_CATALOG_VERSION } from './catalog/migrations.ts'
import { ConfigError } from './config.ts'
import { loadExamples } from './examples/load.ts'
import { loadExamplesInto } from './examples/load-into.ts'
import { passwordSource } from './engines/connection.ts'
import { API_KEYS_USAGE, apiKeysCommand } from './commands/api-keys.ts'
import { configFor, parse, UsageError, withCatalog } from './commands/common.ts'
import { databasesCommand, DATABASES_USAGE } from './commands/databases.ts'
import type { CliIo } from './commands/common.ts'
import { oauthCommand, OAUTH_USAGE } from './commands/oauth.ts'
import { probeCommand, PROBE_USAGE } from './commands/probe.ts'
import { rolesCommand, ROLES_USAGE } from './commands/roles.ts'
import { startServer } from './server.ts'
import { SERVICE_VERSION } from './version.ts'

const USAGE = `analytics-mcp ${SERVICE_VERSION}: an MCP server for analytics

Usage:
  analytics-mcp run [--host HOST] [--port PORT] [--debug]   serve MCP at http://HOST:PORT/mcp
  analytics-mcp db upgrade                                  apply pending catalog migrations
  analytics-mcp db version                                  show the catalog schema version
  analytics-mcp db copy --from URL --to URL [--force]       copy a whole catalog (e.g. the embedded SQLite one into PostgreSQL)
  analytics-mcp load-examples [--into URI [--name NAME] [--password-env VAR | --password-file FILE]]
                                                            generate and register the example data (--into: copy
                                                            it into a postgresql:// or duckdb:///file database too)
  analytics-mcp users create --username NAME [--first-name F] [--last-name L]
                             [--email E] [--role ROLE]... [--inactive]
  analytics-mcp users list
  analytics-mcp users deactivate NAME | users activate NAME   refuse (or allow again) every credential of a user
${ROLES_USAGE}
${API_KEYS_USAGE}
${DATABASES_USAGE}
${OAUTH_USAGE}
${PROBE_USAGE}

Every command accepts --config FILE (default: MCP_CONFIG_FILE, else analytics-mcp.config.{js,mjs,json,yaml,yml}).
Settings come from the config file and MCP_* environment variables; see README.md.`

/** Exit codes: usage errors 2, configuration errors 78 (EX_CONFIG), other failures 1. */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 78 } as const

async function run (args: string[], io: CliIo): Promise<number> {
  const values = parse(args, { host: { type: 'string' }, port: { type: 'string' }, debug: { type: 'boolean' } })
  const overrides: Record<string, unknown> = {}
  if (values.host !== undefined) overrides.MCP_SERVICE_HOST = values.host
  if (values.port !== undefined) overrides.MCP_SERVICE_PORT = values.port
  if (values.debug === true) overrides.MCP_DEBUG = true
  const config = await configFor(values, io, overrides)
  await startServer(config)
  return EXIT.ok
}

async function db (args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args
  if (action === 'copy') return await copy(rest, io)
  const values = parse(rest, {})
  const config = await configFor(values, io)
  if (action === 'upgrade') {
    const catalog = await openConfiguredCatalog(config, { upgrade: true })
    try {
      const applied = catalog.appliedAtOpen
      io.out(applied.length === 0
        ? `Catalog ${catalog.location} is up to date (schema version ${await catalog.version()}).`
        : applied.map(migration => `Applied migration ${migration.version}: ${migration.name}`).join('\n'))
    } finally {
      await catalog.close()
    }
    return EXIT.ok
  }
  if (action === 'version') {
    const catalog = await openConfiguredCatalog(config, { upgrade: false })
    try {
      io.out(`Catalog ${catalog.location}: schema version ${await catalog.version()} (this release: ${LATEST_CATALOG_VERSION}).`)
    } finally {
      await catalog.close()
    }
    return EXIT.ok
  }
  throw new UsageError(`unknown db command "${action ?? ''}" (use: db upgrade, db version, db copy)`)
}

/** db copy: the source as it is (its schema must be current), the target created or upgraded first. */
async function copy (args: string[], io: CliIo): Promise<number> {
  const values = parse(args, { from: { type: 'string' }, to: { type: 'string' }, force: { type: 'boolean' } })
  if (values.from === undefined || values.to === undefined) throw new UsageError('db copy needs --from URL and --to URL (a SQLite path, sqlite:///abs/path.db or postgresql://…; a PostgreSQL password in the URL or PGPASSWORD)')
  if (values.from === values.to) throw new UsageError('db copy: --from and --to name the same catalog')
  const source = await Catalog.open(values.from, { upgrade: false })
  try {
    const target = await Catalog.open(values.to, { upgrade: true })
    try {
      const { rows } = await copyCatalog(source, target, { force: values.force === true })
      io.out(`Copied ${source.location} to ${target.location}: ${Object.entries(rows).filter(([, count]) => count > 0).map(([table, count]) => `${count} ${table}`).join(', ')}.`)
    } finally {
      await target.close()
    }
  } finally {
    await source.close()
  }
  return EXIT.ok
}

async function examples (args: string[], io: CliIo): Promise<number> {
  const values = parse(args, { into: { type: 'string' }, name: { type: 'string' }, 'password-env': { type: 'string' }, 'password-file': { type: 'string' } })
  if (values.into === undefined && (values.name !== undefined || values['password-env'] !== undefined || values['password-file'] !== undefined)) {
    throw new UsageError('--name, --password-env and --password-file go with --into URI')
  }
  if (values.into !== undefined) {
    const uri = values.into
    let source: string | null
    try {
      source = passwordSource(values['password-env'], values['password-file'])
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    await withCatalog(values, io, async (catalog, config) => {
      const result = await loadExamplesInto(catalog, config.examplesPath, { uri, passwordSource: source, ...(values.name === undefined ? {} : { name: values.name }) })
      const copied = Object.entries(result.copied)
      io.out(copied.length === 0 ? 'The example tables were there already; nothing copied.' : `Copied ${copied.map(([table, rows]) => `${rows} ${table}`).join(', ')}.`)
      io.out(result.registered ? `Registered database "${result.database.database_name}" (id ${result.database.id}) with its datasets, charts and dashboards.` : `Database "${result.database.database_name}" (id ${result.database.id}) was already registered.`)
    })
    return EXIT.ok
  }
  await withCatalog(values, io, async (catalog, config) => {
    const result = await loadExamples(catalog, config.examplesPath)
    io.out(result.generated ? `Generated the example database at ${config.examplesPath}.` : `The example database at ${config.examplesPath} is current.`)
    io.out(result.registered ? `Registered database "${result.database.database_name}" (id ${result.database.id}) with its datasets, charts and dashboards.` : `Database "${result.database.database_name}" (id ${result.database.id}) was already registered.`)
    if (result.usersCreated.length > 0) io.out(`Created users: ${result.usersCreated.join(', ')}.`)
  })
  return EXIT.ok
}

async function users (args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args
  if (action === 'create') {
    const values = parse(rest, {
      username: { type: 'string' },
      'first-name': { type: 'string' },
      'last-name': { type: 'string' },
      email: { type: 'string' },
      role: { type: 'string', multiple: true },
      inactive: { type: 'boolean' }
    })
    if (values.username === undefined || values.username.trim() === '') throw new UsageError('users create needs --username')
    await withCatalog(values, io, async catalog => {
      const user = await catalog.createUser({
        username: (values.username as string).trim(),
        first_name: values['first-name'] ?? '',
        last_name: values['last-name'] ?? '',
        email: values.email ?? null,
        active: values.inactive !== true,
        roles: values.role ?? []
      })
      io.out(`Created user ${user.username} (id ${user.id}, roles: ${user.roles.join(', ') || 'none'}${user.active ? '' : ', inactive'}).`)
    })
    return EXIT.ok
  }
  if (action === 'list') {
    await withCatalog(parse(rest, {}), io, async catalog => {
      for (const user of await catalog.listUsers()) {
        io.out(`${user.id}\t${user.username}\t${[user.first_name, user.last_name].join(' ').trim()}\t${user.email ?? ''}\t${user.roles.join(',')}\t${user.active ? 'active' : 'inactive'}`)
      }
    })
    return EXIT.ok
  }
  if (action === 'deactivate' || action === 'activate') {
    const values = parse(rest, {}, 1)
    const username = values.positionals[0] as string
    await withCatalog(values, io, async catalog => {
      const changed = await catalog.setUserActive(username, action === 'activate')
      io.out(`User ${username} ${changed ? 'is now' : 'was already'} ${action === 'activate' ? 'active' : 'inactive'}.`)
    })
    return EXIT.ok
  }
  throw new UsageError(`unknown users command "${action ?? ''}" (use: users create, users list, users deactivate, users activate)`)
}

/** Run one CLI command; returns the process exit code (a running server keeps the process alive). */
export async function main (argv: string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv
  if (args.includes('--help') || args.includes('-h')) {
    io.out(USAGE)
    return EXIT.ok
  }
  try {
    switch (command) {
      case 'run': return await run(args, io)
      case 'db': return await db(args, io)
      case 'load-examples': return await examples(args, io)
      case 'users': return await users(args, io)
      case 'oauth': return await oauthCommand(args, io)
      case 'roles': return await rolesCommand(args, io)
      case 'api-keys': return await apiKeysCommand(args, io)
      case 'databases': return await databasesCommand(args, io)
      case 'probe': return await probeCommand(args, io)
      case '--version':
      case 'version':
        io.out(SERVICE_VERSION)
        return EXIT.ok
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        io.out(USAGE)
        return command === undefined ? EXIT.usage : EXIT.ok
      default:
        throw new UsageError(`unknown command "${command}"`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`analytics-mcp: ${err.message}\n\n${USAGE}`)
      return EXIT.usage
    }
    if (err instanceof ConfigError) {
      io.err(`analytics-mcp: ${err.message}`)
      return EXIT.config
    }
    if (err instanceof CatalogError) {
      io.err(`analytics-mcp: ${err.message}`)
      return EXIT.failure
    }
    io.err(`analytics-mcp: ${(err as Error).message}`)
    return EXIT.failure
  }
}

/**
 * The process edge: run `argv` on the process's streams and set its exit code. Called by
 * bin/analytics-mcp.js (through dist/) and by `node src/cli.ts` in a checkout. After `run`
 * succeeds the server keeps the process alive and exits on its own when it shuts down.
 */
export async function runCli (argv: string[] = process.argv.slice(2)): Promise<number> {
  const code = await main(argv, {
    out: line => process.stdout.write(`${line}\n`),
    err: line => process.stderr.write(`${line}\n`)
  })
  if (code !== EXIT.ok || argv[0] !== 'run') process.exitCode = code
  return code
}

if (import.meta.main) await runCli()
