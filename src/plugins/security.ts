import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { localhostAllowedHostnames, localhostAllowedOrigins, validateHostHeader } from '@modelcontextprotocol/server'
import { isLoopbackHost } from '../config.ts'
import type { Config } from '../config.ts'
import { HostNotAllowedError, OriginNotAllowedError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false exempts a route from the Host/Origin allow-lists (health probes, metrics). */
    hostCheck?: boolean
  }
}

/** Which Host and Origin headers are accepted; `undefined` means "not checked". */
export interface TransportSecurityPolicy {
  allowedHostnames: readonly string[] | undefined
  allowedOrigins: ReadonlySet<string> | undefined
  /** Also accept origins whose host is localhost-class (any port), for loopback binds. */
  allowLocalhostOrigins: boolean
}

/**
 * DNS-rebinding protection: derived from the allow-lists, or, when they are empty, from the
 * bind address (loopback: localhost names only) and MCP_SERVICE_URL.
 */
export function transportSecurityPolicy (config: Config): TransportSecurityPolicy {
  const loopback = isLoopbackHost(config.MCP_SERVICE_HOST)
  const publicUrl = config.MCP_SERVICE_URL === undefined ? undefined : new URL(config.MCP_SERVICE_URL)

  let allowedHostnames: string[] | undefined
  if (!config.MCP_ALLOWED_HOSTS.includes('*')) {
    const names = config.MCP_ALLOWED_HOSTS.length > 0 ? [...config.MCP_ALLOWED_HOSTS] : loopback ? localhostAllowedHostnames() : []
    if (publicUrl !== undefined) names.push(publicUrl.hostname)
    allowedHostnames = names.length > 0 ? names : undefined
  }

  let allowedOrigins: Set<string> | undefined
  if (!config.MCP_ALLOWED_ORIGINS.includes('*')) {
    allowedOrigins = new Set(config.MCP_ALLOWED_ORIGINS.map(origin => new URL(origin).origin))
    if (publicUrl !== undefined) allowedOrigins.add(publicUrl.origin)
    if (!loopback && allowedOrigins.size === 0) allowedOrigins = undefined
  }

  return { allowedHostnames, allowedOrigins, allowLocalhostOrigins: loopback }
}

const LOCALHOST_ORIGIN_HOSTS = new Set(localhostAllowedOrigins())

export function originAllowed (policy: TransportSecurityPolicy, origin: string | undefined): boolean {
  // Non-browser clients send no Origin; the check defends against browser pages.
  if (origin === undefined || origin === '' || policy.allowedOrigins === undefined) return true
  let parsed: URL
  try {
    parsed = new URL(origin)
  } catch {
    return false
  }
  if (policy.allowedOrigins.has(parsed.origin)) return true
  return policy.allowLocalhostOrigins && (parsed.protocol === 'http:' || parsed.protocol === 'https:') && LOCALHOST_ORIGIN_HOSTS.has(parsed.hostname)
}

export function hostAllowed (policy: TransportSecurityPolicy, host: string | undefined): boolean {
  if (policy.allowedHostnames === undefined) return true
  return validateHostHeader(host, [...policy.allowedHostnames]).ok
}

async function securityPlugin (app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    global: true,
    // The service answers JSON, not pages: nothing may be loaded, framed or scripted.
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
  })

  const policy = transportSecurityPolicy(app.config)
  if (policy.allowedHostnames === undefined && !app.config.MCP_ALLOWED_HOSTS.includes('*')) {
    app.log.warn({ host: app.config.MCP_SERVICE_HOST }, 'Host header validation is off: bound to a non-loopback address without MCP_ALLOWED_HOSTS or MCP_SERVICE_URL')
  }

  app.addHook('onRequest', async function checkHostAndOrigin (request: FastifyRequest) {
    if (request.routeOptions.config.hostCheck === false) return
    if (!hostAllowed(policy, request.headers.host)) throw new HostNotAllowedError()
    if (!originAllowed(policy, request.headers.origin)) throw new OriginNotAllowedError()
  })
}

export default fp(securityPlugin, { name: 'security', fastify: '5.x', dependencies: ['config'] })
