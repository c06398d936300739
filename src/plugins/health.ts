import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/** A dependency check for /readyz; throws (or rejects) when the dependency is unavailable. */
export type ReadinessCheck = () => void | Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** Add a dependency to /readyz (the catalog, Redis, ...). */
    registerReadinessCheck: (name: string, check: ReadinessCheck) => void
  }
}

const CHECK_TIMEOUT_MS = 2000

async function runCheck (check: ReadinessCheck): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`readiness check timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
    timer.unref()
  })
  try {
    await Promise.race([Promise.resolve().then(check), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Kubernetes probes: /healthz says the process serves HTTP (no dependencies, so a slow
 * database never restarts the pod); /readyz says its dependencies answer, so traffic is
 * only routed to replicas that can serve it. Both are exempt from Host/Origin checks.
 */
async function healthPlugin (app: FastifyInstance): Promise<void> {
  const checks = new Map<string, ReadinessCheck>()
  app.decorate('registerReadinessCheck', (name: string, check: ReadinessCheck) => {
    checks.set(name, check)
  })

  app.get('/healthz', { config: { hostCheck: false } }, async () => ({ status: 'ok' }))

  app.get('/readyz', { config: { hostCheck: false } }, async function readiness (request, reply) {
    const results: Record<string, 'ok' | 'unavailable'> = {}
    await Promise.all([...checks].map(async ([name, check]) => {
      try {
        await runCheck(check)
        results[name] = 'ok'
      } catch (err) {
        request.log.warn({ err, check: name }, 'readiness check failed')
        results[name] = 'unavailable'
      }
    }))
    const ready = Object.values(results).every(result => result === 'ok')
    reply.code(ready ? 200 : 503)
    return { status: ready ? 'ready' : 'not_ready', checks: results }
  })
}

export default fp(healthPlugin, { name: 'health', fastify: '5.x', dependencies: ['config'] })
