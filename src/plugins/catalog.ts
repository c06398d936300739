import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Catalog } from '../catalog/catalog.ts'
import { openConfiguredCatalog } from '../catalog/configured.ts'
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
  const catalog = options.catalog ?? await openConfiguredCatalog(config)
  if (options.catalog === undefined) app.addHook('onClose', async () => { await catalog.close() })

  if (config.MCP_LOAD_EXAMPLES) {
    const result = await loadExamples(catalog, config.examplesPath)
    if (result.generated || result.registered || result.usersCreated.length > 0) {
      app.log.info({ generated: result.generated, registered: result.registered, users_created: result.usersCreated }, 'example data loaded')
    }
  }

  app.decorate('catalog', catalog)
  app.registerReadinessCheck('catalog', async () => { await catalog.ping() })
}

export default fp(catalogPlugin, { name: 'catalog', fastify: '5.x', dependencies: ['config', 'health'] })
