import path from 'node:path'
import pg from 'pg'
import type { Catalog } from '../catalog/catalog.ts'
import { parseDatabaseUri } from '../engines/connection.ts'
import { databasePassword } from '../engines/credentials.ts'
import { copyExampleTables } from './copy-into.ts'
import { ensureExamplesDatabase } from './generate.ts'
import { registerExamples } from './load.ts'
import type { LoadExamplesResult } from './load.ts'

export interface LoadIntoOptions {
  /** postgresql://user@host:port/db (no password) or duckdb:///abs/path.duckdb. */
  uri: string
  /** `env:VAR` or `file:/path`: where the warehouse password comes from. */
  passwordSource?: string | null
  /** The registered database's name; default examples_postgresql / examples_duckdb. */
  name?: string
}

export interface LoadIntoResult extends LoadExamplesResult {
  /** Rows copied per table; empty when the tables were there already. */
  copied: Record<string, number>
}

/**
 * `analytics-mcp load-examples --into URI`: the same deterministic example data in a
 * PostgreSQL or DuckDB database, registered with its datasets, charts and dashboards (named
 * "… (PostgreSQL)" / "… (DuckDB)"), so the demo runs on every engine. Tables that exist
 * already are left as they are (run it again safely); the copy is one transaction.
 */
export async function loadExamplesInto (catalog: Catalog, examplesFile: string, options: LoadIntoOptions): Promise<LoadIntoResult> {
  const file = path.resolve(examplesFile)
  const generated = ensureExamplesDatabase(file)
  const passwordSource = options.passwordSource ?? null
  // The same checks as databases add: no password in the URI, absolute files.
  const target = parseDatabaseUri(options.uri)
  if (target.backend === 'postgresql') {
    const password = databasePassword({ database_name: options.name ?? 'examples_postgresql', password_source: passwordSource })
    const client = new pg.Client({ connectionString: target.connection, ...(password === undefined ? {} : { password }) })
    await client.connect()
    let copied: Record<string, number> = {}
    try {
      await client.query('BEGIN')
      const present = await client.query<{ present: boolean }>("SELECT to_regclass('public.orders') IS NOT NULL AS present")
      if (present.rows[0]?.present !== true) copied = await copyExampleTables(file, 'postgresql', postgresWriter(client))
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      await client.end()
    }
    const registered = await registerExamples(catalog, file, generated, { database_name: options.name ?? 'examples_postgresql', backend: 'postgresql', connection: target.connection, password_source: passwordSource, schema: 'public', label: 'PostgreSQL' })
    return { ...registered, copied }
  }
  if (target.backend === 'duckdb') {
    if (target.file === null) throw new Error('load-examples --into needs a DuckDB file: duckdb:///absolute/path.duckdb')
    // Loaded here: DuckDB's native library is only paid for by those who use it.
    const [{ DuckDBInstance }, { duckdbWriter }] = await Promise.all([import('@duckdb/node-api'), import('./duckdb-writer.ts')])
    const instance = await DuckDBInstance.create(target.file)
    const connection = await instance.connect()
    let copied: Record<string, number> = {}
    try {
      await connection.run('BEGIN')
      const present = await connection.runAndReadAll("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'orders'")
      if (Number(present.getRows()[0]?.[0] ?? 0) === 0) copied = await copyExampleTables(file, 'duckdb', duckdbWriter(connection))
      await connection.run('COMMIT')
    } catch (err) {
      await connection.run('ROLLBACK').catch(() => {})
      throw err
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
    const registered = await registerExamples(catalog, file, generated, { database_name: options.name ?? 'examples_duckdb', backend: 'duckdb', connection: target.connection, password_source: null, schema: 'main', label: 'DuckDB' })
    return { ...registered, copied }
  }
  throw new Error('load-examples --into takes a postgresql:// or duckdb:/// URI')
}

/** Batches of parameterised INSERTs ($1, $2, …) on one PostgreSQL connection. */
export function postgresWriter (client: pg.Client): Parameters<typeof copyExampleTables>[2] {
  return {
    exec: async sql => { await client.query(sql) },
    insert: async (table, rows) => {
      let n = 0
      const values = rows.map(row => `(${row.map(() => `$${++n}`).join(', ')})`).join(', ')
      await client.query(`INSERT INTO ${table.name} (${table.columns.map(column => column.name).join(', ')}) VALUES ${values}`, rows.flat())
    }
  }
}
