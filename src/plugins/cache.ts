import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ResponseCache } from '../cache/response-cache.ts'
import { MemoryCacheStore, RedisCacheStore } from '../store/cache-store.ts'
import { SERVICE_VERSION } from '../version.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** MCP_CACHE_CONFIG, when enabled: per-principal response cache in Redis or memory. */
    responseCache: ResponseCache | undefined
  }
}

async function cachePlugin (app: FastifyInstance): Promise<void> {
  const { config, metrics, redis } = app
  const settings = config.MCP_CACHE_CONFIG
  if (!settings.enabled) {
    app.decorate('responseCache', undefined)
    return
  }
  const store = redis === undefined
    ? new MemoryCacheStore(settings.memory_max_bytes)
    : new RedisCacheStore(redis.client, (operation, error) => {
      metrics.redisError(operation)
      app.log.debug({ err: error, operation }, 'cache operation failed: served without the cache')
    })
  if (redis === undefined) app.log.info('the response cache is in this process: each replica caches on its own (enable MCP_STORE_CONFIG to share it)')
  const size = config.MCP_RESPONSE_SIZE_CONFIG
  const context = `${SERVICE_VERSION}|size:${size.enabled ? `${size.token_limit}:${size.excluded_tools.join(',')}` : 'off'}`
  app.decorate('responseCache', new ResponseCache(store, settings, app.catalog, context))
}

export default fp(cachePlugin, { name: 'cache', fastify: '5.x', dependencies: ['config', 'metrics', 'redis', 'catalog'] })
