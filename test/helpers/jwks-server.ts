import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JsonWebKey } from 'node:crypto'
import type { Test } from 'tap'

export type JwksMode = 'ok' | 'down' | 'slow'

/**
 * A real JWKS endpoint on loopback, the way Keycloak or Auth0 serve one, that a test can
 * rotate, take down (503) or make slow (no answer for a long time).
 */
export class JwksServer {
  readonly url: string
  keys: JsonWebKey[] = []
  mode: JwksMode = 'ok'
  /** When set, served as is instead of the key set (a broken identity provider). */
  body: string | undefined
  /** Requests received so far. */
  requests = 0
  /** Requests not answered yet (slow mode). */
  pending = 0
  private readonly close: () => Promise<void>

  private constructor (url: string, close: () => Promise<void>) {
    this.url = url
    this.close = close
  }

  static async start (t: Test, keys: JsonWebKey[] = []): Promise<JwksServer> {
    const held = new Set<() => void>()
    let server: JwksServer | undefined
    const http = createServer((request, response) => {
      const self = server as JwksServer
      self.requests++
      if (self.mode === 'down') {
        response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}')
        return
      }
      const answer = (): void => {
        self.pending--
        response.writeHead(200, { 'content-type': 'application/json' }).end(self.body ?? JSON.stringify({ keys: self.keys }))
      }
      self.pending++
      if (self.mode === 'slow') {
        held.add(answer)
        response.on('close', () => held.delete(answer))
        return
      }
      answer()
    })
    await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
    const { port } = http.address() as AddressInfo
    server = new JwksServer(`http://127.0.0.1:${port}/realms/acme/protocol/openid-connect/certs`, async () => {
      http.closeAllConnections()
      await new Promise(resolve => http.close(resolve))
    })
    server.keys = keys
    t.teardown(() => server?.close())
    return server
  }
}
