import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { ToolError } from '../errors.ts'
import type { QueryResult, RunnerRequest, RunnerResponse } from './protocol.ts'

export interface RunnerPoolOptions {
  /** Module run in each child process. */
  runnerModule: string
  /** Maximum number of runner processes. */
  size: number
  /** Maximum number of queries waiting for a runner. */
  queueLimit: number
  /** V8 heap limit of each runner, in MiB: a query that needs more ends its runner, not the server. */
  memoryMb?: number
  /** Called when a runner process is ended before its query finished. */
  onRunnerEnded?: (reason: RunnerEndReason) => void
  /** Node executable for the runners (tests point it elsewhere to simulate spawn failures). */
  execPath?: string
}

export type RunnerEndReason = 'timeout' | 'cancelled' | 'crashed' | 'failed_to_start' | 'shutdown'

/** How long close() waits for killed runners to exit. */
const CLOSE_TIMEOUT_MS = 5000

export type RunnerTask = Omit<RunnerRequest, 'id'>

interface Job {
  task: RunnerTask
  deadline: number
  timeoutMs: number
  signal: AbortSignal | undefined
  resolve: (result: QueryResult) => void
  reject: (error: Error) => void
  /** Set once the job has settled, so late events (exit, abort) are ignored. */
  done: boolean
  /** Undo what waiting in the queue set up (its timer and abort listener). */
  stopWaiting: () => void
}

interface Runner {
  child: ChildProcess
  job: Job | undefined
  timer: NodeJS.Timeout | undefined
  abortListener: (() => void) | undefined
  endReason: RunnerEndReason | undefined
}

const timeoutError = (timeoutMs: number): ToolError => new ToolError(
  'query_timeout',
  `The query was stopped after ${Number((timeoutMs / 1000).toFixed(1))} s (its timeout).`,
  'Make the query cheaper (filter rows, aggregate, add a LIMIT) or pass a larger `timeout` (seconds).'
)

/**
 * A fixed-size pool of query runner processes. One query per runner at a time; extra
 * queries wait in a bounded queue. A query's timeout covers its wait and its run; when it
 * expires, or the caller aborts, the runner process is killed, which really stops SQLite,
 * and a fresh runner replaces it on demand.
 */
export class RunnerPool {
  private readonly options: RunnerPoolOptions
  private readonly runners = new Set<Runner>()
  private readonly queue: Job[] = []
  private nextId = 1
  private closed = false

  constructor (options: RunnerPoolOptions) {
    this.options = options
  }

  run (task: RunnerTask, timeoutMs: number, signal?: AbortSignal): Promise<QueryResult> {
    return new Promise<QueryResult>((resolve, reject) => {
      if (this.closed) {
        reject(new ToolError('database_unavailable', 'The server is shutting down; retry on another replica.'))
        return
      }
      const job: Job = { task, deadline: Date.now() + timeoutMs, timeoutMs, signal, resolve, reject, done: false, stopWaiting: () => {} }
      if (signal?.aborted === true) {
        reject(new ToolError('cancelled', 'The request was cancelled before the query started.'))
        return
      }
      const runner = this.idleRunner()
      if (runner !== undefined) {
        this.dispatch(runner, job)
        return
      }
      if (this.queue.length >= this.options.queueLimit) {
        reject(new ToolError('busy', `All ${this.options.size} query runners are busy and ${this.queue.length} queries are waiting.`, 'Retry in a few seconds.'))
        return
      }
      this.enqueue(job)
    })
  }

  /** Wait for a runner; the job expires, or is dropped on abort, while it waits. */
  private enqueue (job: Job): void {
    const leaveQueue = (error: ToolError): void => {
      const index = this.queue.indexOf(job)
      if (index === -1) return
      this.queue.splice(index, 1)
      this.settle(job, error)
    }
    const onAbort = (): void => leaveQueue(new ToolError('cancelled', 'The request was cancelled while the query was waiting for a runner.'))
    const waitTimer = setTimeout(() => leaveQueue(timeoutError(job.timeoutMs)), job.timeoutMs)
    waitTimer.unref()
    job.signal?.addEventListener('abort', onAbort, { once: true })
    job.stopWaiting = () => {
      clearTimeout(waitTimer)
      job.signal?.removeEventListener('abort', onAbort)
    }
    this.queue.push(job)
  }

  /** Current size, busy runners and queue length (for diagnostics and tests). */
  stats (): { runners: number, busy: number, queued: number } {
    let busy = 0
    for (const runner of this.runners) if (runner.job !== undefined) busy++
    return { runners: this.runners.size, busy, queued: this.queue.length }
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
    for (const job of this.queue.splice(0)) this.settle(job, new ToolError('database_unavailable', 'The server is shutting down; retry on another replica.'))
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
    const child = fork(this.options.runnerModule, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, ...memory],
      ...(this.options.execPath === undefined ? {} : { execPath: this.options.execPath })
    })
    const runner: Runner = { child, job: undefined, timer: undefined, abortListener: undefined, endReason: undefined }
    this.runners.add(runner)
    child.on('message', (response: RunnerResponse) => this.onResponse(runner, response))
    child.on('exit', () => this.onExit(runner))
    child.on('error', () => {
      // A process that never started sends 'error' and no 'exit'.
      if (child.pid === undefined) this.onSpawnFailure(runner)
    })
    return runner
  }

  /** No runner could be started (process limits, missing executable): fail fast instead of hanging. */
  private onSpawnFailure (runner: Runner): void {
    if (!this.runners.delete(runner)) return
    const error = (): ToolError => new ToolError('database_unavailable', 'No query runner could be started on this replica.', 'Retry in a moment; if it persists, the replica has hit a process or memory limit.')
    const job = runner.job
    this.release(runner)
    if (job !== undefined) {
      this.options.onRunnerEnded?.('failed_to_start')
      this.settle(job, error())
    }
    // Starting another runner would most likely fail the same way: fail the waiting queries too.
    for (const queued of this.queue.splice(0)) this.settle(queued, error())
  }

  private dispatch (runner: Runner, job: Job): void {
    const remaining = job.deadline - Date.now()
    if (remaining <= 0) {
      this.settle(job, timeoutError(job.timeoutMs))
      this.drain()
      return
    }
    runner.job = job
    runner.timer = setTimeout(() => this.end(runner, 'timeout'), remaining)
    runner.timer.unref()
    if (job.signal !== undefined) {
      runner.abortListener = () => this.end(runner, 'cancelled')
      job.signal.addEventListener('abort', runner.abortListener, { once: true })
    }
    const request: RunnerRequest = { id: this.nextId++, ...job.task }
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
    this.release(runner)
    if (response.ok) {
      job.done = true
      job.stopWaiting()
      job.resolve(response.result)
    } else {
      this.settle(job, new ToolError(response.error.kind, response.error.message))
    }
    this.drain()
  }

  /** Kill a runner mid-query; its 'exit' settles the job with the reason. */
  private end (runner: Runner, reason: RunnerEndReason): void {
    // A process that never started cannot be killed; its 'error' event settles the job.
    if (runner.endReason !== undefined || runner.child.pid === undefined) return
    runner.endReason = reason
    runner.child.kill('SIGKILL')
  }

  private onExit (runner: Runner): void {
    if (!this.runners.delete(runner)) return
    const job = runner.job
    const reason = runner.endReason ?? 'crashed'
    this.release(runner)
    if (job !== undefined && !job.done) {
      this.options.onRunnerEnded?.(reason)
      if (reason === 'timeout') this.settle(job, timeoutError(job.timeoutMs))
      else if (reason === 'cancelled') this.settle(job, new ToolError('cancelled', 'The request was cancelled; the query was stopped.'))
      else if (reason === 'shutdown') this.settle(job, new ToolError('database_unavailable', 'The server is shutting down; retry on another replica.'))
      else this.settle(job, new ToolError('database_unavailable', 'The query runner stopped unexpectedly while running this query.', 'Retry; if it happens again the query may need too much memory (its runner is limited by MCP_SQL_RUNNER_MEMORY_MB).'))
    }
    this.drain()
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
    job.stopWaiting()
    job.reject(error)
  }

  private drain (): void {
    while (!this.closed && this.queue.length > 0) {
      const runner = this.idleRunner()
      if (runner === undefined) return
      const job = this.queue.shift()
      if (job === undefined || job.done) continue
      job.stopWaiting()
      this.dispatch(runner, job)
    }
  }
}
