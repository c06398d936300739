import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { RateLimits } from '../mcp/rate-limits.ts'
import { MemoryTokenBuckets, RedisTokenBuckets } from '../store/token-buckets.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** MCP_RATE_LIMIT_CONFIG: buckets in Redis when configured (shared by replicas), else in memory. */
    rateLimits: RateLimits
  }
}

async function rateLimitPlugin (app: FastifyInstance): Promise<void> {
  const { config, metrics, redis } = app
  const buckets = redis === undefined ? new MemoryTokenBuckets() : new RedisTokenBuckets(redis.client)
  app.decorate('rateLimits', new RateLimits(config.MCP_RATE_LIMIT_CONFIG, buckets, {
    refused: (scope, tool) => metrics.rateLimited(scope, tool),
    storeError: error => {
      metrics.redisError('rate_limit')
      app.log.debug({ err: error }, 'rate limit check failed')
    }
  }))
  if (config.MCP_RATE_LIMIT_CONFIG.enabled && redis === undefined) {
    app.log.info('rate limits are kept in this process: with several replicas each enforces them on its own (enable MCP_STORE_CONFIG to share them)')
  }
}

export default fp(rateLimitPlugin, { name: 'rate-limit', fastify: '5.x', dependencies: ['config', 'metrics', 'redis'] })
