import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { tlsFiles } from './tls.ts'

export type HttpsHandler = (request: IncomingMessage, response: ServerResponse) => void

export interface RunningHttpsServer {
  /** https://localhost:<port> (the certificate names localhost and 127.0.0.1) */
  origin: string
  /** The PEM file of the CA that signed the certificate: what MCP_OAUTH_CIMD_CA_FILE names. */
  caFile: string
  /** Serve `path` with this handler from now on (replaces an earlier one). */
  route: (path: string, handler: HttpsHandler) => void
  /** How many requests each path received. */
  hits: (path: string) => number
}

/** A JSON answer, with optional extra headers. */
export function json (body: unknown, headers: Record<string, string> = {}): HttpsHandler {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', ...headers })
    response.end(JSON.stringify(body))
  }
}

/**
 * A real https server on loopback with a certificate from the tests' own CA: where a client's
 * metadata document lives, the way a client vendor hosts it (https://claude.ai/oauth/…).
 */
export async function startHttpsServer (t: Test): Promise<RunningHttpsServer> {
  const tls = tlsFiles()
  const routes = new Map<string, HttpsHandler>()
  const counts = new Map<string, number>()
  const server = createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (request, response) => {
    const path = new URL(request.url ?? '/', 'https://localhost').pathname
    counts.set(path, (counts.get(path) ?? 0) + 1)
    const handler = routes.get(path)
    if (handler === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' })
      response.end('not found')
      return
    }
    handler(request, response)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return {
    origin: `https://localhost:${(server.address() as AddressInfo).port}`,
    caFile: tls.caFile,
    route: (path, handler) => { routes.set(path, handler) },
    hits: path => counts.get(path) ?? 0
  }
}
