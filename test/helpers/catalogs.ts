import path from 'node:path'
import tap from 'tap'
import type { Test } from 'tap'
import { Catalog } from '../../src/catalog/catalog.ts'
import { startPostgres } from './postgres.ts'
import type { PostgresServer } from './postgres.ts'

/** The two catalog backends every catalog, cache-invalidation and RBAC test runs on. */
export const CATALOG_BACKENDS = ['sqlite', 'postgresql'] as const
export type CatalogBackendName = (typeof CATALOG_BACKENDS)[number]

let server: Promise<PostgresServer> | undefined
let databases = 0

/** One real PostgreSQL server per test file, started on first use and stopped when the file ends. */
export async function sharedPostgres (): Promise<PostgresServer> {
  server ??= startPostgres(tap)
  return await server
}

/** A URL of a new, empty PostgreSQL database: a catalog of its own for one test. */
export async function freshPostgresCatalogUrl (): Promise<string> {
  const pg = await sharedPostgres()
  const name = `catalog_${process.pid}_${++databases}`
  await pg.sql(`CREATE DATABASE ${name}`)
  return pg.urlFor('postgres', name)
}

/** Settings that put an app's catalog on `backend` (SQLite: the default file in the test's data directory). */
export async function catalogSettings (backend: CatalogBackendName): Promise<Record<string, unknown>> {
  return backend === 'sqlite' ? {} : { MCP_CATALOG_URL: await freshPostgresCatalogUrl() }
}

/** A fresh, migrated catalog on `backend`, closed when the test ends. */
export async function openTestCatalog (t: Test, backend: CatalogBackendName): Promise<Catalog> {
  const location = backend === 'sqlite' ? path.join(t.testdir(), 'catalog.db') : await freshPostgresCatalogUrl()
  const catalog = await Catalog.open(location, { upgrade: true })
  t.teardown(async () => { await catalog.close() })
  return catalog
}
