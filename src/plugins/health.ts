import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/** A dependency check for /readyz; throws (or rejects) when the dependency is unavailable. */
export type ReadinessCheck = () => void | Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Add a dependency to /readyz. A critical one (the catalog) makes the replica unready when
     * it fails; a non-critical one (Redis: the service degrades without it) is only reported.
     */
    registerReadinessCheck: (name: string, check: ReadinessCheck, options?: { critical?: boolean }) => void
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
  const checks = new Map<string, { check: ReadinessCheck, critical: boolean }>()
  app.decorate('registerReadinessCheck', (name: string, check: ReadinessCheck, options: { critical?: boolean } = {}) => {
    checks.set(name, { check, critical: options.critical ?? true })
  })

  app.get('/healthz', { config: { hostCheck: false } }, async () => ({ status: 'ok' }))

  app.get('/readyz', { config: { hostCheck: false } }, async function readiness (request, reply) {
    const results: Record<string, 'ok' | 'unavailable' | 'degraded'> = {}
    await Promise.all([...checks].map(async ([name, { check, critical }]) => {
      try {
        await runCheck(check)
        results[name] = 'ok'
      } catch (err) {
        request.log.warn({ err, check: name }, 'readiness check failed')
        results[name] = critical ? 'unavailable' : 'degraded'
      }
    }))
    // Only critical dependencies decide: a Redis outage must not take every replica out of
    // the Service at once (the pods would flap while the service could still answer).
    const ready = Object.values(results).every(result => result !== 'unavailable')
    reply.code(ready ? 200 : 503)
    return { status: ready ? 'ready' : 'not_ready', checks: results }
  })
}

export default fp(healthPlugin, { name: 'health', fastify: '5.x', dependencies: ['config'] })
