import { lookup as dnsLookup } from 'node:dns'
import type { LookupAddress, LookupOptions } from 'node:dns'
import { request } from 'node:https'
import { isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import { rootCertificates } from 'node:tls'
import ipaddr from 'ipaddr.js'

/**
 * Fetching a document named by a URL someone else chose (a Client ID Metadata Document):
 * the URL is attacker-controlled, so this is the SSRF boundary. https only, no redirects,
 * every resolved address checked at connect time (so DNS rebinding cannot swap in a private
 * address after a check), bounded in time and size.
 */
export interface DocumentFetchOptions {
  timeoutMs: number
  maxBytes: number
  /** Tests and clients inside the cluster: loopback and private addresses are allowed too. */
  allowPrivateAddresses: boolean
  /** Extra PEM certificate authorities trusted next to the public ones. */
  ca?: string | undefined
}

export type DocumentFetchFailure = 'not_https' | 'private_address' | 'timeout' | 'too_large' | 'http_status' | 'not_json' | 'redirect' | 'network'

export class DocumentFetchError extends Error {
  readonly reason: DocumentFetchFailure
  constructor (reason: DocumentFetchFailure, message: string) {
    super(message)
    this.name = 'DocumentFetchError'
    this.reason = reason
  }
}

export interface FetchedDocument {
  body: unknown
  /** Cache-Control max-age of the answer, when it gave one. */
  maxAgeSeconds: number | undefined
}

/** Only globally routable unicast addresses: no loopback, private, link-local, CGNAT, multicast or reserved ranges. */
export function isPublicAddress (address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  let parsed = ipaddr.parse(address)
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address()
  return parsed.range() === 'unicast'
}

function guardedLookup (allowPrivate: boolean): LookupFunction {
  return (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) { callback(err, []); return }
      const refused = allowPrivate ? [] : addresses.filter(entry => !isPublicAddress(entry.address))
      if (refused.length > 0) {
        callback(Object.assign(new Error(`${hostname} resolves to a non-public address`), { code: 'EPRIVATEADDRESS' }), [])
        return
      }
      if (options.all === true) callback(null, addresses)
      else callback(null, addresses[0]!.address, addresses[0]!.family)
    })
  }
}

function maxAgeOf (cacheControl: string | undefined): number | undefined {
  if (cacheControl === undefined) return undefined
  if (/\b(no-store|no-cache)\b/i.test(cacheControl)) return 0
  const match = /\bmax-age=(\d+)/i.exec(cacheControl)
  return match === null ? undefined : Number(match[1])
}

export async function fetchJsonDocument (url: string, options: DocumentFetchOptions): Promise<FetchedDocument> {
  const target = new URL(url)
  if (target.protocol !== 'https:') throw new DocumentFetchError('not_https', 'only https URLs are fetched')
  const host = target.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) !== 0 && !options.allowPrivateAddresses && !isPublicAddress(host)) {
    throw new DocumentFetchError('private_address', 'the URL names a non-public address')
  }
  const ca = options.ca === undefined ? undefined : [...rootCertificates, options.ca]

  return await new Promise<FetchedDocument>((resolve, reject) => {
    let settled = false
    const fail = (error: DocumentFetchError): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      reject(error)
    }
    // one deadline for the whole exchange: a server that trickles bytes cannot hold us
    const timer = setTimeout(() => { fail(new DocumentFetchError('timeout', `no complete answer within ${options.timeoutMs} ms`)) }, options.timeoutMs)
    timer.unref()
    const req = request(target, {
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'analytics-mcp' },
      lookup: guardedLookup(options.allowPrivateAddresses),
      ca,
      agent: false
    }, response => {
      const status = response.statusCode ?? 0
      if (status >= 300 && status < 400) { fail(new DocumentFetchError('redirect', 'the URL answered with a redirect, which is not followed')); return }
      if (status !== 200) { fail(new DocumentFetchError('http_status', `the URL answered HTTP ${status}`)); return }
      const declared = Number(response.headers['content-length'])
      if (Number.isFinite(declared) && declared > options.maxBytes) { fail(new DocumentFetchError('too_large', `the document is larger than ${options.maxBytes} bytes`)); return }
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > options.maxBytes) { fail(new DocumentFetchError('too_large', `the document is larger than ${options.maxBytes} bytes`)); return }
        chunks.push(chunk)
      })
      response.on('error', () => { fail(new DocumentFetchError('network', 'the connection broke while reading the document')) })
      response.on('end', () => {
        if (settled) return
        let body: unknown
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch {
          fail(new DocumentFetchError('not_json', 'the document is not JSON'))
          return
        }
        settled = true
        clearTimeout(timer)
        resolve({ body, maxAgeSeconds: maxAgeOf(response.headers['cache-control']) })
      })
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPRIVATEADDRESS') fail(new DocumentFetchError('private_address', 'the host resolves to a non-public address'))
      else fail(new DocumentFetchError('network', 'the host could not be reached over https'))
    })
    req.end()
  })
}
