import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** Routes that shed load; probes, /metrics and pages keep answering so the lag stays visible. */
const SHED_ROUTES = new Set(['/mcp'])
/** How long a shed client is asked to wait: about one sample of the event-loop delay. */
const RETRY_AFTER_SECONDS = 2
/**
 * How often the event-loop delay is sampled (under-pressure's mean over the interval). A loop
 * blocked for a whole interval has no sample at all, which under-pressure counts as infinite
 * lag: one second keeps that for real stalls.
 */
const SAMPLE_INTERVAL_MS = 1000

/**
 * Load shedding: while the event loop lags past MCP_EVENT_LOOP_MAX_DELAY_MS (mean delay over
 * the last sample), new /mcp requests get 503 with Retry-After at once, instead of queueing
 * behind the lag and timing out in the client. /readyz reports the lag (not as unready: a
 * replica that sheds recovers by itself, and taking every busy pod out at once would flap).
 */
async function loadSheddingPlugin (app: FastifyInstance): Promise<void> {
  const { config, metrics } = app
  const maxDelay = config.MCP_EVENT_LOOP_MAX_DELAY_MS
  if (maxDelay === 0) return
  await app.register(underPressure, {
    maxEventLoopDelay: maxDelay,
    sampleInterval: SAMPLE_INTERVAL_MS,
    // Returning nothing lets other routes go on; a sent reply ends /mcp requests here.
    pressureHandler: function shed (request: FastifyRequest, reply: FastifyReply, _type: string, value: number | undefined): void {
      if (!SHED_ROUTES.has(request.routeOptions.url ?? '')) return
      metrics.loadShed()
      request.log.warn({ event_loop_delay_ms: Math.round(value ?? 0) }, 'load shed: the event loop lags')
      reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).type('application/json; charset=utf-8').send({
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32000,
          message: `Server overloaded: this replica's event loop lags more than ${maxDelay} ms. Retry in ${RETRY_AFTER_SECONDS} s.`,
          data: { retry_after_seconds: RETRY_AFTER_SECONDS }
        }
      })
    }
  })
  app.registerReadinessCheck('event_loop', () => {
    if (app.isUnderPressure()) throw new Error(`the event loop lags more than ${maxDelay} ms`)
  }, { critical: false })
}

export default fp(loadSheddingPlugin, { name: 'load-shedding', fastify: '5.x', dependencies: ['config', 'metrics', 'health'] })
