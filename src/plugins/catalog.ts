import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Catalog } from '../catalog/catalog.ts'
import { loadExamples } from '../examples/load.ts'

declare module 'fastify' {
  interface FastifyInstance {
    catalog: Catalog
  }
}

export interface CatalogPluginOptions {
  /** An already open catalog (tests, CLI); it stays open when the app closes. */
  catalog?: Catalog
}

async function catalogPlugin (app: FastifyInstance, options: CatalogPluginOptions): Promise<void> {
  const { config } = app
  const catalog = options.catalog ?? Catalog.open(config.catalogPath, { upgrade: config.MCP_CATALOG_AUTO_UPGRADE })
  if (options.catalog === undefined) app.addHook('onClose', async () => catalog.close())

  if (config.MCP_LOAD_EXAMPLES) {
    const result = loadExamples(catalog, config.examplesPath)
    if (result.generated || result.registered || result.usersCreated.length > 0) {
      app.log.info({ generated: result.generated, registered: result.registered, users_created: result.usersCreated }, 'example data loaded')
    }
  }

  app.decorate('catalog', catalog)
  app.registerReadinessCheck('catalog', () => catalog.ping())
}

export default fp(catalogPlugin, { name: 'catalog', fastify: '5.x', dependencies: ['config', 'health'] })
