import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'

/** One statement of a red-team corpus (test/redteam/<engine>.yml) and the outcome it must get. */
export interface CorpusCase {
  sql: string
  /** The tool's error_type, or "ok". */
  expect: string
  database?: string
  timeout?: number
  why?: string
}

export function loadCorpus (file: string): CorpusCase[] {
  return parse(readFileSync(path.join(import.meta.dirname, '..', 'redteam', file), 'utf8')) as CorpusCase[]
}

/** What an execute_sql answer amounts to: its error_type, "ok", or the protocol error it was. */
export function outcomeOf (json: any): string {
  const result = json?.result
  if (result === undefined) return `protocol error ${JSON.stringify(json?.error)}`
  return result.isError === true ? result._meta?.error_type : 'ok'
}
