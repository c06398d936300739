import BetterSqlite3 from 'better-sqlite3'
import type { Backend } from '../catalog/records.ts'

/**
 * The example tables copied from the generated SQLite file into a PostgreSQL or DuckDB
 * database, with native types (DATE, DOUBLE PRECISION), so the demo runs on every engine with
 * the same numbers. Rows go in batches of parameterised INSERTs inside one transaction: a
 * failed load leaves nothing behind.
 */

export const EXAMPLE_TABLES = ['products', 'customers', 'orders'] as const

/** SQLite's declared types, as each warehouse spells them. */
const TYPES: Readonly<Record<'postgresql' | 'duckdb', Readonly<Record<string, string>>>> = {
  postgresql: { INTEGER: 'BIGINT', REAL: 'DOUBLE PRECISION', TEXT: 'TEXT', DATE: 'DATE' },
  duckdb: { INTEGER: 'BIGINT', REAL: 'DOUBLE', TEXT: 'VARCHAR', DATE: 'DATE' }
}

/** Rows per INSERT: 14 columns × 500 stays far below PostgreSQL's 65,535 parameters. */
const BATCH_ROWS = 500

/** Where the rows go: a warehouse connection inside the caller's transaction. */
export interface TableWriter {
  /** Run a statement without results (CREATE TABLE). */
  exec: (sql: string) => Promise<void>
  /** Append rows (each in `columns` order) to `table`. */
  insert: (table: TableShape, rows: readonly unknown[][]) => Promise<void>
}

/** A table's columns with their SQLite declared types (INTEGER, REAL, TEXT, DATE). */
export interface TableShape {
  name: string
  columns: Array<{ name: string, type: string, notNull: boolean, primaryKey: boolean }>
}

function tableShapes (db: BetterSqlite3.Database): TableShape[] {
  return EXAMPLE_TABLES.map(name => ({
    name,
    columns: (db.prepare(`PRAGMA table_info(${JSON.stringify(name)})`).all() as Array<{ name: string, type: string, notnull: number, pk: number }>)
      .map(column => ({ name: column.name, type: column.type.toUpperCase(), notNull: column.notnull === 1, primaryKey: column.pk > 0 }))
  }))
}

/** CREATE TABLE statements for the target (foreign keys left out: the data is consistent by construction). */
export function createStatements (shapes: readonly TableShape[], backend: 'postgresql' | 'duckdb'): string[] {
  return shapes.map(shape => `CREATE TABLE ${shape.name} (${shape.columns.map(column =>
    `${column.name} ${TYPES[backend][column.type] ?? 'TEXT'}${column.primaryKey ? ' PRIMARY KEY' : column.notNull ? ' NOT NULL' : ''}`).join(', ')})`)
}

/** Copy the example tables of `sourceFile` through `writer`; returns the rows copied per table. */
export async function copyExampleTables (sourceFile: string, backend: Extract<Backend, 'postgresql' | 'duckdb'>, writer: TableWriter): Promise<Record<string, number>> {
  const db = new BetterSqlite3(sourceFile, { readonly: true, fileMustExist: true })
  try {
    const shapes = tableShapes(db)
    for (const statement of createStatements(shapes, backend)) await writer.exec(statement)
    const counts: Record<string, number> = {}
    for (const shape of shapes) {
      const rows = db.prepare(`SELECT ${shape.columns.map(column => column.name).join(', ')} FROM ${shape.name} ORDER BY rowid`).raw().all() as unknown[][]
      for (let start = 0; start < rows.length; start += BATCH_ROWS) await writer.insert(shape, rows.slice(start, start + BATCH_ROWS))
      counts[shape.name] = rows.length
    }
    return counts
  } finally {
    db.close()
  }
}
