import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Toolset } from '../mcp/toolset.ts'
import { buildTools } from '../tools/index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    toolset: Toolset
  }
}

/** Builds every tool once: schemas, JSON Schema conversions and tools/list results are shared by all requests. */
async function toolsPlugin (app: FastifyInstance): Promise<void> {
  const toolset = new Toolset(buildTools(app.config), {
    catalog: app.catalog,
    engines: app.engines,
    config: app.config,
    hooks: app.metrics.toolHooks,
    cache: app.responseCache,
    sizeGuard: app.sizeGuard,
    rateLimits: app.rateLimits,
    audit: app.auditStream,
    replica: app.clusterEvents.origin
  })
  app.metrics.registerTools(toolset.names)
  app.decorate('toolset', toolset)
}

export default fp(toolsPlugin, { name: 'tools', fastify: '5.x', dependencies: ['config', 'metrics', 'catalog', 'engines', 'redis', 'rate-limit', 'cache', 'size-guard'] })
