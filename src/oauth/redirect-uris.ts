import { isLoopbackHost } from '../hosts.ts'

/** Schemes a redirect must never use: they run code, read local files or leave the browser's navigation. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:', 'filesystem:', 'ws:', 'wss:', 'ftp:', 'mailto:', 'tel:'])

const MAX_REDIRECT_URI_LENGTH = 2000

/**
 * Why a redirect URI cannot be registered, or undefined when it can (OAuth 2.1 §2.3.1,
 * RFC 8252): https anywhere, http only on loopback (native apps and CLIs listen there), or a
 * private-use scheme (`cursor://…`, `com.example.app:/cb`); never a fragment.
 */
export function redirectUriProblem (uri: string): string | undefined {
  if (uri.length > MAX_REDIRECT_URI_LENGTH) return `is longer than ${MAX_REDIRECT_URI_LENGTH} characters`
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return 'is not an absolute URI'
  }
  if (url.hash !== '' || uri.includes('#')) return 'must not contain a fragment'
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `uses the ${url.protocol} scheme, which cannot be a redirect target`
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) return 'uses plain http on a host other than loopback (127.0.0.1, [::1] or localhost); use https'
  if ((url.protocol === 'http:' || url.protocol === 'https:') && (url.username !== '' || url.password !== '')) return 'must not contain credentials'
  return undefined
}

/** A loopback redirect (RFC 8252 §7.3): the port is chosen by the client when it starts listening. */
function isLoopbackRedirect (url: URL): boolean {
  return url.protocol === 'http:' && isLoopbackHost(url.hostname)
}

/**
 * Whether `presented` (an authorization request's redirect_uri) is one of `registered`: the
 * exact string, except that a loopback redirect may use any port. Nothing else is lenient:
 * no prefix matching, no extra path, no other host that merely looks alike.
 */
export function redirectUriAllowed (registered: readonly string[], presented: string): boolean {
  if (registered.includes(presented)) return true
  let url: URL
  try {
    url = new URL(presented)
  } catch {
    return false
  }
  if (!isLoopbackRedirect(url) || presented.includes('#')) return false
  return registered.some(candidate => {
    let allowed: URL
    try {
      allowed = new URL(candidate)
    } catch {
      return false
    }
    return isLoopbackRedirect(allowed) && allowed.hostname === url.hostname && allowed.pathname === url.pathname && allowed.search === url.search &&
      allowed.username === '' && url.username === '' && url.password === ''
  })
}

/** The redirect URI with OAuth response parameters added to its query (existing ones kept). */
export function redirectWith (redirectUri: string, parameters: Record<string, string | undefined>): string {
  const url = new URL(redirectUri)
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined) url.searchParams.append(name, value)
  return url.href
}

/** What the consent page names as the destination: the host, or the scheme of an app's own URI. */
export function redirectDestination (redirectUri: string): string {
  const url = new URL(redirectUri)
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.host : `${url.protocol}//${url.host}`
}
