import { createApiKey } from '../auth/api-keys.ts'
import { ALL_SCOPES } from '../auth/scopes.ts'
import { normalizeDateTime } from '../catalog/list-query.ts'
import type { ApiKeyRecord } from '../catalog/records.ts'
import { parse, UsageError, withCatalog } from './common.ts'
import type { CliIo } from './common.ts'

export const API_KEYS_USAGE = `  analytics-mcp api-keys create --user USERNAME --name NAME [--scope SCOPE]... [--expires-in DAYS | --expires-on DATE]
  analytics-mcp api-keys list [--user USERNAME]
  analytics-mcp api-keys revoke NAME_OR_ID`

const DAY_MS = 86_400_000

function status (key: ApiKeyRecord, now: number): string {
  if (key.revoked_on !== null) return `revoked ${key.revoked_on}`
  if (key.expires_on !== null && Date.parse(key.expires_on) <= now) return `expired ${key.expires_on}`
  return key.expires_on === null ? 'active' : `active until ${key.expires_on}`
}

export async function apiKeysCommand (args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args
  switch (action) {
    case 'create': {
      const values = parse(rest, { user: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string', multiple: true }, 'expires-in': { type: 'string' }, 'expires-on': { type: 'string' } })
      if (values.user === undefined || values.name === undefined) throw new UsageError('api-keys create needs --user and --name')
      const scopes = values.scope ?? null
      const unknown = (scopes ?? []).filter(scope => !(ALL_SCOPES as readonly string[]).includes(scope))
      if (unknown.length > 0) throw new UsageError(`unknown scope(s) ${unknown.join(', ')} (scopes: ${ALL_SCOPES.join(', ')})`)
      let expiresOn: string | null = null
      if (values['expires-in'] !== undefined && values['expires-on'] !== undefined) throw new UsageError('give --expires-in or --expires-on, not both')
      if (values['expires-in'] !== undefined) {
        const days = Number(values['expires-in'])
        if (!Number.isInteger(days) || days < 1 || days > 3650) throw new UsageError('--expires-in is a number of days from 1 to 3650')
        expiresOn = new Date(Date.now() + days * DAY_MS).toISOString()
      }
      if (values['expires-on'] !== undefined) {
        const date = normalizeDateTime(values['expires-on'])
        if (date === undefined || Date.parse(date) <= Date.now()) throw new UsageError('--expires-on is a future date such as 2027-01-31')
        expiresOn = new Date(date).toISOString()
      }
      await withCatalog(values, io, async (catalog, config) => {
        const user = await catalog.findUserByUsername(values.user as string)
        if (user === undefined) throw new UsageError(`there is no user named "${values.user as string}"`)
        const issued = await createApiKey(catalog, { prefix: config.MCP_API_KEY_PREFIX, name: values.name as string, userId: user.id, scopes, expiresOn })
        io.out(`Created API key ${issued.record.name} for ${user.username} (scopes: ${scopes === null ? 'any the user\'s roles allow' : scopes.join(' ')}; ${expiresOn === null ? 'no expiry' : `expires ${expiresOn}`}).`)
        io.out('Copy it now: it is stored only as a hash and cannot be shown again.')
        io.out(issued.key)
        if (!config.MCP_API_KEY_ENABLED && !config.MCP_TOKEN_EXCHANGE_ENABLED) io.err('note: MCP_API_KEY_ENABLED is off, so the server does not accept API keys yet')
      })
      return 0
    }
    case 'list': {
      const values = parse(rest, { user: { type: 'string' } })
      await withCatalog(values, io, async catalog => {
        const user = values.user === undefined ? undefined : await catalog.findUserByUsername(values.user)
        if (values.user !== undefined && user === undefined) throw new UsageError(`there is no user named "${values.user}"`)
        const now = Date.now()
        for (const key of await catalog.listApiKeys(user?.id)) {
          io.out(`${key.id}\t${key.name}\t${key.username}\t${key.scopes === null ? '(all)' : key.scopes.join(' ')}\t${status(key, now)}\tlast used ${key.last_used_on ?? 'never'}`)
        }
      })
      return 0
    }
    case 'revoke': {
      const values = parse(rest, {}, 1)
      const identifier = values.positionals[0] as string
      await withCatalog(values, io, async catalog => {
        const key = await catalog.findApiKey(/^\d+$/.test(identifier) ? Number(identifier) : identifier)
        if (key === undefined) throw new UsageError(`no API key matches "${identifier}"`)
        io.out(await catalog.revokeApiKey(key.id) ? `Revoked API key ${key.name}; requests using it (and tokens exchanged for it) are refused from now on.` : `API key ${key.name} was already revoked.`)
      })
      return 0
    }
    default:
      throw new UsageError(`unknown api-keys command "${action ?? ''}"`)
  }
}
