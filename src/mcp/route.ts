import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createMcpHandler, InMemoryServerEventBus, isLegacyRequest, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server'
import type { AuthInfo, ServerEventBus } from '@modelcontextprotocol/server'
import secureJson from 'secure-json-parse'
import {
  BatchNotSupportedError, BodyTooLargeError, InvalidJsonError, InvalidJsonRpcError, jsonRpcCodeFor, PoisonedJsonError,
  MethodNotAllowedError, publicError, UnsupportedMediaTypeError
} from '../errors.ts'
import { AuthChallengeError, insufficientScope } from '../auth/challenge.ts'
import { hasScope, SCOPES } from '../auth/scopes.ts'
import type { ClusterEvents } from '../events/cluster-events.ts'
import type { RateDecision } from './rate-limits.ts'
import { ListenStreams } from './listen-streams.ts'
import { servicePrompts } from './prompts.ts'
import { objectTemplates } from './resource-templates.ts'
import { INSTANCE_METADATA_URI, serviceResources } from './resources.ts'
import { createServerFactory, requestAuthInfo, serverInfoOf } from './server-factory.ts'
import { PlainAnswers, plainRequest } from './plain-requests.ts'
import { mergeSurfaces } from './surface.ts'
import type { McpSurface } from './surface.ts'

export interface McpRouteOptions {
  /** Resources, templates, prompts and tools added to the service's own (the conformance fixture's). */
  surface?: Partial<McpSurface> | undefined
}

/** Fastify's own body errors, re-worded for MCP clients. */
function describeError (error: FastifyError, bodyLimit: number): FastifyError {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new BodyTooLargeError(bodyLimit)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new UnsupportedMediaTypeError()
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return new InvalidJsonError()
    default: return error
  }
}

function requestId (body: unknown): string | number | null {
  if (body !== null && typeof body === 'object' && 'id' in body) {
    const id = (body as { id: unknown }).id
    if (typeof id === 'string' || typeof id === 'number') return id
  }
  return null
}

function isJsonRpcMessage (body: unknown): body is { jsonrpc: '2.0', method?: unknown, params?: unknown } {
  return body !== null && typeof body === 'object' && !Array.isArray(body) && (body as { jsonrpc?: unknown }).jsonrpc === '2.0'
}

function webHeaders (request: FastifyRequest): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string') headers.set(name, value)
    else if (Array.isArray(value)) headers.set(name, value.join(', '))
  }
  return headers
}

/**
 * POST /mcp: stateless Streamable HTTP in JSON-response mode for both protocol eras.
 * Modern (2026-07-28) requests go to the SDK's createMcpHandler; legacy (2025-era)
 * requests get a per-request transport with JSON responses, so no replica keeps a session
 * and legacy clients get application/json rather than SSE. The SDK is called through its
 * web-standard face from an ordinary Fastify handler (no hijack), so every Fastify hook
 * (metrics, request ids, helmet) still applies.
 */
/**
 * Cluster events become notifications on this replica's open `subscriptions/listen` streams:
 * any catalog change updates instance://metadata; an access change can also change tool lists.
 */
function notifySubscribers (events: ClusterEvents, bus: ServerEventBus, streams: ListenStreams): () => void {
  async function announce (change: 'content' | 'access'): Promise<void> {
    if (change === 'access') {
      await streams.revalidate()
      bus.publish({ kind: 'tools_list_changed' })
    }
    bus.publish({ kind: 'resource_updated', uri: INSTANCE_METADATA_URI })
  }
  // One at a time, in the order they came; a failing one does not stop the next.
  let announced = Promise.resolve()
  return events.subscribe(event => {
    announced = announced.then(async () => { await announce(event.change) }).catch(() => {})
  })
}

/** Methods that show catalog content (names included), so a scope-limited credential needs mcp:read. */
const READ_METHODS = new Set(['resources/read', 'resources/list', 'resources/templates/list', 'completion/complete'])

/** Scopes a request needs before anything runs: the tool's, or mcp:read for resources and completions. */
function neededScope (app: FastifyInstance, body: { method?: unknown, params?: unknown }): string | undefined {
  if (body.method === 'tools/call') {
    const params = body.params as { name?: unknown, arguments?: unknown } | undefined
    return typeof params?.name === 'string' ? app.toolset.scopeNeeded(params.name, params.arguments) : undefined
  }
  return typeof body.method === 'string' && READ_METHODS.has(body.method) ? SCOPES.read : undefined
}

/** The tool, resource or prompt a request names, for the debug log. */
function requestTarget (body: { params?: unknown }): string | undefined {
  const params = body.params as { name?: unknown, uri?: unknown } | undefined
  const target = params?.name ?? params?.uri
  return typeof target === 'string' ? target.slice(0, 200) : undefined
}

/** A tools/call whose client asked for progress notifications: its answer streams (SSE). */
function wantsProgress (body: { method?: unknown, params?: unknown }): boolean {
  const meta = (body.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta
  return body.method === 'tools/call' && (typeof meta?.progressToken === 'string' || typeof meta?.progressToken === 'number')
}

export default async function mcpRoute (app: FastifyInstance, options: McpRouteOptions = {}): Promise<void> {
  const { config, toolset, metrics, rateLimits } = app
  const templates = objectTemplates(app.catalog, toolset)
  const datasetTemplate = templates.find(template => template.template.uriTemplate === 'dataset://{identifier}')
  const surface = mergeSurfaces({
    resources: serviceResources(app.catalog, app.responseCache),
    templates,
    prompts: servicePrompts(app.catalog, config.MCP_APP_NAME, async (value, scope) => await datasetTemplate?.complete?.('identifier', value, scope) ?? []),
    tools: []
  }, options.surface)
  const createServer = createServerFactory(toolset, surface, config)
  // A fixture adding its own tools (the conformance suite's) has them listed and called through the SDK.
  const plainAnswers = surface.tools.length === 0 ? new PlainAnswers({ serverInfo: serverInfoOf(config), listTtlMs: config.MCP_CACHE_CONFIG.list_tools_ttl * 1000 }) : undefined
  const bus = new InMemoryServerEventBus()
  const streams = new ListenStreams(app.catalog, { perPrincipal: config.MCP_LISTEN_STREAMS_PER_PRINCIPAL, maxSeconds: config.MCP_LISTEN_STREAM_MAX_SECONDS })
  const stopNotifying = notifySubscribers(app.clusterEvents, bus, streams)
  // 'auto' answers JSON: the handlers never emit a notification before their result. Only
  // subscriptions/listen streams (SSE) stay open.
  const modern = createMcpHandler(() => createServer('modern'), { legacy: 'reject', responseMode: 'auto', bus })
  // preClose, not onClose: the HTTP server only finishes closing once open requests end, and
  // an open subscriptions/listen stream is one until modern.close() ends it.
  app.addHook('preClose', async () => {
    stopNotifying()
    await modern.close()
  })

  const endpointUrl = `${config.serviceUrl}/mcp`
  const bodyLimit = config.MCP_MAX_REQUEST_BYTES

  // The parser Fastify uses (secure-json-parse, refusing __proto__ keys and constructor.prototype),
  // called directly: Fastify's wrapper drops its error, and a refused key is not "invalid JSON".
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    try {
      done(null, secureJson.parse(body.toString(), { protoAction: 'error', constructorAction: 'error' }))
    } catch (err) {
      // Its refusals read "Object contains forbidden prototype property" (for both keys).
      done(/forbidden (prototype|constructor) property/.test((err as Error).message) ? new PoisonedJsonError() : new InvalidJsonError(), undefined)
    }
  })

  app.setErrorHandler(function jsonRpcError (error: FastifyError, request, reply) {
    if (error instanceof AuthChallengeError) {
      // RFC 6750: the challenge header and an OAuth error body, not a JSON-RPC error.
      return reply.code(error.statusCode).header('www-authenticate', error.wwwAuthenticate).type('application/json; charset=utf-8').send(error.body)
    }
    const { status, code, message } = publicError(describeError(error, bodyLimit))
    if (status >= 500) request.log.error({ err: error }, 'MCP request failed')
    else request.log.info({ code: error.code, status }, 'MCP request rejected')
    if (status === 405) reply.header('allow', 'POST')
    reply.code(status).type('application/json; charset=utf-8')
    // A refusal with a retry time (MCP_AUTH_FAILURE_LIMIT) says it in the body too, as the rate limit does.
    const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
    const data = typeof retryAfter === 'number' ? { data: { retry_after_seconds: retryAfter } } : {}
    return { jsonrpc: '2.0', id: requestId(request.body), error: { code: jsonRpcCodeFor(code), message, ...data } }
  })

  app.addHook('onRequest', app.authenticate)

  /**
   * One legacy request on its own server and transport. The answer is JSON, except for a call
   * that asked for progress: it streams (SSE) until its result, and the server is closed when
   * the reply ends.
   */
  async function serveLegacy (webRequest: Request, body: { method?: unknown, params?: unknown }, authInfo: AuthInfo, reply: FastifyReply): Promise<Response> {
    const server = createServer('legacy')
    const streaming = wantsProgress(body)
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !streaming })
    await server.connect(transport)
    if (streaming) {
      reply.raw.once('close', () => { server.close().catch(() => {}) })
      return await transport.handleRequest(webRequest, { parsedBody: body, authInfo })
    }
    try {
      return await transport.handleRequest(webRequest, { parsedBody: body, authInfo })
    } finally {
      await server.close()
    }
  }

  app.post('/mcp', async function handleMcp (request: FastifyRequest, reply: FastifyReply) {
    const body = request.body
    if (Array.isArray(body)) throw new BatchNotSupportedError()
    if (!isJsonRpcMessage(body)) throw new InvalidJsonRpcError()
    const principal = request.principal
    if (principal === null) throw new Error('authenticate did not set a principal')
    // A scope-limited credential asking for what its scopes do not cover: ask for a step-up
    // (403 insufficient_scope with every scope needed), before anything runs.
    const scope = neededScope(app, body)
    if (scope !== undefined && !hasScope(principal.scopes, scope)) {
      throw insufficientScope(app.authChallenge, [...(principal.scopes ?? []), ...config.MCP_REQUIRED_SCOPES, scope])
    }
    const decision = await rateLimits.forRequest(principal)
    if (!decision.allowed) return await tooManyRequests(reply, decision, requestId(body))

    // The client going away aborts the request: tool calls (and their SQL) stop with it.
    const disconnect = new AbortController()
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) disconnect.abort()
    })

    const plain = plainAnswers === undefined ? undefined : plainRequest(body, request.headers)
    if (plainAnswers !== undefined && plain !== undefined && (plain.method === 'tools/list' || toolset.get(plain.name) !== undefined)) {
      metrics.mcpRequest(plain.method, plain.era)
      if (request.log.level === 'debug' || request.log.level === 'trace') request.log.debug({ method: plain.method, era: plain.era, target: requestTarget(body), user: principal.user.username }, 'MCP request')
      if (plain.method === 'tools/list') return reply.type('application/json').send(plainAnswers.toolsList(toolset.listFor(principal), plain.era, plain.id))
      const result = await toolset.call(plain.name, plain.arguments, { principal, log: request.log, signal: disconnect.signal })
      return reply.type('application/json').send(plainAnswers.toolsCall(toolset.forClient(result), plain.era, plain.id))
    }
    if (body.method === 'subscriptions/listen') {
      // A long-lived stream: capped per user, and ended with its credential (see ListenStreams).
      const release = streams.admit(principal, disconnect)
      if (release === undefined) return await tooManyStreams(reply, streams.limit, requestId(body))
      reply.raw.once('close', release)
    }
    const webRequest = new Request(endpointUrl, { method: 'POST', headers: webHeaders(request), signal: disconnect.signal })
    const authInfo = requestAuthInfo({ principal, log: request.log, signal: disconnect.signal }, principal.user.username)

    const legacy = await isLegacyRequest(webRequest, body)
    metrics.mcpRequest(body.method, legacy ? 'legacy' : 'modern')
    // --debug (MCP_DEBUG): what each request asked for and what it got, without arguments.
    const debug = request.log.level === 'debug' || request.log.level === 'trace'
    if (debug) request.log.debug({ method: body.method, era: legacy ? 'legacy' : 'modern', target: requestTarget(body), user: principal.user.username }, 'MCP request')
    const response = legacy
      ? await serveLegacy(webRequest, body, authInfo, reply)
      : await modern.fetch(webRequest, { parsedBody: body, authInfo })

    reply.code(response.status)
    response.headers.forEach((value, name) => {
      if (name !== 'content-length') reply.header(name, value)
    })
    // subscriptions/listen (and any upgraded exchange) streams until the client goes away.
    if (response.body !== null && response.headers.get('content-type')?.startsWith('text/event-stream') === true) {
      return reply.send(response.body)
    }
    const text = await response.text()
    if (debug) request.log.debug({ status: response.status, bytes: Buffer.byteLength(text), is_error: text.includes('"isError":true') }, 'MCP response')
    return reply.send(text === '' ? undefined : text)
  })

  app.route({
    method: ['GET', 'DELETE'],
    url: '/mcp',
    handler: async function methodNotAllowed () {
      throw new MethodNotAllowedError()
    }
  })
}

/**
 * Over the principal's request rate: HTTP 429 with Retry-After and a JSON-RPC error naming
 * the limit; 503 when the shared limiter cannot answer and fail_open is off.
 */
async function tooManyRequests (reply: FastifyReply, decision: Exclude<RateDecision, { allowed: true }>, id: string | number | null): Promise<FastifyReply> {
  const limited = decision.reason === 'limited'
  const message = limited
    ? `Rate limit exceeded: ${decision.limit.perMinute} requests per minute (${decision.limit.capacity} at once). Retry in ${decision.retryAfterSeconds} s.`
    : `The rate limiter is unavailable. Retry in ${decision.retryAfterSeconds} s.`
  return await reply.code(limited ? 429 : 503).header('retry-after', String(decision.retryAfterSeconds)).type('application/json; charset=utf-8')
    .send({ jsonrpc: '2.0', id, error: { code: -32000, message, data: { retry_after_seconds: decision.retryAfterSeconds } } })
}

async function tooManyStreams (reply: FastifyReply, limit: number, id: string | number | null): Promise<FastifyReply> {
  return await reply.code(429).type('application/json; charset=utf-8')
    .send({ jsonrpc: '2.0', id, error: { code: -32000, message: `Too many open subscriptions: at most ${limit} per user. Close one (or reuse it) before opening another.` } })
}
