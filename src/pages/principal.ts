import { accessProfileOf } from '../catalog/access.ts'
import type { AccessProfile } from '../catalog/access.ts'
import type { Catalog } from '../catalog/catalog.ts'
import type { UserRecord } from '../catalog/records.ts'

/** Who a page is shown to: the user a link was made for, with their permissions as they are now. */
export interface LinkPrincipal {
  user: UserRecord
  access: AccessProfile
}

/**
 * The link's user, if they still exist and are active, with the RBAC profile a request of
 * theirs would get now (as auth's principalFor builds it): a link never carries permissions.
 */
export async function linkPrincipal (catalog: Catalog, userId: number): Promise<LinkPrincipal | undefined> {
  const user = await catalog.findUserById(userId)
  if (user === undefined || !user.active) return undefined
  return { user, access: await accessProfileOf(catalog, user.id) }
}
