import path from 'node:path'
import type { Backend, DatabaseOptions, DatabaseRecord } from '../catalog/records.ts'

/**
 * Database URIs, parsed and checked in one place for the CLI, MCP_DATABASES and the tools:
 * postgresql://user@host:port/db?sslmode=…, sqlite:///abs/path.db (or a bare path, as older
 * catalogs store the examples), duckdb:///abs/path.duckdb and duckdb:///:memory: with files.
 * A password never goes in a URI, so the catalog never stores one.
 */

/** A URI, password source or option that cannot be registered; the message says how to fix it. */
export class DatabaseUriError extends Error {
  /** The declaration's key at fault (MCP_DATABASES[i].<field>). */
  readonly field: DeclarationField
  constructor (message: string, field: DeclarationField = 'uri') {
    super(message)
    this.name = 'DatabaseUriError'
    this.field = field
  }
}

export type DeclarationField = 'uri' | 'password_env' | 'password_file' | 'schemas' | 'files'


export interface ParsedDatabaseUri {
  backend: Backend
  /** What the catalog stores: the URI normalised, without a password. */
  connection: string
  /** PostgreSQL server; null for file backends. */
  host: string | null
  port: number | null
  /** PostgreSQL database name; null for file backends. */
  database: string | null
  /** Absolute file of a sqlite or duckdb database; null for PostgreSQL and duckdb :memory:. */
  file: string | null
}

/** What a tool may show of a registered database's connection. */
export interface ConnectionDescription {
  backend: Backend
  host: string | null
  port: number | null
  /** The database name on its server, or the file's base name (never its directory). */
  database: string | null
}

const POSTGRES_SCHEMES = new Set(['postgresql:', 'postgres:'])
const DEFAULT_POSTGRES_PORT = 5432
const SSL_MODES = new Set(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'])
const PASSWORD_HINT = 'give the password with --password-env VAR or --password-file FILE (password_env or password_file in MCP_DATABASES)'
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i
const MEMORY = ':memory:'

/** Parse a database URI (or a bare absolute SQLite path) into what the catalog stores. */
export function parseDatabaseUri (uri: string): ParsedDatabaseUri {
  const text = uri.trim()
  if (text === '') throw new DatabaseUriError('the database URI is empty')
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    if (!path.isAbsolute(text)) throw new DatabaseUriError(`"${text}" is neither a URI nor an absolute path; use sqlite:///absolute/path.db`)
    return fileDatabase('sqlite', path.normalize(text), path.normalize(text))
  }
  if (POSTGRES_SCHEMES.has(`${scheme}:`)) return parsePostgres(text)
  if (scheme === 'sqlite' || scheme === 'duckdb') {
    const rest = text.slice(`${scheme}://`.length)
    if (rest.includes('?') || rest.includes('#')) throw new DatabaseUriError(`${scheme} URIs take no parameters: ${scheme}:///absolute/path`)
    if (scheme === 'duckdb' && rest === `/${MEMORY}`) return { backend: 'duckdb', connection: `duckdb:///${MEMORY}`, host: null, port: null, database: null, file: null }
    if (!rest.startsWith('/')) throw new DatabaseUriError(`a ${scheme} URI needs an absolute path (three slashes): ${scheme}:///absolute/path${scheme === 'duckdb' ? ` or duckdb:///${MEMORY}` : ''}`)
    const file = path.normalize(rest)
    if (file === '/' || file.endsWith('/')) throw new DatabaseUriError(`a ${scheme} URI names a file: ${scheme}:///absolute/path`)
    return fileDatabase(scheme, `${scheme}://${file}`, file)
  }
  throw new DatabaseUriError(`unknown database backend "${scheme}" (use postgresql://, sqlite:/// or duckdb:///)`)
}

function fileDatabase (backend: Backend, connection: string, file: string): ParsedDatabaseUri {
  return { backend, connection, host: null, port: null, database: null, file }
}

function parsePostgres (text: string): ParsedDatabaseUri {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new DatabaseUriError('the PostgreSQL URI cannot be parsed; expected postgresql://user@host:5432/database?sslmode=verify-full')
  }
  if (url.password !== '' || userInfo(text).includes(':')) throw new DatabaseUriError(`the URI holds a password: remove it and ${PASSWORD_HINT}`)
  const params = url.searchParams
  for (const key of params.keys()) {
    if (key.toLowerCase() === 'password' || key.toLowerCase() === 'passfile') throw new DatabaseUriError(`the URI holds a ${key} parameter: remove it and ${PASSWORD_HINT}`)
  }
  const sslmode = params.get('sslmode')
  if (sslmode !== null && !SSL_MODES.has(sslmode)) throw new DatabaseUriError(`sslmode=${sslmode} is not a PostgreSQL SSL mode (${[...SSL_MODES].join(', ')})`)
  if (url.hash !== '') throw new DatabaseUriError('the PostgreSQL URI has a #fragment; remove it')
  const host = decodeURIComponent(url.hostname)
  if (host === '') throw new DatabaseUriError('the PostgreSQL URI needs a host: postgresql://user@host:5432/database')
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''))
  if (name === '' || name.includes('/')) throw new DatabaseUriError('the PostgreSQL URI needs one database name: postgresql://user@host:5432/database')
  const port = url.port === '' ? DEFAULT_POSTGRES_PORT : Number(url.port)
  const user = url.username === '' ? '' : `${url.username}@`
  const connection = `postgresql://${user}${url.host}${url.pathname}${url.search}`
  return { backend: 'postgresql', connection, host, port, database: name, file: null }
}

/** The user[:password] part of a URI's authority ("user:" with an empty password included). */
function userInfo (text: string): string {
  const authority = text.slice(text.indexOf('//') + 2).split(/[/?#]/, 1)[0] ?? ''
  const at = authority.lastIndexOf('@')
  return at === -1 ? '' : authority.slice(0, at)
}

/**
 * The absolute file of a stored sqlite connection: sqlite:///abs/path, or a bare path
 * (older catalogs; a relative one resolves against the working directory, as it always did).
 */
export function sqliteFile (connection: string): string {
  if (connection.startsWith('sqlite://')) return path.resolve(connection.slice('sqlite://'.length))
  return path.resolve(connection)
}

/**
 * What get_database_info and list_databases may show of a connection: backend, host, port and
 * database name, or a file's base name. Never the URI, the user, the parameters or a directory.
 */
export function describeConnection (database: Pick<DatabaseRecord, 'backend' | 'connection'>): ConnectionDescription {
  const none = { backend: database.backend, host: null, port: null, database: null }
  if (database.backend === 'sqlite') return { ...none, database: path.basename(sqliteFile(database.connection)) }
  try {
    const parsed = parseDatabaseUri(database.connection)
    if (parsed.backend !== database.backend) return none
    if (parsed.backend === 'duckdb') return { ...none, database: parsed.file === null ? MEMORY : path.basename(parsed.file) }
    return { backend: parsed.backend, host: parsed.host, port: parsed.port, database: parsed.database }
  } catch {
    return none
  }
}

/** A registration as the CLI flags and MCP_DATABASES entries give it. */
export interface DatabaseDeclaration {
  uri: string
  password_env?: string | undefined
  password_file?: string | undefined
  schemas?: readonly string[] | undefined
  files?: readonly string[] | undefined
  row_limit?: number | undefined
  timeout?: number | undefined
}

/** What the catalog stores for a declaration. */
export interface ConnectionFields {
  backend: Backend
  connection: string
  password_source: string | null
  options: DatabaseOptions
}

/** `env:VAR` or `file:/abs/path` from the two ways of giving a password; null for neither. */
export function passwordSource (passwordEnv: string | undefined, passwordFile: string | undefined): string | null {
  if (passwordEnv !== undefined && passwordFile !== undefined) throw new DatabaseUriError('give a password environment variable or a password file, not both', 'password_file')
  if (passwordEnv !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(passwordEnv)) throw new DatabaseUriError(`"${passwordEnv}" is not an environment variable name`, 'password_env')
    return `env:${passwordEnv}`
  }
  if (passwordFile !== undefined) {
    if (!path.isAbsolute(passwordFile)) throw new DatabaseUriError(`the password file must be an absolute path, got "${passwordFile}"`, 'password_file')
    return `file:${path.normalize(passwordFile)}`
  }
  return null
}

/**
 * Check a whole declaration (URI, password source, options against the backend) and return
 * the catalog's fields. Fails closed: a password for a file backend, files for PostgreSQL,
 * relative globs or a DuckDB :memory: database without files are refused.
 */
export function connectionFields (declaration: DatabaseDeclaration): ConnectionFields {
  const parsed = parseDatabaseUri(declaration.uri)
  const source = passwordSource(declaration.password_env, declaration.password_file)
  if (source !== null && parsed.backend !== 'postgresql') throw new DatabaseUriError(`a ${parsed.backend} database takes no password`, declaration.password_env === undefined ? 'password_file' : 'password_env')
  const options: DatabaseOptions = {}
  if (declaration.schemas !== undefined && declaration.schemas.length > 0) {
    if (parsed.backend === 'sqlite') throw new DatabaseUriError('schemas apply to postgresql and duckdb databases, not sqlite', 'schemas')
    options.schemas = [...declaration.schemas]
  }
  if (declaration.files !== undefined && declaration.files.length > 0) {
    if (parsed.backend !== 'duckdb') throw new DatabaseUriError(`files apply to duckdb databases, not ${parsed.backend}`, 'files')
    const relative = declaration.files.find(file => !path.isAbsolute(file))
    if (relative !== undefined) throw new DatabaseUriError(`file globs must be absolute paths, got "${relative}"`, 'files')
    options.files = [...declaration.files]
  }
  if (parsed.backend === 'duckdb' && parsed.file === null && options.files === undefined) {
    throw new DatabaseUriError(`duckdb:///${MEMORY} needs files (the CSV/Parquet/JSON globs it reads)`)
  }
  if (declaration.row_limit !== undefined) options.row_limit = declaration.row_limit
  if (declaration.timeout !== undefined) options.timeout = declaration.timeout
  return { backend: parsed.backend, connection: parsed.connection, password_source: source, options }
}
