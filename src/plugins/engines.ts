import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { EngineRegistry, SqliteEngine } from '../engines/engines.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** SQL engines of this replica, one per backend. */
    engines: EngineRegistry
  }
}

async function enginesPlugin (app: FastifyInstance): Promise<void> {
  const { config, metrics } = app
  const engines = new EngineRegistry([
    new SqliteEngine({
      size: config.MCP_SQL_WORKERS,
      queueLimit: config.MCP_SQL_QUEUE_LIMIT,
      memoryMb: config.MCP_SQL_RUNNER_MEMORY_MB,
      onRunnerEnded: metrics.onRunnerEnded
    })
  ], { onQuery: metrics.onQuery })
  app.decorate('engines', engines)
  app.addHook('onClose', async () => engines.close())
}

export default fp(enginesPlugin, { name: 'engines', fastify: '5.x', dependencies: ['config', 'metrics'] })
