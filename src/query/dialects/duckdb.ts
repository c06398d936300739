import type { Dialect } from '../dialect.ts'

/**
 * DuckDB: date columns may be DATE, TIMESTAMP or ISO text (CSV files), so every temporal
 * expression goes through TRY_CAST(… AS TIMESTAMP) (text that is no date becomes NULL, as in
 * SQLite), is truncated with date_trunc (weeks start on Monday) and formatted with strftime
 * to the same ISO text the SQLite dialect returns: 'YYYY-MM-DD' for days and coarser grains,
 * 'YYYY-MM-DDTHH:MM:SS' for finer ones. NULL stays NULL.
 */
const timestamp = (expression: string): string => `TRY_CAST(${expression} AS TIMESTAMP)`
const truncated = (unit: string, expression: string, format: string): string => `strftime(date_trunc('${unit}', ${timestamp(expression)}), '${format}')`
const DATE_TIME = '%Y-%m-%dT%H:%M:%S'
const DATE = '%Y-%m-%d'

export const DUCKDB: Dialect = {
  backend: 'duckdb',
  quote: identifier => `"${identifier.replaceAll('"', '""')}"`,
  timeGrain (expression, grain) {
    switch (grain) {
      case 'PT1S': return truncated('second', expression, DATE_TIME)
      case 'PT1M': return truncated('minute', expression, DATE_TIME)
      case 'PT1H': return truncated('hour', expression, DATE_TIME)
      case 'P1D': return truncated('day', expression, DATE)
      case 'P1W': return truncated('week', expression, DATE)
      case 'P1M': return truncated('month', expression, DATE)
      case 'P3M': return truncated('quarter', expression, DATE)
      case 'P1Y': return truncated('year', expression, DATE)
    }
  },
  ilike: (expression, placeholder) => `${expression} ILIKE ${placeholder}`,
  dateTimeComparable: expression => timestamp(expression)
}
