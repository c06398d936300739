import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import type { TopLevelSpec } from 'vega-lite'
import { FairQueue, QueueRefusal } from '../concurrency/fair-queue.ts'
import type { FairQueueOptions, QueueRefusalReason } from '../concurrency/fair-queue.ts'
import { busy, ToolError } from '../errors.ts'
import type { RenderOutcome } from '../plugins/metrics.ts'
import type { RenderReply, RenderTask } from './render-worker.ts'

// .ts under type stripping (dev, tests), .js from dist/ when installed.
const WORKER_MODULE = fileURLToPath(new URL(`render-worker${path.extname(import.meta.url)}`, import.meta.url))

/** How long close() waits for the threads to end. */
const CLOSE_TIMEOUT_MS = 5000

export interface RenderPoolOptions {
  /** Worker threads, and renders running at once (MCP_RENDER_WORKERS). */
  workers: number
  /** Renders one user may run at once (MCP_RENDER_USER_CONCURRENCY). */
  perUserRunning: number
  /** Renders that may wait for a thread, all users together (MCP_RENDER_QUEUE_LIMIT). */
  queueLimit: number
  /** Renders one user may have waiting (MCP_RENDER_USER_QUEUE_LIMIT). */
  perUserQueueLimit: number
  /** Seconds a render may wait and run (MCP_RENDER_TIMEOUT). */
  timeoutSeconds: number
  /** Heap limit of each worker thread, in MiB (MCP_RENDER_MEMORY_MB). */
  memoryMb: number
  /** Queue depth, wait and refusal observers (metrics). */
  queueHooks?: Pick<FairQueueOptions, 'onDepth' | 'onWait' | 'onRefused'>
  /** Called once per render that was asked for, with its outcome and seconds (wait + run). */
  onRender?: (outcome: RenderOutcome, seconds: number) => void
  /** An error of a worker thread that had no render to fail (it is replaced). */
  onWorkerError?: (err: Error) => void
}

export interface RenderOptions {
  /** Pixels, 100..4000 each. */
  width: number
  height: number
  /** Whose render this is (the principal's user id): users take turns for the threads. */
  key: string
  /** The caller went away: stop waiting, or end the render's thread. */
  signal?: AbortSignal | undefined
}

function withoutNodeOptions (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _nodeOptions, ...rest } = env
  return rest
}

/** A render that failed inside the worker: the same name, message and stack as it had there. */
function failureOf (reply: Exclude<RenderReply, Uint8Array>): Error {
  const error = new Error(reply.failure.message)
  error.name = reply.failure.name
  if (reply.failure.stack !== undefined) error.stack = reply.failure.stack
  return error
}

/**
 * Chart images rendered in worker threads (piscina), so a big chart never stalls the event
 * loop. In front of the threads, a fair queue: each user has their own queue and share of
 * the threads, and a render reaches piscina only once it holds a thread, so piscina's own
 * queue stays empty. MCP_RENDER_TIMEOUT covers the wait and the run; a render past it, or
 * whose caller went away, is stopped by ending its thread, and piscina starts a fresh one.
 *
 * The threads start with the first render, all of them, and then stay: a replica that never
 * draws a PNG pays nothing for them, and one that does pays the thread start and the Vega
 * import (~0.5 s each) once per thread, not per render.
 */
export class RenderPool {
  private readonly options: RenderPoolOptions
  private readonly queue: FairQueue
  private threads: Piscina<RenderTask, RenderReply> | undefined
  /** Why a pool's threads could not start, for the renders it then failed. */
  private readonly startFailures = new WeakMap<Piscina<RenderTask, RenderReply>, Error>()
  private closed = false
  /** Recent seconds per render (moving average), to suggest when a refused caller should retry. */
  private averageRunSeconds = 1

  constructor (options: RenderPoolOptions) {
    this.options = options
    this.queue = new FairQueue({
      slots: options.workers,
      perKeyRunning: options.perUserRunning,
      queueLimit: options.queueLimit,
      perKeyQueueLimit: options.perUserQueueLimit,
      ...options.queueHooks
    })
  }

  /** A Vega-Lite spec as PNG bytes; throws a ToolError when the render was refused or stopped. */
  async render (spec: TopLevelSpec, options: RenderOptions): Promise<Buffer> {
    const started = performance.now()
    const record = (outcome: RenderOutcome): void => this.options.onRender?.(outcome, (performance.now() - started) / 1000)
    const deadline = AbortSignal.timeout(this.options.timeoutSeconds * 1000)
    const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal])

    let release: () => void
    try {
      release = await this.queue.acquire(options.key, { signal })
    } catch (err) {
      const reason = err instanceof QueueRefusal ? err.reason : 'closed'
      if (reason === 'queue_full' || reason === 'key_queue_full') record('busy')
      else if (deadline.aborted) record('timeout')
      throw this.refusalError(reason, deadline.aborted)
    }

    const running = performance.now()
    let reply: RenderReply
    let threads: Piscina<RenderTask, RenderReply> | undefined
    try {
      threads = this.pool()
      reply = await threads.run({ spec, width: options.width, height: options.height }, { signal })
    } catch (err) {
      throw this.stoppedError((threads === undefined ? undefined : this.startFailures.get(threads)) ?? err, deadline, options.signal, record)
    } finally {
      release()
    }
    if (!(reply instanceof Uint8Array)) {
      // A spec Vega rejects fails as it did on the main thread: the tool wrapper logs it.
      record('error')
      throw failureOf(reply)
    }
    this.averageRunSeconds = 0.8 * this.averageRunSeconds + 0.2 * (performance.now() - running) / 1000
    record('success')
    return Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength)
  }

  /** Renders running and waiting, threads (0 until the first render), and those started and free. */
  stats (): { running: number, waiting: number, threads: number, idle: number } {
    const { running, waiting } = this.queue.stats()
    return { running, waiting, threads: this.threads?.threads.length ?? 0, idle: this.threads?.idleThreads ?? 0 }
  }

  /** Refuse waiting renders and end the threads (a running render fails as shutting down). */
  async close (): Promise<void> {
    this.closed = true
    this.queue.close()
    if (this.threads === undefined) return
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>(resolve => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)
      timer.unref()
    })
    // A thread deep in native code (resvg) ends only when that call returns: do not wait forever.
    await Promise.race([this.threads.destroy(), timeout])
    clearTimeout(timer)
  }

  private pool (): Piscina<RenderTask, RenderReply> {
    // A render granted its slot just before close() must not start threads again.
    if (this.closed) throw new Error('the render pool is closed')
    if (this.threads !== undefined) return this.threads
    const { workers, memoryMb } = this.options
    const threads = new Piscina<RenderTask, RenderReply>({
      filename: WORKER_MODULE,
      minThreads: workers,
      maxThreads: workers,
      // A thread runs one pure computation: none of the parent's --import hooks (APM agents,
      // test loaders), from its command line or NODE_OPTIONS, which would take a share of the
      // heap limit (under tap's hooks a 32 MiB thread cannot draw a bar chart).
      execArgv: [],
      env: withoutNodeOptions(process.env),
      resourceLimits: { maxOldGenerationSizeMb: memoryMb }
    })
    // Emitted for a thread that failed with no render to fail: it broke while idle, or could not
    // start. Without a listener, the error would be thrown on the event loop.
    threads.on('error', (err: Error) => {
      this.options.onWorkerError?.(err)
      if (threads.threads.length > 0 || this.threads !== threads) return
      // No thread left, and piscina starts no more after one fails to start (too little memory
      // to load Vega, a broken install): fail the renders it holds now, not at their timeout,
      // and let the next render try a fresh pool.
      this.threads = undefined
      this.startFailures.set(threads, err)
      threads.destroy().catch((destroyError: unknown) => this.options.onWorkerError?.(destroyError as Error))
    })
    this.threads = threads
    return threads
  }

  /** Seconds until a slot is likely free: the renders ahead of the caller, shared by the threads. */
  private retryAfterSeconds (): number {
    const ahead = this.queue.stats().waiting + 1
    return Math.min(this.options.timeoutSeconds, Math.max(1, Math.ceil(ahead * this.averageRunSeconds / this.options.workers)))
  }

  private refusalError (reason: QueueRefusalReason, timedOut: boolean): ToolError {
    switch (reason) {
      case 'queue_full':
        return busy(`All ${this.options.workers} chart render workers are busy and the render queue is full (MCP_RENDER_QUEUE_LIMIT = ${this.options.queueLimit}).`, this.retryAfterSeconds())
      case 'key_queue_full': {
        const retry = this.retryAfterSeconds()
        return busy(`Your render queue is full: ${this.options.perUserQueueLimit} of your chart images are already waiting (MCP_RENDER_USER_QUEUE_LIMIT).`, retry, `Retry in ${retry} s, when your earlier renders have finished, or ask for fewer PNG previews at once.`)
      }
      case 'timeout':
      case 'cancelled':
        return timedOut ? this.timeoutError() : new ToolError('cancelled', 'The request was cancelled while the chart image was waiting for a render worker.')
      case 'closed':
      case 'unavailable':
        return busy('The server is shutting down and renders no more chart images; retry on another replica.', 1)
    }
  }

  /** Why piscina's run rejected: the deadline, the caller, or the thread died (out of memory, crash). */
  private stoppedError (err: unknown, deadline: AbortSignal, caller: AbortSignal | undefined, record: (outcome: RenderOutcome) => void): Error {
    if (deadline.aborted) {
      record('timeout')
      return this.timeoutError()
    }
    if (caller?.aborted === true) return new ToolError('cancelled', 'The request was cancelled; the chart image render was stopped.')
    if (this.closed) return busy('The server is shutting down; the chart image render was stopped. Retry on another replica.', 1)
    record('crashed')
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return new ToolError(
        'resource_limit',
        `The chart image needed more memory than a render worker may use (MCP_RENDER_MEMORY_MB = ${this.options.memoryMb} MiB); the render was stopped.`,
        'Draw fewer points (a lower row_limit, a coarser time_grain, fewer group_by values) or ask for a smaller width and height.'
      )
    }
    // A thread that exited for another reason: the tool wrapper logs it as an internal error.
    return err instanceof Error ? err : new Error(String(err))
  }

  private timeoutError (): ToolError {
    return new ToolError(
      'query_timeout',
      `The chart image was not rendered within ${this.options.timeoutSeconds} s (MCP_RENDER_TIMEOUT, waiting and rendering together); the render was stopped.`,
      'Draw fewer points (a lower row_limit, a coarser time_grain, fewer group_by values) or a smaller image, or retry when the server is less busy.'
    )
  }
}
