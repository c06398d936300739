import { execFileSync } from 'node:child_process'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { EngineRegistry, SqliteEngine } from '../engines/engines.ts'

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
  const workers = config.MCP_SQL_WORKERS
  const engines = new EngineRegistry([
    new SqliteEngine({
      size: workers,
      queueLimit: config.MCP_SQL_QUEUE_LIMIT,
      // By default one runner is always left for other users.
      perOwnerRunning: config.MCP_SQL_USER_CONCURRENCY ?? Math.max(1, workers - 1),
      perOwnerQueueLimit: config.MCP_SQL_USER_QUEUE_LIMIT,
      memoryMb: config.MCP_SQL_RUNNER_MEMORY_MB,
      onRunnerEnded: metrics.onRunnerEnded,
      queueHooks: metrics.workQueue('sql')
    })
  ], { onQuery: metrics.onQuery })
  if (!osMemoryLimitAvailable()) {
    app.log.warn('prlimit (util-linux) is not available: MCP_SQL_RUNNER_MEMORY_MB limits only the runners\' V8 heap, not SQLite\'s own memory')
  }
  app.decorate('engines', engines)
  app.addHook('onClose', async () => engines.close())
}

export default fp(enginesPlugin, { name: 'engines', fastify: '5.x', dependencies: ['config', 'metrics'] })
