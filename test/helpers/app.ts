import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import type { BuildAppOptions } from '../../src/app.ts'
import type { Config } from '../../src/config.ts'
import { testConfig } from './config.ts'

/** A fresh app on its own catalog (the shared example data), closed when the test ends. */
export async function build (t: Test, settings: Record<string, unknown> = {}, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(t.testdir(), settings), { logger: false, ...options })
  t.teardown(() => app.close())
  return app
}

export async function buildWithConfig (t: Test, config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp(config, { logger: false, ...options })
  t.teardown(() => app.close())
  return app
}

export interface RunningServer {
  app: FastifyInstance
  /** http://127.0.0.1:<port>/mcp */
  url: URL
  origin: string
}

/** The real server listening on a free loopback port. */
export async function startTestServer (t: Test, settings: Record<string, unknown> = {}, options: BuildAppOptions = {}): Promise<RunningServer> {
  const app = await build(t, settings, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`
  return { app, url: new URL(`${origin}/mcp`), origin }
}
