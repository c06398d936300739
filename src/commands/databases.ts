import type { Catalog } from '../catalog/catalog.ts'
import type { DatabaseChanges } from '../catalog/catalog.ts'
import { openConfiguredCatalog } from '../catalog/configured.ts'
import type { DatabaseOptions, DatabaseRecord } from '../catalog/records.ts'
import { connectionFields, DatabaseUriError, describeConnection, sqliteFile } from '../engines/connection.ts'
import type { DatabaseDeclaration } from '../engines/connection.ts'
import { createEngines } from '../engines/create.ts'
import { configFor, parse, UsageError, withCatalog } from './common.ts'
import type { CliIo } from './common.ts'

export const DATABASES_USAGE = `  analytics-mcp databases add --name NAME --uri URI [--password-env VAR | --password-file FILE]
                [--allow-dml] [--no-sqllab] [--schemas a,b] [--files GLOB]... [--row-limit N]
                [--timeout SECONDS] [--description TEXT]
  analytics-mcp databases list
  analytics-mcp databases test NAME                          connect and run SELECT 1
  analytics-mcp databases update NAME [the flags of add] [--name NEW] [--no-allow-dml] [--expose-in-sqllab] [--no-password]
  analytics-mcp databases remove NAME [--force]              --force also deletes its datasets and their charts
      URI: postgresql://user@host:5432/db?sslmode=verify-full, sqlite:///abs/path.db,
      duckdb:///abs/path.duckdb, duckdb:///:memory: (with --files). Never a password in the URI.`

const REGISTRATION_FLAGS = {
  uri: { type: 'string' },
  'password-env': { type: 'string' },
  'password-file': { type: 'string' },
  'allow-dml': { type: 'boolean' },
  'expose-in-sqllab': { type: 'boolean' },
  'no-sqllab': { type: 'boolean' },
  schemas: { type: 'string' },
  files: { type: 'string', multiple: true },
  'row-limit': { type: 'string' },
  timeout: { type: 'string' },
  description: { type: 'string' }
} as const

const UPDATE_FLAGS = { ...REGISTRATION_FLAGS, name: { type: 'string' }, 'no-allow-dml': { type: 'boolean' }, 'no-password': { type: 'boolean' } } as const

type RegistrationValues = ReturnType<typeof parse<typeof UPDATE_FLAGS>>

/** Seconds a `databases test` query may take when the database sets no timeout. */
const TEST_TIMEOUT_SECONDS = 15

/** The query whose answer names the server's version, per backend. */
const VERSION_SQL = { sqlite: 'SELECT sqlite_version()', postgresql: 'SELECT version()', duckdb: 'SELECT version()' } as const

function integerFlag (value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!/^\d+$/.test(value) || number < 1 || number > max) throw new UsageError(`${flag} is a whole number from 1 to ${max}`)
  return number
}

function either (values: RegistrationValues, on: 'allow-dml' | 'expose-in-sqllab', off: 'no-allow-dml' | 'no-sqllab'): boolean | undefined {
  if (values[on] === true && values[off] === true) throw new UsageError(`give --${on} or --${off}, not both`)
  if (values[on] === true) return true
  if (values[off] === true) return false
  return undefined
}

/** Flags as a declaration; `base` fills what an update leaves out. */
function declarationOf (values: RegistrationValues, base?: DatabaseRecord): DatabaseDeclaration {
  if (values['password-env'] !== undefined && values['password-file'] !== undefined) throw new UsageError('give --password-env or --password-file, not both')
  if (values['no-password'] === true && (values['password-env'] !== undefined || values['password-file'] !== undefined)) throw new UsageError('--no-password takes no --password-env or --password-file')
  const options: DatabaseOptions = base?.options ?? {}
  const schemas = values.schemas === undefined ? options.schemas : values.schemas.split(',').map(schema => schema.trim()).filter(schema => schema !== '')
  const [passwordEnv, passwordFile] = values['password-env'] !== undefined || values['password-file'] !== undefined || values['no-password'] === true || base === undefined
    ? [values['password-env'], values['password-file']]
    : sourceParts(base.password_source)
  return {
    // A stored bare path (older catalogs) may be relative: it stands for the file it resolves to.
    uri: values.uri ?? (base === undefined ? '' : base.backend === 'sqlite' ? sqliteFile(base.connection) : base.connection),
    password_env: passwordEnv,
    password_file: passwordFile,
    schemas,
    files: values.files ?? options.files,
    row_limit: integerFlag(values['row-limit'], '--row-limit', 1_000_000) ?? options.row_limit,
    timeout: integerFlag(values.timeout, '--timeout', 3600) ?? options.timeout
  }
}

function sourceParts (source: string | null): [string | undefined, string | undefined] {
  if (source?.startsWith('env:') === true) return [source.slice('env:'.length), undefined]
  if (source?.startsWith('file:') === true) return [undefined, source.slice('file:'.length)]
  return [undefined, undefined]
}

/** Refusals of a URI or password source are usage errors: the command line must change. */
function checked<T> (work: () => T): T {
  try {
    return work()
  } catch (err) {
    if (err instanceof DatabaseUriError) throw new UsageError(err.message)
    throw err
  }
}

function where (database: DatabaseRecord): string {
  const { host, port, database: name } = describeConnection(database)
  return host === null ? name ?? '' : `${host}:${port ?? ''}/${name ?? ''}`
}

function flags (database: DatabaseRecord, managed: boolean): string {
  return [database.allow_dml ? 'dml' : 'read-only', database.expose_in_sqllab ? 'sqllab' : 'no-sqllab', ...(managed ? ['MCP_DATABASES'] : [])].join(',')
}

async function requireDatabase (catalog: Catalog, identifier: string): Promise<DatabaseRecord> {
  const database = await catalog.findDatabase(identifier)
  if (database === undefined) throw new UsageError(`there is no database named "${identifier}"`)
  return database
}

const MANAGED_WARNING = 'it is declared in MCP_DATABASES: the next start-up restores the declaration; change MCP_DATABASES to make this last'

export async function databasesCommand (args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args
  switch (action) {
    case 'add': {
      const values = parse(rest, { ...REGISTRATION_FLAGS, name: { type: 'string' } })
      if (values.name === undefined || values.name.trim() === '' || values.uri === undefined) throw new UsageError('databases add needs --name and --uri')
      const name = values.name.trim()
      const fields = checked(() => connectionFields(declarationOf(values)))
      await withCatalog(values, io, async catalog => {
        if (await catalog.findDatabase(name) !== undefined) throw new UsageError(`a database named "${name}" already exists (use databases update)`)
        const database = await catalog.createDatabase({
          database_name: name,
          ...fields,
          allow_dml: values['allow-dml'] === true,
          expose_in_sqllab: either(values, 'expose-in-sqllab', 'no-sqllab') ?? true,
          description: values.description ?? null
        })
        io.out(`Registered database ${database.database_name} (id ${database.id}, ${database.backend} ${where(database)}${database.password_source === null ? '' : `, password from ${database.password_source}`}).`)
      })
      return 0
    }
    case 'list': {
      const values = parse(rest, {})
      await withCatalog(values, io, async catalog => {
        const { rows } = await catalog.listDatabases({ page: 1, pageSize: 10_000, filters: [], orderColumn: 'id', orderDirection: 'asc' })
        for (const database of rows) {
          io.out(`${database.id}\t${database.database_name}\t${database.backend}\t${where(database)}\t${flags(database, await catalog.isManagedDatabase(database.id))}\t${database.password_source ?? 'no password'}`)
        }
      })
      return 0
    }
    case 'test': {
      const values = parse(rest, {}, 1)
      const config = await configFor(values, io)
      const catalog = await openConfiguredCatalog(config)
      let database: DatabaseRecord
      try {
        database = await requireDatabase(catalog, values.positionals[0] as string)
      } finally {
        await catalog.close()
      }
      const engines = createEngines(config)
      try {
        const request = { maxRows: 1, maxBytes: 65_536, timeoutMs: (database.options.timeout ?? TEST_TIMEOUT_SECONDS) * 1000, dryRun: false }
        await engines.execute(database, { ...request, sql: 'SELECT 1' })
        const version = await engines.execute(database, { ...request, sql: VERSION_SQL[database.backend] }).then(result => String(result.rows[0]?.[0] ?? ''), () => '')
        io.out(`OK: ${database.database_name} (${database.backend} ${where(database)}) answered SELECT 1${version === '' ? '' : `; server version ${version}`}.`)
        return 0
      } catch (err) {
        io.err(`analytics-mcp: database ${database.database_name} (${database.backend} ${where(database)}) failed: ${(err as Error).message}`)
        return 1
      } finally {
        await engines.close()
      }
    }
    case 'update': {
      const values = parse(rest, UPDATE_FLAGS, 1)
      await withCatalog(values, io, async catalog => {
        const current = await requireDatabase(catalog, values.positionals[0] as string)
        const fields = checked(() => connectionFields(declarationOf(values, current)))
        const changes: DatabaseChanges = { ...fields }
        if (values.name !== undefined) {
          const name = values.name.trim()
          if (name === '') throw new UsageError('--name must not be empty')
          const other = await catalog.findDatabase(name)
          if (other !== undefined && other.id !== current.id) throw new UsageError(`a database named "${name}" already exists`)
          changes.database_name = name
        }
        const allowDml = either(values, 'allow-dml', 'no-allow-dml')
        if (allowDml !== undefined) changes.allow_dml = allowDml
        const sqllab = either(values, 'expose-in-sqllab', 'no-sqllab')
        if (sqllab !== undefined) changes.expose_in_sqllab = sqllab
        if (values.description !== undefined) changes.description = values.description === '' ? null : values.description
        const database = await catalog.updateDatabase(current.id, changes)
        io.out(`Updated database ${database.database_name} (id ${database.id}, ${database.backend} ${where(database)}, ${flags(database, false)}${database.password_source === null ? '' : `, password from ${database.password_source}`}).`)
        if (await catalog.isManagedDatabase(database.id)) io.err(`warning: ${MANAGED_WARNING}`)
      })
      return 0
    }
    case 'remove': {
      const values = parse(rest, { force: { type: 'boolean' } }, 1)
      await withCatalog(values, io, async catalog => {
        const database = await requireDatabase(catalog, values.positionals[0] as string)
        const managed = await catalog.isManagedDatabase(database.id)
        const removed = await catalog.deleteDatabase(database.id, { force: values.force === true })
        io.out(`Removed database ${database.database_name}${removed.datasets === 0 ? '' : ` with ${removed.datasets} dataset(s) and ${removed.charts} chart(s)`}.`)
        if (managed) io.err(`warning: ${MANAGED_WARNING} (the database comes back, without its datasets)`)
      })
      return 0
    }
    default:
      throw new UsageError(`unknown databases command "${action ?? ''}" (use: databases add, list, test, update, remove)`)
  }
}
