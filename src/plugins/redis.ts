import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { AuditStream } from '../events/audit-stream.ts'
import { ClusterEvents } from '../events/cluster-events.ts'
import { connectRedis } from '../store/redis.ts'
import type { RedisConnection } from '../store/redis.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared Redis (MCP_STORE_CONFIG), or undefined: everything stays in this process. */
    redis: RedisConnection | undefined
    /** Cross-replica events (local only without Redis). */
    clusterEvents: ClusterEvents
    /** The audit stream of tool calls (Redis only). */
    auditStream: AuditStream | undefined
  }
}

/**
 * Redis, when MCP_STORE_CONFIG enables it. Start-up does not wait for it and requests never
 * fail because of it: the cache misses, rate limits apply their fail-open policy, events and
 * audit entries are dropped, every failure is counted in mcp_redis_errors_total, and the
 * client reconnects in the background. /readyz reports it as "degraded", never "unavailable",
 * so a Redis outage does not take every replica out of the Service at once.
 */
async function redisPlugin (app: FastifyInstance): Promise<void> {
  const { config, metrics } = app
  const store = config.MCP_STORE_CONFIG
  const redis = store.enabled
    ? connectRedis(store, {
      onState (state, detail) {
        metrics.redisUp(state === 'ready')
        if (state === 'ready') app.log.info('Redis is up')
        else if (state === 'down') {
          metrics.redisError('connection')
          app.log.warn({ detail }, 'Redis is down: serving without it (cache misses, rate limits per fail_open) while reconnecting')
        }
      }
    })
    : undefined
  if (redis !== undefined) metrics.redisUp(false)
  app.decorate('redis', redis)

  const events = new ClusterEvents(redis, (operation, error) => {
    metrics.redisError(operation)
    app.log.debug({ err: error, operation }, 'Redis event operation failed')
  })
  await events.start()
  app.decorate('clusterEvents', events)
  // Writes made through this replica's catalog reach the others (and their subscribed clients).
  const stopListening = app.catalog.onChange(change => { void events.publish({ type: 'catalog_changed', change }) })

  app.decorate('auditStream', redis === undefined
    ? undefined
    : new AuditStream(redis, { maxEvents: store.event_store_max_events, ttlSeconds: store.event_store_ttl }, error => {
      metrics.redisError('audit')
      app.log.debug({ err: error }, 'audit stream write failed')
    }))

  if (redis !== undefined) {
    app.registerReadinessCheck('redis', async () => {
      if (redis.state() !== 'ready') throw new Error(`Redis is ${redis.state()}`)
      await redis.client.ping()
    }, { critical: false })
  }

  app.addHook('onClose', async () => {
    stopListening()
    await redis?.close()
  })
}

export default fp(redisPlugin, { name: 'redis', fastify: '5.x', dependencies: ['config', 'metrics', 'health', 'catalog'] })
