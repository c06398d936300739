import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { callWith, jwtSettings, SECRET } from '../helpers/auth.ts'
import { CATALOG_BACKENDS, catalogSettings } from '../helpers/catalogs.ts'
import { claimsFor, signWithSecret } from '../helpers/keys.ts'

// find_users: a name becomes an id for created_by_fk / changed_by_fk filters, on both catalogs.

for (const backend of CATALOG_BACKENDS) {
  t.test(`find_users (${backend} catalog)`, async t => {
    const server = await startTestServer(t, { ...await catalogSettings(backend), ...jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }) })
    const find = async (username: string, name: string): Promise<Record<string, any>> =>
      (await callWith(server, `Bearer ${signWithSecret(SECRET, claimsFor(username))}`, 'find_users', { name })).json.result
    const { catalog } = server.app
    await catalog.createUser({ username: 'carol_100', first_name: 'Carol', last_name: 'Percent%', roles: ['Gamma'] })
    await catalog.createUser({ username: 'gone', first_name: 'Alicia', last_name: 'Left', roles: ['Gamma'] })
    await catalog.setUserActive('gone', false)
    for (let i = 0; i < 21; i++) await catalog.createUser({ username: `many${i}`, first_name: 'Many', last_name: `Person ${i}`, roles: ['Gamma'] })

    const byFullName = await find('bob', 'ALICE analyst')
    t.same(byFullName.structuredContent.users.map((user: { username: string }) => user.username), ['alice'], 'the full name, any case')
    t.equal(byFullName.structuredContent.users[0].email, null, 'no email for a non-administrator')
    const asAdmin = await find('admin', 'alic')
    t.same(asAdmin.structuredContent.users.map((user: { username: string }) => user.username), ['alice'], 'inactive users are not found')
    t.equal(asAdmin.structuredContent.users[0].email, 'alice@example.com', 'administrators see emails')
    const id = asAdmin.structuredContent.users[0].id as number
    const charts = (await callWith(server, `Bearer ${signWithSecret(SECRET, claimsFor('admin'))}`, 'list_charts', { filters: [{ col: 'created_by_fk', opr: 'eq', value: id }] })).json.result
    t.notOk(charts.isError, 'the id works in a created_by_fk filter')
    t.same((await find('bob', 't%')).structuredContent.users.map((user: { username: string }) => user.username), ['carol_100'], '% and _ are literal, not wildcards')
    t.same((await find('bob', '_1')).structuredContent.users.map((user: { username: string }) => user.username), ['carol_100'])
    const many = await find('bob', 'many')
    t.equal(many.structuredContent.count, 20)
    t.equal(many.structuredContent.truncated, true, 'more than 20: the answer says so')
    t.match(many.content[0].text, /the first 20; give more of the name/)
    t.match((await find('bob', 'nobody-at-all')).content[0].text, /No active user matches/)
  })
}
