import { AsyncLocalStorage } from 'node:async_hooks'
import { sql } from 'kysely'
import type { Kysely, RawBuilder } from 'kysely'
import type { CatalogSchema } from '../schema.ts'

/** Which database holds the catalog. */
export type CatalogBackend = 'sqlite' | 'postgresql'

/**
 * A catalog database behind Kysely, the same for SQLite and PostgreSQL: the catalog writes its
 * queries once (with the typed builder, or as SQL text with `?` placeholders that Kysely
 * compiles to each dialect's own) and the store runs them on the current connection.
 */
export abstract class CatalogStore {
  abstract readonly backend: CatalogBackend
  /** Where the catalog is, safe to show (a file path, or a URL without its password). */
  abstract readonly location: string
  /** Changes made elsewhere are pushed to this process (PostgreSQL LISTEN), so versions may be cached. */
  abstract readonly pushesChanges: boolean

  /** The transaction in progress in this async context, if any. */
  private readonly transactionScope = new AsyncLocalStorage<OpenTransaction>()

  private readonly root: Kysely<CatalogSchema>

  protected constructor (root: Kysely<CatalogSchema>) {
    this.root = root
  }

  /** Kysely on the current connection: the open transaction's inside one, else the pool. */
  get db (): Kysely<CatalogSchema> {
    return this.transactionScope.getStore()?.connection ?? this.root
  }

  /**
   * A counter that moves whenever this process may have written to the catalog (where it is
   * counted: SQLite), so a value read before a write is never reused after it.
   */
  get writes (): number {
    return 0
  }

  /** Whether this async context is inside a transaction (its reads may see its own uncommitted writes). */
  inTransaction (): boolean {
    return this.transactionScope.getStore() !== undefined
  }

  /** Run `effect` once the transaction in progress commits (now, outside one); dropped on rollback. */
  afterCommit (effect: () => void): void {
    const open = this.transactionScope.getStore()
    if (open === undefined) effect()
    else open.afterCommit.push(effect)
  }

  async all<Row> (text: string, params: readonly unknown[] = []): Promise<Row[]> {
    return (await query(text, params).execute(this.db)).rows as Row[]
  }

  async get<Row> (text: string, params: readonly unknown[] = []): Promise<Row | undefined> {
    return (await this.all<Row>(text, params))[0]
  }

  /** A statement that returns no rows; resolves to the number of rows it changed. */
  async run (text: string, params: readonly unknown[] = []): Promise<number> {
    return Number((await query(text, params).execute(this.db)).numAffectedRows ?? 0n)
  }

  /**
   * Run `work` in one write transaction. Every catalog call it makes (in the same async
   * context) joins the transaction; a nested call of transaction() joins it too. Write
   * transactions take the catalog's write lock first (SQLite `BEGIN IMMEDIATE`, a PostgreSQL
   * transaction-scoped advisory lock), so a check made inside one still holds at commit.
   */
  async transaction<T> (work: () => Promise<T>): Promise<T> {
    if (this.transactionScope.getStore() !== undefined) return await work()
    return await this.root.connection().execute(async connection => {
      for (const statement of this.beginStatements()) await sql.raw(statement).execute(connection)
      const open: OpenTransaction = { connection, afterCommit: [] }
      let result: T
      try {
        result = await this.transactionScope.run(open, work)
        await sql.raw('COMMIT').execute(connection)
      } catch (err) {
        await sql.raw('ROLLBACK').execute(connection).catch(() => undefined)
        throw err
      }
      for (const effect of open.afterCommit) effect()
      return result
    })
  }

  /** Statements that open a write transaction holding the catalog's write lock. */
  protected abstract beginStatements (): readonly string[]

  /** Be told when another process changed the catalog (only where pushesChanges). */
  abstract onExternalChange (listener: () => void): void

  /** Whether pushed changes are being received right now (the listener is connected). */
  abstract receivingChanges (): boolean

  /**
   * Resolve once every change committed before the call has been pushed to this process
   * (where changes are pushed; at once elsewhere): a barrier for tests and tools that must
   * read what another process just wrote.
   */
  async caughtUp (): Promise<void> {}

  async close (): Promise<void> {
    await this.root.destroy()
  }
}

interface OpenTransaction {
  connection: Kysely<CatalogSchema>
  afterCommit: Array<() => void>
}

/**
 * SQL text with `?` placeholders as a Kysely raw query, so each dialect numbers them its own
 * way ($1 on PostgreSQL). Catalog SQL never has a `?` inside a literal.
 */
export function query (text: string, params: readonly unknown[]): RawBuilder<unknown> {
  const fragments = text.split('?')
  if (fragments.length !== params.length + 1) throw new Error(`catalog query has ${fragments.length - 1} placeholders and ${params.length} parameters`)
  return sql(Object.assign(fragments, { raw: fragments }) as unknown as TemplateStringsArray, ...params)
}
