import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'

/** Paths pino must never print, whatever a serializer or a log call passes it. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'authorization',
  'token',
  'password',
  'secret'
]

/** Fastify's logger settings (pino options), without the boolean shorthand. */
export type LoggerSettings = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>

export function loggerOptions (config: Config): LoggerSettings {
  return {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    base: { service: 'analytics-mcp' }
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** Keep a caller's X-Request-Id when it is sane (so logs join up across proxies), else mint one. */
export function requestIdFrom (request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}
