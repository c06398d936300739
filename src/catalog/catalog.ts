import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import type { Database, Statement } from 'better-sqlite3'
import { applyMigrations, catalogVersion, LATEST_CATALOG_VERSION } from './migrations.ts'
import type { Migration } from './migrations.ts'
import { invalidArguments } from '../errors.ts'
import { compileList, selectFor } from './list-query.ts'
import type { AccessPredicate, ListQuery, ListSpec, Visibility } from './list-query.ts'
import { CHART_LIST, DASHBOARD_LIST, DATABASE_LIST, DATASET_LIST } from './list-specs.ts'
import { fromRow } from './records.ts'
import { parseLayout, removeChart } from './dashboard-layout.ts'
import type {
  LinkStateRecord,
  ApiKeyRecord, Backend, ChartRecord, DashboardRecord, DatabaseOptions, DatabaseRecord, DatasetColumnRecord, DatasetMetricRecord,
  DatasetRecord, PermissionGrant, RoleRecord, UserRecord, UserRef
} from './records.ts'

/** The catalog cannot be opened as configured (missing upgrade, newer schema, unreadable file). */
export class CatalogError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CatalogError'
  }
}

/** Per-request lookups remembered for one access version. */
interface AccessMemo {
  version: string
  entries: Map<string, unknown>
}

/** Distinct users (and unknown names tried) remembered before the memo starts over. */
const ACCESS_MEMO_LIMIT = 10_000

/** What a write changed: `content` (what tools show) or `access` (users, roles, permissions). */
export type CatalogChange = 'content' | 'access'

export interface OpenCatalogOptions {
  /** Create the file and apply pending migrations; otherwise the catalog must exist and be current. */
  upgrade: boolean
}

export interface ListPage<T> {
  rows: T[]
  total: number
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

/** A user and their role names in one query (it runs on every request). */
const USER_WITH_ROLES = `
  SELECT u.*, (SELECT json_group_array(name) FROM (
    SELECT r.name FROM roles r JOIN user_roles ur ON ur.role_id = r.id WHERE ur.user_id = u.id ORDER BY r.id
  )) AS roles
  FROM users u`

function userFromRow (row: unknown): UserRecord {
  const user = fromRow<Omit<UserRecord, 'roles'> & { roles: string }>(row)
  return { ...user, roles: JSON.parse(user.roles) as string[] }
}

const API_KEY_SELECT = 'SELECT k.*, u.username FROM api_keys k JOIN users u ON u.id = k.user_id'

function apiKeyFromRow (row: unknown): ApiKeyRecord {
  const key = fromRow<Omit<ApiKeyRecord, 'scopes'> & { scopes: string | null }>(row)
  return { ...key, scopes: key.scopes === null ? null : JSON.parse(key.scopes) as string[] }
}

/** Compiled statements kept per catalog; list queries vary with their filters, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 256

/**
 * The metadata catalog: users and roles, databases, datasets (with columns and saved
 * metrics), charts and dashboards, in an embedded SQLite file with versioned migrations.
 */
export class Catalog {
  readonly file: string
  readonly db: Database
  /** Migrations applied when this catalog was opened. */
  readonly appliedAtOpen: readonly Migration[]
  private readonly statements = new Map<string, Statement>()
  private readonly changeListeners = new Set<(change: CatalogChange) => void>()
  private memo: AccessMemo = { version: '', entries: new Map() }

  private constructor (file: string, db: Database, appliedAtOpen: readonly Migration[]) {
    this.file = file
    this.db = db
    this.appliedAtOpen = appliedAtOpen
  }

  static open (file: string, options: OpenCatalogOptions): Catalog {
    const inMemory = file === ':memory:'
    if (!inMemory && !options.upgrade && !existsSync(file)) {
      throw new CatalogError(`there is no catalog at ${file}; run \`analytics-mcp db upgrade\` to create it (or set MCP_CATALOG_AUTO_UPGRADE=true)`)
    }
    if (!inMemory) mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
    let db: Database
    try {
      db = new BetterSqlite3(file, { timeout: 5000 })
      db.pragma('journal_mode = WAL')
      db.pragma('foreign_keys = ON')
      db.pragma('synchronous = NORMAL')
    } catch (err) {
      throw new CatalogError(`cannot open the catalog at ${file}: ${(err as Error).message}`)
    }
    let applied: Migration[] = []
    try {
      const version = catalogVersion(db)
      if (version > LATEST_CATALOG_VERSION) {
        throw new CatalogError(`the catalog at ${file} is at schema version ${version}, newer than this release understands (${LATEST_CATALOG_VERSION}); run a newer analytics-mcp`)
      }
      if (version < LATEST_CATALOG_VERSION) {
        if (!options.upgrade) {
          throw new CatalogError(`the catalog at ${file} is at schema version ${version} and this release needs ${LATEST_CATALOG_VERSION}; run \`analytics-mcp db upgrade\` (or set MCP_CATALOG_AUTO_UPGRADE=true)`)
        }
        applied = applyMigrations(db)
      }
    } catch (err) {
      db.close()
      throw err
    }
    return new Catalog(file, db, applied)
  }

  version (): number {
    return catalogVersion(this.db)
  }

  /**
   * A compiled statement for `sql`, reused across calls: compiling is the dominant cost of
   * a small catalog query (it was 16% of a tools/call before this cache).
   */
  private prepare (sql: string): Statement {
    let statement = this.statements.get(sql)
    if (statement === undefined) {
      statement = this.db.prepare(sql)
      if (this.statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.statements.keys().next().value
        if (oldest !== undefined) this.statements.delete(oldest)
      }
      this.statements.set(sql, statement)
    }
    return statement
  }

  /**
   * The catalog's identity and content version: caches key on both, so an answer cached
   * before any change to datasets, charts, dashboards, databases or users (by any process)
   * is never served after it.
   */
  contentState (): { instanceId: string, version: number } {
    const rows = this.prepare("SELECT key, value FROM catalog_state WHERE key IN ('instance_id', 'content_version')").all() as Array<{ key: string, value: string }>
    const value = (key: string): string => rows.find(row => row.key === key)?.value ?? ''
    return { instanceId: value('instance_id'), version: Number(value('content_version')) }
  }

  /**
   * Data in a registered database changed (DML or DDL through execute_sql): what tools read
   * from it (table lists) may differ, so cached answers must not be reused.
   */
  noteDataChanged (): void {
    this.prepare("UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'").run()
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

  private changed (kind: CatalogChange): void {
    for (const listener of this.changeListeners) {
      try {
        listener(kind)
      } catch {
        // A failing observer must not undo or fail the write.
      }
    }
  }

  private changedIf (kind: CatalogChange, changed: boolean): boolean {
    if (changed) this.changed(kind)
    return changed
  }

  /** Cheap reachability check for readiness probes. */
  ping (): void {
    this.prepare('SELECT 1').get()
  }

  transaction<T> (work: () => T): T {
    return this.db.transaction(work).immediate()
  }

  /** A write in a transaction, announced to change listeners once committed. */
  private write<T> (kind: CatalogChange, work: () => T): T {
    const result = this.transaction(work)
    this.changed(kind)
    return result
  }

  close (): void {
    if (this.db.open) this.db.close()
  }

  private list<T> (spec: ListSpec, query: ListQuery, visibility?: Visibility): ListPage<T> {
    const compiled = compileList(spec, query, visibility)
    const total = (this.prepare(compiled.countSql).get(...compiled.params) as { total: number }).total
    const rows = this.prepare(compiled.pageSql).all(...compiled.pageParams).map(row => fromRow<T>(row))
    return { rows, total }
  }

  /**
   * One object by identifier, among those `access` lets the caller see: an object the caller
   * may not see is indistinguishable from one that does not exist.
   */
  private findOne<T extends { id: number }> (spec: ListSpec, predicate: AccessPredicate | undefined, visibility: Visibility | undefined): T | undefined {
    if (predicate === undefined) return undefined
    const kind = spec.kind
    const access = visibility?.visible(spec.kind, spec.alias)
    const select = selectFor(spec, visibility)
    const where = access === undefined ? predicate.sql : `(${predicate.sql}) AND (${access.sql})`
    const params = [...select.params, ...predicate.params, ...(access?.params ?? [])]
    const rows = this.prepare(`${select.sql} FROM ${spec.from} WHERE ${where} LIMIT 6`).all(...params).map(row => fromRow<T>(row))
    if (rows.length > 1) {
      // A name shared by several objects: say so, rather than picking one or claiming none exists.
      const ids = rows.slice(0, 5).map(row => row.id).join(', ')
      throw invalidArguments(`${rows.length > 5 ? 'More than five' : String(rows.length)} ${kind}s match ${JSON.stringify(predicate.params[0])} (ids ${ids}${rows.length > 5 ? ', …' : ''}).`, 'Pass the id or UUID instead: the name is ambiguous.')
    }
    return rows[0]
  }

  /** Ids of the objects whose `column` is `value`, among those `visibility` lets the caller see (all without it). */
  private idsWhere (spec: ListSpec, column: string, value: string, visibility: Visibility | undefined): number[] {
    const access = visibility?.visible(spec.kind, spec.alias)
    const where = `${spec.alias}.${column} = ?${access === undefined ? '' : ` AND (${access.sql})`}`
    return (this.prepare(`SELECT ${spec.idColumn} AS id FROM ${spec.from} WHERE ${where} ORDER BY ${spec.idColumn}`)
      .all(value, ...(access?.params ?? [])) as Array<{ id: number }>).map(row => row.id)
  }

  // ---- users and roles -------------------------------------------------------------

  /**
   * Lookups made on every request (the user, their permissions) are reused until the access
   * version moves: triggers move it on any change to users, roles, memberships or grants, by
   * any process, so a change still applies from the next request on.
   */
  private accessMemo (): AccessMemo {
    const version = (this.prepare("SELECT value FROM catalog_state WHERE key = 'access_version'").get() as { value: string } | undefined)?.value ?? ''
    if (this.memo.version !== version || this.memo.entries.size > ACCESS_MEMO_LIMIT) this.memo = { version, entries: new Map() }
    return this.memo
  }

  private remembered<T> (key: string, load: () => T): T {
    const memo = this.accessMemo()
    if (memo.entries.has(key)) return memo.entries.get(key) as T
    const value = load()
    memo.entries.set(key, value)
    return value
  }

  findUserByUsername (username: string): UserRecord | undefined {
    return this.remembered(`user:${username}`, () => {
      const row = this.prepare(`${USER_WITH_ROLES} WHERE u.username = ?`).get(username)
      return row === undefined ? undefined : userFromRow(row)
    })
  }

  findUserByEmail (email: string): UserRecord | undefined {
    const row = this.prepare(`${USER_WITH_ROLES} WHERE LOWER(u.email) = LOWER(?)`).get(email)
    return row === undefined ? undefined : userFromRow(row)
  }

  findUserById (id: number): UserRecord | undefined {
    const row = this.prepare(`${USER_WITH_ROLES} WHERE u.id = ?`).get(id)
    return row === undefined ? undefined : userFromRow(row)
  }

  listUsers (): UserRecord[] {
    return this.prepare(`${USER_WITH_ROLES} ORDER BY u.id`).all().map(userFromRow)
  }

  roleNames (): string[] {
    return (this.prepare('SELECT name FROM roles ORDER BY id').all() as Array<{ name: string }>).map(row => row.name)
  }

  createUser (user: { username: string, first_name?: string, last_name?: string, email?: string | null, active?: boolean, roles: readonly string[] }): UserRecord {
    const known = new Set(this.roleNames())
    const unknown = user.roles.filter(role => !known.has(role))
    if (unknown.length > 0) throw new CatalogError(`unknown role(s): ${unknown.join(', ')} (known: ${[...known].join(', ')})`)
    if (this.findUserByUsername(user.username) !== undefined) throw new CatalogError(`a user named "${user.username}" already exists`)
    return this.write('access', () => {
      const stamp = now()
      const { lastInsertRowid } = this.prepare(`
        INSERT INTO users (username, first_name, last_name, email, active, created_on, changed_on)
        VALUES (?, ?, ?, ?, ?, ?, ?)`)
        .run(user.username, user.first_name ?? '', user.last_name ?? '', user.email ?? null, user.active === false ? 0 : 1, stamp, stamp)
      const addRole = this.prepare('INSERT INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE name = ?')
      for (const role of user.roles) addRole.run(lastInsertRowid, role)
      const created = this.findUserByUsername(user.username)
      if (created === undefined) throw new CatalogError('user vanished after insert')
      return created
    })
  }

  userRefs (ids: ReadonlyArray<number | null>): Map<number, UserRef> {
    const wanted = [...new Set(ids.filter((id): id is number => id !== null))]
    if (wanted.length === 0) return new Map()
    const rows = this.prepare(`SELECT id, username, first_name, last_name FROM users WHERE id IN (${wanted.map(() => '?').join(', ')})`)
      .all(...wanted) as UserRef[]
    return new Map(rows.map(row => [row.id, row]))
  }

  // ---- roles and permissions ---------------------------------------------------------

  listRoles (): RoleRecord[] {
    return this.prepare(`
      SELECT r.id, r.name, r.description, r.builtin, r.superuser, (SELECT COUNT(*) FROM user_roles ur WHERE ur.role_id = r.id) AS user_count
      FROM roles r ORDER BY r.id`).all().map(row => fromRow<RoleRecord>(row))
  }

  findRole (name: string): RoleRecord | undefined {
    return this.listRoles().find(role => role.name === name)
  }

  createRole (name: string, description = ''): RoleRecord {
    if (this.findRole(name) !== undefined) throw new CatalogError(`a role named "${name}" already exists`)
    this.prepare('INSERT INTO roles (name, description) VALUES (?, ?)').run(name, description)
    this.changed('access')
    return this.mustFind(this.findRole(name), 'role')
  }

  deleteRole (name: string): void {
    const role = this.requireRole(name)
    if (role.builtin) throw new CatalogError(`"${name}" is a built-in role and cannot be deleted`)
    this.prepare('DELETE FROM roles WHERE id = ?').run(role.id)
    this.changed('access')
  }

  rolePermissions (name: string): PermissionGrant[] {
    const role = this.requireRole(name)
    return this.prepare('SELECT permission, resource, resource_id FROM role_permissions WHERE role_id = ? ORDER BY permission, resource, resource_id')
      .all(role.id) as PermissionGrant[]
  }

  /** Returns false when the role already had the permission. */
  grantPermission (name: string, grant: PermissionGrant): boolean {
    const role = this.requireRole(name)
    const { changes } = this.prepare('INSERT OR IGNORE INTO role_permissions (role_id, permission, resource, resource_id) VALUES (?, ?, ?, ?)')
      .run(role.id, grant.permission, grant.resource, grant.resource_id)
    return this.changedIf('access', changes > 0)
  }

  /** Returns false when the role did not have the permission. */
  revokePermission (name: string, grant: PermissionGrant): boolean {
    const role = this.requireRole(name)
    const { changes } = this.prepare('DELETE FROM role_permissions WHERE role_id = ? AND permission = ? AND resource = ? AND COALESCE(resource_id, 0) = COALESCE(?, 0)')
      .run(role.id, grant.permission, grant.resource, grant.resource_id)
    return this.changedIf('access', changes > 0)
  }

  /**
   * Turn an account off or on. Inactive users are refused on their next request, whatever
   * credential they hold (JWT, API key, exchanged token). Returns false when nothing changed.
   */
  setUserActive (username: string, active: boolean): boolean {
    const user = this.findUserByUsername(username)
    if (user === undefined) throw new CatalogError(`there is no user named "${username}"`)
    return this.changedIf('access', this.prepare('UPDATE users SET active = ?, changed_on = ? WHERE id = ? AND active <> ?').run(active ? 1 : 0, now(), user.id, active ? 1 : 0).changes > 0)
  }

  /** Returns false when the user already had the role. */
  addUserToRole (username: string, roleName: string): boolean {
    const user = this.findUserByUsername(username)
    if (user === undefined) throw new CatalogError(`there is no user named "${username}"`)
    const role = this.requireRole(roleName)
    return this.changedIf('access', this.prepare('INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (?, ?)').run(user.id, role.id).changes > 0)
  }

  /** Returns false when the user did not have the role. */
  removeUserFromRole (username: string, roleName: string): boolean {
    const user = this.findUserByUsername(username)
    if (user === undefined) throw new CatalogError(`there is no user named "${username}"`)
    const role = this.requireRole(roleName)
    return this.changedIf('access', this.prepare('DELETE FROM user_roles WHERE user_id = ? AND role_id = ?').run(user.id, role.id).changes > 0)
  }

  /** Everything a user's roles grant, in one query (remembered until the access version moves). */
  permissionsOfUser (userId: number): { superuser: boolean, grants: PermissionGrant[] } {
    return this.remembered(`permissions:${userId}`, () => this.loadPermissions(userId))
  }

  private loadPermissions (userId: number): { superuser: boolean, grants: PermissionGrant[] } {
    const rows = this.prepare(`
      SELECT r.superuser, p.permission, p.resource, p.resource_id
      FROM user_roles ur JOIN roles r ON r.id = ur.role_id
      LEFT JOIN role_permissions p ON p.role_id = r.id
      WHERE ur.user_id = ?`).all(userId) as Array<{ superuser: number } & { permission: string | null, resource: string | null, resource_id: number | null }>
    return {
      superuser: rows.some(row => row.superuser === 1),
      grants: rows.filter(row => row.permission !== null && row.resource !== null)
        .map(row => ({ permission: row.permission as string, resource: row.resource as string, resource_id: row.resource_id }))
    }
  }

  private requireRole (name: string): RoleRecord {
    const role = this.findRole(name)
    if (role === undefined) throw new CatalogError(`there is no role named "${name}" (roles: ${this.roleNames().join(', ')})`)
    return role
  }

  // ---- API keys ------------------------------------------------------------------------

  createApiKey (key: { key_id: string, name: string, user_id: number, secret_hash: string, scopes: readonly string[] | null, expires_on: string | null }): ApiKeyRecord {
    // Names, key ids and row ids share one lookup (findApiKey), so none may pass for another.
    if (/^\d+$/.test(key.name)) throw new CatalogError(`an API key name cannot be a number ("${key.name}"): numbers name keys by id`)
    if (this.findApiKey(key.name) !== undefined) throw new CatalogError(`an API key named "${key.name}" already exists`)
    if (this.findApiKey(key.key_id) !== undefined) throw new CatalogError('the generated key id is taken; create the key again')
    this.prepare(`
      INSERT INTO api_keys (key_id, name, user_id, secret_hash, scopes, created_on, expires_on)
      VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(key.key_id, key.name, key.user_id, key.secret_hash, key.scopes === null ? null : JSON.stringify(key.scopes), now(), key.expires_on)
    return this.mustFind(this.findApiKey(key.name), 'API key')
  }

  /** An API key by its public key id only (authentication: the id inside a presented key). */
  findApiKeyByKeyId (keyId: string): ApiKeyRecord | undefined {
    const row = this.prepare(`${API_KEY_SELECT} WHERE k.key_id = ?`).get(keyId)
    return row === undefined ? undefined : apiKeyFromRow(row)
  }

  /** An API key by its public key id, its name, or its row id (operators' and exchange lookups). */
  findApiKey (identifier: string | number): ApiKeyRecord | undefined {
    const row = this.prepare(`${API_KEY_SELECT} WHERE k.key_id = ? OR k.name = ? OR k.id = ?`)
      .get(String(identifier), String(identifier), typeof identifier === 'number' ? identifier : -1)
    return row === undefined ? undefined : apiKeyFromRow(row)
  }

  listApiKeys (userId?: number): ApiKeyRecord[] {
    const rows = userId === undefined
      ? this.prepare(`${API_KEY_SELECT} ORDER BY k.id`).all()
      : this.prepare(`${API_KEY_SELECT} WHERE k.user_id = ? ORDER BY k.id`).all(userId)
    return rows.map(apiKeyFromRow)
  }

  /** Returns false when the key was already revoked. */
  revokeApiKey (id: number): boolean {
    return this.prepare('UPDATE api_keys SET revoked_on = ? WHERE id = ? AND revoked_on IS NULL').run(now(), id).changes > 0
  }

  touchApiKey (id: number, usedOn: string): void {
    this.prepare('UPDATE api_keys SET last_used_on = ? WHERE id = ?').run(usedOn, id)
  }

  /** Owners of several objects at once, keyed by object id. */
  ownersOf (kind: 'chart' | 'dashboard' | 'dataset', ids: readonly number[]): Map<number, UserRef[]> {
    const owners = new Map<number, UserRef[]>(ids.map(id => [id, []]))
    if (ids.length === 0) return owners
    const rows = this.prepare(`
      SELECT o.${kind}_id AS object_id, u.id, u.username, u.first_name, u.last_name
      FROM ${kind}_owners o JOIN users u ON u.id = o.user_id
      WHERE o.${kind}_id IN (${ids.map(() => '?').join(', ')}) ORDER BY u.id`).all(...ids) as Array<UserRef & { object_id: number }>
    for (const { object_id: objectId, ...user } of rows) owners.get(objectId)?.push(user)
    return owners
  }

  // ---- databases ---------------------------------------------------------------------

  listDatabases (query: ListQuery, visibility?: Visibility): ListPage<DatabaseRecord> {
    return this.list(DATABASE_LIST, query, visibility)
  }

  findDatabase (identifier: number | string, visibility?: Visibility): DatabaseRecord | undefined {
    return this.findOne(DATABASE_LIST, identifierPredicate('db', identifier, 'database_name'), visibility)
  }

  createDatabase (database: NewDatabase): DatabaseRecord {
    const created = this.insertDatabase(database)
    this.changed('content')
    return created
  }

  private insertDatabase (database: NewDatabase): DatabaseRecord {
    const stamp = now()
    const { lastInsertRowid } = this.prepare(`
      INSERT INTO databases (uuid, database_name, backend, connection, password_source, options, allow_dml, expose_in_sqllab, description, created_by_fk, changed_by_fk, created_on, changed_on)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(randomUUID(), database.database_name, database.backend, database.connection, database.password_source ?? null, JSON.stringify(database.options ?? {}),
        database.allow_dml === true ? 1 : 0, database.expose_in_sqllab === false ? 0 : 1, database.description ?? null, database.created_by_fk ?? null, database.created_by_fk ?? null, stamp, stamp)
    return this.mustFind(this.findDatabase(Number(lastInsertRowid)), 'database')
  }

  /** Change a database's registration; fields left out keep their value. */
  updateDatabase (id: number, changes: DatabaseChanges): DatabaseRecord {
    return this.write('content', () => {
      const current = this.mustFind(this.findDatabase(id), 'database')
      this.prepare(`
        UPDATE databases SET database_name = ?, backend = ?, connection = ?, password_source = ?, options = ?, allow_dml = ?, expose_in_sqllab = ?,
          description = ?, changed_by_fk = ?, changed_on = ? WHERE id = ?`)
        .run(changes.database_name ?? current.database_name, changes.backend ?? current.backend, changes.connection ?? current.connection,
          changes.password_source === undefined ? current.password_source : changes.password_source,
          JSON.stringify(changes.options ?? current.options),
          (changes.allow_dml ?? current.allow_dml) ? 1 : 0, (changes.expose_in_sqllab ?? current.expose_in_sqllab) ? 1 : 0,
          changes.description === undefined ? current.description : changes.description,
          changes.changed_by_fk === undefined ? current.changed_by_fk : changes.changed_by_fk, now(), id)
      return this.mustFind(this.findDatabase(id), 'database')
    })
  }

  /** How many datasets are defined on a database, and how many charts use them. */
  databaseUsage (id: number): { datasets: number, charts: number } {
    return this.prepare(`
      SELECT (SELECT COUNT(*) FROM datasets WHERE database_id = ?) AS datasets,
        (SELECT COUNT(*) FROM charts c JOIN datasets ds ON ds.id = c.dataset_id WHERE ds.database_id = ?) AS charts`)
      .get(id, id) as { datasets: number, charts: number }
  }

  /**
   * Unregister a database. One that datasets use is refused unless `force`: then its datasets,
   * the charts on them (taken off their dashboards) and the grants naming any of them go too,
   * so that a database registered later with the same id inherits no access.
   */
  deleteDatabase (id: number, options: { force?: boolean } = {}): { datasets: number, charts: number } {
    const result = this.transaction(() => {
      const database = this.mustFind(this.findDatabase(id), 'database')
      const usage = this.databaseUsage(id)
      if (usage.datasets > 0 && options.force !== true) {
        throw new CatalogError(`database "${database.database_name}" has ${usage.datasets} dataset(s) used by ${usage.charts} chart(s); remove them first, or pass --force to delete them with it`)
      }
      const datasets = (this.prepare('SELECT id FROM datasets WHERE database_id = ?').all(id) as Array<{ id: number }>).map(row => row.id)
      const charts = datasets.length === 0
        ? []
        : (this.prepare(`SELECT id FROM charts WHERE dataset_id IN (${datasets.map(() => '?').join(', ')})`).all(...datasets) as Array<{ id: number }>).map(row => row.id)
      for (const chartId of charts) this.deleteChart(chartId)
      const grants = this.prepare('DELETE FROM role_permissions WHERE resource = ? AND resource_id = ?')
      grants.run('Database', id)
      for (const datasetId of datasets) grants.run('Dataset', datasetId)
      // Datasets, their columns, metrics and owners, and link states follow by ON DELETE CASCADE.
      this.prepare('DELETE FROM databases WHERE id = ?').run(id)
      return usage
    })
    this.changed('content')
    this.changed('access')
    return result
  }

  /** Whether a database was registered from MCP_DATABASES (each start-up restores it). */
  isManagedDatabase (id: number): boolean {
    return (this.prepare('SELECT managed FROM databases WHERE id = ?').get(id) as { managed: number } | undefined)?.managed === 1
  }

  /**
   * Make the registered databases match MCP_DATABASES, in one transaction: each declared
   * database is created, or updated to its declaration (taking over one of that name the CLI
   * registered), and marked managed. Databases not declared are left alone; a managed one no
   * longer declared is kept (deleting it would delete its datasets) and released to the CLI.
   */
  reconcileDatabases (declared: readonly DeclaredRegistration[]): DatabaseReconciliation {
    const outcome: DatabaseReconciliation = { created: [], updated: [], unchanged: [], released: [] }
    const write = (): void => {
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
        const existingId = (this.prepare('SELECT id FROM databases WHERE database_name = ?').get(entry.database_name) as { id: number } | undefined)?.id
        const existing = existingId === undefined ? undefined : this.findDatabase(existingId)
        if (existing === undefined) {
          const created = this.insertDatabase({ database_name: entry.database_name, ...fields })
          this.prepare('UPDATE databases SET managed = 1 WHERE id = ?').run(created.id)
          outcome.created.push(entry.database_name)
          continue
        }
        const same = existing.backend === fields.backend && existing.connection === fields.connection && existing.password_source === fields.password_source &&
          JSON.stringify(existing.options) === JSON.stringify(fields.options) && existing.allow_dml === fields.allow_dml &&
          existing.expose_in_sqllab === fields.expose_in_sqllab && existing.description === fields.description
        if (same && this.isManagedDatabase(existing.id)) {
          outcome.unchanged.push(entry.database_name)
          continue
        }
        if (!same) {
          this.prepare(`
            UPDATE databases SET backend = ?, connection = ?, password_source = ?, options = ?, allow_dml = ?, expose_in_sqllab = ?, description = ?, changed_on = ?
            WHERE id = ?`)
            .run(fields.backend, fields.connection, fields.password_source, JSON.stringify(fields.options), fields.allow_dml ? 1 : 0,
              fields.expose_in_sqllab ? 1 : 0, fields.description, now(), existing.id)
        }
        this.prepare('UPDATE databases SET managed = 1 WHERE id = ?').run(existing.id)
        outcome.updated.push(entry.database_name)
      }
      const managed = this.prepare('SELECT id, database_name FROM databases WHERE managed = 1 ORDER BY id').all() as Array<{ id: number, database_name: string }>
      for (const row of managed) {
        if (names.has(row.database_name)) continue
        this.prepare('UPDATE databases SET managed = 0 WHERE id = ?').run(row.id)
        outcome.released.push(row.database_name)
      }
    }
    this.transaction(write)
    if (outcome.created.length + outcome.updated.length > 0) this.changed('content')
    return outcome
  }

  // ---- datasets ----------------------------------------------------------------------

  listDatasets (query: ListQuery, visibility?: Visibility): ListPage<DatasetRecord> {
    return this.list(DATASET_LIST, query, visibility)
  }

  findDataset (identifier: number | string, visibility?: Visibility): DatasetRecord | undefined {
    return this.findOne(DATASET_LIST, identifierPredicate('ds', identifier, 'table_name'), visibility)
  }

  /**
   * Refuse a dataset name the caller already sees. Names are unique only among the datasets
   * each caller may see: one they may not see neither blocks the name nor is revealed by it.
   */
  assertDatasetNameFree (name: string, visibility: Visibility | undefined): void {
    const ids = this.idsWhere(DATASET_LIST, 'table_name', name, visibility)
    if (ids.length > 0) throw invalidArguments(`A dataset named "${name}" exists already (id ${ids.join(', ')}).`, 'Choose another dataset_name, or use that dataset.')
  }

  /** Refuse a dashboard slug the caller already sees on another dashboard (unique per caller, as dataset names). */
  assertDashboardSlugFree (slug: string, visibility: Visibility | undefined, exceptId?: number): void {
    const ids = this.idsWhere(DASHBOARD_LIST, 'slug', slug, visibility).filter(id => id !== exceptId)
    if (ids.length > 0) throw invalidArguments(`The slug "${slug}" is taken by another dashboard (id ${ids.join(', ')}).`, 'Choose another slug.')
  }

  datasetColumns (datasetId: number): DatasetColumnRecord[] {
    return this.prepare('SELECT id, column_name, verbose_name, type, is_dttm, groupby, filterable, description FROM dataset_columns WHERE dataset_id = ? ORDER BY ordinal, id')
      .all(datasetId).map(row => fromRow<DatasetColumnRecord>(row))
  }

  datasetMetrics (datasetId: number): DatasetMetricRecord[] {
    return this.prepare('SELECT id, metric_name, verbose_name, expression, description, d3format FROM dataset_metrics WHERE dataset_id = ? ORDER BY id')
      .all(datasetId).map(row => fromRow<DatasetMetricRecord>(row))
  }

  createDataset (dataset: {
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
  }, options: { uniqueAmong?: Visibility } = {}): DatasetRecord {
    return this.write('content', () => {
      // Checked again inside the write transaction, so two concurrent creations cannot both pass.
      if (options.uniqueAmong !== undefined) this.assertDatasetNameFree(dataset.table_name, options.uniqueAmong)
      const stamp = now()
      const { lastInsertRowid } = this.prepare(`
        INSERT INTO datasets (uuid, database_id, schema, table_name, sql, description, main_dttm_col, certified_by, certification_details, created_by_fk, changed_by_fk, created_on, changed_on)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(randomUUID(), dataset.database_id, dataset.schema ?? null, dataset.table_name, dataset.sql ?? null, dataset.description ?? null,
          dataset.main_dttm_col ?? null, dataset.certified_by ?? null, dataset.certification_details ?? null,
          dataset.created_by_fk ?? null, dataset.created_by_fk ?? null, stamp, stamp)
      const id = Number(lastInsertRowid)
      const addColumn = this.prepare(`
        INSERT INTO dataset_columns (dataset_id, column_name, verbose_name, type, is_dttm, groupby, filterable, description, ordinal)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      dataset.columns.forEach((column, ordinal) => addColumn.run(id, column.column_name, column.verbose_name, column.type,
        column.is_dttm ? 1 : 0, column.groupby ? 1 : 0, column.filterable ? 1 : 0, column.description, ordinal))
      const addMetric = this.prepare(`
        INSERT INTO dataset_metrics (dataset_id, metric_name, verbose_name, expression, description, d3format) VALUES (?, ?, ?, ?, ?, ?)`)
      for (const metric of dataset.metrics ?? []) addMetric.run(id, metric.metric_name, metric.verbose_name, metric.expression, metric.description, metric.d3format)
      this.addOwners('dataset', id, dataset.owners ?? [])
      return this.mustFind(this.findDataset(id), 'dataset')
    })
  }

  // ---- charts ------------------------------------------------------------------------

  listCharts (query: ListQuery, visibility?: Visibility): ListPage<ChartRecord> {
    return this.list(CHART_LIST, query, visibility)
  }

  findChart (identifier: number | string, visibility?: Visibility): ChartRecord | undefined {
    return this.findOne(CHART_LIST, identifierPredicate('c', identifier), visibility)
  }

  /** The dashboards showing a chart, among those `access` lets the caller see. */
  dashboardsOfChart (chartId: number, visibility?: Visibility): Array<Pick<DashboardRecord, 'id' | 'dashboard_title' | 'slug'>> {
    const access = visibility?.visible('dashboard', 'd')
    const visible = access === undefined ? '' : ` AND (${access.sql})`
    return this.prepare(`SELECT d.id, d.dashboard_title, d.slug FROM dashboards d JOIN dashboard_charts dc ON dc.dashboard_id = d.id WHERE dc.chart_id = ?${visible} ORDER BY d.id`)
      .all(chartId, ...(access?.params ?? [])) as Array<Pick<DashboardRecord, 'id' | 'dashboard_title' | 'slug'>>
  }

  createChart (chart: {
    slice_name: string
    viz_type: string
    dataset_id: number
    params: Record<string, unknown>
    description?: string | null
    certified_by?: string | null
    certification_details?: string | null
    created_by_fk?: number | null
    owners?: readonly number[]
  }): ChartRecord {
    return this.write('content', () => {
      const stamp = now()
      const { lastInsertRowid } = this.prepare(`
        INSERT INTO charts (uuid, slice_name, viz_type, dataset_id, description, params, certified_by, certification_details, created_by_fk, changed_by_fk, created_on, changed_on)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(randomUUID(), chart.slice_name, chart.viz_type, chart.dataset_id, chart.description ?? null, JSON.stringify(chart.params),
          chart.certified_by ?? null, chart.certification_details ?? null, chart.created_by_fk ?? null, chart.created_by_fk ?? null, stamp, stamp)
      const id = Number(lastInsertRowid)
      this.addOwners('chart', id, chart.owners ?? [])
      return this.mustFind(this.findChart(id), 'chart')
    })
  }

  // ---- dashboards --------------------------------------------------------------------

  listDashboards (query: ListQuery, visibility?: Visibility): ListPage<DashboardRecord> {
    return this.list(DASHBOARD_LIST, query, visibility)
  }

  findDashboard (identifier: number | string, visibility?: Visibility): DashboardRecord | undefined {
    return this.findOne(DASHBOARD_LIST, identifierPredicate('d', identifier, 'slug'), visibility)
  }

  /** The charts on a dashboard, among those the caller may see. */
  chartsOfDashboard (dashboardId: number, visibility?: Visibility): ChartRecord[] {
    const access = visibility?.visible('chart', 'c')
    const visible = access === undefined ? '' : ` AND (${access.sql})`
    return this.prepare(`${CHART_LIST.select} FROM ${CHART_LIST.from} JOIN dashboard_charts dc ON dc.chart_id = c.id WHERE dc.dashboard_id = ?${visible} ORDER BY c.id`)
      .all(dashboardId, ...(access?.params ?? [])).map(row => fromRow<ChartRecord>(row))
  }

  createDashboard (dashboard: {
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
  }): DashboardRecord {
    return this.write('content', () => {
      const stamp = now()
      const { lastInsertRowid } = this.prepare(`
        INSERT INTO dashboards (uuid, dashboard_title, slug, description, published, position_json, json_metadata, certified_by, certification_details, created_by_fk, changed_by_fk, created_on, changed_on)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(randomUUID(), dashboard.dashboard_title, dashboard.slug ?? null, dashboard.description ?? null, dashboard.published === true ? 1 : 0,
          dashboard.position_json === undefined ? null : JSON.stringify(dashboard.position_json),
          dashboard.json_metadata === undefined ? null : JSON.stringify(dashboard.json_metadata),
          dashboard.certified_by ?? null, dashboard.certification_details ?? null,
          dashboard.created_by_fk ?? null, dashboard.created_by_fk ?? null, stamp, stamp)
      const id = Number(lastInsertRowid)
      const addChart = this.prepare('INSERT INTO dashboard_charts (dashboard_id, chart_id) VALUES (?, ?)')
      for (const chartId of dashboard.chart_ids) addChart.run(id, chartId)
      this.addOwners('dashboard', id, dashboard.owners ?? [])
      return this.mustFind(this.findDashboard(id), 'dashboard')
    })
  }

  /**
   * Change a chart's name, definition, dataset or description. The caller has checked that
   * the user may (mayModify). Dashboards showing it keep their layout; its name there follows.
   */
  updateChart (id: number, changes: { slice_name?: string, viz_type?: string, dataset_id?: number, params?: Record<string, unknown>, description?: string | null, changed_by_fk?: number | null }): ChartRecord {
    return this.write('content', () => {
      const current = this.mustFind(this.findChart(id), 'chart')
      this.prepare('UPDATE charts SET slice_name = ?, viz_type = ?, dataset_id = ?, params = ?, description = ?, changed_by_fk = ?, changed_on = ? WHERE id = ?')
        .run(changes.slice_name ?? current.slice_name, changes.viz_type ?? current.viz_type, changes.dataset_id ?? current.dataset_id,
          changes.params === undefined ? current.params : JSON.stringify(changes.params),
          changes.description === undefined ? current.description : changes.description,
          changes.changed_by_fk ?? current.changed_by_fk, now(), id)
      if (changes.slice_name !== undefined && changes.slice_name !== current.slice_name) this.renameChartInLayouts(id, changes.slice_name)
      return this.mustFind(this.findChart(id), 'chart')
    })
  }

  /** Delete a chart, and take it off every dashboard's layout. Returns the dashboards it was on. */
  deleteChart (id: number): number[] {
    return this.write('content', () => {
      const dashboards = (this.prepare('SELECT dashboard_id FROM dashboard_charts WHERE chart_id = ? ORDER BY dashboard_id').all(id) as Array<{ dashboard_id: number }>).map(row => row.dashboard_id)
      for (const dashboardId of dashboards) {
        const layout = parseLayout(this.dashboardLayoutJson(dashboardId))
        if (layout !== undefined) this.prepare('UPDATE dashboards SET position_json = ? WHERE id = ?').run(JSON.stringify(removeChart(layout, id)), dashboardId)
      }
      this.prepare('DELETE FROM dashboard_charts WHERE chart_id = ?').run(id)
      this.prepare('DELETE FROM chart_owners WHERE chart_id = ?').run(id)
      this.prepare('DELETE FROM charts WHERE id = ?').run(id)
      return dashboards
    })
  }

  private dashboardLayoutJson (dashboardId: number): string | null {
    return (this.prepare('SELECT position_json FROM dashboards WHERE id = ?').get(dashboardId) as { position_json: string | null } | undefined)?.position_json ?? null
  }

  private renameChartInLayouts (chartId: number, sliceName: string): void {
    const rows = this.prepare('SELECT d.id, d.position_json FROM dashboards d JOIN dashboard_charts dc ON dc.dashboard_id = d.id WHERE dc.chart_id = ?').all(chartId) as Array<{ id: number, position_json: string | null }>
    for (const row of rows) {
      const layout = parseLayout(row.position_json)
      if (layout === undefined) continue
      for (const component of Object.values(layout)) {
        if (typeof component === 'object' && component.type === 'CHART' && Number(component.meta?.chartId) === chartId) component.meta = { ...component.meta, sliceName }
      }
      this.prepare('UPDATE dashboards SET position_json = ? WHERE id = ?').run(JSON.stringify(layout), row.id)
    }
  }

  /** Change a dashboard's fields and, with `chart_ids`, the charts it holds (the layout must place them). */
  updateDashboard (id: number, changes: {
    dashboard_title?: string
    slug?: string | null
    description?: string | null
    published?: boolean
    css?: string | null
    position_json?: unknown
    chart_ids?: readonly number[]
    changed_by_fk?: number | null
  }, options: { slugUniqueAmong?: Visibility } = {}): DashboardRecord {
    return this.write('content', () => {
      const current = this.mustFind(this.findDashboard(id), 'dashboard')
      if (options.slugUniqueAmong !== undefined && changes.slug !== undefined && changes.slug !== null) this.assertDashboardSlugFree(changes.slug, options.slugUniqueAmong, id)
      this.prepare('UPDATE dashboards SET dashboard_title = ?, slug = ?, description = ?, published = ?, css = ?, position_json = ?, changed_by_fk = ?, changed_on = ? WHERE id = ?')
        .run(changes.dashboard_title ?? current.dashboard_title,
          changes.slug === undefined ? current.slug : changes.slug,
          changes.description === undefined ? current.description : changes.description,
          (changes.published ?? current.published) ? 1 : 0,
          changes.css === undefined ? current.css : changes.css,
          changes.position_json === undefined ? current.position_json : JSON.stringify(changes.position_json),
          changes.changed_by_fk ?? current.changed_by_fk, now(), id)
      if (changes.chart_ids !== undefined) {
        this.prepare('DELETE FROM dashboard_charts WHERE dashboard_id = ?').run(id)
        const addChart = this.prepare('INSERT OR IGNORE INTO dashboard_charts (dashboard_id, chart_id) VALUES (?, ?)')
        for (const chartId of changes.chart_ids) addChart.run(id, chartId)
      }
      return this.mustFind(this.findDashboard(id), 'dashboard')
    })
  }

  /** Chart ids on a dashboard, all of them (not filtered by access): for layout bookkeeping. */
  dashboardChartIds (dashboardId: number): number[] {
    return (this.prepare('SELECT chart_id FROM dashboard_charts WHERE dashboard_id = ? ORDER BY chart_id').all(dashboardId) as Array<{ chart_id: number }>).map(row => row.chart_id)
  }

  /** Add a saved metric to a dataset. */
  createDatasetMetric (datasetId: number, metric: Omit<DatasetMetricRecord, 'id'>): DatasetMetricRecord {
    return this.write('content', () => {
      const { lastInsertRowid } = this.prepare('INSERT INTO dataset_metrics (dataset_id, metric_name, verbose_name, expression, description, d3format) VALUES (?, ?, ?, ?, ?, ?)')
        .run(datasetId, metric.metric_name, metric.verbose_name, metric.expression, metric.description, metric.d3format)
      this.prepare('UPDATE datasets SET changed_on = ? WHERE id = ?').run(now(), datasetId)
      return { id: Number(lastInsertRowid), ...metric }
    })
  }

  // ---- link states -------------------------------------------------------------------

  /** The catalog's own link-signing secret (created with the catalog; see migration 4). */
  linkSecret (): string {
    const row = this.prepare("SELECT value FROM catalog_state WHERE key = 'link_secret'").get() as { value: string } | undefined
    if (row === undefined) throw new CatalogError('the catalog has no link secret; run `analytics-mcp db upgrade`')
    return row.value
  }

  /** Store the state behind an explore or SQL link; expired states are purged on the way. */
  createLinkState (state: Omit<LinkStateRecord, 'created_on'>): LinkStateRecord {
    const stamp = now()
    this.prepare('DELETE FROM link_states WHERE expires_on < ?').run(stamp)
    this.prepare('INSERT INTO link_states (key, kind, user_id, dataset_id, database_id, payload, created_on, expires_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(state.key, state.kind, state.user_id, state.dataset_id, state.database_id, state.payload, stamp, state.expires_on)
    return { ...state, created_on: stamp }
  }

  /** A link state that has not expired. */
  findLinkState (key: string): LinkStateRecord | undefined {
    return this.prepare('SELECT * FROM link_states WHERE key = ? AND expires_on >= ?').get(key, now()) as LinkStateRecord | undefined
  }

  // ---- shared ------------------------------------------------------------------------

  private addOwners (kind: 'chart' | 'dashboard' | 'dataset', id: number, owners: readonly number[]): void {
    const add = this.prepare(`INSERT OR IGNORE INTO ${kind}_owners (${kind}_id, user_id) VALUES (?, ?)`)
    for (const userId of owners) add.run(id, userId)
  }

  private mustFind<T> (record: T | undefined, kind: string): T {
    if (record === undefined) throw new CatalogError(`${kind} vanished after insert`)
    return record
  }

  /**
   * Aggregate counts for get_instance_info, over the objects `access` lets the caller see.
   * User and role counts and the top creators are only given to superusers.
   */
  instanceStats (since30Days: string, since7Days: string, access: InstanceAccess): InstanceStats {
    const count = (from: string, predicate: AccessPredicate | undefined, where = '', ...params: unknown[]): number => {
      const conditions = [where, predicate === undefined ? '' : `(${predicate.sql})`].filter(part => part !== '')
      const sql = `SELECT COUNT(*) AS n FROM ${from}${conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`}`
      return (this.prepare(sql).get(...params, ...(predicate?.params ?? [])) as { n: number }).n
    }
    const tables = {
      dashboards: ['dashboards d', access.dashboards, 'd'],
      charts: ['charts c', access.charts, 'c'],
      datasets: ['datasets ds', access.datasets, 'ds']
    } as const
    const created = (kind: keyof typeof tables, since: string): number => count(tables[kind][0], tables[kind][1], `${tables[kind][2]}.created_on >= ?`, since)
    const changed = (kind: keyof typeof tables, since: string): number => count(tables[kind][0], tables[kind][1], `${tables[kind][2]}.changed_on >= ?`, since)
    const visibleDatabases = access.databases === undefined ? '' : ` WHERE ${access.databases.sql}`
    const byType = this.prepare(`SELECT db.backend, COUNT(*) AS n FROM databases db${visibleDatabases} GROUP BY db.backend ORDER BY db.backend`)
      .all(...(access.databases?.params ?? [])) as Array<{ backend: string, n: number }>
    const topCreators = access.superuser
      ? this.prepare(`
      SELECT u.username, COUNT(*) AS n FROM (
        SELECT created_by_fk FROM charts UNION ALL SELECT created_by_fk FROM dashboards UNION ALL SELECT created_by_fk FROM datasets
      ) o JOIN users u ON u.id = o.created_by_fk GROUP BY u.username ORDER BY n DESC, u.username LIMIT 5`).all() as Array<{ username: string, n: number }>
      : []
    const dashboardLinks = access.charts === undefined
      ? count('dashboard_charts dc JOIN dashboards d ON d.id = dc.dashboard_id', access.dashboards)
      : count('dashboard_charts dc JOIN dashboards d ON d.id = dc.dashboard_id JOIN charts c ON c.id = dc.chart_id', { sql: `(${access.dashboards?.sql ?? '1'}) AND (${access.charts.sql})`, params: [...(access.dashboards?.params ?? []), ...access.charts.params] })
    return {
      totals: {
        dashboards: count('dashboards d', access.dashboards),
        charts: count('charts c', access.charts),
        datasets: count('datasets ds', access.datasets),
        databases: count('databases db', access.databases),
        users: access.superuser ? count('users', undefined) : null,
        roles: access.superuser ? count('roles', undefined) : null,
        dashboardChartLinks: dashboardLinks
      },
      recent: {
        dashboardsCreated30d: created('dashboards', since30Days),
        chartsCreated30d: created('charts', since30Days),
        datasetsCreated30d: created('datasets', since30Days),
        dashboardsModified7d: changed('dashboards', since7Days),
        chartsModified7d: changed('charts', since7Days),
        datasetsModified7d: changed('datasets', since7Days)
      },
      dashboards: {
        published: count('dashboards d', access.dashboards, 'd.published = 1'),
        unpublished: count('dashboards d', access.dashboards, 'd.published = 0'),
        certified: count('dashboards d', access.dashboards, 'd.certified_by IS NOT NULL'),
        withCharts: count('dashboards d', access.dashboards, 'EXISTS (SELECT 1 FROM dashboard_charts x WHERE x.dashboard_id = d.id)')
      },
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
