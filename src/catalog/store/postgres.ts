import pg from 'pg'
import type { ClientConfig, PoolClient } from 'pg'
import { Kysely, PostgresDialect } from 'kysely'
import type { PostgresPool, PostgresPoolClient } from 'kysely'
import { CatalogUnavailable } from '../../errors.ts'
import { CatalogStore } from './store.ts'
import type { CatalogSchema } from '../schema.ts'
import { BOOKKEEPING, LATEST_CATALOG_VERSION, MIGRATIONS, postgresSql } from '../migrations.ts'
import type { Migration } from '../migrations.ts'
import { CatalogError } from '../errors.ts'

/** The channel the catalog's triggers notify on (migration 3): every replica LISTENs to it. */
export const CHANGE_CHANNEL = 'analytics_mcp_catalog'

/** Advisory lock keys: one for migrations, one taken by every write transaction. */
const MIGRATION_LOCK = 7_226_861_001
const WRITE_LOCK = 7_226_861_002

/** How long to wait between attempts to get the change listener back, doubling up to the max. */
const LISTEN_RETRY_MIN_MS = 250
const LISTEN_RETRY_MAX_MS = 5_000

export interface PostgresCatalogOptions {
  /** postgresql://user@host:port/db?sslmode=…; a password in it is used unless `password` is given. */
  url: string
  /** The password, or a function that reads it for each new connection (a mounted, rotated secret). */
  password?: string | (() => string) | undefined
  poolSize: number
  /** statement_timeout of every catalog query, in milliseconds. */
  statementTimeoutMs: number
  connectTimeoutMs?: number
  upgrade: boolean
}

/** A PostgreSQL URL with its password taken out, fit for logs and messages. */
export function redactedUrl (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = ''
    return parsed.toString().replace(/:@/, '@')
  } catch {
    return 'postgresql://(unparseable URL)'
  }
}

/**
 * pg.Client with the catalog password, when it is not in the URL: pg lets a password in the
 * connection string (even an empty one) win over the `password` option, so it is set on the
 * client after construction. A function is called for each new connection (a rotated secret).
 */
function clientWithPassword (password: string | (() => string) | undefined): typeof pg.Client {
  if (password === undefined) return pg.Client
  return class CatalogClient extends pg.Client {
    constructor (config?: string | ClientConfig) {
      super(config)
      ;(this as { password: unknown }).password = password
    }
  }
}

// COUNT(*) is a bigint: catalog counts and ids fit in a double, so they come back as numbers.
const CATALOG_TYPES = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')
}

/**
 * SQLSTATE classes and codes, and socket errors, that mean the catalog cannot be used right now
 * (not that a query was wrong): connection failures, a server shutting down or full, and a
 * refused login (28: a password rotated on the server before the replica's secret).
 */
const UNREACHABLE = /^(08|28|57P0[1-3]|53300)|^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)$/

function isUnreachable (err: unknown): boolean {
  const error = err as { code?: unknown, message?: unknown }
  if (typeof error.code === 'string' && UNREACHABLE.test(error.code)) return true
  return typeof error.message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(error.message)
}

/**
 * The pool as Kysely sees it, with lost-connection errors turned into CatalogUnavailable. One
 * wrapper per pooled client: Kysely keeps its connection objects keyed by the client.
 */
function translatingPool (pool: pg.Pool): PostgresPool {
  const translated = (err: unknown): unknown => isUnreachable(err) ? new CatalogUnavailable(err) : err
  const wrappers = new WeakMap<PoolClient, PostgresPoolClient>()
  const wrap = (client: PoolClient): PostgresPoolClient => ({
    query: (async (text: string, params: unknown[]) => {
      try {
        return await client.query(text, params)
      } catch (err) {
        throw translated(err)
      }
    }) as unknown as PostgresPoolClient['query'],
    release: () => { client.release() }
  })
  return {
    options: pool.options,
    connect: async (): Promise<PostgresPoolClient> => {
      let client: PoolClient
      try {
        client = await pool.connect()
      } catch (err) {
        throw translated(err)
      }
      let wrapper = wrappers.get(client)
      if (wrapper === undefined) {
        wrapper = wrap(client)
        wrappers.set(client, wrapper)
      }
      return wrapper
    },
    end: async () => { await pool.end() }
  }
}

/**
 * The catalog on PostgreSQL, shared by every replica: a pool for queries, and one more
 * connection that LISTENs for the change notifications the triggers send, so versions (and the
 * principal memo keyed on them) are pushed to this process instead of read per call.
 */
export class PostgresCatalogStore extends CatalogStore {
  readonly backend = 'postgresql' as const
  readonly location: string
  readonly pushesChanges = true
  readonly appliedAtOpen: readonly Migration[]
  private readonly pool: pg.Pool
  private readonly clientConfig: ClientConfig
  private readonly Client: typeof pg.Client
  private readonly listeners = new Set<() => void>()
  private listener: pg.Client | undefined
  private listening = false
  private closed = false
  private retryMs = LISTEN_RETRY_MIN_MS
  private retryTimer: NodeJS.Timeout | undefined
  /** caughtUp() calls waiting for their own notification to come back, by payload. */
  private readonly barriers = new Map<string, () => void>()
  private barrierCount = 0

  private constructor (pool: pg.Pool, Client: typeof pg.Client, clientConfig: ClientConfig, location: string, appliedAtOpen: readonly Migration[]) {
    super(new Kysely<CatalogSchema>({ dialect: new PostgresDialect({ pool: translatingPool(pool) }) }))
    this.pool = pool
    this.Client = Client
    this.clientConfig = clientConfig
    this.location = location
    this.appliedAtOpen = appliedAtOpen
  }

  static async open (options: PostgresCatalogOptions): Promise<PostgresCatalogStore> {
    const location = redactedUrl(options.url)
    const clientConfig: ClientConfig = {
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      statement_timeout: options.statementTimeoutMs,
      application_name: 'analytics-mcp catalog',
      keepAlive: true,
      types: CATALOG_TYPES
    }
    const Client = clientWithPassword(options.password)
    const pool = new pg.Pool({ ...clientConfig, Client, max: options.poolSize, idleTimeoutMillis: 30_000 })
    // A connection the server closes (a restart, pg_terminate_backend) must not crash the
    // process: pg emits 'error' on the client whether it is idle (the pool's listener) or
    // checked out (ours, on every client); the pool drops it and the next query connects again.
    pool.on('error', () => {})
    pool.on('connect', client => { client.on('error', () => {}) })
    let applied: Migration[]
    try {
      applied = await migrate(pool, options.upgrade, location)
    } catch (err) {
      await pool.end().catch(() => {})
      if (err instanceof CatalogError) throw err
      throw new CatalogError(`cannot use the catalog at ${location}: ${(err as Error).message}`)
    }
    const store = new PostgresCatalogStore(pool, Client, clientConfig, location, applied)
    await store.listen()
    return store
  }

  async version (): Promise<number> {
    return await schemaVersion(this.pool)
  }

  protected beginStatements (): readonly string[] {
    return ['BEGIN', `SELECT pg_advisory_xact_lock(${WRITE_LOCK})`]
  }

  onExternalChange (listener: () => void): void {
    this.listeners.add(listener)
  }

  receivingChanges (): boolean {
    return this.listening
  }

  private notify (): void {
    for (const listener of this.listeners) listener()
  }

  /** Connect the LISTEN connection; on failure (or when it drops later) try again with backoff. */
  private async listen (): Promise<void> {
    if (this.closed) return
    const client = new this.Client(this.clientConfig)
    this.listener = client
    const lost = (): void => {
      if (this.listener !== client) return
      this.listening = false
      this.listener = undefined
      client.removeAllListeners('notification')
      void client.end().catch(() => {})
      this.scheduleListen()
    }
    client.on('error', lost)
    client.on('end', lost)
    client.on('notification', message => {
      this.notify()
      const barrier = message.payload === undefined ? undefined : this.barriers.get(message.payload)
      if (barrier !== undefined) barrier()
    })
    try {
      await client.connect()
      await client.query(`LISTEN ${CHANGE_CHANNEL}`)
    } catch {
      lost()
      return
    }
    if (this.listener !== client) return
    this.listening = true
    this.retryMs = LISTEN_RETRY_MIN_MS
    // Changes made while nobody listened were not pushed: what was remembered is stale.
    this.notify()
  }

  /**
   * Notifications arrive in commit order, so when one sent now comes back, every change
   * committed before it has been pushed. Without a listener, versions are read per call anyway.
   */
  override async caughtUp (): Promise<void> {
    if (!this.listening) return
    const payload = `barrier:${process.pid}:${++this.barrierCount}`
    const arrived = new Promise<void>(resolve => {
      const timer = setTimeout(resolve, LISTEN_RETRY_MAX_MS)
      timer.unref()
      this.barriers.set(payload, () => {
        clearTimeout(timer)
        resolve()
      })
    })
    try {
      await this.pool.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, payload])
      await arrived
    } finally {
      this.barriers.delete(payload)
    }
  }

  private scheduleListen (): void {
    if (this.closed || this.retryTimer !== undefined) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      void this.listen()
    }, this.retryMs)
    this.retryTimer.unref()
    this.retryMs = Math.min(this.retryMs * 2, LISTEN_RETRY_MAX_MS)
  }

  override async close (): Promise<void> {
    this.closed = true
    this.listening = false
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    const listener = this.listener
    this.listener = undefined
    if (listener !== undefined) await listener.end().catch(() => {})
    await super.close()
  }
}

async function schemaVersion (db: pg.Pool | PoolClient): Promise<number> {
  const exists = await db.query<{ present: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
  if (exists.rows[0]?.present !== true) return 0
  const row = await db.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations')
  return row.rows[0]?.version ?? 0
}

/**
 * Bring the schema up to date under a session advisory lock, so replicas starting at once
 * take turns: the first applies each migration, the others find it applied.
 */
async function migrate (pool: pg.Pool, upgrade: boolean, location: string): Promise<Migration[]> {
  const client = await pool.connect()
  try {
    const current = await schemaVersion(client)
    if (current > LATEST_CATALOG_VERSION) {
      throw new CatalogError(`the catalog at ${location} is at schema version ${current}, newer than this release understands (${LATEST_CATALOG_VERSION}); run a newer analytics-mcp`)
    }
    if (current === LATEST_CATALOG_VERSION) return []
    if (!upgrade) {
      throw new CatalogError(current === 0
        ? `there is no catalog at ${location}; run \`analytics-mcp db upgrade\` to create it (or set MCP_CATALOG_AUTO_UPGRADE=true)`
        : `the catalog at ${location} is at schema version ${current} and this release needs ${LATEST_CATALOG_VERSION}; run \`analytics-mcp db upgrade\` (or set MCP_CATALOG_AUTO_UPGRADE=true)`)
    }
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
    try {
      await client.query(BOOKKEEPING)
      const applied: Migration[] = []
      for (const migration of MIGRATIONS) {
        if (await schemaVersion(client) >= migration.version) continue
        await client.query('BEGIN')
        try {
          const script = postgresSql(migration)
          if (script !== '') await client.query(script)
          await client.query('INSERT INTO schema_migrations (version, name, applied_on) VALUES ($1, $2, $3)', [migration.version, migration.name, new Date().toISOString()])
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {})
          throw new CatalogError(`migration ${migration.version} (${migration.name}) failed on ${location}: ${(err as Error).message}`)
        }
        applied.push(migration)
      }
      return applied
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {})
    }
  } finally {
    client.release()
  }
}
