import fp from 'fastify-plugin'
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { originAllowed, transportSecurityPolicy } from './security.ts'
import type { TransportSecurityPolicy } from './security.ts'

/**
 * How a route answers cross-origin (CORS) reads. `credentials`: the answer depends on the
 * caller's Authorization, so only an Origin the allow-lists accept is echoed, never `*`.
 * `public`: the same answer for everyone and no credentials (RFC 9728 metadata, JWKS): `*`.
 */
export type CorsMode = 'credentials' | 'public'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Cross-origin reads of this route, for requests the Origin check admits: 'credentials' (the
     * default) or 'public', see CorsMode; false sends no CORS headers. Routes exempt from the
     * check (`hostCheck: false`) send none either.
     */
    cors?: CorsMode | false
  }
}

/** What MCP clients send: Streamable HTTP, the SEP-2243 standard headers, OAuth, request ids. */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Accept', 'Mcp-Protocol-Version', 'Mcp-Session-Id', 'Mcp-Method', 'Mcp-Name', 'Last-Event-ID', 'X-Request-Id']
/** SEP-2243 parameter headers are named after tool parameters, so they are matched rather than listed. */
const PARAM_HEADER = /^mcp-param-[0-9a-z!#$%&'*+.^_`|~-]+$/i
/** What a browser client must read: the OAuth challenge, protocol headers, the request id, back-off. */
const EXPOSED_HEADERS = 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, X-Request-Id, Retry-After'
/** Chromium caches a preflight for at most two hours. */
const PREFLIGHT_MAX_AGE_SECONDS = 7200

function corsModeOf (config: FastifyContextConfig | undefined): CorsMode | false {
  if (config?.hostCheck === false) return false
  return config?.cors ?? 'credentials'
}

/**
 * The Access-Control-Allow-Origin a request gets, or undefined for none. Only what the Origin
 * check admits is granted; an Origin it leaves unchecked (a non-loopback bind without
 * allow-lists) gets no credentialed reads, and neither do opaque (`null`) origins.
 */
export function allowedOrigin (policy: TransportSecurityPolicy, mode: CorsMode, origin: string | undefined): string | undefined {
  if (!originAllowed(policy, origin)) return undefined
  if (mode === 'public') return '*'
  if (origin === undefined || origin === '' || origin === 'null') return undefined
  return policy.allowedOrigins !== undefined || policy.anyOrigin ? origin : undefined
}

function allowedRequestHeaders (requested: string | undefined): string {
  const params = (requested ?? '').split(',').map(name => name.trim()).filter(name => PARAM_HEADER.test(name))
  return [...ALLOWED_HEADERS, ...params].join(', ')
}

/**
 * CORS for browser-based MCP clients, one rule for every route: the Origin check (security)
 * refuses an Origin with 403 and no CORS headers; an admitted one may read what the route's
 * `cors` mode grants. Each CORS route gets an OPTIONS route for its preflight, registered here,
 * outside the route's plugin, so no auth hook ever sees a preflight (it carries no credentials).
 */
async function corsPlugin (app: FastifyInstance): Promise<void> {
  const policy = transportSecurityPolicy(app.config)
  /** Per URL, the mode of each method routed there. */
  const modesByUrl = new Map<string, Map<string, CorsMode>>()

  async function preflight (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const modes = modesByUrl.get(request.routeOptions.url ?? '')
    const method = request.headers['access-control-request-method']
    const mode = typeof method === 'string' ? modes?.get(method) : undefined
    const origin = mode === undefined ? undefined : allowedOrigin(policy, mode, request.headers.origin)
    reply.header('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
    if (modes !== undefined && origin !== undefined) {
      reply.headers({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': [...modes.keys()].join(', '),
        'access-control-allow-headers': allowedRequestHeaders(request.headers['access-control-request-headers']),
        'access-control-max-age': String(PREFLIGHT_MAX_AGE_SECONDS)
      })
    }
    await reply.code(204).send()
  }

  app.addHook('onRoute', function addPreflightRoute (route: RouteOptions) {
    const mode = corsModeOf(route.config)
    if (mode === false) return
    let modes = modesByUrl.get(route.url)
    if (modes === undefined) {
      modes = new Map()
      modesByUrl.set(route.url, modes)
      // On this (root) instance: only the global hooks (request id, security, metrics) apply.
      app.options(route.url, { config: { cors: false } }, preflight)
    }
    // HEAD, like GET and POST, never needs a preflight's permission.
    for (const method of [route.method].flat()) if (method !== 'HEAD') modes.set(method, mode)
  })

  app.addHook('onSend', async function corsHeaders (request, reply, payload) {
    const mode = corsModeOf(request.routeOptions.config)
    if (mode === false || request.is404) return payload
    // The answer differs by Origin (403, or another Allow-Origin): caches must keep them apart.
    const vary = reply.getHeader('vary')
    reply.header('vary', vary === undefined ? 'Origin' : `${String(vary)}, Origin`)
    const origin = allowedOrigin(policy, mode, request.headers.origin)
    if (origin !== undefined) reply.header('access-control-allow-origin', origin).header('access-control-expose-headers', EXPOSED_HEADERS)
    return payload
  })
}

export default fp(corsPlugin, { name: 'cors', fastify: '5.x', dependencies: ['config', 'security'] })
