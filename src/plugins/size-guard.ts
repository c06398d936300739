import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { SizeGuard } from '../mcp/size-guard.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** MCP_RESPONSE_SIZE_CONFIG: keeps tool results inside the model's context budget. */
    sizeGuard: SizeGuard
  }
}

async function sizeGuardPlugin (app: FastifyInstance): Promise<void> {
  app.decorate('sizeGuard', new SizeGuard(app.config.MCP_RESPONSE_SIZE_CONFIG, {
    action: (tool, action) => app.metrics.sizeGuard(tool, action)
  }))
}

export default fp(sizeGuardPlugin, { name: 'size-guard', fastify: '5.x', dependencies: ['config', 'metrics'] })
