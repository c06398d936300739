import * as z from 'zod'
import { SCOPES } from '../auth/scopes.ts'
import { objectTable } from './render.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool } from './tool.ts'

const MAX_USERS = 20

export const findUsers = (): Tool => defineTool({
  name: 'find_users',
  title: 'Find users by name',
  description: 'Active users whose username or name contains the text, with their ids: to turn "charts Alice made" into a filter such as {"col": "created_by_fk", "opr": "eq", "value": <id>}. Use the ids only in filters; do not list people for their own sake.',
  annotations: READ_ONLY,
  scope: SCOPES.read,
  aliases: { query: 'name', search: 'name', q: 'name' },
  input: z.strictObject({
    name: z.string().trim().min(2).max(100).describe('part of a username, first, last or full name (at least 2 characters, any case)')
  }),
  output: z.object({
    users: z.array(z.object({
      id: z.int(),
      username: z.string(),
      first_name: z.string(),
      last_name: z.string(),
      email: z.string().nullable().describe('administrators only; null for everyone else')
    })),
    count: z.int(),
    truncated: z.boolean().describe(`more than ${MAX_USERS} match: give more of the name`)
  }),
  run: async ({ name }, context) => {
    // One more than shown tells whether there are more; emails are for administrators (Superset redacts them too).
    const found = await context.catalog.searchUsers(name, MAX_USERS + 1)
    const admin = context.principal.access.superuser
    const users = found.slice(0, MAX_USERS).map(user => ({ id: user.id, username: user.username, first_name: user.first_name, last_name: user.last_name, email: admin ? user.email : null }))
    return { users, count: users.length, truncated: found.length > MAX_USERS }
  },
  render: result => result.count === 0
    ? 'No active user matches.'
    : `${result.count} user(s)${result.truncated ? ` (the first ${MAX_USERS}; give more of the name)` : ''}:\n\n${objectTable(['id', 'username', 'first_name', 'last_name'], result.users)}`
})
