import type { Redis } from 'ioredis'

/**
 * Where cached responses live: one interface, a memory backend (one replica) and a Redis
 * backend (shared by all replicas). A backend never throws: a failure is a miss (get) or a
 * skipped write (set), reported through `onError` so it is counted, never user-visible.
 */
export interface CacheStore {
  readonly kind: 'memory' | 'redis'
  get: (key: string) => Promise<string | undefined>
  set: (key: string, value: string, ttlSeconds: number) => Promise<void>
}

interface MemoryEntry {
  value: string
  bytes: number
  expiresAt: number
}

/**
 * An LRU bounded by bytes (UTF-16 length × 2, what V8 holds), with per-entry TTLs. A Map
 * keeps insertion order, so re-inserting on a hit makes the first key the least recent.
 */
export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory'
  private readonly entries = new Map<string, MemoryEntry>()
  private readonly maxBytes: number
  private bytes = 0

  constructor (maxBytes: number) {
    this.maxBytes = maxBytes
  }

  get size (): { entries: number, bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes }
  }

  async get (key: string): Promise<string | undefined> {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    if (entry.expiresAt <= Date.now()) {
      this.bytes -= entry.bytes
      return undefined
    }
    this.entries.set(key, entry)
    return entry.value
  }

  async set (key: string, value: string, ttlSeconds: number): Promise<void> {
    const bytes = (key.length + value.length) * 2
    if (bytes > this.maxBytes || ttlSeconds <= 0) return
    const previous = this.entries.get(key)
    if (previous !== undefined) {
      this.entries.delete(key)
      this.bytes -= previous.bytes
    }
    while (this.bytes + bytes > this.maxBytes) {
      const oldest = this.entries.entries().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest[0])
      this.bytes -= oldest[1].bytes
    }
    this.entries.set(key, { value, bytes, expiresAt: Date.now() + ttlSeconds * 1000 })
    this.bytes += bytes
  }
}

export class RedisCacheStore implements CacheStore {
  readonly kind = 'redis'
  private readonly client: Redis
  private readonly onError: (operation: 'cache_get' | 'cache_set', error: Error) => void

  constructor (client: Redis, onError: (operation: 'cache_get' | 'cache_set', error: Error) => void) {
    this.client = client
    this.onError = onError
  }

  async get (key: string): Promise<string | undefined> {
    try {
      return (await this.client.get(key)) ?? undefined
    } catch (error) {
      this.onError('cache_get', error as Error)
      return undefined
    }
  }

  async set (key: string, value: string, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return
    try {
      await this.client.set(key, value, 'EX', ttlSeconds)
    } catch (error) {
      this.onError('cache_set', error as Error)
    }
  }
}
