import { move } from 'piscina'
import type { TopLevelSpec } from 'vega-lite'
import { renderPng } from './png.ts'
// png.ts imports these on its first render; here they load as the thread starts (piscina loads
// this module before the thread takes work), so no render's time includes them, and a thread
// that replaces a stopped one is ready before the next render arrives.
import '@resvg/resvg-js'
import 'vega'
import 'vega-lite'

/**
 * The piscina worker of the render pool: one Vega-Lite spec → PNG per call, in a worker thread
 * with its own heap limit, so the Vega dataflow and SVG work never run on the event loop.
 */

/** One render as it crosses to the worker (structured clone). */
export interface RenderTask {
  spec: TopLevelSpec
  width: number
  height: number
}

/**
 * A render that failed in the worker (a spec Vega rejects, a bad size), sent back as data: a
 * rejection of piscina's `run` then always means the thread itself was ended (timeout, abort,
 * out of memory, crash), never a mistake in the chart.
 */
export interface RenderFailure {
  failure: { name: string, message: string, stack: string | undefined }
}

/** The PNG's bytes (their buffer moved, not copied), or why the render failed. */
export type RenderReply = Uint8Array | RenderFailure

export default async function renderInWorker (task: RenderTask): Promise<RenderReply> {
  try {
    const png = await renderPng(task.spec, { width: task.width, height: task.height })
    // resvg's Buffer wraps native memory, which cannot be transferred: one copy here, in the
    // worker, and the main thread gets the bytes without another (piscina unwraps the move).
    return move(new Uint8Array(png)) as Uint8Array
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err))
    return { failure: { name: error.name, message: error.message, stack: error.stack } }
  }
}
