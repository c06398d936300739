import { execFileSync } from 'node:child_process'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createEngines } from '../engines/create.ts'
import type { EngineRegistry } from '../engines/engines.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** SQL engines of this replica, one per backend. */
    engines: EngineRegistry
  }
}

/** Whether runners can cap their own memory (Linux with util-linux's prlimit). */
function osMemoryLimitAvailable (): boolean {
  if (process.platform !== 'linux') return false
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function enginesPlugin (app: FastifyInstance): Promise<void> {
  const { config, metrics } = app
  const engines = createEngines(config, { onQuery: metrics.onQuery, onRunnerEnded: metrics.onRunnerEnded, queueHooks: metrics.workQueue('sql') })
  if (!osMemoryLimitAvailable()) {
    app.log.warn('prlimit (util-linux) is not available: MCP_SQL_RUNNER_MEMORY_MB limits only the runners\' V8 heap, not SQLite\'s own memory')
  }
  app.decorate('engines', engines)
  app.addHook('onClose', async () => engines.close())
}

export default fp(enginesPlugin, { name: 'engines', fastify: '5.x', dependencies: ['config', 'metrics'] })
