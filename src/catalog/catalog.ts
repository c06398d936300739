import { randomUUID } from 'node:crypto'
import { invalidArguments } from '../errors.ts'
import { compileList, escapeLike, selectFor } from './list-query.ts'
import type { AccessPredicate, ListQuery, ListSpec, Visibility } from './list-query.ts'
import { CHART_LIST, DASHBOARD_LIST, DATABASE_LIST, DATASET_LIST } from './list-specs.ts'
import { fromRow } from './records.ts'
import { parseLayout, removeChart } from './dashboard-layout.ts'
import type { IdTable, Migration } from './migrations.ts'
import { CatalogError } from './errors.ts'
import type { CatalogStore } from './store/store.ts'
import { SqliteCatalogStore } from './store/sqlite.ts'
import { PostgresCatalogStore } from './store/postgres.ts'
import type {
  LinkStateRecord,
  ApiKeyRecord, Backend, ChartRecord, DashboardRecord, DatabaseOptions, DatabaseRecord, DatasetColumnRecord, DatasetMetricRecord,
  DatasetRecord, PermissionGrant, RoleRecord, UserRecord, UserRef
} from './records.ts'

export { CatalogError } from './errors.ts'

/** Per-request lookups remembered for one access version. */
interface AccessMemo {
  version: string
  entries: Map<string, unknown>
}

/** Distinct users (and unknown names tried) remembered before the memo starts over. */
const ACCESS_MEMO_LIMIT = 10_000

/**
 * Where versions are pushed (PostgreSQL), how long remembered ones are trusted without a
 * notification: a notification lost on a connection that died silently is caught this late.
 */
export const PUSHED_VERSION_MAX_AGE_MS = 5_000

/** What a write changed: `content` (what tools show) or `access` (users, roles, permissions). */
export type CatalogChange = 'content' | 'access'

export interface OpenCatalogOptions {
  /** Create the catalog and apply pending migrations; otherwise it must exist and be current. */
  upgrade: boolean
  /** PostgreSQL: the password (or a function reading it per connection), when not in the URL. */
  password?: string | (() => string) | undefined
  /** PostgreSQL: connections in the pool (MCP_CATALOG_POOL_SIZE). */
  poolSize?: number
  /** PostgreSQL: statement_timeout of catalog queries, in milliseconds. */
  statementTimeoutMs?: number
}

export interface ListPage<T> {
  rows: T[]
  total: number
}

/** Whether a catalog location is a PostgreSQL URL (else a SQLite file or sqlite:/// URL). */
export function isPostgresLocation (location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

/** The SQLite file a catalog location names: a path, or sqlite:///abs/path.db. */
export function sqliteFileOf (location: string): string {
  return location.startsWith('sqlite://') ? location.slice('sqlite://'.length) : location
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** How an identifier given to a tool is matched: numeric id, UUID, then a model-specific name column. */
function identifierPredicate (alias: string, identifier: number | string, nameColumn?: string): AccessPredicate | undefined {
  if (typeof identifier === 'number') return Number.isSafeInteger(identifier) ? { sql: `${alias}.id = ?`, params: [identifier] } : undefined
  const text = identifier.trim()
  if (/^\d+$/.test(text)) return { sql: `${alias}.id = ?`, params: [Number(text)] }
  if (UUID_PATTERN.test(text)) return { sql: `LOWER(${alias}.uuid) = LOWER(?)`, params: [text] }
  if (nameColumn !== undefined && text !== '') return { sql: `${alias}.${nameColumn} = ?`, params: [text] }
  return undefined
}

const now = (): string => new Date().toISOString()
const flag = (value: boolean): 0 | 1 => value ? 1 : 0

/** A user and their role names in one query (it runs on every request): the aggregate is each dialect's own. */
const ROLE_NAMES = {
  sqlite: 'SELECT json_group_array(name) FROM (SELECT r.name FROM roles r JOIN user_roles ur ON ur.role_id = r.id WHERE ur.user_id = u.id ORDER BY r.id)',
  postgresql: "SELECT COALESCE(json_agg(r.name ORDER BY r.id), '[]')::text FROM roles r JOIN user_roles ur ON ur.role_id = r.id WHERE ur.user_id = u.id"
} as const

function userFromRow (row: unknown): UserRecord {
  const user = fromRow<Omit<UserRecord, 'roles'> & { roles: string }>(row)
  return { ...user, roles: JSON.parse(user.roles) as string[] }
}

const API_KEY_SELECT = 'SELECT k.*, u.username FROM api_keys k JOIN users u ON u.id = k.user_id'

function apiKeyFromRow (row: unknown): ApiKeyRecord {
  const key = fromRow<Omit<ApiKeyRecord, 'scopes'> & { scopes: string | null }>(row)
  return { ...key, scopes: key.scopes === null ? null : JSON.parse(key.scopes) as string[] }
}

interface CatalogState {
  instanceId: string
  contentVersion: number
  accessVersion: string
}

const placeholders = (values: readonly unknown[]): string => values.map(() => '?').join(', ')

/**
 * The metadata catalog: users and roles, databases, datasets (with columns and saved
 * metrics), charts and dashboards, with versioned migrations, in an embedded SQLite file or
 * in PostgreSQL shared by every replica. One implementation for both: queries go through the
 * store's Kysely (see store/), written once.
 */
export class Catalog {
  readonly store: CatalogStore
  /** Where the catalog is, safe to show (no password). */
  readonly location: string
  /** Migrations applied when this catalog was opened. */
  readonly appliedAtOpen: readonly Migration[]
  private readonly changeListeners = new Set<(change: CatalogChange) => void>()
  private memo: AccessMemo = { version: '', entries: new Map() }
  private readonly userWithRoles: string
  /** Versions remembered where they are pushed; `generation` moves with each push, so a read racing one is not kept. */
  private remembered_state: { state: CatalogState, at: number } | undefined
  private generation = 0
  /**
   * Where nothing is pushed (SQLite), the versions read in this turn of the event loop: the
   * requests of one turn share one read, which is what reading them first thing would see.
   */
  private turn_state: { state: CatalogState, writes: number } | undefined

  private constructor (store: SqliteCatalogStore | PostgresCatalogStore) {
    this.store = store
    this.location = store.location
    this.appliedAtOpen = store.appliedAtOpen
    this.userWithRoles = `SELECT u.*, (${ROLE_NAMES[store.backend]}) AS roles FROM users u`
    store.onExternalChange(() => { this.forgetState() })
  }

  /** Open the catalog at `location`: a SQLite file (or sqlite:///path), or a postgresql:// URL. */
  static async open (location: string, options: OpenCatalogOptions): Promise<Catalog> {
    if (isPostgresLocation(location)) {
      return new Catalog(await PostgresCatalogStore.open({
        url: location,
        password: options.password,
        poolSize: options.poolSize ?? 10,
        statementTimeoutMs: options.statementTimeoutMs ?? 10_000,
        upgrade: options.upgrade
      }))
    }
    return new Catalog(SqliteCatalogStore.open(sqliteFileOf(location), { upgrade: options.upgrade }))
  }

  async version (): Promise<number> {
    return await (this.store as SqliteCatalogStore | PostgresCatalogStore).version()
  }

  private forgetState (): void {
    this.generation++
    this.remembered_state = undefined
    this.turn_state = undefined
  }

  /**
   * The catalog's identity and versions. Read once per event-loop turn from SQLite (another
   * process may have written the file); where changes are pushed (PostgreSQL), remembered
   * until a push says they moved, or PUSHED_VERSION_MAX_AGE_MS at most.
   */
  private async state (): Promise<CatalogState> {
    // Inside a transaction its own writes have moved the versions (triggers), but nothing was
    // pushed yet: read them on its connection, and keep nothing it saw.
    const inTransaction = this.store.inTransaction()
    const remembered = this.remembered_state
    if (!inTransaction && remembered !== undefined && this.store.receivingChanges() && Date.now() - remembered.at < PUSHED_VERSION_MAX_AGE_MS) return remembered.state
    const turn = this.turn_state
    if (!inTransaction && turn !== undefined && turn.writes === this.store.writes) return turn.state
    const generation = this.generation
    const writes = this.store.writes
    const rows = await this.store.all<{ key: string, value: string }>("SELECT key, value FROM catalog_state WHERE key IN ('instance_id', 'content_version', 'access_version')")
    const value = (key: string): string => rows.find(row => row.key === key)?.value ?? ''
    const state = { instanceId: value('instance_id'), contentVersion: Number(value('content_version')), accessVersion: value('access_version') }
    if (this.store.pushesChanges && !inTransaction && generation === this.generation) this.remembered_state = { state, at: Date.now() }
    if (!this.store.pushesChanges && !inTransaction && generation === this.generation && writes === this.store.writes) {
      const remembered = { state, writes }
      this.turn_state = remembered
      setImmediate(() => { if (this.turn_state === remembered) this.turn_state = undefined })
    }
    return state
  }

  /**
   * The catalog's identity and content version: caches key on both, so an answer cached
   * before any change to datasets, charts, dashboards, databases or users (by any process)
   * is never served after it.
   */
  async contentState (): Promise<{ instanceId: string, version: number }> {
    const state = await this.state()
    return { instanceId: state.instanceId, version: state.contentVersion }
  }

  /**
   * Data in a registered database changed (DML or DDL through execute_sql): what tools read
   * from it (table lists) may differ, so cached answers must not be reused.
   */
  async noteDataChanged (): Promise<void> {
    await this.store.run("UPDATE catalog_state SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'content_version'")
    this.changed('content')
  }

  /**
   * Be told of changes made through this Catalog object: `content` (what tools show) or
   * `access` (users, roles, permissions). Used to publish events to other replicas and to
   * subscribed clients. Returns the unsubscribe function.
   */
  onChange (listener: (change: CatalogChange) => void): () => void {
    this.changeListeners.add(listener)
    return () => { this.changeListeners.delete(listener) }
  }

  /** Announce a change once the transaction making it has committed. */
  private changed (kind: CatalogChange): void {
    this.store.afterCommit(() => {
      this.forgetState()
      for (const listener of this.changeListeners) {
        try {
          listener(kind)
        } catch {
          // A failing observer must not undo or fail the write.
        }
      }
    })
  }

  private changedIf (kind: CatalogChange, changed: boolean): boolean {
    if (changed) this.changed(kind)
    return changed
  }

  /** Resolve once changes other processes committed before now are visible here (see CatalogStore.caughtUp). */
  async caughtUp (): Promise<void> {
    await this.store.caughtUp()
  }

  /** Cheap reachability check for readiness probes. */
  async ping (): Promise<void> {
    await this.store.all('SELECT 1')
  }

  /** Run `work` in one write transaction (see CatalogStore.transaction); catalog calls inside it join it. */
  async transaction<T> (work: () => Promise<T>): Promise<T> {
    return await this.store.transaction(work)
  }

  /** A write in a transaction, announced to change listeners once committed. */
  private async write<T> (kind: CatalogChange, work: () => Promise<T>): Promise<T> {
    return await this.transaction(async () => {
      const result = await work()
      this.changed(kind)
      return result
    })
  }

  async close (): Promise<void> {
    await this.store.close()
  }

  private async list<T> (spec: ListSpec, query: ListQuery, visibility?: Visibility): Promise<ListPage<T>> {
    const compiled = compileList(spec, query, visibility)
    const [count, rows] = await Promise.all([
      this.store.get<{ total: number }>(compiled.countSql, compiled.params),
      this.store.all(compiled.pageSql, compiled.pageParams)
    ])
    return { rows: rows.map(row => fromRow<T>(row)), total: count?.total ?? 0 }
  }

  /**
   * Ids for `count` new rows of `table`, past every id it ever gave (migration 9): SQLite alone
   * would give the id of a deleted newest row again. PostgreSQL's identity columns never go
   * back, so there the database picks (undefined). Inside a write, the ids are the write's.
   */
  private async newIds (table: IdTable, count: number): Promise<number[] | undefined> {
    if (this.store.backend !== 'sqlite' || count === 0) return undefined
    const row = await this.store.get<{ last_id: number }>(
      `UPDATE catalog_sequences SET last_id = MAX(last_id, (SELECT COALESCE(MAX(id), 0) FROM ${table})) + ? WHERE name = ? RETURNING last_id`, [count, table])
    if (row === undefined) throw new CatalogError(`the catalog has no id sequence for ${table}; run analytics-mcp db upgrade`)
    return Array.from({ length: count }, (_, index) => Number(row.last_id) - count + 1 + index)
  }

  /** The highest id `table` ever gave (deleted rows included). */
  async idHighWater (table: IdTable): Promise<number> {
    const row = this.store.backend === 'sqlite'
      ? await this.store.get<{ n: number }>(`SELECT MAX(COALESCE((SELECT last_id FROM catalog_sequences WHERE name = ?), 0), COALESCE((SELECT MAX(id) FROM ${table}), 0)) AS n`, [table])
      : await this.store.get<{ n: number }>(`SELECT GREATEST(COALESCE(pg_sequence_last_value(pg_get_serial_sequence('${table}', 'id')::regclass), 0), COALESCE((SELECT MAX(id) FROM ${table}), 0)) AS n`)
    return Number(row?.n ?? 0)
  }

  /** Make `table`'s next id at least `highWater` + 1 (a copied catalog keeps its source's ids unused). */
  async raiseIdHighWater (table: IdTable, highWater: number): Promise<void> {
    const target = Math.max(highWater, await this.idHighWater(table))
    if (this.store.backend === 'sqlite') await this.store.run('UPDATE catalog_sequences SET last_id = ? WHERE name = ?', [target, table])
    else await this.store.all(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), ?, ?)`, [Math.max(target, 1), target > 0])
  }

  private async newId (table: IdTable): Promise<{ id?: number }> {
    const ids = await this.newIds(table, 1)
    return ids === undefined ? {} : { id: ids[0] }
  }

  /** How many objects a list request matches, without reading a page of them. */
  private async count (spec: ListSpec, query: ListQuery, visibility?: Visibility): Promise<number> {
    const compiled = compileList(spec, query, visibility)
    return (await this.store.get<{ total: number }>(compiled.countSql, compiled.params))?.total ?? 0
  }

  /**
   * One object by identifier, among those `access` lets the caller see: an object the caller
   * may not see is indistinguishable from one that does not exist.
   */
  private async findOne<T extends { id: number }> (spec: ListSpec, predicate: AccessPredicate | undefined, visibility: Visibility | undefined): Promise<T | undefined> {
    if (predicate === undefined) return undefined
    const kind = spec.kind
    const access = visibility?.visible(spec.kind, spec.alias)
    const select = selectFor(spec, visibility)
    const where = access === undefined ? predicate.sql : `(${predicate.sql}) AND (${access.sql})`
    const params = [...select.params, ...predicate.params, ...(access?.params ?? [])]
    const rows = (await this.store.all(`${select.sql} FROM ${spec.from} WHERE ${where} ORDER BY ${spec.idColumn} LIMIT 6`, params)).map(row => fromRow<T>(row))
    if (rows.length > 1) {
      // A name shared by several objects: say so, rather than picking one or claiming none exists.
      const ids = rows.slice(0, 5).map(row => row.id).join(', ')
      throw invalidArguments(`${rows.length > 5 ? 'More than five' : String(rows.length)} ${kind}s match ${JSON.stringify(predicate.params[0])} (ids ${ids}${rows.length > 5 ? ', …' : ''}).`, 'Pass the id or UUID instead: the name is ambiguous.')
    }
    return rows[0]
  }

  /** Ids of the objects whose `column` is `value`, among those `visibility` lets the caller see (all without it). */
  private async idsWhere (spec: ListSpec, column: string, value: string, visibility: Visibility | undefined): Promise<number[]> {
    const access = visibility?.visible(spec.kind, spec.alias)
    const where = `${spec.alias}.${column} = ?${access === undefined ? '' : ` AND (${access.sql})`}`
    return (await this.store.all<{ id: number }>(`SELECT ${spec.idColumn} AS id FROM ${spec.from} WHERE ${where} ORDER BY ${spec.idColumn}`, [value, ...(access?.params ?? [])])).map(row => row.id)
  }

  // ---- users and roles -------------------------------------------------------------

  /**
   * Lookups made on every request (the user, their permissions) are reused until the access
   * version moves: triggers move it on any change to users, roles, memberships or grants, by
   * any process, so a change still applies from the next request on (on PostgreSQL, from the
   * next request after the change notification arrives).
   */
  private async accessMemo (): Promise<AccessMemo> {
    const version = (await this.state()).accessVersion
    if (this.memo.version !== version || this.memo.entries.size > ACCESS_MEMO_LIMIT) this.memo = { version, entries: new Map() }
    return this.memo
  }

  private async remembered<T> (key: string, load: () => Promise<T>): Promise<T> {
    // What a transaction reads may be rolled back: it is never remembered.
    if (this.store.inTransaction()) return await load()
    const memo = await this.accessMemo()
    if (memo.entries.has(key)) return memo.entries.get(key) as T
    const value = await load()
    memo.entries.set(key, value)
    return value
  }

  async findUserByUsername (username: string): Promise<UserRecord | undefined> {
    return await this.remembered(`user:${username}`, async () => {
      const row = await this.store.get(`${this.userWithRoles} WHERE u.username = ?`, [username])
      return row === undefined ? undefined : userFromRow(row)
    })
  }

  /** Active users whose username, first, last or full name contains `text` (any case), by username. */
  async searchUsers (text: string, limit: number): Promise<Array<Pick<UserRecord, 'id' | 'username' | 'first_name' | 'last_name' | 'email'>>> {
    const pattern = `%${escapeLike(text.toLowerCase())}%`
    return await this.store.all(
      `SELECT id, username, first_name, last_name, email FROM users
        WHERE active = 1 AND (LOWER(username) LIKE ? ESCAPE '\\' OR LOWER(first_name) LIKE ? ESCAPE '\\' OR LOWER(last_name) LIKE ? ESCAPE '\\'
          OR LOWER(first_name || ' ' || last_name) LIKE ? ESCAPE '\\')
        ORDER BY username LIMIT ?`,
      [pattern, pattern, pattern, pattern, limit])
  }

  async findUserByEmail (email: string): Promise<UserRecord | undefined> {
    const row = await this.store.get(`${this.userWithRoles} WHERE LOWER(u.email) = LOWER(?) ORDER BY u.id`, [email])
    return row === undefined ? undefined : userFromRow(row)
  }

  async findUserById (id: number): Promise<UserRecord | undefined> {
    const row = await this.store.get(`${this.userWithRoles} WHERE u.id = ?`, [id])
    return row === undefined ? undefined : userFromRow(row)
  }

  async listUsers (): Promise<UserRecord[]> {
    return (await this.store.all(`${this.userWithRoles} ORDER BY u.id`)).map(userFromRow)
  }

  async roleNames (): Promise<string[]> {
    return (await this.store.db.selectFrom('roles').select('name').orderBy('id').execute()).map(row => row.name)
  }

  async createUser (user: { username: string, first_name?: string, last_name?: string, email?: string | null, active?: boolean, roles: readonly string[] }): Promise<UserRecord> {
    return await this.write('access', async () => {
      const known = new Set(await this.roleNames())
      const unknown = user.roles.filter(role => !known.has(role))
      if (unknown.length > 0) throw new CatalogError(`unknown role(s): ${unknown.join(', ')} (known: ${[...known].join(', ')})`)
      if (await this.findUserByUsername(user.username) !== undefined) throw new CatalogError(`a user named "${user.username}" already exists`)
      const stamp = now()
      const { id } = await this.store.db.insertInto('users').values({
        ...await this.newId('users'),
        username: user.username,
        first_name: user.first_name ?? '',
        last_name: user.last_name ?? '',
        email: user.email ?? null,
        active: flag(user.active !== false),
        created_on: stamp,
        changed_on: stamp
      }).returning('id').executeTakeFirstOrThrow()
      for (const role of user.roles) await this.store.run('INSERT INTO user_roles (user_id, role_id) SELECT CAST(? AS BIGINT), id FROM roles WHERE name = ?', [id, role])
      return this.mustFind(await this.findUserById(id), 'user')
    })
  }

  async userRefs (ids: ReadonlyArray<number | null>): Promise<Map<number, UserRef>> {
    const wanted = [...new Set(ids.filter((id): id is number => id !== null))]
    if (wanted.length === 0) return new Map()
    const rows = await this.store.db.selectFrom('users').select(['id', 'username', 'first_name', 'last_name']).where('id', 'in', wanted).execute()
    return new Map(rows.map(row => [row.id, row]))
  }

  // ---- roles and permissions ---------------------------------------------------------

  async listRoles (): Promise<RoleRecord[]> {
    return (await this.store.all(`
      SELECT r.id, r.name, r.description, r.builtin, r.superuser, (SELECT COUNT(*) FROM user_roles ur WHERE ur.role_id = r.id) AS user_count
      FROM roles r ORDER BY r.id`)).map(row => fromRow<RoleRecord>(row))
  }

  async findRole (name: string): Promise<RoleRecord | undefined> {
    return (await this.listRoles()).find(role => role.name === name)
  }

  async createRole (name: string, description = ''): Promise<RoleRecord> {
    return await this.write('access', async () => {
      if (await this.findRole(name) !== undefined) throw new CatalogError(`a role named "${name}" already exists`)
      await this.store.db.insertInto('roles').values({ ...await this.newId('roles'), name, description }).execute()
      return this.mustFind(await this.findRole(name), 'role')
    })
  }

  async deleteRole (name: string): Promise<void> {
    await this.write('access', async () => {
      const role = await this.requireRole(name)
      if (role.builtin) throw new CatalogError(`"${name}" is a built-in role and cannot be deleted`)
      await this.store.db.deleteFrom('roles').where('id', '=', role.id).execute()
    })
  }

  async rolePermissions (name: string): Promise<PermissionGrant[]> {
    const role = await this.requireRole(name)
    return await this.store.db.selectFrom('role_permissions').select(['permission', 'resource', 'resource_id'])
      .where('role_id', '=', role.id).orderBy('permission').orderBy('resource').orderBy('resource_id').execute()
  }

  /** Returns false when the role already had the permission. */
  async grantPermission (name: string, grant: PermissionGrant): Promise<boolean> {
    return await this.accessChange(async () => {
      const role = await this.requireRole(name)
      return await this.store.run('INSERT INTO role_permissions (role_id, permission, resource, resource_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        [role.id, grant.permission, grant.resource, grant.resource_id])
    })
  }

  /** Returns false when the role did not have the permission. */
  async revokePermission (name: string, grant: PermissionGrant): Promise<boolean> {
    return await this.accessChange(async () => {
      const role = await this.requireRole(name)
      return await this.store.run('DELETE FROM role_permissions WHERE role_id = ? AND permission = ? AND resource = ? AND COALESCE(resource_id, 0) = COALESCE(CAST(? AS BIGINT), 0)',
        [role.id, grant.permission, grant.resource, grant.resource_id])
    })
  }

  /**
   * Turn an account off or on. Inactive users are refused on their next request, whatever
   * credential they hold (JWT, API key, exchanged token). Returns false when nothing changed.
   */
  async setUserActive (username: string, active: boolean): Promise<boolean> {
    return await this.accessChange(async () => {
      const user = await this.requireUser(username)
      return await this.store.run('UPDATE users SET active = ?, changed_on = ? WHERE id = ? AND active <> ?', [flag(active), now(), user.id, flag(active)])
    })
  }

  /** Returns false when the user already had the role. */
  async addUserToRole (username: string, roleName: string): Promise<boolean> {
    return await this.accessChange(async () => {
      const [user, role] = [await this.requireUser(username), await this.requireRole(roleName)]
      return await this.store.run('INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING', [user.id, role.id])
    })
  }

  /** Returns false when the user did not have the role. */
  async removeUserFromRole (username: string, roleName: string): Promise<boolean> {
    return await this.accessChange(async () => {
      const [user, role] = [await this.requireUser(username), await this.requireRole(roleName)]
      return await this.store.run('DELETE FROM user_roles WHERE user_id = ? AND role_id = ?', [user.id, role.id])
    })
  }

  /** An access write in a transaction: `work` returns the rows it changed; announced (and true) when some did. */
  private async accessChange (work: () => Promise<number>): Promise<boolean> {
    return await this.transaction(async () => this.changedIf('access', await work() > 0))
  }

  /** Everything a user's roles grant, in one query (remembered until the access version moves). */
  async permissionsOfUser (userId: number): Promise<{ superuser: boolean, grants: PermissionGrant[] }> {
    return await this.remembered(`permissions:${userId}`, async () => await this.loadPermissions(userId))
  }

  private async loadPermissions (userId: number): Promise<{ superuser: boolean, grants: PermissionGrant[] }> {
    const rows = await this.store.all<{ superuser: number, permission: string | null, resource: string | null, resource_id: number | null }>(`
      SELECT r.superuser, p.permission, p.resource, p.resource_id
      FROM user_roles ur JOIN roles r ON r.id = ur.role_id
      LEFT JOIN role_permissions p ON p.role_id = r.id
      WHERE ur.user_id = ?`, [userId])
    return {
      superuser: rows.some(row => row.superuser === 1),
      grants: rows.filter(row => row.permission !== null && row.resource !== null)
        .map(row => ({ permission: row.permission as string, resource: row.resource as string, resource_id: row.resource_id }))
    }
  }

  private async requireUser (username: string): Promise<UserRecord> {
    const user = await this.findUserByUsername(username)
    if (user === undefined) throw new CatalogError(`there is no user named "${username}"`)
    return user
  }

  private async requireRole (name: string): Promise<RoleRecord> {
    const role = await this.findRole(name)
    if (role === undefined) throw new CatalogError(`there is no role named "${name}" (roles: ${(await this.roleNames()).join(', ')})`)
    return role
  }

  // ---- API keys ------------------------------------------------------------------------

  async createApiKey (key: { key_id: string, name: string, user_id: number, secret_hash: string, scopes: readonly string[] | null, expires_on: string | null }): Promise<ApiKeyRecord> {
    // Names, key ids and row ids share one lookup (findApiKey), so none may pass for another.
    if (/^\d+$/.test(key.name)) throw new CatalogError(`an API key name cannot be a number ("${key.name}"): numbers name keys by id`)
    return await this.transaction(async () => {
      if (await this.findApiKey(key.name) !== undefined) throw new CatalogError(`an API key named "${key.name}" already exists`)
      if (await this.findApiKey(key.key_id) !== undefined) throw new CatalogError('the generated key id is taken; create the key again')
      await this.store.db.insertInto('api_keys').values({
        ...await this.newId('api_keys'),
        key_id: key.key_id,
        name: key.name,
        user_id: key.user_id,
        secret_hash: key.secret_hash,
        scopes: key.scopes === null ? null : JSON.stringify(key.scopes),
        created_on: now(),
        expires_on: key.expires_on
      }).execute()
      return this.mustFind(await this.findApiKey(key.name), 'API key')
    })
  }

  /** An API key by its public key id only (authentication: the id inside a presented key). */
  async findApiKeyByKeyId (keyId: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.store.get(`${API_KEY_SELECT} WHERE k.key_id = ?`, [keyId])
    return row === undefined ? undefined : apiKeyFromRow(row)
  }

  /** An API key by its public key id, its name, or its row id (operators' and exchange lookups). */
  async findApiKey (identifier: string | number): Promise<ApiKeyRecord | undefined> {
    const row = await this.store.get(`${API_KEY_SELECT} WHERE k.key_id = ? OR k.name = ? OR k.id = ? ORDER BY k.id`,
      [String(identifier), String(identifier), typeof identifier === 'number' && Number.isSafeInteger(identifier) ? identifier : -1])
    return row === undefined ? undefined : apiKeyFromRow(row)
  }

  async listApiKeys (userId?: number): Promise<ApiKeyRecord[]> {
    const rows = userId === undefined
      ? await this.store.all(`${API_KEY_SELECT} ORDER BY k.id`)
      : await this.store.all(`${API_KEY_SELECT} WHERE k.user_id = ? ORDER BY k.id`, [userId])
    return rows.map(apiKeyFromRow)
  }

  /** Returns false when the key was already revoked. */
  async revokeApiKey (id: number): Promise<boolean> {
    return await this.store.run('UPDATE api_keys SET revoked_on = ? WHERE id = ? AND revoked_on IS NULL', [now(), id]) > 0
  }

  async touchApiKey (id: number, usedOn: string): Promise<void> {
    await this.store.run('UPDATE api_keys SET last_used_on = ? WHERE id = ?', [usedOn, id])
  }

  /** Owners of several objects at once, keyed by object id. */
  async ownersOf (kind: 'chart' | 'dashboard' | 'dataset', ids: readonly number[]): Promise<Map<number, UserRef[]>> {
    const owners = new Map<number, UserRef[]>(ids.map(id => [id, []]))
    if (ids.length === 0) return owners
    const rows = await this.store.all<UserRef & { object_id: number }>(`
      SELECT o.${kind}_id AS object_id, u.id, u.username, u.first_name, u.last_name
      FROM ${kind}_owners o JOIN users u ON u.id = o.user_id
      WHERE o.${kind}_id IN (${placeholders(ids)}) ORDER BY u.id`, ids)
    for (const { object_id: objectId, ...user } of rows) owners.get(objectId)?.push(user)
    return owners
  }

  // ---- databases ---------------------------------------------------------------------

  async listDatabases (query: ListQuery, visibility?: Visibility): Promise<ListPage<DatabaseRecord>> {
    return await this.list(DATABASE_LIST, query, visibility)
  }

  async findDatabase (identifier: number | string, visibility?: Visibility): Promise<DatabaseRecord | undefined> {
    return await this.findOne(DATABASE_LIST, identifierPredicate('db', identifier, 'database_name'), visibility)
  }

  async createDatabase (database: NewDatabase): Promise<DatabaseRecord> {
    return await this.write('content', async () => await this.insertDatabase(database))
  }

  private async insertDatabase (database: NewDatabase, managed = false): Promise<DatabaseRecord> {
    const stamp = now()
    const { id } = await this.store.db.insertInto('databases').values({
      ...await this.newId('databases'),
      uuid: randomUUID(),
      database_name: database.database_name,
      backend: database.backend,
      connection: database.connection,
      password_source: database.password_source ?? null,
      options: JSON.stringify(database.options ?? {}),
      allow_dml: flag(database.allow_dml === true),
      expose_in_sqllab: flag(database.expose_in_sqllab !== false),
      description: database.description ?? null,
      managed: flag(managed),
      created_by_fk: database.created_by_fk ?? null,
      changed_by_fk: database.created_by_fk ?? null,
      created_on: stamp,
      changed_on: stamp
    }).returning('id').executeTakeFirstOrThrow()
    return this.mustFind(await this.findDatabase(id), 'database')
  }

  /** Change a database's registration; fields left out keep their value. */
  async updateDatabase (id: number, changes: DatabaseChanges): Promise<DatabaseRecord> {
    return await this.write('content', async () => {
      const current = this.mustFind(await this.findDatabase(id), 'database')
      await this.store.db.updateTable('databases').set({
        database_name: changes.database_name ?? current.database_name,
        backend: changes.backend ?? current.backend,
        connection: changes.connection ?? current.connection,
        password_source: changes.password_source === undefined ? current.password_source : changes.password_source,
        options: JSON.stringify(changes.options ?? current.options),
        allow_dml: flag(changes.allow_dml ?? current.allow_dml),
        expose_in_sqllab: flag(changes.expose_in_sqllab ?? current.expose_in_sqllab),
        description: changes.description === undefined ? current.description : changes.description,
        changed_by_fk: changes.changed_by_fk === undefined ? current.changed_by_fk : changes.changed_by_fk,
        changed_on: now()
      }).where('id', '=', id).execute()
      return this.mustFind(await this.findDatabase(id), 'database')
    })
  }

  /** How many datasets are defined on a database, and how many charts use them. */
  async databaseUsage (id: number): Promise<{ datasets: number, charts: number }> {
    const row = await this.store.get<{ datasets: number, charts: number }>(`
      SELECT (SELECT COUNT(*) FROM datasets WHERE database_id = ?) AS datasets,
        (SELECT COUNT(*) FROM charts c JOIN datasets ds ON ds.id = c.dataset_id WHERE ds.database_id = ?) AS charts`, [id, id])
    return row ?? { datasets: 0, charts: 0 }
  }

  /**
   * Unregister a database. One that datasets use is refused unless `force`: then its datasets,
   * the charts on them (taken off their dashboards) and the grants naming any of them go too,
   * so that a database registered later with the same id inherits no access.
   */
  async deleteDatabase (id: number, options: { force?: boolean } = {}): Promise<{ datasets: number, charts: number }> {
    return await this.transaction(async () => {
      const database = this.mustFind(await this.findDatabase(id), 'database')
      const usage = await this.databaseUsage(id)
      if (usage.datasets > 0 && options.force !== true) {
        throw new CatalogError(`database "${database.database_name}" has ${usage.datasets} dataset(s) used by ${usage.charts} chart(s); remove them first, or pass --force to delete them with it`)
      }
      const datasets = (await this.store.db.selectFrom('datasets').select('id').where('database_id', '=', id).execute()).map(row => row.id)
      const charts = datasets.length === 0
        ? []
        : (await this.store.db.selectFrom('charts').select('id').where('dataset_id', 'in', datasets).execute()).map(row => row.id)
      for (const chartId of charts) await this.deleteChart(chartId)
      await this.store.db.deleteFrom('role_permissions').where('resource', '=', 'Database').where('resource_id', '=', id).execute()
      if (datasets.length > 0) await this.store.db.deleteFrom('role_permissions').where('resource', '=', 'Dataset').where('resource_id', 'in', datasets).execute()
      // Datasets, their columns, metrics and owners, and link states follow by ON DELETE CASCADE.
      await this.store.db.deleteFrom('databases').where('id', '=', id).execute()
      this.changed('content')
      this.changed('access')
      return usage
    })
  }

  /** Whether a database was registered from MCP_DATABASES (each start-up restores it). */
  async isManagedDatabase (id: number): Promise<boolean> {
    return (await this.store.db.selectFrom('databases').select('managed').where('id', '=', id).executeTakeFirst())?.managed === 1
  }

  /**
   * Make the registered databases match MCP_DATABASES, in one transaction: each declared
   * database is created, or updated to its declaration (taking over one of that name the CLI
   * registered), and marked managed. Databases not declared are left alone; a managed one no
   * longer declared is kept (deleting it would delete its datasets) and released to the CLI.
   */
  async reconcileDatabases (declared: readonly DeclaredRegistration[]): Promise<DatabaseReconciliation> {
    const outcome: DatabaseReconciliation = { created: [], updated: [], unchanged: [], released: [] }
    await this.transaction(async () => {
      const names = new Set(declared.map(entry => entry.database_name))
      for (const entry of declared) {
        const fields = {
          backend: entry.backend,
          connection: entry.connection,
          password_source: entry.password_source,
          options: entry.options,
          allow_dml: entry.allow_dml,
          expose_in_sqllab: entry.expose_in_sqllab,
          description: entry.description
        }
        // By name only: a declared name such as "42" must not match the database with id 42.
        const existingId = (await this.store.db.selectFrom('databases').select('id').where('database_name', '=', entry.database_name).executeTakeFirst())?.id
        const existing = existingId === undefined ? undefined : await this.findDatabase(existingId)
        if (existing === undefined) {
          await this.insertDatabase({ database_name: entry.database_name, ...fields }, true)
          outcome.created.push(entry.database_name)
          continue
        }
        const same = existing.backend === fields.backend && existing.connection === fields.connection && existing.password_source === fields.password_source &&
          JSON.stringify(existing.options) === JSON.stringify(fields.options) && existing.allow_dml === fields.allow_dml &&
          existing.expose_in_sqllab === fields.expose_in_sqllab && existing.description === fields.description
        if (same && await this.isManagedDatabase(existing.id)) {
          outcome.unchanged.push(entry.database_name)
          continue
        }
        await this.store.db.updateTable('databases').set(same
          ? { managed: 1 }
          : {
              backend: fields.backend,
              connection: fields.connection,
              password_source: fields.password_source,
              options: JSON.stringify(fields.options),
              allow_dml: flag(fields.allow_dml),
              expose_in_sqllab: flag(fields.expose_in_sqllab),
              description: fields.description,
              changed_on: now(),
              managed: 1
            }).where('id', '=', existing.id).execute()
        outcome.updated.push(entry.database_name)
      }
      const managed = await this.store.db.selectFrom('databases').select(['id', 'database_name']).where('managed', '=', 1).orderBy('id').execute()
      for (const row of managed) {
        if (names.has(row.database_name)) continue
        await this.store.db.updateTable('databases').set({ managed: 0 }).where('id', '=', row.id).execute()
        outcome.released.push(row.database_name)
      }
      if (outcome.created.length + outcome.updated.length > 0) this.changed('content')
    })
    return outcome
  }

  // ---- datasets ----------------------------------------------------------------------

  async listDatasets (query: ListQuery, visibility?: Visibility): Promise<ListPage<DatasetRecord>> {
    return await this.list(DATASET_LIST, query, visibility)
  }

  async findDataset (identifier: number | string, visibility?: Visibility): Promise<DatasetRecord | undefined> {
    return await this.findOne(DATASET_LIST, identifierPredicate('ds', identifier, 'table_name'), visibility)
  }

  /**
   * Refuse a dataset name the caller already sees. Names are unique only among the datasets
   * each caller may see: one they may not see neither blocks the name nor is revealed by it.
   */
  async assertDatasetNameFree (name: string, visibility: Visibility | undefined): Promise<void> {
    const ids = await this.idsWhere(DATASET_LIST, 'table_name', name, visibility)
    if (ids.length > 0) throw invalidArguments(`A dataset named "${name}" exists already (id ${ids.join(', ')}).`, 'Choose another dataset_name, or use that dataset.')
  }

  /** Refuse a dashboard slug the caller already sees on another dashboard (unique per caller, as dataset names). */
  async assertDashboardSlugFree (slug: string, visibility: Visibility | undefined, exceptId?: number): Promise<void> {
    const ids = (await this.idsWhere(DASHBOARD_LIST, 'slug', slug, visibility)).filter(id => id !== exceptId)
    if (ids.length > 0) throw invalidArguments(`The slug "${slug}" is taken by another dashboard (id ${ids.join(', ')}).`, 'Choose another slug.')
  }

  async datasetColumns (datasetId: number): Promise<DatasetColumnRecord[]> {
    return (await this.store.db.selectFrom('dataset_columns')
      .select(['id', 'column_name', 'verbose_name', 'type', 'is_dttm', 'groupby', 'filterable', 'description'])
      .where('dataset_id', '=', datasetId).orderBy('ordinal').orderBy('id').execute()).map(row => fromRow<DatasetColumnRecord>(row))
  }

  async datasetMetrics (datasetId: number): Promise<DatasetMetricRecord[]> {
    return await this.store.db.selectFrom('dataset_metrics')
      .select(['id', 'metric_name', 'verbose_name', 'expression', 'description', 'd3format'])
      .where('dataset_id', '=', datasetId).orderBy('id').execute()
  }

  async createDataset (dataset: {
    database_id: number
    table_name: string
    schema?: string | null
    sql?: string | null
    description?: string | null
    main_dttm_col?: string | null
    certified_by?: string | null
    certification_details?: string | null
    created_by_fk?: number | null
    owners?: readonly number[]
    columns: ReadonlyArray<Omit<DatasetColumnRecord, 'id'>>
    metrics?: ReadonlyArray<Omit<DatasetMetricRecord, 'id'>>
  }, options: { uniqueAmong?: Visibility } = {}): Promise<DatasetRecord> {
    return await this.write('content', async () => {
      // Checked again inside the write transaction, so two concurrent creations cannot both pass.
      if (options.uniqueAmong !== undefined) await this.assertDatasetNameFree(dataset.table_name, options.uniqueAmong)
      const stamp = now()
      const { id } = await this.store.db.insertInto('datasets').values({
        ...await this.newId('datasets'),
        uuid: randomUUID(),
        database_id: dataset.database_id,
        schema: dataset.schema ?? null,
        table_name: dataset.table_name,
        sql: dataset.sql ?? null,
        description: dataset.description ?? null,
        main_dttm_col: dataset.main_dttm_col ?? null,
        certified_by: dataset.certified_by ?? null,
        certification_details: dataset.certification_details ?? null,
        created_by_fk: dataset.created_by_fk ?? null,
        changed_by_fk: dataset.created_by_fk ?? null,
        created_on: stamp,
        changed_on: stamp
      }).returning('id').executeTakeFirstOrThrow()
      if (dataset.columns.length > 0) {
        const columnIds = await this.newIds('dataset_columns', dataset.columns.length)
        await this.store.db.insertInto('dataset_columns').values(dataset.columns.map((column, ordinal) => ({
          ...(columnIds === undefined ? {} : { id: columnIds[ordinal] }),
          dataset_id: id,
          column_name: column.column_name,
          verbose_name: column.verbose_name,
          type: column.type,
          is_dttm: flag(column.is_dttm),
          groupby: flag(column.groupby),
          filterable: flag(column.filterable),
          description: column.description,
          ordinal
        }))).execute()
      }
      const metrics = dataset.metrics ?? []
      if (metrics.length > 0) {
        const metricIds = await this.newIds('dataset_metrics', metrics.length)
        await this.store.db.insertInto('dataset_metrics').values(metrics.map((metric, index) => ({
          ...(metricIds === undefined ? {} : { id: metricIds[index] }),
          dataset_id: id,
          metric_name: metric.metric_name,
          verbose_name: metric.verbose_name,
          expression: metric.expression,
          description: metric.description,
          d3format: metric.d3format
        }))).execute()
      }
      await this.addOwners('dataset', id, dataset.owners ?? [])
      return this.mustFind(await this.findDataset(id), 'dataset')
    })
  }

  // ---- charts ------------------------------------------------------------------------

  async listCharts (query: ListQuery, visibility?: Visibility): Promise<ListPage<ChartRecord>> {
    return await this.list(CHART_LIST, query, visibility)
  }

  async countCharts (query: ListQuery, visibility?: Visibility): Promise<number> {
    return await this.count(CHART_LIST, query, visibility)
  }

  async findChart (identifier: number | string, visibility?: Visibility): Promise<ChartRecord | undefined> {
    return await this.findOne(CHART_LIST, identifierPredicate('c', identifier), visibility)
  }

  /** The dashboards showing a chart, among those `access` lets the caller see. */
  async dashboardsOfChart (chartId: number, visibility?: Visibility): Promise<Array<Pick<DashboardRecord, 'id' | 'dashboard_title' | 'slug'>>> {
    const access = visibility?.visible('dashboard', 'd')
    const visible = access === undefined ? '' : ` AND (${access.sql})`
    return await this.store.all(`SELECT d.id, d.dashboard_title, d.slug FROM dashboards d JOIN dashboard_charts dc ON dc.dashboard_id = d.id WHERE dc.chart_id = ?${visible} ORDER BY d.id`,
      [chartId, ...(access?.params ?? [])])
  }

  async createChart (chart: {
    slice_name: string
    viz_type: string
    dataset_id: number
    params: Record<string, unknown>
    description?: string | null
    certified_by?: string | null
    certification_details?: string | null
    created_by_fk?: number | null
    owners?: readonly number[]
  }): Promise<ChartRecord> {
    return await this.write('content', async () => {
      const stamp = now()
      const { id } = await this.store.db.insertInto('charts').values({
        ...await this.newId('charts'),
        uuid: randomUUID(),
        slice_name: chart.slice_name,
        viz_type: chart.viz_type,
        dataset_id: chart.dataset_id,
        description: chart.description ?? null,
        params: JSON.stringify(chart.params),
        cache_timeout: null,
        certified_by: chart.certified_by ?? null,
        certification_details: chart.certification_details ?? null,
        created_by_fk: chart.created_by_fk ?? null,
        changed_by_fk: chart.created_by_fk ?? null,
        created_on: stamp,
        changed_on: stamp
      }).returning('id').executeTakeFirstOrThrow()
      await this.addOwners('chart', id, chart.owners ?? [])
      return this.mustFind(await this.findChart(id), 'chart')
    })
  }

  // ---- dashboards --------------------------------------------------------------------

  async listDashboards (query: ListQuery, visibility?: Visibility): Promise<ListPage<DashboardRecord>> {
    return await this.list(DASHBOARD_LIST, query, visibility)
  }

  async findDashboard (identifier: number | string, visibility?: Visibility): Promise<DashboardRecord | undefined> {
    return await this.findOne(DASHBOARD_LIST, identifierPredicate('d', identifier, 'slug'), visibility)
  }

  /** The charts on a dashboard, among those the caller may see. */
  async chartsOfDashboard (dashboardId: number, visibility?: Visibility): Promise<ChartRecord[]> {
    const access = visibility?.visible('chart', 'c')
    const visible = access === undefined ? '' : ` AND (${access.sql})`
    return (await this.store.all(`${CHART_LIST.select as string} FROM ${CHART_LIST.from} JOIN dashboard_charts dc ON dc.chart_id = c.id WHERE dc.dashboard_id = ?${visible} ORDER BY c.id`,
      [dashboardId, ...(access?.params ?? [])])).map(row => fromRow<ChartRecord>(row))
  }

  async createDashboard (dashboard: {
    dashboard_title: string
    slug?: string | null
    description?: string | null
    published?: boolean
    position_json?: unknown
    json_metadata?: unknown
    certified_by?: string | null
    certification_details?: string | null
    chart_ids: readonly number[]
    created_by_fk?: number | null
    owners?: readonly number[]
  }): Promise<DashboardRecord> {
    return await this.write('content', async () => {
      const stamp = now()
      const { id } = await this.store.db.insertInto('dashboards').values({
        ...await this.newId('dashboards'),
        uuid: randomUUID(),
        dashboard_title: dashboard.dashboard_title,
        slug: dashboard.slug ?? null,
        description: dashboard.description ?? null,
        published: flag(dashboard.published === true),
        css: null,
        position_json: dashboard.position_json === undefined ? null : JSON.stringify(dashboard.position_json),
        json_metadata: dashboard.json_metadata === undefined ? null : JSON.stringify(dashboard.json_metadata),
        certified_by: dashboard.certified_by ?? null,
        certification_details: dashboard.certification_details ?? null,
        created_by_fk: dashboard.created_by_fk ?? null,
        changed_by_fk: dashboard.created_by_fk ?? null,
        created_on: stamp,
        changed_on: stamp
      }).returning('id').executeTakeFirstOrThrow()
      await this.linkCharts(id, dashboard.chart_ids)
      await this.addOwners('dashboard', id, dashboard.owners ?? [])
      return this.mustFind(await this.findDashboard(id), 'dashboard')
    })
  }

  /**
   * Change a chart's name, definition, dataset or description. The caller has checked that
   * the user may (mayModify). Dashboards showing it keep their layout; its name there follows.
   */
  async updateChart (id: number, changes: { slice_name?: string, viz_type?: string, dataset_id?: number, params?: Record<string, unknown>, description?: string | null, changed_by_fk?: number | null }): Promise<ChartRecord> {
    return await this.write('content', async () => {
      const current = this.mustFind(await this.findChart(id), 'chart')
      await this.store.db.updateTable('charts').set({
        slice_name: changes.slice_name ?? current.slice_name,
        viz_type: changes.viz_type ?? current.viz_type,
        dataset_id: changes.dataset_id ?? current.dataset_id,
        params: changes.params === undefined ? current.params : JSON.stringify(changes.params),
        description: changes.description === undefined ? current.description : changes.description,
        changed_by_fk: changes.changed_by_fk ?? current.changed_by_fk,
        changed_on: now()
      }).where('id', '=', id).execute()
      if (changes.slice_name !== undefined && changes.slice_name !== current.slice_name) await this.renameChartInLayouts(id, changes.slice_name)
      return this.mustFind(await this.findChart(id), 'chart')
    })
  }

  /** Delete a chart, and take it off every dashboard's layout. Returns the dashboards it was on. */
  async deleteChart (id: number): Promise<number[]> {
    return await this.write('content', async () => {
      const dashboards = (await this.store.db.selectFrom('dashboard_charts').select('dashboard_id').where('chart_id', '=', id).orderBy('dashboard_id').execute()).map(row => row.dashboard_id)
      for (const dashboardId of dashboards) {
        const layout = parseLayout(await this.dashboardLayoutJson(dashboardId))
        if (layout !== undefined) await this.store.db.updateTable('dashboards').set({ position_json: JSON.stringify(removeChart(layout, id)) }).where('id', '=', dashboardId).execute()
      }
      await this.store.db.deleteFrom('dashboard_charts').where('chart_id', '=', id).execute()
      await this.store.db.deleteFrom('chart_owners').where('chart_id', '=', id).execute()
      await this.store.db.deleteFrom('charts').where('id', '=', id).execute()
      return dashboards
    })
  }

  private async dashboardLayoutJson (dashboardId: number): Promise<string | null> {
    return (await this.store.db.selectFrom('dashboards').select('position_json').where('id', '=', dashboardId).executeTakeFirst())?.position_json ?? null
  }

  private async renameChartInLayouts (chartId: number, sliceName: string): Promise<void> {
    const rows = await this.store.all<{ id: number, position_json: string | null }>('SELECT d.id, d.position_json FROM dashboards d JOIN dashboard_charts dc ON dc.dashboard_id = d.id WHERE dc.chart_id = ? ORDER BY d.id', [chartId])
    for (const row of rows) {
      const layout = parseLayout(row.position_json)
      if (layout === undefined) continue
      for (const component of Object.values(layout)) {
        if (typeof component === 'object' && component.type === 'CHART' && Number(component.meta?.chartId) === chartId) component.meta = { ...component.meta, sliceName }
      }
      await this.store.db.updateTable('dashboards').set({ position_json: JSON.stringify(layout) }).where('id', '=', row.id).execute()
    }
  }

  /** Change a dashboard's fields and, with `chart_ids`, the charts it holds (the layout must place them). */
  async updateDashboard (id: number, changes: {
    dashboard_title?: string
    slug?: string | null
    description?: string | null
    published?: boolean
    css?: string | null
    position_json?: unknown
    chart_ids?: readonly number[]
    changed_by_fk?: number | null
  }, options: { slugUniqueAmong?: Visibility } = {}): Promise<DashboardRecord> {
    return await this.write('content', async () => {
      const current = this.mustFind(await this.findDashboard(id), 'dashboard')
      if (options.slugUniqueAmong !== undefined && changes.slug !== undefined && changes.slug !== null) await this.assertDashboardSlugFree(changes.slug, options.slugUniqueAmong, id)
      await this.store.db.updateTable('dashboards').set({
        dashboard_title: changes.dashboard_title ?? current.dashboard_title,
        slug: changes.slug === undefined ? current.slug : changes.slug,
        description: changes.description === undefined ? current.description : changes.description,
        published: flag(changes.published ?? current.published),
        css: changes.css === undefined ? current.css : changes.css,
        position_json: changes.position_json === undefined ? current.position_json : JSON.stringify(changes.position_json),
        changed_by_fk: changes.changed_by_fk ?? current.changed_by_fk,
        changed_on: now()
      }).where('id', '=', id).execute()
      if (changes.chart_ids !== undefined) {
        await this.store.db.deleteFrom('dashboard_charts').where('dashboard_id', '=', id).execute()
        await this.linkCharts(id, changes.chart_ids)
      }
      return this.mustFind(await this.findDashboard(id), 'dashboard')
    })
  }

  private async linkCharts (dashboardId: number, chartIds: readonly number[]): Promise<void> {
    if (chartIds.length === 0) return
    await this.store.db.insertInto('dashboard_charts').values([...new Set(chartIds)].map(chartId => ({ dashboard_id: dashboardId, chart_id: chartId })))
      .onConflict(conflict => conflict.doNothing()).execute()
  }

  /** Chart ids on a dashboard, all of them (not filtered by access): for layout bookkeeping. */
  async dashboardChartIds (dashboardId: number): Promise<number[]> {
    return (await this.store.db.selectFrom('dashboard_charts').select('chart_id').where('dashboard_id', '=', dashboardId).orderBy('chart_id').execute()).map(row => row.chart_id)
  }

  /** Add a saved metric to a dataset. */
  async createDatasetMetric (datasetId: number, metric: Omit<DatasetMetricRecord, 'id'>): Promise<DatasetMetricRecord> {
    return await this.write('content', async () => {
      const { id } = await this.store.db.insertInto('dataset_metrics').values({
        ...await this.newId('dataset_metrics'),
        dataset_id: datasetId,
        metric_name: metric.metric_name,
        verbose_name: metric.verbose_name,
        expression: metric.expression,
        description: metric.description,
        d3format: metric.d3format
      }).returning('id').executeTakeFirstOrThrow()
      await this.store.db.updateTable('datasets').set({ changed_on: now() }).where('id', '=', datasetId).execute()
      return { id, ...metric }
    })
  }

  // ---- link states -------------------------------------------------------------------

  /** The catalog's own link-signing secret (created with the catalog; see migration 4). */
  async linkSecret (): Promise<string> {
    const row = await this.store.db.selectFrom('catalog_state').select('value').where('key', '=', 'link_secret').executeTakeFirst()
    if (row === undefined) throw new CatalogError('the catalog has no link secret; run `analytics-mcp db upgrade`')
    return row.value
  }

  /** Store the state behind an explore or SQL link; expired states are purged on the way. */
  async createLinkState (state: Omit<LinkStateRecord, 'created_on'>): Promise<LinkStateRecord> {
    const stamp = now()
    await this.store.db.deleteFrom('link_states').where('expires_on', '<', stamp).execute()
    await this.store.db.insertInto('link_states').values({ ...state, created_on: stamp }).execute()
    return { ...state, created_on: stamp }
  }

  /** A link state that has not expired. */
  async findLinkState (key: string): Promise<LinkStateRecord | undefined> {
    return await this.store.db.selectFrom('link_states').selectAll().where('key', '=', key).where('expires_on', '>=', now()).executeTakeFirst()
  }

  // ---- shared ------------------------------------------------------------------------

  private async addOwners (kind: 'chart' | 'dashboard' | 'dataset', id: number, owners: readonly number[]): Promise<void> {
    for (const userId of new Set(owners)) await this.store.run(`INSERT INTO ${kind}_owners (${kind}_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, [id, userId])
  }

  private mustFind<T> (record: T | undefined, kind: string): T {
    if (record === undefined) throw new CatalogError(`${kind} vanished after insert`)
    return record
  }

  /**
   * Aggregate counts for get_instance_info, over the objects `access` lets the caller see.
   * User and role counts and the top creators are only given to superusers.
   */
  async instanceStats (since30Days: string, since7Days: string, access: InstanceAccess): Promise<InstanceStats> {
    const count = async (from: string, predicate: AccessPredicate | undefined, where = '', ...params: unknown[]): Promise<number> => {
      const conditions = [where, predicate === undefined ? '' : `(${predicate.sql})`].filter(part => part !== '')
      const sql = `SELECT COUNT(*) AS n FROM ${from}${conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`}`
      return (await this.store.get<{ n: number }>(sql, [...params, ...(predicate?.params ?? [])]))?.n ?? 0
    }
    const tables = {
      dashboards: ['dashboards d', access.dashboards, 'd'],
      charts: ['charts c', access.charts, 'c'],
      datasets: ['datasets ds', access.datasets, 'ds']
    } as const
    const created = async (kind: keyof typeof tables, since: string): Promise<number> => await count(tables[kind][0], tables[kind][1], `${tables[kind][2]}.created_on >= ?`, since)
    const changed = async (kind: keyof typeof tables, since: string): Promise<number> => await count(tables[kind][0], tables[kind][1], `${tables[kind][2]}.changed_on >= ?`, since)
    const visibleDatabases = access.databases === undefined ? '' : ` WHERE ${access.databases.sql}`
    const byType = await this.store.all<{ backend: string, n: number }>(`SELECT db.backend, COUNT(*) AS n FROM databases db${visibleDatabases} GROUP BY db.backend ORDER BY db.backend`,
      access.databases?.params ?? [])
    const topCreators = access.superuser
      ? await this.store.all<{ username: string, n: number }>(`
      SELECT u.username, COUNT(*) AS n FROM (
        SELECT created_by_fk FROM charts UNION ALL SELECT created_by_fk FROM dashboards UNION ALL SELECT created_by_fk FROM datasets
      ) o JOIN users u ON u.id = o.created_by_fk GROUP BY u.username ORDER BY n DESC, u.username LIMIT 5`)
      : []
    const dashboardLinks = access.charts === undefined
      ? count('dashboard_charts dc JOIN dashboards d ON d.id = dc.dashboard_id', access.dashboards)
      : count('dashboard_charts dc JOIN dashboards d ON d.id = dc.dashboard_id JOIN charts c ON c.id = dc.chart_id', { sql: `(${access.dashboards?.sql ?? '1 = 1'}) AND (${access.charts.sql})`, params: [...(access.dashboards?.params ?? []), ...access.charts.params] })
    const [totals, recent, dashboards] = await Promise.all([
      Promise.all([
        count('dashboards d', access.dashboards), count('charts c', access.charts), count('datasets ds', access.datasets), count('databases db', access.databases),
        access.superuser ? count('users', undefined) : null, access.superuser ? count('roles', undefined) : null, dashboardLinks
      ]),
      Promise.all([
        created('dashboards', since30Days), created('charts', since30Days), created('datasets', since30Days),
        changed('dashboards', since7Days), changed('charts', since7Days), changed('datasets', since7Days)
      ]),
      Promise.all([
        count('dashboards d', access.dashboards, 'd.published = 1'), count('dashboards d', access.dashboards, 'd.published = 0'),
        count('dashboards d', access.dashboards, 'd.certified_by IS NOT NULL'),
        count('dashboards d', access.dashboards, 'EXISTS (SELECT 1 FROM dashboard_charts x WHERE x.dashboard_id = d.id)')
      ])
    ])
    return {
      totals: { dashboards: totals[0], charts: totals[1], datasets: totals[2], databases: totals[3], users: totals[4], roles: totals[5], dashboardChartLinks: totals[6] },
      recent: {
        dashboardsCreated30d: recent[0],
        chartsCreated30d: recent[1],
        datasetsCreated30d: recent[2],
        dashboardsModified7d: recent[3],
        chartsModified7d: recent[4],
        datasetsModified7d: recent[5]
      },
      dashboards: { published: dashboards[0], unpublished: dashboards[1], certified: dashboards[2], withCharts: dashboards[3] },
      databasesByBackend: Object.fromEntries(byType.map(row => [row.backend, row.n])),
      topCreators: topCreators.map(row => ({ username: row.username, objects: row.n }))
    }
  }
}

/** A database to register (createDatabase). */
export interface NewDatabase {
  database_name: string
  backend: Backend
  connection: string
  password_source?: string | null
  options?: DatabaseOptions
  allow_dml?: boolean
  expose_in_sqllab?: boolean
  description?: string | null
  created_by_fk?: number | null
}

/** Fields of updateDatabase; those left out keep their value (null clears a nullable one). */
export interface DatabaseChanges {
  database_name?: string
  backend?: Backend
  connection?: string
  password_source?: string | null
  options?: DatabaseOptions
  allow_dml?: boolean
  expose_in_sqllab?: boolean
  description?: string | null
  changed_by_fk?: number | null
}

/** One MCP_DATABASES entry as the catalog stores it (checked by connectionFields). */
export type DeclaredRegistration = Pick<DatabaseRecord, 'database_name' | 'backend' | 'connection' | 'password_source' | 'options' | 'allow_dml' | 'expose_in_sqllab' | 'description'>

/** What reconcileDatabases did, by database name. */
export interface DatabaseReconciliation {
  created: string[]
  updated: string[]
  unchanged: string[]
  /** Managed before, no longer declared: kept, and now left to the CLI. */
  released: string[]
}

/** What get_instance_info may count: the caller's visibility predicates. */
export interface InstanceAccess {
  superuser: boolean
  dashboards: AccessPredicate | undefined
  charts: AccessPredicate | undefined
  datasets: AccessPredicate | undefined
  databases: AccessPredicate | undefined
}

export interface InstanceStats {
  totals: { dashboards: number, charts: number, datasets: number, databases: number, users: number | null, roles: number | null, dashboardChartLinks: number }
  recent: {
    dashboardsCreated30d: number
    chartsCreated30d: number
    datasetsCreated30d: number
    dashboardsModified7d: number
    chartsModified7d: number
    datasetsModified7d: number
  }
  dashboards: { published: number, unpublished: number, certified: number, withCharts: number }
  databasesByBackend: Record<string, number>
  topCreators: Array<{ username: string, objects: number }>
}
