import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { EventLoopUtilization } from 'node:perf_hooks'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { FairQueueOptions } from '../concurrency/fair-queue.ts'
import type { QueryObservation } from '../engines/engines.ts'
import type { RunnerEndReason } from '../engines/runner-pool.ts'
import type { CallOutcome, ToolCallHooks } from '../mcp/toolset.ts'

/** JSON-RPC methods counted by name; anything else is counted as "other" to bound the label. */
const KNOWN_MCP_METHODS = new Set([
  'initialize', 'notifications/initialized', 'notifications/cancelled', 'ping', 'server/discover',
  'tools/list', 'tools/call', 'resources/list', 'resources/read', 'resources/templates/list',
  'prompts/list', 'prompts/get', 'logging/setLevel', 'subscriptions/listen', 'completion/complete'
])

export interface ServiceMetrics {
  registry: Registry
  /** Record one finished HTTP request. */
  httpRequest: (labels: { method: string, route: string, status_code: string }, seconds: number) => void
  /** Count one POST /mcp message. */
  mcpRequest: (method: unknown, era: 'legacy' | 'modern') => void
  /** Pre-create the tool series so dashboards and alerts see zeros, not gaps. */
  registerTools: (names: readonly string[]) => void
  toolHooks: ToolCallHooks
  onQuery: (observation: QueryObservation) => void
  onRunnerEnded: (reason: RunnerEndReason) => void
  /** Count one authentication attempt by credential kind and outcome. */
  authAttempt: (method: string, outcome: 'success' | 'rejected' | 'insufficient_scope') => void
  jwksFetch: (outcome: 'ok' | 'not_found' | 'failed') => void
  /** Redis connection state (1 up, 0 down) and failed operations by kind. */
  redisUp: (up: boolean) => void
  redisError: (operation: RedisOperation) => void
  /** Response cache lookups by tool and result. */
  cacheLookup: (tool: string, result: CacheResult) => void
  /** Size guard actions by tool: warned (over the warning threshold), truncated, refused. */
  sizeGuard: (tool: string, action: 'warned' | 'truncated' | 'refused') => void
  /** Requests and tool calls refused by a rate limit. */
  rateLimited: (scope: 'principal' | 'tool', tool?: string) => void
  /** Queue depth, wait time and refusals of a fair work queue (SQL runners, chart renders). */
  workQueue: (pool: WorkPool) => Pick<FairQueueOptions, 'onDepth' | 'onWait' | 'onRefused'>
  /** One chart render in a worker thread, by outcome. */
  render: (outcome: RenderOutcome, seconds: number) => void
  /** One /mcp request answered 503 because the event loop lagged (load shedding). */
  loadShed: () => void
  /** One request refused because its client address failed authentication too often. */
  authThrottled: () => void
}

export type WorkPool = 'sql' | 'render'
export type RenderOutcome = 'success' | 'error' | 'timeout' | 'busy' | 'crashed'

/** Redis operations whose failures are counted (the request goes on without them). */
export type RedisOperation = 'connection' | 'cache_get' | 'cache_set' | 'rate_limit' | 'publish' | 'subscribe' | 'audit'
export type CacheResult = 'hit' | 'miss' | 'bypass' | 'uncacheable'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServiceMetrics
    /** The listener of GET /metrics on MCP_METRICS_PORT (listening from `app.ready()` until `app.close()`); null when /metrics is on the main port. */
    metricsServer: Server | null
  }
}

const TOOL_OUTCOMES: readonly CallOutcome[] = ['success', 'tool_error', 'error']

export function createServiceMetrics (): ServiceMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const httpRequests = new Counter({ name: 'http_requests_total', help: 'HTTP requests by method, route and status code', labelNames: ['method', 'route', 'status_code'], registers: [registry] })
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry]
  })
  const mcpRequests = new Counter({ name: 'mcp_requests_total', help: 'MCP JSON-RPC messages by method and protocol era', labelNames: ['method', 'era'], registers: [registry] })
  const toolCalls = new Counter({ name: 'mcp_tool_calls_total', help: 'Tool calls by tool and outcome (success, tool_error, error)', labelNames: ['tool', 'outcome'], registers: [registry] })
  const toolDuration = new Histogram({
    name: 'mcp_tool_call_duration_seconds',
    help: 'Tool call duration by tool and outcome',
    labelNames: ['tool', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry]
  })
  const toolsInFlight = new Gauge({ name: 'mcp_tool_calls_in_flight', help: 'Tool calls currently running, by tool', labelNames: ['tool'], registers: [registry] })
  const sqlDuration = new Histogram({
    name: 'sql_query_duration_seconds',
    help: 'SQL query duration by backend and outcome (success, error, timeout, cancelled, refused)',
    labelNames: ['backend', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [registry]
  })
  const sqlRows = new Histogram({
    name: 'sql_rows_returned',
    help: 'Rows returned per successful SQL query, by backend',
    labelNames: ['backend'],
    buckets: [0, 1, 10, 100, 1000, 10_000, 100_000],
    registers: [registry]
  })
  const authAttempts = new Counter({ name: 'mcp_auth_attempts_total', help: 'Authentication attempts by credential kind (jwt, api_key, exchanged_token, oauth, custom, dev, none; token_exchange and oauth_token for the token endpoints) and outcome', labelNames: ['method', 'outcome'], registers: [registry] })
  const jwksFetches = new Counter({ name: 'mcp_jwks_fetches_total', help: 'JWKS fetches by outcome (ok, not_found, failed)', labelNames: ['outcome'], registers: [registry] })
  const redisUp = new Gauge({ name: 'mcp_redis_up', help: 'Whether the Redis connection is up (1) or not (0); absent without Redis', registers: [registry] })
  const redisErrors = new Counter({ name: 'mcp_redis_errors_total', help: 'Redis failures by operation (connection, cache_get, cache_set, rate_limit, publish, subscribe, audit); requests go on without Redis', labelNames: ['operation'], registers: [registry] })
  const cacheLookups = new Counter({ name: 'mcp_cache_requests_total', help: 'Response cache lookups by tool and result (hit, miss, bypass: use_cache/force_refresh, uncacheable: not stored)', labelNames: ['tool', 'result'], registers: [registry] })
  const sizeGuardActions = new Counter({ name: 'mcp_response_size_guard_total', help: 'Size guard actions by tool (warned: over the warning threshold, truncated, refused: too large)', labelNames: ['tool', 'action'], registers: [registry] })
  const rateLimitRefusals = new Counter({ name: 'mcp_rate_limited_total', help: 'Requests refused by a rate limit, by scope (principal, tool) and tool', labelNames: ['scope', 'tool'], registers: [registry] })
  const runnerRestarts = new Counter({ name: 'sql_runner_restarts_total', help: 'Query runner processes ended mid-query, by reason (timeout, cancelled, crashed)', labelNames: ['reason'], registers: [registry] })

  const queueDepth = new Gauge({ name: 'mcp_work_queue_depth', help: 'Jobs waiting for a slot, by pool (sql: query runners, render: chart render threads)', labelNames: ['pool'], registers: [registry] })
  const queueWait = new Histogram({
    name: 'mcp_work_queue_wait_seconds',
    help: 'Time a job waited for a slot (per-user fair queue), by pool',
    labelNames: ['pool'],
    buckets: [0, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry]
  })
  const queueRefusals = new Counter({ name: 'mcp_work_queue_refused_total', help: 'Jobs refused a place in a queue, by pool and reason (queue_full, key_queue_full: one user\'s queue is full)', labelNames: ['pool', 'reason'], registers: [registry] })
  const renders = new Histogram({
    name: 'chart_render_duration_seconds',
    help: 'Chart image renders in worker threads, by outcome (success, error, timeout, busy, crashed)',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry]
  })
  const shed = new Counter({ name: 'mcp_load_shed_total', help: '/mcp requests answered 503 because the event loop lagged past MCP_EVENT_LOOP_MAX_DELAY_MS', registers: [registry] })
  const throttled = new Counter({ name: 'mcp_auth_throttled_total', help: 'Requests refused (429) because their client address failed authentication more than MCP_AUTH_FAILURE_LIMIT allows', registers: [registry] })
  // Event-loop utilisation (busy share of wall time) between two scrapes; prom-client has lag, not this.
  let lastUtilization: EventLoopUtilization = performance.eventLoopUtilization()
  new Gauge({
    name: 'nodejs_eventloop_utilization_ratio',
    help: 'Share of time the event loop was busy since the previous scrape (0..1)',
    registers: [registry],
    collect () {
      const now = performance.eventLoopUtilization()
      this.set(performance.eventLoopUtilization(now, lastUtilization).utilization)
      lastUtilization = now
    }
  })
  for (const pool of ['sql', 'render'] as const) queueDepth.set({ pool }, 0)

  return {
    registry,
    httpRequest (labels, seconds) {
      httpRequests.inc(labels)
      httpDuration.observe(labels, seconds)
    },
    mcpRequest (method, era) {
      const name = typeof method === 'string' && KNOWN_MCP_METHODS.has(method) ? method : 'other'
      mcpRequests.inc({ method: name, era })
    },
    registerTools (names) {
      for (const tool of names) {
        toolsInFlight.set({ tool }, 0)
        for (const outcome of TOOL_OUTCOMES) toolCalls.inc({ tool, outcome }, 0)
      }
    },
    toolHooks: {
      cacheLookup: (tool, result) => cacheLookups.inc({ tool, result }),
      started: tool => toolsInFlight.inc({ tool }),
      finished: (tool, outcome, seconds) => {
        toolsInFlight.dec({ tool })
        toolCalls.inc({ tool, outcome })
        toolDuration.observe({ tool, outcome }, seconds)
      }
    },
    onQuery ({ backend, outcome, durationSeconds, rows }) {
      sqlDuration.observe({ backend, outcome }, durationSeconds)
      if (outcome === 'success') sqlRows.observe({ backend }, rows)
    },
    onRunnerEnded: reason => runnerRestarts.inc({ reason }),
    authAttempt: (method, outcome) => authAttempts.inc({ method, outcome }),
    jwksFetch: outcome => jwksFetches.inc({ outcome }),
    redisUp: up => redisUp.set(up ? 1 : 0),
    redisError: operation => redisErrors.inc({ operation }),
    cacheLookup: (tool, result) => cacheLookups.inc({ tool, result }),
    sizeGuard: (tool, action) => sizeGuardActions.inc({ tool, action }),
    rateLimited: (scope, tool) => rateLimitRefusals.inc({ scope, tool: tool ?? '' }),
    workQueue: pool => ({
      onDepth: waiting => queueDepth.set({ pool }, waiting),
      onWait: seconds => queueWait.observe({ pool }, seconds),
      onRefused: reason => queueRefusals.inc({ pool, reason })
    }),
    render: (outcome, seconds) => renders.observe({ outcome }, seconds),
    loadShed: () => shed.inc(),
    authThrottled: () => throttled.inc()
  }
}

async function metricsPlugin (app: FastifyInstance): Promise<void> {
  const metrics = createServiceMetrics()
  app.decorate('metrics', metrics)

  app.addHook('onResponse', async function recordHttpMetrics (request: FastifyRequest, reply: FastifyReply) {
    // Only registered routes become label values; everything else is one series.
    metrics.httpRequest({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })

  const { MCP_METRICS_PORT: metricsPort, MCP_SERVICE_HOST: host, MCP_SHUTDOWN_TIMEOUT: graceSeconds } = app.config
  if (metricsPort === undefined) {
    app.decorate('metricsServer', null)
    app.get('/metrics', { config: { hostCheck: false } }, async function scrape (_request, reply) {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    })
    return
  }

  // A listener of its own, outside the plugin graph: the MCP port (and an ingress in front of it) answers 404.
  const server = createMetricsServer(metrics.registry, app)
  app.decorate('metricsServer', server)
  // onReady, not onListen: a port in use must stop start-up, and onListen errors are only logged.
  app.addHook('onReady', async function listenForScrapes () {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port: metricsPort }, () => {
        server.off('error', reject)
        resolve()
      })
    })
  })
  // onClose hooks run after the main server has drained, so scrapes see the whole shutdown.
  app.addHook('onClose', async function closeMetricsServer () {
    if (!server.listening) return
    const force = setTimeout(() => server.closeAllConnections(), graceSeconds * 1000)
    force.unref()
    await new Promise<void>(resolve => server.close(() => resolve()))
    clearTimeout(force)
  })
}

function createMetricsServer (registry: Registry, app: FastifyInstance): Server {
  return createServer(function serveMetrics (request: IncomingMessage, response: ServerResponse) {
    const path = (request.url ?? '/').split('?', 1)[0]
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: this port serves GET /metrics only\n')
      return
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n')
      return
    }
    registry.metrics().then(text => {
      response.writeHead(200, { 'content-type': registry.contentType })
      response.end(request.method === 'HEAD' ? undefined : text)
    }, (err: unknown) => {
      app.log.error({ err }, 'metrics scrape failed')
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Internal server error\n')
    })
  })
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x', dependencies: ['config'] })
