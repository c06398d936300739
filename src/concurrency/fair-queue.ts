/**
 * Fair sharing of a fixed number of slots (query runners, render threads) between users.
 * Each key (a principal) has its own FIFO queue and may hold at most `perKeyRunning` slots;
 * when a slot frees up, the waiting keys take turns (round-robin), so one user's flood delays
 * another user's job by at most the time one job takes, never by the flood's length.
 */

export type QueueRefusalReason = 'queue_full' | 'key_queue_full' | 'timeout' | 'cancelled' | 'closed' | 'unavailable'

/** Why a job got no slot; callers turn it into their own tool error. */
export class QueueRefusal extends Error {
  readonly reason: QueueRefusalReason
  /** Jobs waiting (all keys) when the refusal happened. */
  readonly waiting: number
  constructor (reason: QueueRefusalReason, waiting: number) {
    super(`no slot: ${reason}`)
    this.name = 'QueueRefusal'
    this.reason = reason
    this.waiting = waiting
  }
}

export interface FairQueueOptions {
  /** Slots in all: jobs that may run at once. */
  slots: number
  /** Slots one key may hold at once. */
  perKeyRunning: number
  /** Jobs that may wait, all keys together. */
  queueLimit: number
  /** Jobs one key may have waiting. */
  perKeyQueueLimit: number
  /** Called whenever the number of waiting jobs changes. */
  onDepth?: (waiting: number) => void
  /** Called when a job gets its slot, with the seconds it waited (0 when a slot was free). */
  onWait?: (seconds: number) => void
  /** Called when a job is refused a place in the queue. */
  onRefused?: (reason: 'queue_full' | 'key_queue_full') => void
}

export interface AcquireOptions {
  signal?: AbortSignal | undefined
  /** Longest wait for a slot, in milliseconds. */
  timeoutMs?: number | undefined
}

/** Give the slot back; calling it again does nothing. */
export type Release = () => void

interface Waiter {
  key: string
  enqueuedAt: number
  grant: (release: Release) => void
  refuse: (refusal: QueueRefusal) => void
}

interface KeyState {
  running: number
  waiting: Waiter[]
  /** When this key last got a slot (a tick); -1 for never. The least recently served goes next. */
  servedAt: number
}

export class FairQueue {
  private readonly options: FairQueueOptions
  /** Keys with work running or waiting. */
  private readonly keys = new Map<string, KeyState>()
  private tick = 0
  private running = 0
  private waiting = 0
  private closed = false

  constructor (options: FairQueueOptions) {
    this.options = options
  }

  /** Wait for a slot for `key`; rejects with a QueueRefusal when it cannot get one. */
  acquire (key: string, options: AcquireOptions = {}): Promise<Release> {
    if (this.closed) return Promise.reject(new QueueRefusal('closed', this.waiting))
    if (options.signal?.aborted === true) return Promise.reject(new QueueRefusal('cancelled', this.waiting))
    const state = this.stateOf(key)
    if (this.running < this.options.slots && state.running < this.options.perKeyRunning && state.waiting.length === 0) {
      this.options.onWait?.(0)
      return Promise.resolve(this.take(key, state))
    }
    if (state.waiting.length >= this.options.perKeyQueueLimit) return this.refuse('key_queue_full', key)
    if (this.waiting >= this.options.queueLimit) return this.refuse('queue_full', key)

    return new Promise<Release>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const stop = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
      }
      const leave = (reason: 'timeout' | 'cancelled'): void => {
        const index = state.waiting.indexOf(waiter)
        if (index === -1) return
        state.waiting.splice(index, 1)
        this.setWaiting(this.waiting - 1)
        this.forget(key, state)
        stop()
        reject(new QueueRefusal(reason, this.waiting))
      }
      const onAbort = (): void => leave('cancelled')
      const waiter: Waiter = {
        key,
        enqueuedAt: performance.now(),
        grant: release => {
          stop()
          resolve(release)
        },
        refuse: refusal => {
          stop()
          reject(refusal)
        }
      }
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => leave('timeout'), options.timeoutMs)
        timer.unref()
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      state.waiting.push(waiter)
      this.setWaiting(this.waiting + 1)
    })
  }

  /** Slots in use, jobs waiting and keys with work, for diagnostics and tests. */
  stats (): { running: number, waiting: number, keys: number } {
    return { running: this.running, waiting: this.waiting, keys: this.keys.size }
  }

  /** Refuse every waiting job (shutdown, or a pool that can no longer start workers). */
  refuseWaiting (reason: QueueRefusalReason = 'closed'): void {
    for (const [key, state] of this.keys) {
      for (const waiter of state.waiting.splice(0)) waiter.refuse(new QueueRefusal(reason, 0))
      this.forget(key, state)
    }
    this.setWaiting(0)
  }

  close (): void {
    this.closed = true
    this.refuseWaiting('closed')
  }

  private refuse (reason: 'queue_full' | 'key_queue_full', key: string): Promise<never> {
    this.forget(key, this.stateOf(key))
    this.options.onRefused?.(reason)
    return Promise.reject(new QueueRefusal(reason, this.waiting))
  }

  private stateOf (key: string): KeyState {
    let state = this.keys.get(key)
    if (state === undefined) {
      state = { running: 0, waiting: [], servedAt: -1 }
      this.keys.set(key, state)
    }
    return state
  }

  /** Drop a key that has nothing running or waiting, so the map holds active users only. */
  private forget (key: string, state: KeyState): void {
    if (state.running === 0 && state.waiting.length === 0) this.keys.delete(key)
  }

  private take (key: string, state: KeyState): Release {
    this.running++
    state.running++
    state.servedAt = this.tick++
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
      state.running--
      this.forget(key, state)
      this.dispatch()
    }
  }

  /** Hand free slots to waiting keys in turn. */
  private dispatch (): void {
    while (this.running < this.options.slots && this.waiting > 0) {
      const next = this.nextKey()
      if (next === undefined) return
      const [key, state] = next
      const waiter = state.waiting.shift()
      if (waiter === undefined) continue
      this.setWaiting(this.waiting - 1)
      this.options.onWait?.((performance.now() - waiter.enqueuedAt) / 1000)
      waiter.grant(this.take(key, state))
    }
  }

  /** Round-robin: of the keys that may take a slot, the one served longest ago (or never). */
  private nextKey (): [string, KeyState] | undefined {
    let next: [string, KeyState] | undefined
    for (const entry of this.keys) {
      const state = entry[1]
      if (state.waiting.length === 0 || state.running >= this.options.perKeyRunning) continue
      if (next === undefined || state.servedAt < next[1].servedAt) next = entry
    }
    return next
  }

  private setWaiting (waiting: number): void {
    this.waiting = waiting
    this.options.onDepth?.(waiting)
  }
}
