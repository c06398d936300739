import { CLASS_PERMISSIONS, DATA_PERMISSIONS, RESOURCES } from '../catalog/access.ts'
import type { Catalog } from '../catalog/catalog.ts'
import type { PermissionGrant } from '../catalog/records.ts'
import { parse, UsageError, withCatalog } from './common.ts'
import type { CliIo } from './common.ts'

export const ROLES_USAGE = `  analytics-mcp roles list
  analytics-mcp roles show ROLE
  analytics-mcp roles create ROLE [--description TEXT]
  analytics-mcp roles delete ROLE
  analytics-mcp roles grant ROLE PERMISSION [--on TARGET]
  analytics-mcp roles revoke ROLE PERMISSION [--on TARGET]
  analytics-mcp roles add-user ROLE USERNAME
  analytics-mcp roles remove-user ROLE USERNAME
      PERMISSION and TARGET: can_read|can_write --on Chart|Dashboard|Dataset|Database,
      can_read|can_execute_sql_query --on SQLLab, database_access --on database:ID_OR_NAME,
      datasource_access --on dataset:ID_OR_NAME, all_database_access, all_datasource_access`

/** Which class permissions apply to which class. */
const CLASS_TARGETS: Readonly<Record<string, readonly string[]>> = {
  can_read: RESOURCES,
  can_write: ['Chart', 'Dashboard', 'Dataset', 'Database'],
  can_execute_sql_query: ['SQLLab']
}

/** A permission and its --on target as stored. */
export async function parseGrant (catalog: Catalog, permission: string, target: string | undefined): Promise<PermissionGrant> {
  if ((CLASS_PERMISSIONS as readonly string[]).includes(permission)) {
    const allowed = CLASS_TARGETS[permission] ?? []
    if (target === undefined || !allowed.includes(target)) throw new UsageError(`${permission} needs --on ${allowed.join('|')}`)
    return { permission, resource: target, resource_id: null }
  }
  if (permission === 'all_database_access' || permission === 'all_datasource_access') {
    if (target !== undefined) throw new UsageError(`${permission} takes no --on`)
    return { permission, resource: 'all', resource_id: null }
  }
  if (permission === 'database_access' || permission === 'datasource_access') {
    const kind = permission === 'database_access' ? 'database' : 'dataset'
    const match = target === undefined ? null : new RegExp(`^${kind}:(.+)$`).exec(target)
    if (match?.[1] === undefined) throw new UsageError(`${permission} needs --on ${kind}:ID_OR_NAME`)
    const object = kind === 'database' ? await catalog.findDatabase(match[1]) : await catalog.findDataset(match[1])
    if (object === undefined) throw new UsageError(`no ${kind} matches "${match[1]}"`)
    return { permission, resource: kind === 'database' ? 'Database' : 'Dataset', resource_id: object.id }
  }
  throw new UsageError(`unknown permission "${permission}" (known: ${[...CLASS_PERMISSIONS, ...DATA_PERMISSIONS].join(', ')})`)
}

function describeGrant (grant: PermissionGrant): string {
  if (grant.resource === 'all') return grant.permission
  return grant.resource_id === null ? `${grant.permission} on ${grant.resource}` : `${grant.permission} on ${grant.resource} ${grant.resource_id}`
}

export async function rolesCommand (args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args
  switch (action) {
    case 'list': {
      const values = parse(rest, {})
      await withCatalog(values, io, async catalog => {
        for (const role of await catalog.listRoles()) {
          io.out(`${role.name}\t${role.builtin ? 'built-in' : 'custom'}${role.superuser ? ', superuser' : ''}\t${role.user_count} user(s)\t${role.description}`)
        }
      })
      return 0
    }
    case 'show': {
      const values = parse(rest, {}, 1)
      await withCatalog(values, io, async catalog => {
        const name = values.positionals[0] as string
        const role = await catalog.findRole(name)
        if (role === undefined) throw new UsageError(`there is no role named "${name}"`)
        io.out(`${role.name}${role.superuser ? ' (superuser: every permission)' : ''}: ${role.description}`)
        for (const grant of await catalog.rolePermissions(name)) io.out(`  ${describeGrant(grant)}`)
      })
      return 0
    }
    case 'create': {
      const values = parse(rest, { description: { type: 'string' } }, 1)
      await withCatalog(values, io, async catalog => {
        const role = await catalog.createRole(values.positionals[0] as string, values.description ?? '')
        io.out(`Created role ${role.name}.`)
      })
      return 0
    }
    case 'delete': {
      const values = parse(rest, {}, 1)
      await withCatalog(values, io, async catalog => {
        await catalog.deleteRole(values.positionals[0] as string)
        io.out(`Deleted role ${values.positionals[0] as string}.`)
      })
      return 0
    }
    case 'grant':
    case 'revoke': {
      const values = parse(rest, { on: { type: 'string' } }, 2)
      const [role, permission] = values.positionals as [string, string]
      await withCatalog(values, io, async catalog => {
        const grant = await parseGrant(catalog, permission, values.on)
        const changed = action === 'grant' ? await catalog.grantPermission(role, grant) : await catalog.revokePermission(role, grant)
        io.out(changed
          ? `${action === 'grant' ? 'Granted' : 'Revoked'} ${describeGrant(grant)} ${action === 'grant' ? 'to' : 'from'} ${role}.`
          : `${role} ${action === 'grant' ? 'already had' : 'did not have'} ${describeGrant(grant)}.`)
      })
      return 0
    }
    case 'add-user':
    case 'remove-user': {
      const values = parse(rest, {}, 2)
      const [role, username] = values.positionals as [string, string]
      await withCatalog(values, io, async catalog => {
        const changed = action === 'add-user' ? await catalog.addUserToRole(username, role) : await catalog.removeUserFromRole(username, role)
        io.out(changed ? `${action === 'add-user' ? 'Added' : 'Removed'} ${username} ${action === 'add-user' ? 'to' : 'from'} ${role}.` : `${username} ${action === 'add-user' ? 'already had' : 'did not have'} ${role}.`)
      })
      return 0
    }
    default:
      throw new UsageError(`unknown roles command "${action ?? ''}"`)
  }
}
