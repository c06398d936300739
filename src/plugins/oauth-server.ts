import { readFileSync } from 'node:fs'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { signingKeyOf } from '../auth/signing-key.ts'
import { ConfigError } from '../config.ts'
import { ClientDirectory } from '../oauth/clients.ts'
import { OAuthStore } from '../oauth/store.ts'
import { AccessTokens } from '../oauth/tokens.ts'
import { UpstreamProvider } from '../oauth/upstream.ts'

/** The built-in authorization server's parts, shared by the authenticator and the OAuth routes. */
export interface AuthorizationServer {
  /** The issuer: MCP_SERVICE_URL. */
  issuer: string
  store: OAuthStore
  tokens: AccessTokens
  clients: ClientDirectory
  upstream: UpstreamProvider
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The built-in OAuth authorization server (MCP_OAUTH_SERVER_ENABLED), else undefined. */
    oauthServer: AuthorizationServer | undefined
  }
}

function readCaFile (file: string | undefined): string | undefined {
  if (file === undefined) return undefined
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([`MCP_OAUTH_CIMD_CA_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`])
  }
}

/**
 * The OAuth 2.1 authorization server's state and keys (the routes are in oauth-routes.ts):
 * its store in the catalog, the signing key (MCP_TOKEN_SIGNING_KEY, or one generated into the
 * catalog so every replica on it signs alike), the client directory and the upstream provider.
 */
async function oauthServerPlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  if (!config.MCP_OAUTH_SERVER_ENABLED) {
    app.decorate('oauthServer', undefined)
    return
  }
  const store = new OAuthStore(app.catalog)
  const configuredKey = config.MCP_TOKEN_SIGNING_KEY
  const key = configuredKey === undefined ? signingKeyOf(await store.generatedSigningKey(), 'ES256') : signingKeyOf(configuredKey, config.MCP_TOKEN_SIGNING_ALGORITHM)
  let clients: ClientDirectory
  try {
    clients = new ClientDirectory({
      store,
      declared: config.MCP_OAUTH_CLIENTS,
      env: process.env,
      metadataDocuments: { enabled: config.MCP_OAUTH_CIMD_ENABLED, allowPrivateAddresses: config.MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES, ca: readCaFile(config.MCP_OAUTH_CIMD_CA_FILE) },
      registration: { enabled: config.MCP_OAUTH_DCR_ENABLED, unusedTtlSeconds: config.MCP_OAUTH_DCR_CLIENT_TTL }
    })
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError([(err as Error).message])
  }
  const upstream = new UpstreamProvider({
    // Both are required by the config checks whenever the server is on.
    issuer: config.MCP_OAUTH_UPSTREAM_ISSUER as string,
    clientId: config.MCP_OAUTH_UPSTREAM_CLIENT_ID as string,
    clientSecret: config.MCP_OAUTH_UPSTREAM_CLIENT_SECRET,
    scopes: config.MCP_OAUTH_UPSTREAM_SCOPES,
    redirectUri: `${config.serviceUrl}/oauth/callback`,
    allowHttp: config.MCP_OAUTH_UPSTREAM_ALLOW_HTTP
  })
  const tokens = new AccessTokens({ key, issuer: config.serviceUrl, audience: config.resourceUrl, ttlSeconds: config.MCP_OAUTH_ACCESS_TOKEN_TTL, clockSkewMs: config.MCP_JWT_CLOCK_SKEW * 1000 })
  app.decorate('oauthServer', { issuer: config.serviceUrl, store, tokens, clients, upstream })
  app.log.info({ issuer: config.serviceUrl, upstream: upstream.issuer, signing_key: configuredKey === undefined ? 'generated (catalog)' : 'MCP_TOKEN_SIGNING_KEY', kid: key.kid }, 'OAuth authorization server is on')
  // Discover the provider now, so a wrong issuer shows in the start-up log, not at the first sign-in.
  upstream.discover().catch((err: unknown) => { app.log.warn({ err, issuer: upstream.issuer }, 'the upstream sign-in provider cannot be discovered yet; sign-ins fail until it can') })
}

export default fp(oauthServerPlugin, { name: 'oauth-server', fastify: '5.x', dependencies: ['config', 'catalog'] })
