import type { Backend } from '../catalog/records.ts'
import { POSTGRESQL } from './dialects/postgresql.ts'
import { DUCKDB } from './dialects/duckdb.ts'

/** Superset's time grains (ISO-8601 durations). */
export const TIME_GRAINS = ['PT1S', 'PT1M', 'PT1H', 'P1D', 'P1W', 'P1M', 'P3M', 'P1Y'] as const
export type TimeGrain = (typeof TIME_GRAINS)[number]

export const TIME_GRAIN_NAMES: Readonly<Record<TimeGrain, string>> = {
  PT1S: 'second', PT1M: 'minute', PT1H: 'hour', P1D: 'day', P1W: 'week (starting Monday)', P1M: 'month', P3M: 'quarter', P1Y: 'year'
}

/**
 * What differs between SQL engines for generated queries: identifier quoting and time-grain
 * truncation (the result is an ISO-8601 string, so every engine's temporal values look alike
 * to renderers). Comparisons with ISO strings, aggregates and LIMIT are standard SQL.
 */
export interface Dialect {
  readonly backend: Backend
  quote: (identifier: string) => string
  /** `expression` truncated to `grain`, as an ISO date or date-time string. */
  timeGrain: (expression: string, grain: TimeGrain) => string
  /** Case-insensitive LIKE. */
  ilike: (expression: string, placeholder: string) => string
  /**
   * Both sides of a comparison with a date-time bound: dates stored as text in several
   * layouts ("2025-01-01 12:00:00", "2025-01-01T12:00:00") only compare right normalised.
   */
  dateTimeComparable: (expression: string) => string
}

/** SQLite stores dates as ISO text (the example data does); strftime truncates them. */
export const SQLITE: Dialect = {
  backend: 'sqlite',
  quote: identifier => `"${identifier.replaceAll('"', '""')}"`,
  timeGrain (expression, grain) {
    switch (grain) {
      case 'PT1S': return `strftime('%Y-%m-%dT%H:%M:%S', ${expression})`
      case 'PT1M': return `strftime('%Y-%m-%dT%H:%M:00', ${expression})`
      case 'PT1H': return `strftime('%Y-%m-%dT%H:00:00', ${expression})`
      case 'P1D': return `date(${expression})`
      // SQLite's 'weekday 0' moves forward to Sunday; six days back is that week's Monday.
      case 'P1W': return `date(${expression}, '-6 days', 'weekday 1')`
      case 'P1M': return `strftime('%Y-%m-01', ${expression})`
      // printf would turn a NULL date into "-00-01"; the other grains keep NULL.
      case 'P3M': return `CASE WHEN date(${expression}) IS NULL THEN NULL ELSE printf('%s-%02d-01', strftime('%Y', ${expression}), ((CAST(strftime('%m', ${expression}) AS INTEGER) - 1) / 3) * 3 + 1) END`
      case 'P1Y': return `strftime('%Y-01-01', ${expression})`
    }
  },
  ilike: (expression, placeholder) => `LOWER(${expression}) LIKE LOWER(${placeholder})`,
  dateTimeComparable: expression => `datetime(${expression})`
}

export function dialectFor (backend: Backend): Dialect {
  switch (backend) {
    case 'sqlite': return SQLITE
    case 'postgresql': return POSTGRESQL
    case 'duckdb': return DUCKDB
    default: throw new Error(`no SQL dialect for ${String(backend)} yet`)
  }
}
