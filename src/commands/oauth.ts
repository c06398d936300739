import { OAuthStore } from '../oauth/store.ts'
import { parse, UsageError, withCatalog } from './common.ts'
import type { CliIo } from './common.ts'

export const OAUTH_USAGE = `  analytics-mcp oauth sign-ins --user NAME    list a user's OAuth sign-ins (grants) to MCP clients
  analytics-mcp oauth revoke --user NAME      end all of them: their access and refresh tokens stop working`

/**
 * An operator's view of the built-in authorization server: which clients a person signed in
 * to, and ending those sign-ins (a lost laptop, a compromised client) without deactivating them.
 */
export async function oauthCommand (args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args
  if (action !== 'sign-ins' && action !== 'revoke') throw new UsageError(`unknown oauth command "${action ?? ''}" (use: oauth sign-ins, oauth revoke)`)
  const values = parse(rest, { user: { type: 'string' } })
  if (values.user === undefined) throw new UsageError(`oauth ${action} needs --user NAME`)
  const username = values.user
  await withCatalog(values, io, async catalog => {
    const user = await catalog.findUserByUsername(username)
    if (user === undefined) throw new UsageError(`no user named "${username}"`)
    const store = new OAuthStore(catalog)
    if (action === 'revoke') {
      const ended = await store.revokeGrantsOfUser(user.id, 'revoked by an operator')
      io.out(`Ended ${ended} OAuth sign-in(s) of ${username}; their tokens are refused from now on.`)
      return
    }
    const grants = await store.grantsOfUser(user.id)
    if (grants.length === 0) io.out(`${username} has no OAuth sign-ins.`)
    for (const grant of grants) {
      const state = grant.revoked_on === null ? `active until ${grant.expires_on}` : `revoked ${grant.revoked_on} (${grant.revoked_reason ?? 'no reason'})`
      io.out(`${grant.id}\t${grant.client_name}\t${grant.client_id}\t${grant.scopes}\tsigned in ${grant.created_on}\t${state}`)
    }
  })
  return 0
}
