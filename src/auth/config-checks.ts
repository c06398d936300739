import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { isLoopbackHost } from '../hosts.ts'
import { redirectUriProblem } from '../oauth/redirect-uris.ts'

/** The settings the checks read (a subset of Config, before it is frozen). */
interface AuthSettings {
  MCP_AUTH_ENABLED: boolean
  MCP_API_KEY_ENABLED: boolean
  MCP_AUTH_FACTORY: unknown
  MCP_JWT_ALGORITHM: string
  MCP_JWKS_URI: string | undefined
  MCP_JWKS_ALLOW_HTTP: boolean
  MCP_JWT_PUBLIC_KEY: string | undefined
  MCP_JWT_SECRET: string | undefined
  MCP_JWT_ISSUER: readonly string[]
  MCP_JWT_AUDIENCE: readonly string[]
  MCP_USER_RESOLVER: unknown
  MCP_DEV_USERNAME: string | undefined
  MCP_TOKEN_EXCHANGE_ENABLED: boolean
  MCP_TOKEN_SIGNING_KEY: string | undefined
  MCP_TOKEN_SIGNING_ALGORITHM: string
  MCP_ALLOW_UNAUTHENTICATED_REMOTE: boolean
  MCP_SERVICE_HOST: string
  MCP_SERVICE_URL: string | undefined
  MCP_OAUTH_SERVER_ENABLED: boolean
  MCP_OAUTH_UPSTREAM_ISSUER: string | undefined
  MCP_OAUTH_UPSTREAM_CLIENT_ID: string | undefined
  MCP_OAUTH_UPSTREAM_SCOPES: readonly string[]
  MCP_OAUTH_UPSTREAM_ALLOW_HTTP: boolean
  MCP_OAUTH_CLIENTS: ReadonlyArray<{ client_id: string, redirect_uris: readonly string[] }>
}

/** Key types node:crypto reports for each algorithm family. */
const KEY_TYPE: Readonly<Record<string, string>> = { RS: 'rsa', ES: 'ec' }
/** The curve each ECDSA algorithm is defined on (RFC 7518 §3.4). */
const CURVE: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1' }
const MIN_RSA_BITS = 2048

/** Whether any credential is required on /mcp (otherwise: development mode). */
export function authenticationRequired (settings: Pick<AuthSettings, 'MCP_AUTH_ENABLED' | 'MCP_API_KEY_ENABLED' | 'MCP_AUTH_FACTORY' | 'MCP_OAUTH_SERVER_ENABLED'>): boolean {
  return settings.MCP_AUTH_ENABLED || settings.MCP_API_KEY_ENABLED || settings.MCP_AUTH_FACTORY !== undefined || settings.MCP_OAUTH_SERVER_ENABLED
}

/**
 * Fail closed: every authentication setup that would accept tokens it should not, or run
 * without authentication where it should not, is a start-up error naming the settings.
 */
export function authConfigProblems (settings: AuthSettings, loopback: boolean): string[] {
  const problems: string[] = []
  const secured = authenticationRequired(settings)
  const jwtConfigured = settings.MCP_AUTH_ENABLED && settings.MCP_AUTH_FACTORY === undefined

  if (!secured && !loopback && !settings.MCP_ALLOW_UNAUTHENTICATED_REMOTE) {
    problems.push(`MCP_SERVICE_HOST: ${settings.MCP_SERVICE_HOST} is reachable from other machines but authentication is off; set MCP_AUTH_ENABLED=true (or MCP_API_KEY_ENABLED), or MCP_ALLOW_UNAUTHENTICATED_REMOTE=true to accept the risk`)
  }
  if (secured && settings.MCP_DEV_USERNAME !== undefined) {
    problems.push('MCP_DEV_USERNAME: must not be set when authentication is on (it would let every request run as that user); remove it')
  }

  if (jwtConfigured) {
    const algorithm = settings.MCP_JWT_ALGORITHM
    const symmetric = algorithm.startsWith('HS')
    const hasKey = settings.MCP_JWKS_URI !== undefined || settings.MCP_JWT_PUBLIC_KEY !== undefined
    if (settings.MCP_JWT_AUDIENCE.length === 0) {
      problems.push('MCP_JWT_AUDIENCE: required when MCP_AUTH_ENABLED is on, so that only tokens issued for this service are accepted (use its resource URL, MCP_SERVICE_URL + /mcp)')
    }
    if (!hasKey && settings.MCP_JWT_SECRET === undefined) {
      problems.push(`MCP_AUTH_ENABLED: no key material to verify tokens; set MCP_JWKS_URI or MCP_JWT_PUBLIC_KEY (${symmetric ? 'or, for HS*, ' : 'or use HS256 with '}MCP_JWT_SECRET)`)
    } else if (symmetric) {
      if (settings.MCP_JWT_SECRET === undefined) problems.push(`MCP_JWT_SECRET: required with MCP_JWT_ALGORITHM=${algorithm}`)
      if (hasKey) problems.push(`MCP_JWT_ALGORITHM: ${algorithm} verifies with MCP_JWT_SECRET only; remove MCP_JWKS_URI / MCP_JWT_PUBLIC_KEY (mixing them invites algorithm confusion)`)
    } else {
      if (settings.MCP_JWT_SECRET !== undefined) problems.push(`MCP_JWT_SECRET: not used with MCP_JWT_ALGORITHM=${algorithm}; remove it, and verify with MCP_JWKS_URI or MCP_JWT_PUBLIC_KEY`)
      if (settings.MCP_JWKS_URI !== undefined && settings.MCP_JWT_PUBLIC_KEY !== undefined) problems.push('MCP_JWT_PUBLIC_KEY: set either MCP_JWKS_URI or MCP_JWT_PUBLIC_KEY, not both')
      const jwks = settings.MCP_JWKS_URI === undefined ? undefined : new URL(settings.MCP_JWKS_URI)
      if (jwks?.protocol === 'http:' && !isLoopbackHost(jwks.hostname) && !settings.MCP_JWKS_ALLOW_HTTP) {
        problems.push(`MCP_JWKS_URI: ${jwks.origin} is plain HTTP, so anyone on the path could swap the keys tokens are checked with; use https, or set MCP_JWKS_ALLOW_HTTP=true for an in-cluster identity provider behind a NetworkPolicy`)
      }
      const keyProblem = settings.MCP_JWT_PUBLIC_KEY === undefined ? undefined : keyTypeProblem(settings.MCP_JWT_PUBLIC_KEY, 'public', algorithm)
      if (keyProblem !== undefined) problems.push(`MCP_JWT_PUBLIC_KEY: ${keyProblem}`)
    }
    if (settings.MCP_JWT_ISSUER.length > 1 && settings.MCP_USER_RESOLVER === undefined) {
      problems.push('MCP_JWT_ISSUER: several issuers need MCP_USER_RESOLVER (JS config) so that the same username from two issuers cannot name the same user')
    }
  }

  problems.push(...oauthServerProblems(settings, loopback))

  if (settings.MCP_TOKEN_EXCHANGE_ENABLED) {
    if (!secured) problems.push('MCP_TOKEN_EXCHANGE_ENABLED: exchanged tokens are only useful with authentication on; set MCP_AUTH_ENABLED or MCP_API_KEY_ENABLED')
    if (settings.MCP_TOKEN_SIGNING_KEY === undefined) {
      problems.push('MCP_TOKEN_SIGNING_KEY: required with MCP_TOKEN_EXCHANGE_ENABLED (a PEM private key shared by all replicas)')
    }
  }
  if (settings.MCP_TOKEN_SIGNING_KEY !== undefined && (settings.MCP_TOKEN_EXCHANGE_ENABLED || settings.MCP_OAUTH_SERVER_ENABLED)) {
    const keyProblem = keyTypeProblem(settings.MCP_TOKEN_SIGNING_KEY, 'private', settings.MCP_TOKEN_SIGNING_ALGORITHM)
    if (keyProblem !== undefined) problems.push(`MCP_TOKEN_SIGNING_KEY: ${keyProblem}`)
  }
  return problems
}

/** The built-in authorization server needs an upstream provider and a stable public issuer URL. */
function oauthServerProblems (settings: AuthSettings, loopback: boolean): string[] {
  if (!settings.MCP_OAUTH_SERVER_ENABLED) return []
  const problems: string[] = []
  if (settings.MCP_OAUTH_UPSTREAM_ISSUER === undefined) {
    problems.push('MCP_OAUTH_UPSTREAM_ISSUER: required with MCP_OAUTH_SERVER_ENABLED (the OpenID Connect provider users sign in at, e.g. https://keycloak.example.com/realms/analytics)')
  } else {
    const upstream = new URL(settings.MCP_OAUTH_UPSTREAM_ISSUER)
    if (upstream.protocol === 'http:' && !isLoopbackHost(upstream.hostname) && !settings.MCP_OAUTH_UPSTREAM_ALLOW_HTTP) {
      problems.push(`MCP_OAUTH_UPSTREAM_ISSUER: ${upstream.origin} is plain HTTP, so sign-ins and ID tokens could be read or changed in transit; use https, or set MCP_OAUTH_UPSTREAM_ALLOW_HTTP=true for an in-cluster provider behind a NetworkPolicy`)
    }
  }
  if (settings.MCP_OAUTH_UPSTREAM_CLIENT_ID === undefined) problems.push('MCP_OAUTH_UPSTREAM_CLIENT_ID: required with MCP_OAUTH_SERVER_ENABLED (the client registered for this service at the upstream provider)')
  if (!settings.MCP_OAUTH_UPSTREAM_SCOPES.includes('openid')) problems.push('MCP_OAUTH_UPSTREAM_SCOPES: must include openid (sign-in reads the ID token)')
  if (settings.MCP_SERVICE_URL === undefined && !loopback) {
    problems.push('MCP_SERVICE_URL: required with MCP_OAUTH_SERVER_ENABLED on a non-loopback host; it is the issuer clients see and the base of the redirect URI registered upstream (the ingress URL, e.g. https://mcp.example.com)')
  } else if (settings.MCP_SERVICE_URL !== undefined) {
    const service = new URL(settings.MCP_SERVICE_URL)
    if (service.protocol === 'http:' && !isLoopbackHost(service.hostname)) problems.push(`MCP_SERVICE_URL: ${service.origin} is plain HTTP; OAuth 2.1 needs the authorization server on https (loopback excepted)`)
  }
  const seen = new Set<string>()
  for (const client of settings.MCP_OAUTH_CLIENTS) {
    if (seen.has(client.client_id)) problems.push(`MCP_OAUTH_CLIENTS: client_id "${client.client_id}" is listed twice`)
    seen.add(client.client_id)
    if (/^https?:\/\//i.test(client.client_id)) problems.push(`MCP_OAUTH_CLIENTS: client_id "${client.client_id}" is a URL, which names a Client ID Metadata Document; give pre-registered clients plain ids`)
    for (const uri of client.redirect_uris) {
      const problem = redirectUriProblem(uri)
      if (problem !== undefined) problems.push(`MCP_OAUTH_CLIENTS: client "${client.client_id}": redirect URI "${uri}" ${problem}`)
    }
  }
  return problems
}

function keyTypeProblem (pem: string, kind: 'public' | 'private', algorithm: string): string | undefined {
  const expected = KEY_TYPE[algorithm.slice(0, 2)]
  let key: KeyObject
  try {
    key = kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem)
  } catch {
    return `not a readable PEM ${kind} key`
  }
  const actual = key.asymmetricKeyType
  if (expected !== undefined && actual !== expected) return `is an ${actual ?? 'unknown'} key but ${algorithm} needs an ${expected.toUpperCase()} key`
  const details = key.asymmetricKeyDetails
  const curve = CURVE[algorithm]
  if (curve !== undefined && details?.namedCurve !== curve) return `is a key on curve ${details?.namedCurve ?? 'unknown'} but ${algorithm} needs ${curve} (every token would be refused)`
  if (actual === 'rsa' && (details?.modulusLength ?? 0) < MIN_RSA_BITS) return `is a ${details?.modulusLength ?? 0}-bit RSA key; use at least ${MIN_RSA_BITS} bits`
  return undefined
}
