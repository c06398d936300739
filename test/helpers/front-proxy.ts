import { createServer, request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { Test } from 'tap'

// One URL in front of several replicas, as a Kubernetes Service or an ingress is: each request
// goes to the replica `pick` chooses, and the proxy remembers which one answered what.

export interface FrontProxy {
  /** Which replica (index) answered each request, as "METHOD /path → index". */
  served: Array<{ method: string, path: string, replica: number }>
}

/**
 * Listen on `port` (loopback) and forward every request, unchanged, to the replica `pick`
 * returns for it. Host is kept, so each replica sees the one public URL.
 */
export async function startFrontProxy (t: Test, port: number, replicas: number[], pick: (request: IncomingMessage, count: number) => number): Promise<FrontProxy> {
  const served: FrontProxy['served'] = []
  let count = 0
  const server = createServer((incoming, outgoing) => {
    const replica = pick(incoming, count++) % replicas.length
    served.push({ method: incoming.method ?? 'GET', path: new URL(incoming.url ?? '/', 'http://front').pathname, replica })
    const upstream = request({ host: '127.0.0.1', port: replicas[replica], method: incoming.method, path: incoming.url, headers: incoming.headers }, answer => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(outgoing)
    })
    upstream.on('error', () => {
      if (!outgoing.headersSent) outgoing.writeHead(502)
      outgoing.end()
    })
    incoming.pipe(upstream)
  })
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return { served }
}
