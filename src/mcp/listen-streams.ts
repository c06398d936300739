import type { Catalog } from '../catalog/catalog.ts'
import type { Principal } from '../tools/tool.ts'

interface OpenStream {
  userId: number
  timer: NodeJS.Timeout
}

/**
 * The open `subscriptions/listen` streams of one replica. A stream is a long-lived request,
 * so it gets what a request would get again if it were new: at most `perPrincipal` per user
 * (one user cannot take every slot), and it ends when its credential expires, after
 * `maxSeconds`, or when its user is deactivated. Ending it aborts its request; the client
 * listens again with a fresh credential.
 */
export class ListenStreams {
  private readonly streams = new Map<AbortController, OpenStream>()
  private readonly perUser = new Map<number, number>()
  private readonly perPrincipal: number
  private readonly maxMs: number
  private readonly catalog: Catalog

  constructor (catalog: Catalog, options: { perPrincipal: number, maxSeconds: number }) {
    this.catalog = catalog
    this.perPrincipal = options.perPrincipal
    this.maxMs = options.maxSeconds * 1000
  }

  /** Admit a stream ended through `controller`; undefined when the user holds too many. Call the result when it ends. */
  admit (principal: Principal, controller: AbortController): (() => void) | undefined {
    const userId = principal.user.id
    const held = this.perUser.get(userId) ?? 0
    if (held >= this.perPrincipal) return undefined
    const lifetime = Math.max(0, Math.min(this.maxMs, (principal.expiresAt ?? Infinity) - Date.now()))
    const timer = setTimeout(() => controller.abort(), lifetime)
    timer.unref()
    this.streams.set(controller, { userId, timer })
    this.perUser.set(userId, held + 1)
    return () => {
      const stream = this.streams.get(controller)
      if (stream === undefined) return
      clearTimeout(stream.timer)
      this.streams.delete(controller)
      const left = (this.perUser.get(userId) ?? 1) - 1
      if (left === 0) this.perUser.delete(userId)
      else this.perUser.set(userId, left)
    }
  }

  /** After users or roles changed: end the streams of users who are gone or inactive. */
  async revalidate (): Promise<void> {
    for (const [controller, stream] of [...this.streams]) {
      if ((await this.catalog.findUserById(stream.userId))?.active !== true) controller.abort()
    }
  }

  get limit (): number {
    return this.perPrincipal
  }
}
