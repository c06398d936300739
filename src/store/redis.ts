import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import type { StoreConfig } from '../config.ts'

export type RedisState = 'connecting' | 'ready' | 'down'

/** What the service needs from Redis: a command connection, a pub/sub connection and their state. */
export interface RedisConnection {
  /** Commands (cache, rate limits, audit stream); keys are prefixed by ioredis. */
  readonly client: Redis
  /** Subscriber connection (a connection in subscribe mode cannot run other commands). */
  readonly subscriber: Redis
  /** Prefix of every key and channel (MCP_STORE_CONFIG.key_prefix). */
  readonly prefix: string
  /** The command connection's state, for /readyz and metrics. */
  state: () => RedisState
  close: () => Promise<void>
}

export interface RedisHooks {
  /** The command connection changed state (up, down, reconnecting). */
  onState?: (state: RedisState, detail?: string) => void
}

/** Backoff between reconnection attempts: 100 ms doubling up to 2 s, forever. */
function reconnectDelay (attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 5), 2000)
}

/**
 * ioredis options from MCP_STORE_CONFIG. Requests never wait for Redis: no offline queue
 * (a command while disconnected fails at once), a short command timeout, and the client
 * reconnects in the background. TLS always verifies the server certificate (Superset turns
 * verification off for rediss://; we never do: give tls_ca_file for a private CA).
 */
export function redisOptions (store: StoreConfig): RedisOptions {
  const url = store.CACHE_REDIS_URL === null ? undefined : new URL(store.CACHE_REDIS_URL)
  const tlsOn = url?.protocol === 'rediss:'
  const tls = tlsOn
    ? {
        rejectUnauthorized: true,
        ...(store.tls_ca_file === null ? {} : { ca: readFileSync(store.tls_ca_file) }),
        // SNI takes host names only (an IP address there is deprecated, DEP0123).
        ...(url === undefined || store.sentinels.length > 0 || isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0 ? {} : { servername: url.hostname })
      }
    : undefined
  const database = url === undefined ? 0 : Number(url.pathname.replace('/', '') || '0')
  const common: RedisOptions = {
    ...(url?.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url?.password ? { password: decodeURIComponent(url.password) } : {}),
    db: database,
    keyPrefix: store.key_prefix,
    connectTimeout: store.connect_timeout_ms,
    commandTimeout: store.command_timeout_ms,
    // A Redis that accepts connections but stops answering (hung, paused, a blackholed network):
    // the connection is dropped, so commands fail at once while it reconnects instead of each
    // waiting out its own timeout, and timed-out commands are not held in memory.
    socketTimeout: store.command_timeout_ms * 2,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: reconnectDelay,
    // After a Sentinel failover the old master turns replica: reconnect to the new one.
    reconnectOnError: error => error.message.startsWith('READONLY') ? 2 : false,
    lazyConnect: false,
    ...(tls === undefined ? {} : { tls })
  }
  if (store.sentinels.length === 0) {
    return { ...common, host: url?.hostname ?? '127.0.0.1', port: Number(url?.port || 6379) }
  }
  return {
    ...common,
    sentinels: store.sentinels.map(node => {
      const colon = node.lastIndexOf(':')
      return { host: node.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(node.slice(colon + 1)) }
    }),
    name: store.sentinel_master,
    ...(store.sentinel_username === null ? {} : { sentinelUsername: store.sentinel_username }),
    ...(store.sentinel_password === null ? {} : { sentinelPassword: store.sentinel_password }),
    ...(tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: tls }),
    sentinelRetryStrategy: reconnectDelay
  }
}

/** Connect (in the background: start-up never waits for Redis) and track the connection state. */
export function connectRedis (store: StoreConfig, hooks: RedisHooks = {}): RedisConnection {
  const options = redisOptions(store)
  const client = new Redis(options)
  // The subscriber keeps its subscriptions across reconnects; it does not use the key prefix.
  const subscriber = new Redis({ ...options, keyPrefix: '' })
  let state: RedisState = 'connecting'
  const moveTo = (next: RedisState, detail?: string): void => {
    if (next === state) return
    state = next
    hooks.onState?.(next, detail)
  }
  client.on('ready', () => moveTo('ready'))
  client.on('error', (error: Error) => moveTo('down', error.message))
  client.on('close', () => moveTo('down', 'connection closed'))
  client.on('end', () => moveTo('down', 'connection ended'))
  // Errors are reported through state changes; without a listener ioredis would print them.
  subscriber.on('error', () => {})

  return {
    client,
    subscriber,
    prefix: store.key_prefix,
    state: () => state,
    async close () {
      client.removeAllListeners('close')
      client.removeAllListeners('end')
      await Promise.all([client.quit().catch(() => client.disconnect()), subscriber.quit().catch(() => subscriber.disconnect())])
    }
  }
}
