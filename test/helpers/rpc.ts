/** Raw HTTP access to /mcp, for protocol tests that a well-behaved SDK client cannot make. */

export const JSON_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream'
}

export interface RawResponse {
  status: number
  headers: Headers
  text: string
  json: any
}

export async function post (url: URL | string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

/** A legacy-era tools/call message (no initialize needed: the server is stateless). */
export function toolCall (name: string, args: unknown, id: number | string = 1): unknown {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }
}

/** A request through node:http, which (unlike fetch) lets a test send any Host header. */
export async function rawRequest (url: URL | string, options: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<RawResponse> {
  const { request } = await import('node:http')
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, res => {
      const chunks: Buffer[] = []
      res.on('data', chunk => chunks.push(chunk as Buffer))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const headers = new Headers()
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value)
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers, text, json })
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** POST a JSON-RPC body through node:http with extra headers (e.g. a forged Host). */
export async function postRaw (url: URL | string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return await rawRequest(url, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) })
}
