import { readFileSync } from 'node:fs'
import t from 'tap'
import { createApiKey } from '../../src/auth/api-keys.ts'
import type { SqliteCatalogStore } from '../../src/catalog/store/sqlite.ts'
import { startTestServer } from '../helpers/app.ts'
import { callWith, INVALID_TOKEN_BODY } from '../helpers/auth.ts'

// Posit Connect style API keys: `Authorization: Key <key>` or `Bearer <prefix>_...`, stored as
// hashes, bound to a user, optionally scoped and expiring, with their last use recorded.

t.test('API keys', async t => {
  const server = await startTestServer(t, { MCP_API_KEY_ENABLED: true, MCP_SERVICE_URL: 'https://analytics.test' })
  const { catalog } = server.app
  const admin = await catalog.findUserByUsername('admin')
  const alice = await catalog.findUserByUsername('alice')
  if (admin === undefined || alice === undefined) throw new Error('demo users missing')
  const full = await createApiKey(catalog, { prefix: 'amcp', name: 'ci-pipeline', userId: admin.id, scopes: null, expiresOn: null })
  const readOnly = await createApiKey(catalog, { prefix: 'amcp', name: 'dashboard-bot', userId: alice.id, scopes: ['mcp:read'], expiresOn: null })

  t.test('a key authenticates as its user, with either header form', async t => {
    t.match(full.key, /^amcp_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
    for (const header of [`Key ${full.key}`, `Bearer ${full.key}`]) {
      const response = await callWith(server, header, 'get_instance_info')
      t.equal(response.status, 200, header.slice(0, header.indexOf(' ')))
      t.match(response.json.result.structuredContent.current_user, { username: 'admin', auth_method: 'api_key', scopes: null })
    }
  })

  t.test('the use is recorded', async t => {
    const used = await catalog.findApiKey('ci-pipeline')
    t.ok(used?.last_used_on !== null && Date.now() - Date.parse(used?.last_used_on ?? '') < 60_000)
  })

  t.test('a scoped key is limited to its scopes', async t => {
    const listed = await callWith(server, `Key ${readOnly.key}`, 'list_charts')
    t.equal(listed.status, 200)
    const sql = await callWith(server, `Key ${readOnly.key}`, 'execute_sql', { database_id: 1, sql: 'SELECT 1' })
    t.equal(sql.status, 403)
    t.equal(sql.json.scope, 'mcp:read mcp:sql')
  })

  t.test('wrong, revoked and expired keys are refused with the generic answer', async t => {
    const wrongSecret = `${full.key.slice(0, -4)}AAAA`
    const unknownId = `amcp_zzzzzzzzzzzz_${full.key.split('_').slice(2).join('_')}`
    const revoked = await createApiKey(catalog, { prefix: 'amcp', name: 'revoked', userId: admin.id, scopes: null, expiresOn: null })
    await catalog.revokeApiKey(revoked.record.id)
    const expired = await createApiKey(catalog, { prefix: 'amcp', name: 'expired', userId: admin.id, scopes: null, expiresOn: new Date(Date.now() - 1000).toISOString() })
    for (const [name, header] of [['wrong secret', `Key ${wrongSecret}`], ['unknown key id', `Key ${unknownId}`], ['revoked', `Key ${revoked.key}`], ['expired', `Bearer ${expired.key}`], ['malformed', 'Key amcp_short'], ['other prefix', `Key xyz_${full.key.slice(5)}`]] as const) {
      const response = await callWith(server, header)
      t.equal(response.status, 401, name)
      t.same(response.json, INVALID_TOKEN_BODY, name)
    }
  })

  t.test('a deactivated user\'s keys stop working', async t => {
    const carol = await catalog.createUser({ username: 'carol', roles: ['Gamma'] })
    const key = await createApiKey(catalog, { prefix: 'amcp', name: 'carol-key', userId: carol.id, scopes: null, expiresOn: null })
    t.equal((await callWith(server, `Key ${key.key}`)).status, 200)
    await catalog.store.run('UPDATE users SET active = 0 WHERE id = ?', [carol.id])
    t.equal((await callWith(server, `Key ${key.key}`)).status, 401)
  })

  t.test('only a hash of the secret is stored', async t => {
    const secret = full.key.split('_').slice(2).join('_')
    const store = catalog.store as SqliteCatalogStore
    store.raw.pragma('wal_checkpoint(TRUNCATE)')
    const bytes = readFileSync(catalog.location).toString('latin1')
    t.notOk(bytes.includes(secret), 'the secret is nowhere in the catalog file')
    t.ok(bytes.includes(full.record.secret_hash), 'its SHA-256 is')
  })

  t.test('with API keys off, keys are refused', async t => {
    const off = await startTestServer(t, { MCP_AUTH_ENABLED: true, MCP_JWT_SECRET: 'x'.repeat(32), MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_AUDIENCE: ['https://analytics.test/mcp'], MCP_SERVICE_URL: 'https://analytics.test' })
    const key = await createApiKey(off.app.catalog, { prefix: 'amcp', name: 'k', userId: 1, scopes: null, expiresOn: null })
    t.equal((await callWith(off, `Key ${key.key}`)).status, 401, 'Key scheme')
    t.equal((await callWith(off, `Bearer ${key.key}`)).status, 401, 'Bearer with the key prefix')
  })
})
