import type { AccessPredicate, ObjectKind, Visibility } from './list-query.ts'
import type { PermissionGrant } from './records.ts'
import type { Catalog } from './catalog.ts'

/** The classes Superset-style class permissions apply to. */
export const RESOURCES = ['Chart', 'Dashboard', 'Dataset', 'Database', 'SQLLab'] as const
export type Resource = (typeof RESOURCES)[number]

/** Class permissions: what a role may do with a kind of object. */
export const CLASS_PERMISSIONS = ['can_read', 'can_write', 'can_execute_sql_query'] as const
export type ClassPermission = (typeof CLASS_PERMISSIONS)[number]

/** Data-access permissions: which data a role may see through those objects. */
export const DATA_PERMISSIONS = ['database_access', 'datasource_access', 'all_database_access', 'all_datasource_access'] as const
export type DataPermission = (typeof DATA_PERMISSIONS)[number]

export interface RequiredPermission {
  permission: ClassPermission
  resource: Resource
}

const sqlList = (ids: readonly number[]): string => ids.map(() => '?').join(', ')

/**
 * What one user may see and do, computed once per request from their roles, Superset style:
 * class permissions ((can_read, Chart), (can_execute_sql_query, SQLLab), ...) decide which
 * tools they may use; data access decides which objects those tools show:
 * - datasets: all with all_datasource_access / all_database_access, else those in a database
 *   with database_access, those with datasource_access, and those they own;
 * - charts: those on an accessible dataset, and those they own;
 * - dashboards: those they own, and published ones with an accessible chart (or no chart);
 * - databases: those with database_access or holding an accessible dataset;
 * - SQL: databases with database_access (or all_database_access).
 * Superuser roles (Admin) see and do everything.
 */
export class AccessProfile implements Visibility {
  readonly userId: number
  readonly superuser: boolean
  private readonly classPermissions: ReadonlySet<string>
  private readonly allDatasources: boolean
  private readonly allDatabases: boolean
  private readonly databaseIds: readonly number[]
  private readonly datasetIds: readonly number[]
  /** Every grant, sorted: part of the principal fingerprint that keys the response cache. */
  readonly grantsKey: string
  private classKeyValue: string | undefined

  constructor (userId: number, superuser: boolean, grants: readonly PermissionGrant[]) {
    this.userId = userId
    this.superuser = superuser
    this.grantsKey = `${superuser ? 'superuser;' : ''}${grants.map(grant => `${grant.permission}:${grant.resource}:${grant.resource_id ?? ''}`).sort().join(';')}`
    this.classPermissions = new Set(grants.filter(grant => (CLASS_PERMISSIONS as readonly string[]).includes(grant.permission)).map(grant => `${grant.permission}:${grant.resource}`))
    this.allDatabases = grants.some(grant => grant.permission === 'all_database_access')
    this.allDatasources = this.allDatabases || grants.some(grant => grant.permission === 'all_datasource_access')
    const idsOf = (permission: DataPermission): number[] => [...new Set(grants.filter(grant => grant.permission === permission && grant.resource_id !== null).map(grant => grant.resource_id as number))].sort((a, b) => a - b)
    this.databaseIds = idsOf('database_access')
    this.datasetIds = idsOf('datasource_access')
  }

  can (permission: ClassPermission, resource: Resource): boolean {
    return this.superuser || this.classPermissions.has(`${permission}:${resource}`)
  }

  /**
   * Superset's write rule: changing or deleting an existing chart, dashboard or dataset needs
   * can_write on its class and ownership of the object; superusers (Admin) may change anything.
   */
  mayModify (resource: 'Chart' | 'Dashboard' | 'Dataset', ownerIds: readonly number[]): boolean {
    return this.superuser || (this.can('can_write', resource) && ownerIds.includes(this.userId))
  }

  /** A stable summary of the class permissions (what decides tool visibility), for caches. */
  classKey (): string {
    // Asked on every call (tools/list and the allowed tool names are cached by it).
    this.classKeyValue ??= this.superuser ? 'superuser' : [...this.classPermissions].sort().join(',')
    return this.classKeyValue
  }

  /** Whether SQL may run on this database (execute_sql), and its tables may be listed. */
  canQueryDatabase (databaseId: number): boolean {
    return this.superuser || this.allDatabases || this.databaseIds.includes(databaseId)
  }

  visible (kind: ObjectKind, alias: string): AccessPredicate | undefined {
    switch (kind) {
      case 'database': return this.databases(alias)
      case 'dataset': return this.datasets(alias)
      case 'chart': return this.charts(alias)
      case 'dashboard': return this.dashboards(alias)
    }
  }

  /** Datasets (alias `alias` of the datasets table) this user may see; undefined: all. */
  datasets (alias = 'ds'): AccessPredicate | undefined {
    if (this.superuser || this.allDatasources) return undefined
    const parts: string[] = []
    const params: number[] = []
    if (this.databaseIds.length > 0) {
      parts.push(`${alias}.database_id IN (${sqlList(this.databaseIds)})`)
      params.push(...this.databaseIds)
    }
    if (this.datasetIds.length > 0) {
      parts.push(`${alias}.id IN (${sqlList(this.datasetIds)})`)
      params.push(...this.datasetIds)
    }
    parts.push(`EXISTS (SELECT 1 FROM dataset_owners o WHERE o.dataset_id = ${alias}.id AND o.user_id = ?)`)
    params.push(this.userId)
    return { sql: parts.join(' OR '), params }
  }

  /** Charts (alias `alias`) on an accessible dataset, or owned; undefined: all. */
  charts (alias = 'c'): AccessPredicate | undefined {
    const datasets = this.datasets('ads')
    if (datasets === undefined) return undefined
    return {
      sql: `${alias}.dataset_id IN (SELECT ads.id FROM datasets ads WHERE ${datasets.sql}) OR EXISTS (SELECT 1 FROM chart_owners o WHERE o.chart_id = ${alias}.id AND o.user_id = ?)`,
      params: [...datasets.params, this.userId]
    }
  }

  /** Dashboards (alias `alias`): owned, or published with an accessible chart or none; undefined: all. */
  dashboards (alias = 'd'): AccessPredicate | undefined {
    if (this.superuser) return undefined
    const owned = `EXISTS (SELECT 1 FROM dashboard_owners o WHERE o.dashboard_id = ${alias}.id AND o.user_id = ?)`
    const charts = this.charts('dc_c')
    const accessibleChart = charts === undefined
      ? ''
      : ` AND (NOT EXISTS (SELECT 1 FROM dashboard_charts dc WHERE dc.dashboard_id = ${alias}.id) OR EXISTS (SELECT 1 FROM dashboard_charts dc JOIN charts dc_c ON dc_c.id = dc.chart_id WHERE dc.dashboard_id = ${alias}.id AND (${charts.sql})))`
    return { sql: `${owned} OR (${alias}.published = 1${accessibleChart})`, params: [this.userId, ...(charts?.params ?? [])] }
  }

  /** Databases (alias `alias`) with database access or an accessible dataset; undefined: all. */
  databases (alias = 'db'): AccessPredicate | undefined {
    const datasets = this.datasets('ads')
    if (datasets === undefined || this.allDatabases) return undefined
    const direct = this.databaseIds.length > 0 ? `${alias}.id IN (${sqlList(this.databaseIds)}) OR ` : ''
    return {
      sql: `${direct}${alias}.id IN (SELECT ads.database_id FROM datasets ads WHERE ${datasets.sql})`,
      params: [...this.databaseIds, ...datasets.params]
    }
  }
}

/** A user's RBAC profile as their roles stand now (requests and pages opened from links alike). */
export async function accessProfileOf (catalog: Pick<Catalog, 'permissionsOfUser'>, userId: number): Promise<AccessProfile> {
  const { superuser, grants } = await catalog.permissionsOfUser(userId)
  return new AccessProfile(userId, superuser, grants)
}
