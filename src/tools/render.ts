/** Text helpers for the concise renderings that accompany structured results. */
import { escapeMarkdownCell } from '../charts/markdown.ts'

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['day', 86_400],
  ['hour', 3600],
  ['minute', 60]
]

/** "3 days ago", like Superset's *_humanized fields. */
export function humanizeSince (iso: string, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  for (const [unit, size] of UNITS) {
    const count = Math.floor(seconds / size)
    if (count >= 1) return `${count} ${unit}${count === 1 ? '' : 's'} ago`
  }
  return 'just now'
}

export function formatCell (value: unknown): string {
  if (value === null || value === undefined) return ''
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value)
  return escapeMarkdownCell(text)
}

/** A GitHub-flavoured markdown table. */
export function markdownTable (headers: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const lines = [
    `| ${headers.map(formatCell).join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map(row => `| ${headers.map((_, index) => formatCell(row[index])).join(' | ')} |`)
  ]
  return lines.join('\n')
}

/** Markdown table of objects, columns in the given order. */
export function objectTable (columns: readonly string[], items: ReadonlyArray<Readonly<Record<string, unknown>>>): string {
  return markdownTable(columns, items.map(item => columns.map(column => item[column])))
}

export function plural (count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`
}
