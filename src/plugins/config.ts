import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The validated, frozen configuration. */
    config: Config
  }
}

export interface ConfigPluginOptions {
  config: Config
}

async function configPlugin (app: FastifyInstance, options: ConfigPluginOptions): Promise<void> {
  app.decorate('config', options.config)
  // Superset's settings that mean nothing here: taken, and said once each at start-up.
  for (const warning of options.config.warnings) app.log.warn({ event: 'setting_ignored' }, warning)
}

export default fp(configPlugin, { name: 'config', fastify: '5.x' })
