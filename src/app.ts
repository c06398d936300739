import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Catalog } from './catalog/catalog.ts'
import type { Config } from './config.ts'
import { publicError, RouteNotFoundError } from './errors.ts'
import { loggerOptions, requestIdFrom } from './logger.ts'
import mcpRoute from './mcp/route.ts'
import type { McpSurface } from './mcp/surface.ts'
import authPlugin from './plugins/auth.ts'
import cachePlugin from './plugins/cache.ts'
import catalogPlugin from './plugins/catalog.ts'
import configPlugin from './plugins/config.ts'
import corsPlugin from './plugins/cors.ts'
import databasesPlugin from './plugins/databases.ts'
import enginesPlugin from './plugins/engines.ts'
import healthPlugin from './plugins/health.ts'
import linksPlugin from './plugins/links.ts'
import loadSheddingPlugin from './plugins/load-shedding.ts'
import metricsPlugin from './plugins/metrics.ts'
import jwksPlugin from './plugins/jwks.ts'
import oauthMetadataPlugin from './plugins/oauth-metadata.ts'
import oauthRoutesPlugin from './plugins/oauth-routes.ts'
import oauthServerPlugin from './plugins/oauth-server.ts'
import pagesPlugin from './plugins/pages.ts'
import rateLimitPlugin from './plugins/rate-limit.ts'
import redisPlugin from './plugins/redis.ts'
import rendererPlugin from './plugins/renderer.ts'
import securityPlugin from './plugins/security.ts'
import sizeGuardPlugin from './plugins/size-guard.ts'
import tokenExchangePlugin from './plugins/token-exchange.ts'
import toolsPlugin from './plugins/tools.ts'

export interface BuildAppOptions {
  /** Use this catalog instead of opening MCP_CATALOG_PATH (it is not closed with the app). */
  catalog?: Catalog
  /** Logger settings, or false for none (tests); defaults to JSON logs at the configured level. */
  logger?: FastifyServerOptions['logger']
  /** An existing pino logger to use instead (tests capture logs this way). */
  loggerInstance?: FastifyBaseLogger
  /** MCP resources, templates, prompts and tools beside the service's own (the conformance fixture's). */
  surface?: Partial<McpSurface>
}

/**
 * The service as a Fastify app: the plugin graph, registered explicitly in data-flow order.
 * config → security → cors → metrics → health → catalog → databases (MCP_DATABASES) → engines → renderer → redis (+ events, audit) → OAuth
 * authorization server (state, keys) → auth (+ OAuth metadata, token exchange, JWKS) → rate limits → cache → size
 * guard → tools → pages → OAuth routes (authorize, consent, token, register) → load shedding → /mcp
 */
export async function buildApp (config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.loggerInstance === undefined
      ? { logger: options.logger ?? loggerOptions(config) }
      : { loggerInstance: options.loggerInstance }),
    genReqId: requestIdFrom,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    bodyLimit: config.MCP_MAX_REQUEST_BYTES,
    return503OnClosing: true,
    // request.ip is the client only behind a proxy we trust; otherwise X-Forwarded-For is ignored.
    trustProxy: config.MCP_TRUSTED_PROXIES.length === 0 ? false : [...config.MCP_TRUSTED_PROXIES],
    // The first start generates the example data.
    pluginTimeout: 60_000
  })

  app.addHook('onRequest', async function echoRequestId (request, reply) {
    reply.header('x-request-id', request.id)
  })

  // Once closing, answer in-flight requests with "Connection: close": a keep-alive client would
  // otherwise hold its socket (and the process) open until the shutdown grace period runs out.
  // Connections with no request in progress (keep-alive, or opened ahead by a client's pool and
  // never used: Node counts those as active) are closed at once; in-flight requests finish.
  let closing = false
  const busy = new WeakSet<Socket>()
  const sockets = new Set<Socket>()
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    busy.add(request.socket)
    response.once('close', () => busy.delete(request.socket))
  })
  app.addHook('preClose', async function markClosing () {
    closing = true
    for (const socket of sockets) if (!busy.has(socket)) socket.destroy()
  })
  app.addHook('onSend', async function closeConnectionsWhenClosing (_request, reply) {
    if (closing) reply.header('connection', 'close')
  })

  app.setErrorHandler(function errorResponse (error: FastifyError, request, reply) {
    const { status, code, message } = publicError(error)
    // 5xx bodies never carry internals: the details are in this log line.
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    return reply.code(status).send({ error: code, message })
  })
  app.setNotFoundHandler(function notFound (_request, reply) {
    const error = new RouteNotFoundError()
    return reply.code(404).send({ error: error.code, message: error.message })
  })

  try {
    await app.register(configPlugin, { config })
    await app.register(securityPlugin)
    await app.register(corsPlugin)
    await app.register(metricsPlugin)
    await app.register(healthPlugin)
    await app.register(catalogPlugin, options.catalog === undefined ? {} : { catalog: options.catalog })
    await app.register(databasesPlugin)
    await app.register(enginesPlugin)
    await app.register(rendererPlugin)
    await app.register(linksPlugin)
    await app.register(redisPlugin)
    await app.register(oauthServerPlugin)
    await app.register(authPlugin)
    await app.register(oauthMetadataPlugin)
    await app.register(tokenExchangePlugin)
    await app.register(jwksPlugin)
    await app.register(rateLimitPlugin)
    await app.register(cachePlugin)
    await app.register(sizeGuardPlugin)
    await app.register(toolsPlugin)
    await app.register(pagesPlugin)
    await app.register(oauthRoutesPlugin)
    // Late, so that start-up work (example data) is not measured as event-loop lag.
    await app.register(loadSheddingPlugin)
    await app.register(mcpRoute, { surface: options.surface })
    await app.ready()
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  return app
}
