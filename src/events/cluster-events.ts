import { randomUUID } from 'node:crypto'
import type { RedisConnection } from '../store/redis.ts'

/** A change other replicas (and their subscribed clients) must hear about. */
export interface ServiceEvent {
  type: 'catalog_changed'
  /** `content`: what tools show; `access`: users, roles, permissions (tool lists may change). */
  change: 'content' | 'access'
}

export type ServiceEventListener = (event: ServiceEvent, origin: 'local' | 'remote') => void

function isServiceEvent (value: unknown): value is ServiceEvent {
  const event = value as Partial<ServiceEvent> | null
  return event !== null && typeof event === 'object' && event.type === 'catalog_changed' && (event.change === 'content' || event.change === 'access')
}

/**
 * Events across replicas: delivered at once to this replica's listeners, and published on a
 * Redis channel that every other replica subscribes to. Without Redis they stay local (one
 * replica). Delivery is at most once and best effort: caches never depend on it for
 * correctness (their keys carry the catalog's content version); it exists so that subscribed
 * clients hear of changes and memory is reclaimed early.
 */
export class ClusterEvents {
  /** This replica's id: its own messages come back from Redis and are skipped. */
  readonly origin = randomUUID()
  private readonly listeners = new Set<ServiceEventListener>()
  private readonly redis: RedisConnection | undefined
  private readonly channel: string
  private readonly onError: (operation: 'publish' | 'subscribe', error: Error) => void

  constructor (redis: RedisConnection | undefined, onError: (operation: 'publish' | 'subscribe', error: Error) => void = () => {}) {
    this.redis = redis
    this.channel = `${redis?.prefix ?? ''}events`
    this.onError = onError
    redis?.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message)
    })
  }

  /**
   * Subscribe to the channel once the subscriber connection is ready (start-up does not wait
   * for Redis); ioredis re-subscribes by itself after a reconnect.
   */
  async start (): Promise<void> {
    const redis = this.redis
    if (redis === undefined) return
    if (redis.subscriber.status !== 'ready') {
      redis.subscriber.once('ready', () => { void this.start() })
      return
    }
    try {
      await redis.subscriber.subscribe(this.channel)
    } catch (error) {
      this.onError('subscribe', error as Error)
      redis.subscriber.once('ready', () => { void this.start() })
    }
  }

  subscribe (listener: ServiceEventListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Deliver locally at once; the returned promise settles when Redis took it (or failed: counted). */
  async publish (event: ServiceEvent): Promise<boolean> {
    this.deliver(event, 'local')
    if (this.redis === undefined) return true
    try {
      await this.redis.client.publish(this.channel, JSON.stringify({ origin: this.origin, event }))
      return true
    } catch (error) {
      this.onError('publish', error as Error)
      return false
    }
  }

  private receive (message: string): void {
    let parsed: { origin?: unknown, event?: unknown }
    try {
      parsed = JSON.parse(message) as typeof parsed
    } catch {
      return
    }
    if (parsed.origin === this.origin || !isServiceEvent(parsed.event)) return
    this.deliver(parsed.event, 'remote')
  }

  private deliver (event: ServiceEvent, origin: 'local' | 'remote'): void {
    for (const listener of this.listeners) {
      try {
        listener(event, origin)
      } catch {
        // One failing listener does not stop the others.
      }
    }
  }
}
