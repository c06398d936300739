import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import type { Database, Statement } from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import type { SqliteDatabase } from 'kysely'
import { CatalogStore } from './store.ts'
import type { CatalogSchema } from '../schema.ts'
import { applyMigrations, catalogVersion, LATEST_CATALOG_VERSION } from '../migrations.ts'
import type { Migration } from '../migrations.ts'
import { CatalogError } from '../errors.ts'

/** Compiled statements kept per catalog; list queries vary with their filters, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 256

/**
 * better-sqlite3 as Kysely's SqliteDialect wants it, with a statement cache: Kysely prepares
 * every query afresh, and compiling is the dominant cost of a small catalog query (it was 16%
 * of a tools/call before the cache).
 */
function cachingDatabase (db: Database, onWrite: () => void): SqliteDatabase {
  const statements = new Map<string, Statement>()
  return {
    close: () => { if (db.open) db.close() },
    prepare: (sql: string) => {
      let statement = statements.get(sql)
      if (statement === undefined) {
        statement = db.prepare(sql)
        if (statements.size >= STATEMENT_CACHE_SIZE) {
          const oldest = statements.keys().next().value
          if (oldest !== undefined) statements.delete(oldest)
        }
        statements.set(sql, statement)
      }
      // Kysely prepares each statement just before running it.
      if (!statement.reader) onWrite()
      return statement as unknown as ReturnType<SqliteDatabase['prepare']>
    }
  }
}

/** A catalog file opened in this process: its one connection, shared by every store on it. */
interface OpenFile {
  raw: Database
  kysely: Kysely<CatalogSchema>
  stores: number
  /** Statements that may have written, run on this connection. */
  writes: number
}

/**
 * Stores on the same file in one process share its connection: Kysely then serialises their
 * statements and transactions. Two connections would deadlock: a transaction that awaits
 * between statements holds the file's write lock while the other connection's statement
 * waits for it synchronously (better-sqlite3's busy timeout), blocking the event loop the
 * first one needs to commit.
 */
const openFiles = new Map<string, OpenFile>()

/** The embedded catalog: one SQLite file (WAL), shared by the processes of one machine. */
export class SqliteCatalogStore extends CatalogStore {
  readonly backend = 'sqlite' as const
  readonly location: string
  // Another process (the CLI) writes to the same file without telling us: versions are read per call.
  readonly pushesChanges = false
  /** The file itself, for migrations and `db copy`'s integrity checks. */
  readonly raw: Database
  readonly appliedAtOpen: readonly Migration[]

  private readonly key: string
  private readonly open: OpenFile
  private closed = false

  private constructor (file: string, key: string, open: OpenFile, appliedAtOpen: readonly Migration[]) {
    super(open.kysely)
    this.location = file
    this.key = key
    this.open = open
    this.raw = open.raw
    this.appliedAtOpen = appliedAtOpen
  }

  static open (file: string, options: { upgrade: boolean }): SqliteCatalogStore {
    const inMemory = file === ':memory:'
    const key = inMemory ? `:memory:${openFiles.size}:${Math.random()}` : path.resolve(file)
    const shared = openFiles.get(key)
    if (shared !== undefined) {
      const version = catalogVersion(shared.raw)
      if (version < LATEST_CATALOG_VERSION && !options.upgrade) {
        throw new CatalogError(`the catalog at ${file} is at schema version ${version} and this release needs ${LATEST_CATALOG_VERSION}; run \`analytics-mcp db upgrade\` (or set MCP_CATALOG_AUTO_UPGRADE=true)`)
      }
      const applied = version < LATEST_CATALOG_VERSION ? applyMigrations(shared.raw) : []
      shared.stores++
      return new SqliteCatalogStore(file, key, shared, applied)
    }
    if (!inMemory && !options.upgrade && !existsSync(file)) {
      throw new CatalogError(`there is no catalog at ${file}; run \`analytics-mcp db upgrade\` to create it (or set MCP_CATALOG_AUTO_UPGRADE=true)`)
    }
    if (!inMemory) mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
    let db: Database
    try {
      db = new BetterSqlite3(file, { timeout: 5000 })
      db.pragma('journal_mode = WAL')
      db.pragma('foreign_keys = ON')
      db.pragma('synchronous = NORMAL')
    } catch (err) {
      throw new CatalogError(`cannot open the catalog at ${file}: ${(err as Error).message}`)
    }
    let applied: Migration[] = []
    try {
      const version = catalogVersion(db)
      if (version > LATEST_CATALOG_VERSION) {
        throw new CatalogError(`the catalog at ${file} is at schema version ${version}, newer than this release understands (${LATEST_CATALOG_VERSION}); run a newer analytics-mcp`)
      }
      if (version < LATEST_CATALOG_VERSION) {
        if (!options.upgrade) {
          throw new CatalogError(`the catalog at ${file} is at schema version ${version} and this release needs ${LATEST_CATALOG_VERSION}; run \`analytics-mcp db upgrade\` (or set MCP_CATALOG_AUTO_UPGRADE=true)`)
        }
        applied = applyMigrations(db)
      }
    } catch (err) {
      db.close()
      throw err
    }
    const opened: OpenFile = { raw: db, kysely: new Kysely<CatalogSchema>({ dialect: new SqliteDialect({ database: cachingDatabase(db, () => { opened.writes++ }) }) }), stores: 1, writes: 0 }
    openFiles.set(key, opened)
    return new SqliteCatalogStore(file, key, opened, applied)
  }

  async version (): Promise<number> {
    return catalogVersion(this.raw)
  }

  override get writes (): number {
    return this.open.writes
  }

  protected beginStatements (): readonly string[] {
    return ['BEGIN IMMEDIATE']
  }

  onExternalChange (): void {}

  receivingChanges (): boolean {
    return false
  }

  /** The file's connection closes with the last store on it. */
  override async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const open = openFiles.get(this.key)
    if (open === undefined || --open.stores > 0) return
    openFiles.delete(this.key)
    await super.close()
  }
}
