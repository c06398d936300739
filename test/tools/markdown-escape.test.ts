import t from 'tap'
import type { Test } from 'tap'
import { escapeMarkdownCell } from '../../src/charts/markdown.ts'
import { startTestServer } from '../helpers/app.ts'
import { post, toolCall } from '../helpers/rpc.ts'

// Values from the data are written into the markdown tables the model reads. A line break in a
// value would end the table row, and the next line could be a heading or instructions of the
// value's choosing: every break a reader might honour becomes a space, and pipes are escaped.

/** char() codes of the breaks: CR, LF, CRLF, VT, FF, NEL, LS, PS. */
const BREAKS: ReadonlyArray<[string, string]> = [
  ['CR', 'char(13)'], ['LF', 'char(10)'], ['CRLF', 'char(13, 10)'], ['VT', 'char(11)'], ['FF', 'char(12)'],
  ['NEL', 'char(133)'], ['LS', 'char(8232)'], ['PS', 'char(8233)']
]

/** One row per break, each value `a<break># INJECTED HEADING <name> | x`. */
const INJECTING_SQL = BREAKS.map(([name, code]) => `SELECT '${name}' AS kind, 'a' || ${code} || '# INJECTED HEADING ${name} | x' AS v`).join(' UNION ALL ')

/** The lines a reader sees, split at every break Markdown, Unicode or a line splitter knows. */
const linesOf = (text: string): string[] => text.split(/\r\n|[\n\v\f\r\x1c-\x1e\x85\u2028\u2029]/)

function tableRows (text: string): string[] {
  return linesOf(text).filter(line => line.startsWith('|'))
}

t.test('a cell keeps to one line and its own column', async t => {
  t.equal(escapeMarkdownCell('a\r# b'), 'a # b')
  t.equal(escapeMarkdownCell('a\r\n\n\u2028\u2029\u0085\v\fb'), `a${' '.repeat(7)}b`, 'CRLF is one break')
  t.equal(escapeMarkdownCell('x | y \\| z'), 'x \\| y \\\\\\| z', 'pipes are escaped, backslashes doubled')
})

t.test('through the tools, no value starts a line of its own', async t => {
  const server = await startTestServer(t)
  const call = async (tool: string, args: Record<string, unknown>): Promise<{ text: string, structured: Record<string, any> }> => {
    const result = (await post(server.url, toolCall(tool, args))).json.result
    t.notOk(result.isError, `${tool} succeeds: ${JSON.stringify(result.content).slice(0, 200)}`)
    return { text: result.content.map((block: { text?: string }) => block.text ?? '').join('\n'), structured: result.structuredContent }
  }
  const assertContained = (t: Test, text: string, rows: number, what: string): void => {
    t.notOk(linesOf(text).some(line => line.trimStart().startsWith('# INJECTED')), `${what}: no line starts with # INJECTED`)
    t.equal(tableRows(text).length, rows + 2, `${what}: header, separator and ${rows} rows`)
    const cells = tableRows(text).map(row => row.split(/(?<!\\)\|/).length)
    t.ok(cells.every(count => count === cells[0]), `${what}: every row has the header's cells (${cells.join(', ')})`)
  }

  const sql = await call('execute_sql', { database_id: 'examples', sql: INJECTING_SQL })
  t.equal(sql.structured.rows.length, BREAKS.length)
  t.match(sql.structured.rows[0].v, /^a\r# INJECTED/, 'the structured value is the data as it is')
  assertContained(t, sql.text, BREAKS.length, 'execute_sql')

  const headed = await call('execute_sql', { database_id: 'examples', sql: `SELECT 1 AS "x${'\r'}# INJECTED HEADER"` })
  assertContained(t, headed.text, 1, 'a column name')

  await call('create_virtual_dataset', { database_id: 'examples', dataset_name: 'injected', sql: INJECTING_SQL })
  const queried = await call('query_dataset', { dataset_id: 'injected', columns: ['kind', 'v'] })
  assertContained(t, queried.text, BREAKS.length, 'query_dataset')

  const chart = await call('generate_chart', { dataset_id: 'injected', config: { chart_type: 'table', columns: ['kind', 'v'] }, save_chart: false, preview_formats: ['table'] })
  const table = chart.structured.previews.table.content as string
  assertContained(t, table, BREAKS.length, 'the chart\'s table preview')
})
