import { busy, ToolError } from '../errors.ts'
import type { QueueRefusal } from '../concurrency/fair-queue.ts'

/** The errors every SQL engine's pool answers with, in one wording. */

/** Queries without an owner (introspection, tests) share one queue. */
export const NO_OWNER = '(none)'
/** What a busy refusal suggests as the wait before retrying. */
const BUSY_RETRY_SECONDS = 2

export const timeoutError = (timeoutMs: number): ToolError => new ToolError(
  'query_timeout',
  `The query was stopped after ${Number((timeoutMs / 1000).toFixed(1))} s (its timeout).`,
  'Make the query cheaper (filter rows, aggregate, add a LIMIT) or pass a larger `timeout` (seconds).'
)

export const cancelledError = (): ToolError => new ToolError('cancelled', 'The request was cancelled; the query was stopped.')

export const shuttingDown = (): ToolError => new ToolError('database_unavailable', 'The server is shutting down; retry on another replica.')

export interface QueueDescription {
  /** What a query waits for: "a query runner", "a connection to this database". */
  slot: string
  /** The slots in all, as the busy message counts them: "2 query runners", "4 connections to this database". */
  slots: string
  perOwnerQueueLimit: number
  /** The answer when no slot can be had at all (no runner starts); default: shutting down. */
  unavailable?: () => ToolError
}

/** A fair-queue refusal as the tool error its caller gets. */
export function queueRefusalError (refusal: QueueRefusal, timeoutMs: number, queue: QueueDescription): ToolError {
  switch (refusal.reason) {
    case 'key_queue_full':
      return busy(`You already have ${queue.perOwnerQueueLimit} queries waiting for ${queue.slot} on this replica (MCP_SQL_USER_QUEUE_LIMIT).`, BUSY_RETRY_SECONDS, 'Wait for your earlier queries to finish, then retry.')
    case 'queue_full':
      return busy(`All ${queue.slots} are busy and ${refusal.waiting} queries are waiting.`, BUSY_RETRY_SECONDS, 'Retry in a few seconds.')
    case 'timeout':
      return timeoutError(timeoutMs)
    case 'cancelled':
      return new ToolError('cancelled', `The request was cancelled while the query was waiting for ${queue.slot}.`)
    case 'unavailable':
      return (queue.unavailable ?? shuttingDown)()
    case 'closed':
      return shuttingDown()
  }
}
