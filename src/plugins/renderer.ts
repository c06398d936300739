import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { RenderPool } from '../charts/render-pool.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Chart images (PNG previews), rendered in worker threads shared fairly between users. */
    renderer: RenderPool
  }
}

async function rendererPlugin (app: FastifyInstance): Promise<void> {
  const { config, metrics } = app
  const renderer = new RenderPool({
    workers: config.MCP_RENDER_WORKERS,
    perUserRunning: config.MCP_RENDER_USER_CONCURRENCY,
    queueLimit: config.MCP_RENDER_QUEUE_LIMIT,
    perUserQueueLimit: config.MCP_RENDER_USER_QUEUE_LIMIT,
    timeoutSeconds: config.MCP_RENDER_TIMEOUT,
    memoryMb: config.MCP_RENDER_MEMORY_MB,
    queueHooks: metrics.workQueue('render'),
    onRender: metrics.render,
    onWorkerError: err => app.log.error({ err }, 'render worker thread failed')
  })
  app.decorate('renderer', renderer)
  app.addHook('onClose', async () => renderer.close())
}

export default fp(rendererPlugin, { name: 'renderer', fastify: '5.x', dependencies: ['config', 'metrics'] })
