import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { FairQueue, QueueRefusal } from '../concurrency/fair-queue.ts'
import type { FairQueueOptions } from '../concurrency/fair-queue.ts'
import { ToolError } from '../errors.ts'
import { NO_OWNER, queueRefusalError, shuttingDown, timeoutError } from './query-errors.ts'
import type { QueryResult, RunnerRequest, RunnerResponse } from './protocol.ts'

export interface RunnerPoolOptions {
  /** Module run in each child process. */
  runnerModule: string
  /** Maximum number of runner processes. */
  size: number
  /** Maximum number of queries waiting for a runner, all users together. */
  queueLimit: number
  /** Queries one owner may run at once (default: size). */
  perOwnerRunning?: number
  /** Queries one owner may have waiting (default: queueLimit). */
  perOwnerQueueLimit?: number
  /**
   * Memory of each runner beyond its start-up size, in MiB: the V8 heap limit and, on Linux,
   * the runner's RLIMIT_DATA (which bounds SQLite's allocations, sorts and temp tables).
   */
  memoryMb?: number
  /** Called when a runner process is ended before its query finished. */
  onRunnerEnded?: (reason: RunnerEndReason) => void
  /** Queue depth, wait time and refusals (metrics). */
  queueHooks?: Pick<FairQueueOptions, 'onDepth' | 'onWait' | 'onRefused'>
  /** Node executable for the runners (tests point it elsewhere to simulate spawn failures). */
  execPath?: string
}

export type RunnerEndReason = 'timeout' | 'cancelled' | 'crashed' | 'out_of_memory' | 'failed_to_start' | 'shutdown'

/** How long close() waits for killed runners to exit. */
const CLOSE_TIMEOUT_MS = 5000
/** How V8 ends a process that runs out of memory (abort, or a trap in some builds). */
const OUT_OF_MEMORY_SIGNALS = new Set(['SIGABRT', 'SIGTRAP'])

export type RunnerTask = Omit<RunnerRequest, 'id'>

interface Job {
  resolve: (result: QueryResult) => void
  reject: (error: Error) => void
  timeoutMs: number
  signal: AbortSignal | undefined
  /** Set once the job has settled, so late events (exit, abort) are ignored. */
  done: boolean
}

interface Runner {
  child: ChildProcess
  job: Job | undefined
  timer: NodeJS.Timeout | undefined
  abortListener: (() => void) | undefined
  endReason: RunnerEndReason | undefined
  /** An answer held until the runner has exited (it is replaced after running out of memory). */
  lastWords: RunnerResponse | undefined
}

const noRunner = (): ToolError => new ToolError('database_unavailable', 'No query runner could be started on this replica.', 'Retry in a moment; if it persists, the replica has hit a process or memory limit.')

/**
 * A fixed-size pool of query runner processes. One query per runner at a time; queries wait
 * for a runner in per-owner queues that take turns (FairQueue), so one user's flood cannot
 * hold back another user's query for longer than one query takes. A query's timeout covers
 * its wait and its run; when it expires, or the caller aborts, the runner process is killed,
 * which really stops SQLite, and a fresh runner replaces it on demand.
 */
export class RunnerPool {
  private readonly options: RunnerPoolOptions
  private readonly runners = new Set<Runner>()
  private readonly slots: FairQueue
  private nextId = 1
  private closed = false

  constructor (options: RunnerPoolOptions) {
    this.options = options
    this.slots = new FairQueue({
      slots: options.size,
      perKeyRunning: options.perOwnerRunning ?? options.size,
      queueLimit: options.queueLimit,
      perKeyQueueLimit: options.perOwnerQueueLimit ?? options.queueLimit,
      ...options.queueHooks
    })
  }

  async run (task: RunnerTask, timeoutMs: number, signal?: AbortSignal, owner: string = NO_OWNER): Promise<QueryResult> {
    if (this.closed) throw shuttingDown()
    const started = Date.now()
    let release: () => void
    try {
      release = await this.slots.acquire(owner, { signal, timeoutMs })
    } catch (err) {
      throw err instanceof QueueRefusal
        ? queueRefusalError(err, timeoutMs, { slot: 'a query runner', slots: `${this.options.size} query runners`, perOwnerQueueLimit: this.options.perOwnerQueueLimit ?? this.options.queueLimit, unavailable: noRunner })
        : err
    }
    try {
      const remaining = timeoutMs - (Date.now() - started)
      if (remaining <= 0) throw timeoutError(timeoutMs)
      if (signal?.aborted === true) throw new ToolError('cancelled', 'The request was cancelled before the query started.')
      // A slot means a runner: runners never outnumber slots, and a slot is given back only
      // once its runner is idle again or has exited.
      const runner = this.idleRunner()
      if (runner === undefined) throw noRunner()
      return await new Promise<QueryResult>((resolve, reject) => {
        this.dispatch(runner, { resolve, reject, timeoutMs, signal, done: false }, task, remaining)
      })
    } finally {
      release()
    }
  }

  /** Current size, busy runners and queue length (for diagnostics and tests). */
  stats (): { runners: number, busy: number, queued: number } {
    let busyRunners = 0
    for (const runner of this.runners) if (runner.job !== undefined) busyRunners++
    return { runners: this.runners.size, busy: busyRunners, queued: this.slots.stats().waiting }
  }

  /** Process ids of the live runners (for tests that check a timed-out query's process is gone). */
  pids (): number[] {
    return [...this.runners].map(runner => runner.child.pid).filter((pid): pid is number => pid !== undefined)
  }

  /** Process ids of the runners that are running a query now. */
  busyPids (): number[] {
    return [...this.runners].filter(runner => runner.job !== undefined).map(runner => runner.child.pid).filter((pid): pid is number => pid !== undefined)
  }

  async close (): Promise<void> {
    this.closed = true
    this.slots.close()
    const exits = [...this.runners].map(runner => new Promise<void>(resolve => {
      if (runner.child.exitCode !== null || runner.child.signalCode !== null || runner.child.pid === undefined) {
        resolve()
        return
      }
      runner.child.once('exit', () => resolve())
      this.end(runner, 'shutdown')
    }))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>(resolve => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)
      timer.unref()
    })
    await Promise.race([Promise.all(exits), timeout])
    clearTimeout(timer)
  }

  private idleRunner (): Runner | undefined {
    for (const runner of this.runners) if (runner.job === undefined && runner.endReason === undefined) return runner
    return this.runners.size < this.options.size ? this.spawn() : undefined
  }

  private spawn (): Runner {
    const memory = this.options.memoryMb === undefined ? [] : [`--max-old-space-size=${this.options.memoryMb}`]
    const child = fork(this.options.runnerModule, this.options.memoryMb === undefined ? [] : [`--memory-mb=${this.options.memoryMb}`], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, ...memory],
      ...(this.options.execPath === undefined ? {} : { execPath: this.options.execPath })
    })
    const runner: Runner = { child, job: undefined, timer: undefined, abortListener: undefined, endReason: undefined, lastWords: undefined }
    this.runners.add(runner)
    child.on('message', (response: RunnerResponse) => this.onResponse(runner, response))
    child.on('exit', (code, signal) => this.onExit(runner, code, signal))
    child.on('error', () => {
      // A process that never started sends 'error' and no 'exit'.
      if (child.pid === undefined) this.onSpawnFailure(runner)
    })
    return runner
  }

  /** No runner could be started (process limits, missing executable): fail fast instead of hanging. */
  private onSpawnFailure (runner: Runner): void {
    if (!this.runners.delete(runner)) return
    const job = runner.job
    this.release(runner)
    if (job !== undefined) {
      this.options.onRunnerEnded?.('failed_to_start')
      this.settle(job, noRunner())
    }
    // Starting another runner would most likely fail the same way: fail the waiting queries too.
    this.slots.refuseWaiting('unavailable')
  }

  private dispatch (runner: Runner, job: Job, task: RunnerTask, remainingMs: number): void {
    runner.job = job
    runner.timer = setTimeout(() => this.end(runner, 'timeout'), remainingMs)
    runner.timer.unref()
    if (job.signal !== undefined) {
      runner.abortListener = () => this.end(runner, 'cancelled')
      job.signal.addEventListener('abort', runner.abortListener, { once: true })
    }
    const request: RunnerRequest = { id: this.nextId++, ...task }
    try {
      runner.child.send(request, error => {
        if (error !== null) this.end(runner, 'crashed')
      })
    } catch {
      this.end(runner, 'crashed')
    }
  }

  private onResponse (runner: Runner, response: RunnerResponse): void {
    const job = runner.job
    if (job === undefined || runner.endReason !== undefined) return
    if (!response.ok && response.error.kind === 'resource_limit') {
      // SQLite ran out of memory: answer once this runner is gone, so its slot gets a fresh one.
      runner.lastWords = response
      this.end(runner, 'out_of_memory')
      return
    }
    this.release(runner)
    if (response.ok) {
      job.done = true
      job.resolve(response.result)
    } else {
      this.settle(job, new ToolError(response.error.kind, response.error.message))
    }
  }

  /** Kill a runner mid-query; its 'exit' settles the job with the reason. */
  private end (runner: Runner, reason: RunnerEndReason): void {
    // A process that never started cannot be killed; its 'error' event settles the job.
    if (runner.endReason !== undefined || runner.child.pid === undefined) return
    runner.endReason = reason
    runner.child.kill('SIGKILL')
  }

  private onExit (runner: Runner, code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.runners.delete(runner)) return
    const job = runner.job
    // A runner that dies on its own while running a query has, in practice, run out of memory.
    const outOfMemory = runner.endReason === undefined && (OUT_OF_MEMORY_SIGNALS.has(signal ?? '') || code === 134)
    const reason = runner.endReason ?? (outOfMemory ? 'out_of_memory' : 'crashed')
    const lastWords = runner.lastWords
    this.release(runner)
    if (job === undefined || job.done) return
    this.options.onRunnerEnded?.(reason)
    if (lastWords !== undefined && !lastWords.ok) this.settle(job, new ToolError(lastWords.error.kind, lastWords.error.message))
    else if (reason === 'timeout') this.settle(job, timeoutError(job.timeoutMs))
    else if (reason === 'cancelled') this.settle(job, new ToolError('cancelled', 'The request was cancelled; the query was stopped.'))
    else if (reason === 'shutdown') this.settle(job, shuttingDown())
    else if (reason === 'out_of_memory') this.settle(job, this.outOfMemoryError())
    else this.settle(job, new ToolError('database_unavailable', 'The query runner stopped unexpectedly while running this query.', 'Retry; if it happens again, simplify the query.'))
  }

  private outOfMemoryError (): ToolError {
    const limit = this.options.memoryMb === undefined ? '' : ` (${this.options.memoryMb} MiB, MCP_SQL_RUNNER_MEMORY_MB)`
    return new ToolError('resource_limit', `The query needed more memory than a query runner may use${limit}; it was stopped.`, 'Filter or aggregate before sorting or joining, select fewer or smaller columns, or add a LIMIT.')
  }

  private release (runner: Runner): void {
    if (runner.timer !== undefined) clearTimeout(runner.timer)
    if (runner.abortListener !== undefined) runner.job?.signal?.removeEventListener('abort', runner.abortListener)
    runner.timer = undefined
    runner.abortListener = undefined
    runner.job = undefined
  }

  private settle (job: Job, error: Error): void {
    if (job.done) return
    job.done = true
    job.reject(error)
  }
}
