import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { findConfigFile, readConfigFile } from './config-file.ts'
import { resolveConfig, settingsFromEnv } from './config.ts'
import type { Config, RawLayer } from './config.ts'
import { buildApp } from './app.ts'

export interface LoadConfigOptions {
  /** --config; otherwise MCP_CONFIG_FILE, otherwise analytics-mcp.config.* in `cwd`. */
  configFile?: string | undefined
  /** Command-line flags, e.g. { MCP_SERVICE_PORT: '5009' }; they win over everything. */
  overrides?: Readonly<Record<string, unknown>>
  env?: NodeJS.ProcessEnv
  cwd?: string
}

/**
 * The process edge: the only place that reads the environment and the config file.
 * Precedence: defaults < config file < environment < command line.
 */
export async function loadServiceConfig (options: LoadConfigOptions = {}): Promise<Config> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const file = options.configFile ?? env.MCP_CONFIG_FILE ?? findConfigFile(cwd)
  const layers: RawLayer[] = []
  if (file !== undefined && file !== '') layers.push(await readConfigFile(file, env))
  layers.push({ source: 'environment', values: settingsFromEnv(env) })
  if (options.overrides !== undefined && Object.keys(options.overrides).length > 0) {
    layers.push({ source: 'command line', values: options.overrides })
  }
  return resolveConfig(layers)
}

/** Build the app, listen, and close gracefully on SIGTERM/SIGINT. */
export async function startServer (config: Config): Promise<FastifyInstance> {
  const app = await buildApp(config)
  try {
    await app.listen({ host: config.MCP_SERVICE_HOST, port: config.MCP_SERVICE_PORT })
  } catch (err) {
    await app.close()
    throw err
  }
  // With port 0 the bound port is only known now.
  const { port } = app.server.address() as AddressInfo
  const url = config.MCP_SERVICE_URL ?? config.serviceUrl.replace(/:\d+$/, `:${port}`)
  app.log.info({ url: `${url}/mcp` }, 'analytics-mcp is serving MCP')
  const metricsAddress = app.metricsServer?.address()
  if (metricsAddress != null && typeof metricsAddress === 'object') {
    app.log.info({ host: metricsAddress.address, port: metricsAddress.port }, 'serving GET /metrics on its own port (MCP_METRICS_PORT), not on the MCP port')
  }

  let closing = false
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return
    closing = true
    app.log.info({ signal, grace_seconds: config.MCP_SHUTDOWN_TIMEOUT }, 'shutting down')
    const force = setTimeout(() => {
      app.log.error('in-flight requests did not finish in time; exiting')
      process.exit(1)
    }, config.MCP_SHUTDOWN_TIMEOUT * 1000)
    force.unref()
    app.close().then(() => process.exit(0), (err: unknown) => {
      app.log.error({ err }, 'error while closing')
      process.exit(1)
    })
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
  process.on('uncaughtException', err => {
    app.log.fatal({ err }, 'uncaught exception; exiting')
    process.exit(1)
  })
  process.on('unhandledRejection', reason => {
    app.log.error({ err: reason }, 'unhandled promise rejection')
  })
  return app
}
