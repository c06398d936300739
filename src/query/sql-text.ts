/** Reading SQL text without a parser, in linear time. */

/** What closes a quoted string or identifier that the key opens (SQLite: '…', "…", `…`, […]). */
const CLOSING_QUOTE: Readonly<Record<string, string>> = { "'": "'", '"': '"', '`': '`', '[': ']' }

/** Just past the quote opened at `start`: a doubled quote stands for itself; unclosed runs to the end. */
function endOfQuoted (sql: string, start: number, closer: string): number {
  let at = start + 1
  for (;;) {
    const close = sql.indexOf(closer, at)
    if (close === -1) return sql.length
    if (closer === ']' || sql[close + 1] !== closer) return close + 1
    at = close + 2
  }
}

const isSpace = (char: string): boolean => char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '\f' || char === '\v'

/**
 * `sql` without the statement terminators, comments and whitespace after its last token, so it
 * can be wrapped as a subquery (a trailing `;` would end the statement inside the wrapper, a
 * trailing `--` comment would swallow its closing parenthesis). One pass over the text, in
 * linear time: strings and quoted identifiers are skipped whole, so `;`, `--` and `/*` inside
 * them are kept; an unclosed one runs to the end and is kept, for the database to reject.
 */
export function withoutTrailingTerminator (sql: string): string {
  let end = 0
  let at = 0
  while (at < sql.length) {
    const char = sql[at] as string
    const next = sql[at + 1]
    if (char === '-' && next === '-') {
      const newline = sql.indexOf('\n', at + 2)
      at = newline === -1 ? sql.length : newline + 1
    } else if (char === '/' && next === '*') {
      const close = sql.indexOf('*/', at + 2)
      at = close === -1 ? sql.length : close + 2
    } else if (char === ';' || isSpace(char)) {
      at += 1
    } else {
      const closer = CLOSING_QUOTE[char]
      at = closer === undefined ? at + 1 : endOfQuoted(sql, at, closer)
      end = at
    }
  }
  return sql.slice(0, end)
}
