import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { resolveConfig } from '../../src/config.ts'
import { sharedExamplesFile } from '../helpers/examples.ts'
import { conformanceSurface } from './fixture-surface.ts'
import { freePort } from '../helpers/ports.ts'

/**
 * The conformance fixture: the real service (buildApp: auth in development mode, the response
 * cache on, the size guard on, Host/Origin checks for a loopback bind) plus the suite's test
 * tools, resources and prompts. Run it to point any MCP client at it:
 *
 *   node test/conformance/fixture-server.ts [--port 3001] [--log-level info]
 *
 * It prints the MCP endpoint's URL and stops on SIGTERM or SIGINT.
 */

export interface FixtureServerOptions {
  /** Loopback port to listen on; a free one when unset. */
  port?: number
  /** MCP_LOG_LEVEL of the service (default silent). */
  logLevel?: string
}

export interface FixtureServer {
  app: FastifyInstance
  /** http://localhost:<port>/mcp */
  url: string
  close: () => Promise<void>
}

export async function startFixtureServer (options: FixtureServerOptions = {}): Promise<FixtureServer> {
  const port = options.port ?? await freePort()
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'analytics-mcp-conformance-'))
  const removeDataDir = (): void => rmSync(dataDir, { recursive: true, force: true })
  const config = resolveConfig([{
    source: 'overrides',
    values: {
      MCP_DATA_DIR: dataDir,
      MCP_EXAMPLES_PATH: sharedExamplesFile(),
      MCP_SERVICE_HOST: '127.0.0.1',
      MCP_SERVICE_PORT: port,
      MCP_LOG_LEVEL: options.logLevel ?? 'silent',
      MCP_CACHE_CONFIG: { enabled: true },
      MCP_RESPONSE_SIZE_CONFIG: { enabled: true }
    }
  }])
  let app: FastifyInstance | undefined
  const surface = conformanceSurface({
    announceAccessChange: async () => { await app?.clusterEvents.publish({ type: 'catalog_changed', change: 'access' }) }
  })
  try {
    app = await buildApp(config, { surface })
    await app.listen({ host: config.MCP_SERVICE_HOST, port })
  } catch (err) {
    removeDataDir()
    throw err
  }
  const running = app
  return {
    app: running,
    // The suite's DNS-rebinding scenario only runs against a localhost URL.
    url: `http://localhost:${port}/mcp`,
    close: async () => {
      await running.close()
      removeDataDir()
    }
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, 'log-level': { type: 'string' } } })
  const server = await startFixtureServer({
    ...(values.port === undefined ? {} : { port: Number(values.port) }),
    logLevel: values['log-level'] ?? 'warn'
  })
  process.stdout.write(`${server.url}\n`)
  const stop = (): void => {
    server.close().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`${String(err)}\n`)
      process.exit(1)
    })
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (import.meta.main) await main()
