import type { Catalog } from './catalog.ts'
import { CatalogError } from './errors.ts'
import { ID_TABLES } from './migrations.ts'
import type { IdTable } from './migrations.ts'
import { OAUTH_SIGNING_KEY_STATE, TABLES_IN_DEPENDENCY_ORDER } from './schema.ts'

/** Tables whose `id` is generated: after rows come in with their ids, the next id must move past every id the source gave. */
const TABLES_WITH_IDS = new Set<string>(ID_TABLES)

/** What makes a catalog worth protecting: anything beyond what a fresh one holds (built-in roles and their grants). */
const CONTENT_CHECK = `
  SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM databases) AS databases,
    (SELECT COUNT(*) FROM api_keys) AS api_keys, (SELECT COUNT(*) FROM roles WHERE builtin = 0) AS roles`

/** Rows per INSERT: well under PostgreSQL's 65,535 bound parameters at the widest table (15 columns). */
const BATCH_ROWS = 500

export interface CopyResult {
  /** Rows copied, by table. */
  rows: Record<string, number>
}

/**
 * Copy a whole catalog — users, roles and grants, API keys, databases, datasets with their
 * columns and metrics, charts, dashboards, owners, link states and OAuth clients and sign-ins — into another one, ids
 * kept, in one transaction on the target. The target's schema must be current (open it with
 * upgrade); a target holding users, databases, API keys or custom roles is refused unless
 * `force`, which replaces its content. The link-signing secret comes along, so links made
 * before the move still open.
 */
export async function copyCatalog (source: Catalog, target: Catalog, options: { force?: boolean } = {}): Promise<CopyResult> {
  const held = await target.store.get<Record<string, number>>(CONTENT_CHECK)
  const nonEmpty = Object.entries(held ?? {}).filter(([, count]) => count > 0)
  if (nonEmpty.length > 0 && options.force !== true) {
    throw new CatalogError(`the target catalog ${target.location} is not empty (${nonEmpty.map(([table, count]) => `${count} ${table.replace('_', ' ')}`).join(', ')}); pass --force to replace its content`)
  }
  const rows: Record<string, number> = {}
  await target.transaction(async () => {
    for (const table of [...TABLES_IN_DEPENDENCY_ORDER].reverse()) await target.store.run(`DELETE FROM ${table}`)
    for (const table of TABLES_IN_DEPENDENCY_ORDER) {
      const data = await source.store.all<Record<string, unknown>>(`SELECT * FROM ${table}`)
      rows[table] = data.length
      for (let start = 0; start < data.length; start += BATCH_ROWS) {
        const batch = data.slice(start, start + BATCH_ROWS)
        const columns = Object.keys(batch[0] ?? {})
        const values = batch.map(row => `(${columns.map(() => '?').join(', ')})`).join(', ')
        await target.store.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, batch.flatMap(row => columns.map(column => row[column])))
      }
      // Ids the source gave and then deleted stay given: the target never hands them out again.
      if (TABLES_WITH_IDS.has(table)) await target.raiseIdHighWater(table as IdTable, await source.idHighWater(table as IdTable))
    }
    const secret = await source.store.get<{ value: string }>("SELECT value FROM catalog_state WHERE key = 'link_secret'")
    if (secret !== undefined) await target.store.run("UPDATE catalog_state SET value = ? WHERE key = 'link_secret'", [secret.value])
    // The generated key that signs access tokens, so tokens issued before the move stay valid.
    const signingKey = await source.store.get<{ value: string }>(`SELECT value FROM catalog_state WHERE key = '${OAUTH_SIGNING_KEY_STATE}'`)
    await target.store.run(`DELETE FROM catalog_state WHERE key = '${OAUTH_SIGNING_KEY_STATE}'`)
    if (signingKey !== undefined) await target.store.run('INSERT INTO catalog_state (key, value) VALUES (?, ?)', [OAUTH_SIGNING_KEY_STATE, signingKey.value])
  })
  return { rows }
}
