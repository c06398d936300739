import type { Config } from '../config.ts'
import { EngineRegistry, SqliteEngine } from './engines.ts'
import type { EngineHooks } from './engines.ts'
import type { FairQueueOptions } from '../concurrency/fair-queue.ts'
import { PostgresEngine } from './postgres.ts'
import { LazyEngine } from './lazy.ts'

export interface EngineFactoryHooks extends EngineHooks {
  /** Queue depth, wait time and refusals of the SQL pools (metrics). */
  queueHooks?: Pick<FairQueueOptions, 'onDepth' | 'onWait' | 'onRefused'>
}

/** This replica's SQL engines, one per backend, from the configuration (the server and the CLI). */
export function createEngines (config: Config, hooks: EngineFactoryHooks = {}): EngineRegistry {
  const workers = config.MCP_SQL_WORKERS
  const { queueHooks, ...engineHooks } = hooks
  return new EngineRegistry([
    new SqliteEngine({
      size: workers,
      queueLimit: config.MCP_SQL_QUEUE_LIMIT,
      // By default one runner is always left for other users.
      perOwnerRunning: config.MCP_SQL_USER_CONCURRENCY ?? Math.max(1, workers - 1),
      perOwnerQueueLimit: config.MCP_SQL_USER_QUEUE_LIMIT,
      memoryMb: config.MCP_SQL_RUNNER_MEMORY_MB,
      ...(engineHooks.onRunnerEnded === undefined ? {} : { onRunnerEnded: engineHooks.onRunnerEnded }),
      ...(queueHooks === undefined ? {} : { queueHooks })
    }),
    new PostgresEngine({
      poolSize: config.MCP_WAREHOUSE_POOL_SIZE,
      queueLimit: config.MCP_SQL_QUEUE_LIMIT,
      perOwnerRunning: config.MCP_SQL_USER_CONCURRENCY ?? Math.max(1, config.MCP_WAREHOUSE_POOL_SIZE - 1),
      perOwnerQueueLimit: config.MCP_SQL_USER_QUEUE_LIMIT,
      ...(config.MCP_PG_WORK_MEM_MB === undefined ? {} : { workMemMb: config.MCP_PG_WORK_MEM_MB }),
      ...(queueHooks === undefined ? {} : { queueHooks })
    }),
    new LazyEngine('duckdb', async () => new (await import('./duckdb.ts')).DuckDbEngine({
      dataDir: config.MCP_DATA_DIR,
      memoryMb: config.MCP_DUCKDB_MEMORY_MB,
      maxTempMb: config.MCP_DUCKDB_MAX_TEMP_MB,
      threads: config.MCP_DUCKDB_THREADS,
      connections: workers,
      perOwnerRunning: config.MCP_SQL_USER_CONCURRENCY ?? Math.max(1, workers - 1),
      queueLimit: config.MCP_SQL_QUEUE_LIMIT,
      perOwnerQueueLimit: config.MCP_SQL_USER_QUEUE_LIMIT,
      queueHooks
    }))
  ], engineHooks)
}
