import t from 'tap'
import { redactArguments } from '../src/mcp/redact.ts'
import { humanizeSince, markdownTable } from '../src/tools/render.ts'
import { truncationNote, uniqueColumnNames } from '../src/tools/execute-sql.ts'

t.test('tool arguments are redacted for logs', async t => {
  const redacted = redactArguments({
    sql: 'SELECT 1',
    api_key: 'k',
    nested: { Authorization: 'Bearer x', token: 't', list: [{ client_secret: 's', ok: 1 }] },
    long: 'y'.repeat(600),
    deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } },
    many: Array.from({ length: 60 }, (_, i) => i)
  }) as Record<string, any>
  t.equal(redacted.sql, 'SELECT 1')
  t.equal(redacted.api_key, '[REDACTED]')
  t.same(redacted.nested, { Authorization: '[REDACTED]', token: '[REDACTED]', list: [{ client_secret: '[REDACTED]', ok: 1 }] })
  t.match(redacted.long, /^y{500}… \(100 more characters\)$/)
  t.equal(redacted.deep.a.b.c.d.e, '[…]')
  t.equal(redacted.many.length, 50)
  t.equal(redactArguments(null), null)
})

t.test('text rendering helpers', async t => {
  const now = Date.parse('2026-01-10T00:00:00Z')
  t.equal(humanizeSince('2026-01-09T23:59:30Z', now), 'just now')
  t.equal(humanizeSince('2026-01-09T23:55:00Z', now), '5 minutes ago')
  t.equal(humanizeSince('2026-01-09T23:00:00Z', now), '1 hour ago')
  t.equal(humanizeSince('2026-01-07T00:00:00Z', now), '3 days ago')
  t.equal(humanizeSince('2025-10-01T00:00:00Z', now), '3 months ago')
  t.equal(humanizeSince('2023-01-01T00:00:00Z', now), '3 years ago')
  t.equal(markdownTable(['a', 'b'], [['x|y', 'line\nbreak'], [null, { k: 1 }]]), '| a | b |\n| --- | --- |\n| x\\|y | line break |\n|  | {"k":1} |')
  t.same(uniqueColumnNames(['total', 'total', 'total_2', 'x']), ['total', 'total_2', 'total_2_2', 'x'])
  t.match(truncationNote(10, 10, 10_000), /raise `limit` \(up to 10,000\)/)
  t.notMatch(truncationNote(10_000, 10_000, 10_000), /raise/, 'no advice to raise a limit already at its ceiling')
})
