import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import helmet from 'helmet'
import { localhostAllowedHostnames, validateHostHeader } from '@modelcontextprotocol/server'
import { isLoopbackHost } from '../hosts.ts'
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
  /** Host names accepted in the Host header, any port. */
  allowedHostnames: readonly string[] | undefined
  /** Origins accepted exactly; origins whose host is an accepted Host name are accepted too. */
  allowedOrigins: ReadonlySet<string> | undefined
  /** MCP_ALLOWED_ORIGINS is `*`: every Origin is accepted on purpose, not merely left unchecked. */
  anyOrigin: boolean
}

/**
 * DNS-rebinding protection: derived from the allow-lists, or, when they are empty, from the
 * bind address (loopback: localhost names only) and MCP_SERVICE_URL. Origins are checked
 * whenever Host names are, or when origins are listed.
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

  const anyOrigin = config.MCP_ALLOWED_ORIGINS.includes('*')
  let allowedOrigins: Set<string> | undefined
  if (!anyOrigin) {
    allowedOrigins = new Set(config.MCP_ALLOWED_ORIGINS)
    if (publicUrl !== undefined) allowedOrigins.add(publicUrl.origin)
    if (allowedHostnames === undefined && allowedOrigins.size === 0) allowedOrigins = undefined
  }

  return { allowedHostnames, allowedOrigins, anyOrigin }
}

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
  const web = parsed.protocol === 'http:' || parsed.protocol === 'https:'
  return web && (policy.allowedHostnames?.includes(parsed.hostname) ?? false)
}

/** A loopback address as the Host: what an in-pod probe (the image's HEALTHCHECK) sends. */
const LOOPBACK_HOST = /^(127\.0\.0\.1|\[::1\])(:\d+)?$/

export function hostAllowed (policy: TransportSecurityPolicy, host: string | undefined): boolean {
  if (policy.allowedHostnames === undefined) return true
  // Always accepted: DNS rebinding sends the attacker's name as Host, never a loopback address.
  if (host !== undefined && LOOPBACK_HOST.test(host)) return true
  return validateHostHeader(host, [...policy.allowedHostnames]).ok
}

/** The headers helmet sets, as it sets them: run once against a recording response. */
export function helmetHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader (name: string, value: string | number | readonly string[]) { headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  // The service answers JSON, not pages: nothing may be loaded, framed or scripted.
  helmet({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } })(
    {} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => { if (err !== undefined && err !== null) throw err as Error })
  return headers
}

async function securityPlugin (app: FastifyInstance): Promise<void> {
  // Computed once: helmet's headers are the same for every response, and building them per
  // request (parsing the CSP directives each time) was a measurable share of a small call.
  const securityHeaders = helmetHeaders()
  app.addHook('onRequest', async function protectiveHeaders (_request: FastifyRequest, reply: FastifyReply) {
    reply.headers(securityHeaders)
  })

  const policy = transportSecurityPolicy(app.config)
  if (policy.allowedHostnames === undefined && !app.config.MCP_ALLOWED_HOSTS.includes('*')) {
    app.log.warn({ host: app.config.MCP_SERVICE_HOST }, 'Host and Origin validation is off: bound to a non-loopback address without MCP_ALLOWED_HOSTS or MCP_SERVICE_URL')
  }

  app.addHook('onRequest', async function checkHostAndOrigin (request: FastifyRequest) {
    if (request.routeOptions.config.hostCheck === false) return
    if (!hostAllowed(policy, request.headers.host)) throw new HostNotAllowedError()
    if (!originAllowed(policy, request.headers.origin)) throw new OriginNotAllowedError()
  })
}

export default fp(securityPlugin, { name: 'security', fastify: '5.x', dependencies: ['config'] })
