import type { Dialect } from '../dialect.ts'

/** Text of a truncated timestamp: a date for day-and-coarser grains, a date-time for finer ones (as SQLite's). */
const DATE = `'YYYY-MM-DD'`
const DATE_TIME = `'YYYY-MM-DD"T"HH24:MI:SS'`

/**
 * PostgreSQL: date_trunc on a timestamp cast (the column may be text, date or timestamp),
 * formatted with to_char so that every engine's time buckets are the same ISO strings.
 * date_trunc('week') starts weeks on Monday, as Superset's P1W.
 */
export const POSTGRESQL: Dialect = {
  backend: 'postgresql',
  quote: identifier => `"${identifier.replaceAll('"', '""')}"`,
  timeGrain (expression, grain) {
    const ts = `CAST(${expression} AS timestamp)`
    switch (grain) {
      case 'PT1S': return `to_char(date_trunc('second', ${ts}), ${DATE_TIME})`
      case 'PT1M': return `to_char(date_trunc('minute', ${ts}), ${DATE_TIME})`
      case 'PT1H': return `to_char(date_trunc('hour', ${ts}), ${DATE_TIME})`
      case 'P1D': return `to_char(date_trunc('day', ${ts}), ${DATE})`
      case 'P1W': return `to_char(date_trunc('week', ${ts}), ${DATE})`
      case 'P1M': return `to_char(date_trunc('month', ${ts}), ${DATE})`
      case 'P3M': return `to_char(date_trunc('quarter', ${ts}), ${DATE})`
      case 'P1Y': return `to_char(date_trunc('year', ${ts}), ${DATE})`
    }
  },
  ilike: (expression, placeholder) => `CAST(${expression} AS text) ILIKE ${placeholder}`,
  dateTimeComparable: expression => `CAST(${expression} AS timestamp)`
}
