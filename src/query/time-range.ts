import { invalidArguments } from '../errors.ts'

/**
 * A time range as Superset writes it, resolved to half-open bounds [since, until) as ISO
 * strings (dates `YYYY-MM-DD`, or date-times `YYYY-MM-DDTHH:MM:SS`, UTC), either side open.
 */
export interface ResolvedTimeRange {
  since?: string | undefined
  until?: string | undefined
}

const UNITS = { day: 'day', days: 'day', week: 'week', weeks: 'week', month: 'month', months: 'month', quarter: 'quarter', quarters: 'quarter', year: 'year', years: 'year' } as const
type Unit = (typeof UNITS)[keyof typeof UNITS]

export const TIME_RANGE_HELP = 'Use "No filter", "Last day|week|month|quarter|year", "Last 30 days" (weeks, months, years too), "previous calendar week|month|quarter|year", "Current week|month|quarter|year", "today", "yesterday", or "2024-01-01 : 2024-06-30" (either side may be empty or "now"; the end is excluded).'

const DATE = /^\d{4}-\d{2}-\d{2}$/
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$/

function day (date: Date): string {
  return date.toISOString().slice(0, 10)
}

function startOfDay (now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
}

/** `date` moved by whole units; a month-end day is clamped (Mar 31 − 1 month = Feb 28), as relativedelta does. */
function shift (date: Date, unit: Unit, amount: number): Date {
  const shifted = new Date(date)
  const months = unit === 'month' ? amount : unit === 'quarter' ? 3 * amount : unit === 'year' ? 12 * amount : 0
  if (months === 0) {
    shifted.setUTCDate(shifted.getUTCDate() + (unit === 'week' ? 7 : 1) * amount)
    return shifted
  }
  const target = date.getUTCFullYear() * 12 + date.getUTCMonth() + months
  const year = Math.floor(target / 12)
  const month = target - year * 12
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
  shifted.setUTCFullYear(year, month, Math.min(date.getUTCDate(), lastDay))
  return shifted
}

/** The start of the calendar unit holding `date` (weeks start on Monday, as in Superset). */
function startOf (date: Date, unit: Unit): Date {
  const d = startOfDay(date)
  switch (unit) {
    case 'day': return d
    case 'week': return shift(d, 'day', -((d.getUTCDay() + 6) % 7))
    case 'month': return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1))
    case 'quarter': return new Date(Date.UTC(d.getUTCFullYear(), Math.floor(d.getUTCMonth() / 3) * 3, 1))
    case 'year': return new Date(Date.UTC(d.getUTCFullYear(), 0, 1))
  }
}

function bound (text: string, now: Date): string | undefined {
  const value = text.trim()
  if (value === '' || /^(none|start|beginning)$/i.test(value)) return undefined
  if (/^now$/i.test(value)) return now.toISOString().slice(0, 19)
  if (/^today$/i.test(value)) return day(now)
  if (DATE.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && day(new Date(`${value}T00:00:00Z`)) === value) return value
  if (DATE_TIME.test(value) && !Number.isNaN(Date.parse(`${value.replace(' ', 'T')}Z`))) return value.replace(' ', 'T').padEnd(19, ':00').slice(0, 19)
  throw invalidArguments(`Cannot read "${value}" as a date in a time range.`, TIME_RANGE_HELP)
}

/** Resolve `text` relative to `now` (UTC). Throws an invalid_arguments ToolError that says what is accepted. */
export function resolveTimeRange (text: string, now = new Date()): ResolvedTimeRange {
  const value = text.trim()
  const today = startOfDay(now)
  if (value === '' || /^no filter$/i.test(value)) return {}
  if (/^today$/i.test(value)) return { since: day(today), until: day(shift(today, 'day', 1)) }
  if (/^yesterday$/i.test(value)) return { since: day(shift(today, 'day', -1)), until: day(today) }

  const last = /^last\s+(?:(\d{1,4})\s+)?(days?|weeks?|months?|quarters?|years?)$/i.exec(value)
  if (last !== null) {
    const unit = UNITS[(last[2] ?? '').toLowerCase() as keyof typeof UNITS]
    const count = Number(last[1] ?? 1)
    if (count < 1) throw invalidArguments(`"${value}": the count must be at least 1.`, TIME_RANGE_HELP)
    return { since: day(shift(today, unit, -count)), until: day(today) }
  }
  const previous = /^previous\s+calendar\s+(week|month|quarter|year)$/i.exec(value)
  if (previous !== null) {
    const unit = UNITS[(previous[1] ?? '').toLowerCase() as keyof typeof UNITS]
    const current = startOf(today, unit)
    return { since: day(shift(current, unit, -1)), until: day(current) }
  }
  const current = /^current\s+(day|week|month|quarter|year)$/i.exec(value)
  if (current !== null) {
    const unit = UNITS[(current[1] ?? '').toLowerCase() as keyof typeof UNITS]
    const start = startOf(today, unit)
    return { since: day(start), until: day(shift(start, unit, 1)) }
  }
  // A colon with space (or the text's edge) on both sides separates; the colons of 10:00 do not.
  // The look-behind starts a match only where a run of spaces starts: linear, not quadratic.
  const parts = value.split(/(?<!\s)(?:\s+:(?:\s+|$)|^:(?:\s+|$)|\s*\u2026\s*)/)
  if (parts.length === 2) {
    const since = bound(parts[0] ?? '', now)
    const until = bound(parts[1] ?? '', now)
    if (since !== undefined && until !== undefined && since >= until) {
      throw invalidArguments(`The time range "${value}" ends before it starts.`, 'Put the earlier date first; the end date is excluded.')
    }
    return { since, until }
  }
  throw invalidArguments(`Unknown time range "${value}".`, TIME_RANGE_HELP)
}
