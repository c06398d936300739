import t from 'tap'
import { redactText } from '../../src/tools/bug-report.ts'
import { startTestServer } from '../helpers/app.ts'
import { callWith, jwtSettings, SECRET } from '../helpers/auth.ts'
import { claimsFor, signWithSecret } from '../helpers/keys.ts'
import { bothEras } from '../helpers/tools.ts'

// generate_bug_report: a report a user can forward, with nothing secret or personal in it.

t.test('redactText takes out credentials, personal and network details, and names what it took', async t => {
  const cases: Array<[string, string, string[]]> = [
    ['Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ', 'Authorization: Bearer [REDACTED JWT]', ['jwt']],
    ['sent Bearer abcdefghijklmnop123', 'sent Bearer [REDACTED]', ['bearer_token']],
    ['postgresql://analyst:s3cret@db.internal:5432/sales failed', 'postgresql://[REDACTED]@db.internal:5432/sales failed', ['url_credentials']],
    ['password=hunter2 and api_key: "xyz"', 'password=[REDACTED] and api_key: [REDACTED]', ['secret_assignment']],
    ['refused: amcp_k3y1d0_0123456789abcdefABCDEF', 'refused: [REDACTED API KEY]', ['api_key']],
    ['with Key amcp_k3y1d0_0123456789abcdefABCDEF', 'with Key [REDACTED]', ['bearer_token']],
    ['mail alice@example.com from 10.1.2.3', 'mail [REDACTED EMAIL] from [REDACTED IP]', ['email', 'ip_address']],
    ['-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----', '[REDACTED PRIVATE KEY]', ['private_key']],
    ['list_charts said: 3 charts match', 'list_charts said: 3 charts match', []]
  ]
  for (const [input, text, kinds] of cases) t.same(redactText(input), { text, kinds }, input.slice(0, 40))
})

t.test('generate_bug_report in both eras, for every built-in role', async t => {
  const server = await startTestServer(t, { MCP_BUG_REPORT_CONTACT: '#data-platform on Slack' })
  await bothEras(t, server.url, async (t, { structuredFrom, client }) => {
    const report = await structuredFrom(t)('generate_bug_report', {
      tool_name: 'execute_sql',
      error_message: 'connection to postgresql://bi:pw@10.0.0.7/warehouse refused',
      llm_used: 'Claude',
      steps_to_reproduce: '1. Ask for revenue by region.\n2. Token used: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abcdefgh'
    })
    t.match(report.report, /^# Bug report: analytics-mcp/)
    t.match(report.report, /## Tool\n\nexecute_sql/)
    t.match(report.report, /## Error message\n\nconnection to postgresql:\/\/\[REDACTED\]@\[REDACTED IP\]\/warehouse refused/)
    t.notMatch(report.report, /pw@|10\.0\.0\.7|eyJhbGci/, 'no credential, address or token left')
    t.same(report.redactions_applied.sort(), ['ip_address', 'jwt', 'url_credentials'])
    t.equal(report.support_contact, '#data-platform on Slack')
    t.match(report.report, /Send this report to #data-platform on Slack\.$/)
    const listed = (await client.listTools()).tools.find(tool => tool.name === 'generate_bug_report')
    t.match(listed?.annotations, { readOnlyHint: true, destructiveHint: false }, 'read-only, as in Superset')
    const tooLong = await client.callTool({ name: 'generate_bug_report', arguments: { tool_name: 'x'.repeat(201) } })
    t.equal(tooLong.isError, true, 'arguments past Superset\'s limits are refused')
  })

  const secured = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }))
  await secured.app.catalog.createUser({ username: 'norole', roles: [] })
  for (const username of ['admin', 'alice', 'bob', 'norole']) {
    const result = (await callWith(secured, `Bearer ${signWithSecret(SECRET, claimsFor(username))}`, 'generate_bug_report', { error_message: 'it broke' })).json.result
    t.notOk(result.isError, `${username} may write a report (no class permission needed, as in Superset)`)
    t.equal(result.structuredContent.support_contact, null, 'without MCP_BUG_REPORT_CONTACT: no contact')
    t.match(result.structuredContent.report, /Send this report to the administrators of this service\./)
  }
})
