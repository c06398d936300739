import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { build } from './app.ts'
import { freshPostgresCatalogUrl } from './catalogs.ts'
import { startFrontProxy } from './front-proxy.ts'
import type { FrontProxy } from './front-proxy.ts'
import { startOidcProvider } from './oidc-provider.ts'
import type { RunningOidcProvider, TestUser } from './oidc-provider.ts'
import { freePort } from './ports.ts'

// Our server as the built-in OAuth authorization server, signing people in at a real
// OpenID provider (oidc-provider on loopback) that knows the example catalog's users.

/** The upstream client registered for our server at the test provider. */
export const UPSTREAM_CLIENT = { client_id: 'analytics-mcp', client_secret: 'upstream-client-secret-0123456789' }

/**
 * People at the provider: alice (Alpha + sql_lab in the catalog), bob (Gamma), admin, and
 * carol, whom the catalog does not know.
 */
export const IDP_USERS: Record<string, TestUser> = {
  alice: { email: 'alice@example.com', given_name: 'Alice', family_name: 'Analyst' },
  bob: { email: 'bob@example.com', given_name: 'Bob', family_name: 'Gamma' },
  admin: { email: 'admin@example.com' },
  carol: { email: 'carol@example.com', given_name: 'Carol', groups: ['analysts'] }
}

export interface OAuthEnvironment {
  idp: RunningOidcProvider
  app: FastifyInstance
  /** The issuer and service URL: http://127.0.0.1:<port> */
  origin: string
  /** origin + /mcp: the protected resource */
  resource: string
}

export interface OAuthEnvironmentOptions {
  settings?: Record<string, unknown>
}

/** The settings of a replica whose issuer is `origin`. */
export function oauthSettings (origin: string, idp: RunningOidcProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    MCP_SERVICE_URL: origin,
    MCP_OAUTH_SERVER_ENABLED: true,
    MCP_OAUTH_UPSTREAM_ISSUER: idp.issuer,
    MCP_OAUTH_UPSTREAM_CLIENT_ID: UPSTREAM_CLIENT.client_id,
    MCP_OAUTH_UPSTREAM_CLIENT_SECRET: UPSTREAM_CLIENT.client_secret,
    ...extra
  }
}

/** The provider and one listening replica of our server on a free loopback port. */
export async function startOAuthEnvironment (t: Test, options: OAuthEnvironmentOptions = {}): Promise<OAuthEnvironment> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const idp = await startOidcProvider(t, {
    users: IDP_USERS,
    webClients: [{ ...UPSTREAM_CLIENT, redirect_uris: [`${origin}/oauth/callback`] }]
  })
  const app = await build(t, oauthSettings(origin, idp, options.settings))
  await app.listen({ host: '127.0.0.1', port })
  return { idp, app, origin, resource: `${origin}/mcp` }
}

export interface ReplicatedOAuthEnvironment {
  idp: RunningOidcProvider
  replicas: FastifyInstance[]
  /** The one public URL (a proxy in front of the replicas). */
  origin: string
  resource: string
  proxy: FrontProxy
}

/**
 * Several replicas on one PostgreSQL catalog behind one URL, as a Deployment behind a Service:
 * `pick` chooses the replica of each request.
 */
export async function startReplicatedOAuthEnvironment (t: Test, count: number, pick: (request: IncomingMessage, index: number) => number, settings: Record<string, unknown> = {}): Promise<ReplicatedOAuthEnvironment> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const idp = await startOidcProvider(t, { users: IDP_USERS, webClients: [{ ...UPSTREAM_CLIENT, redirect_uris: [`${origin}/oauth/callback`] }] })
  const catalogUrl = await freshPostgresCatalogUrl()
  const replicas: FastifyInstance[] = []
  for (let index = 0; index < count; index++) {
    const app = await build(t, oauthSettings(origin, idp, { MCP_CATALOG_URL: catalogUrl, ...settings }))
    await app.listen({ host: '127.0.0.1', port: 0 })
    replicas.push(app)
  }
  const proxy = await startFrontProxy(t, port, replicas.map(app => (app.server.address() as AddressInfo).port), pick)
  return { idp, replicas, origin, resource: `${origin}/mcp`, proxy }
}

/** A PKCE verifier and its S256 challenge. */
export function pkcePair (): { verifier: string, challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** POST a form to one of our endpoints, returning status, headers and the JSON body. */
export async function postForm (url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number, headers: Headers, body: Record<string, any> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields), redirect: 'manual' })
  const text = await response.text()
  let body: Record<string, any> = {}
  try {
    body = JSON.parse(text) as Record<string, any>
  } catch {
    body = { text }
  }
  return { status: response.status, headers: response.headers, body }
}
