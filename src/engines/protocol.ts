/** Messages between the RunnerPool (server process) and a query runner (child process). */

export interface RunnerRequest {
  id: number
  /** Absolute path of the SQLite file. */
  file: string
  allowDml: boolean
  sql: string
  /** Values bound to the statement's `?` placeholders (generated queries never splice values). */
  params: SqlParam[]
  /** Row cap; the runner reads one row more to detect truncation. */
  maxRows: number
  /** Budget for the result's estimated JSON size; rows past it are left out (truncated). */
  maxBytes: number
  /** Compile and authorize only; report the columns without running. */
  dryRun: boolean
}

/** A value bound to a placeholder. */
export type SqlParam = string | number | null

export type RunnerErrorKind =
  | 'sql_error'
  | 'read_only'
  | 'not_allowed'
  | 'multiple_statements'
  | 'empty_statement'
  | 'result_too_large'
  | 'resource_limit'
  | 'database_unavailable'

export type RunnerResponse =
  | { id: number, ok: true, result: QueryResult }
  | { id: number, ok: false, error: { kind: RunnerErrorKind, message: string } }

export interface QueryColumn {
  name: string
  /** Declared type, or the type of the first non-null value; null when unknown. */
  type: string | null
}

export interface QueryResult {
  columns: QueryColumn[]
  rows: unknown[][]
  rowCount: number
  /** More rows existed than the caps allowed. */
  truncated: boolean
  /** Which cap cut the result: the row cap or the size budget. */
  truncatedBy: 'rows' | 'bytes' | null
  /** Rows changed by a data-modifying statement; null for queries. */
  affectedRows: number | null
  /** Whether the statement changed anything: rows (also via RETURNING) or the schema (DDL). */
  changed: boolean
  returnsRows: boolean
  executionMs: number
}
