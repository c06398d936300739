import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { userResolutionOptions } from './auth.ts'
import { ALL_SCOPES } from '../auth/scopes.ts'
import { MemoryTokenBuckets, RedisTokenBuckets } from '../store/token-buckets.ts'
import { BrowserFlow } from '../oauth/browser-flow.ts'
import { OAuthError } from '../oauth/errors.ts'
import { TokenEndpoint } from '../oauth/token-endpoint.ts'
import type { AuthorizationServer } from './oauth-server.ts'

/** Registration requests are small JSON documents. */
const REGISTRATION_BODY_LIMIT = 16_384
/** Token and revocation requests are a handful of form fields. */
const FORM_BODY_LIMIT = 16_384

/** RFC 8414 authorization server metadata (also served as OpenID-style discovery, where some clients look). */
function authorizationServerMetadata (app: FastifyInstance, server: AuthorizationServer): Record<string, unknown> {
  const { config } = app
  const issuer = server.issuer
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    ...(config.MCP_OAUTH_DCR_ENABLED ? { registration_endpoint: `${issuer}/oauth/register` } : {}),
    revocation_endpoint: `${issuer}/oauth/revoke`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    scopes_supported: ALL_SCOPES,
    client_id_metadata_document_supported: config.MCP_OAUTH_CIMD_ENABLED,
    authorization_response_iss_parameter_supported: true,
    service_documentation: 'https://github.com/analytics-mcp/analytics-mcp#connect-claude-chatgpt-and-gemini-cli-with-oauth-built-in-authorization-server'
  }
}

/** Where clients look for the metadata: RFC 8414's path-inserted form for an issuer with a path, the root, and OpenID discovery. */
function metadataPaths (issuer: string): string[] {
  const issuerPath = new URL(issuer).pathname.replace(/\/$/, '')
  return [...new Set([
    '/.well-known/oauth-authorization-server',
    `/.well-known/oauth-authorization-server${issuerPath}`,
    '/.well-known/openid-configuration',
    `/.well-known/openid-configuration${issuerPath}`,
    `${issuerPath}/.well-known/openid-configuration`
  ])]
}

/** An OAuthError as RFC 6749 wants it; anything else goes to the app's error handler (generic 5xx). */
async function sendOAuthError (reply: FastifyReply, err: unknown): Promise<FastifyReply> {
  if (!(err instanceof OAuthError)) throw err
  if (err.statusCode === 401) void reply.header('www-authenticate', 'Basic realm="analytics-mcp"')
  return await reply.code(err.statusCode).header('cache-control', 'no-store').send(err.toJSON())
}

/** Form bodies as name → value, a repeated name as a list (the endpoints refuse those). */
function parseForm (_request: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void): void {
  const values: Record<string, string | string[]> = {}
  for (const [name, value] of new URLSearchParams(body)) {
    const previous = values[name]
    values[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
  }
  done(null, values)
}

/**
 * The routes of the built-in authorization server: metadata, the browser flow (authorize,
 * callback, consent), token, revocation and registration. Form parsing lives in this
 * encapsulated context only; /mcp keeps taking JSON alone.
 */
async function oauthRoutesPlugin (app: FastifyInstance): Promise<void> {
  const server = app.oauthServer
  if (server === undefined) return
  const { config } = app
  const metadata = authorizationServerMetadata(app, server)
  const basePath = new URL(config.serviceUrl).pathname.replace(/\/$/, '')
  const flow = new BrowserFlow({
    server,
    catalog: app.catalog,
    assets: app.pageAssets,
    users: userResolutionOptions(config),
    resourceUrl: config.resourceUrl,
    secureCookies: config.serviceUrl.startsWith('https:'),
    basePath,
    contact: config.MCP_OAUTH_SUPPORT_CONTACT ?? 'your analytics administrator'
  })
  const endpoint = new TokenEndpoint({ server, catalog: app.catalog, resourceUrl: config.resourceUrl, refreshTtlSeconds: config.MCP_OAUTH_REFRESH_TOKEN_TTL })
  const registrations = app.redis === undefined ? new MemoryTokenBuckets() : new RedisTokenBuckets(app.redis.client)
  const registrationLimit = { capacity: config.MCP_OAUTH_DCR_PER_HOUR, perMinute: config.MCP_OAUTH_DCR_PER_HOUR / 60 }

  for (const path of metadataPaths(server.issuer)) {
    app.get(path, { config: { cors: 'public' } }, async function authorizationServerMetadataRoute (_request, reply) {
      reply.header('cache-control', 'public, max-age=3600')
      return metadata
    })
  }

  await app.register(async function oauthEndpoints (child: FastifyInstance) {
    child.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, parseForm)

    child.get('/oauth/authorize', async function authorize (request, reply) {
      return await flow.authorize(request, reply)
    })
    child.get('/oauth/callback', async function upstreamCallback (request, reply) {
      return await flow.callback(request, reply)
    })
    child.post('/oauth/consent', async function consent (request, reply) {
      return await flow.consent(request, reply)
    })

    child.post('/oauth/token', { config: { cors: 'public' } }, async function token (request, reply) {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      try {
        const response = await endpoint.token(request)
        app.metrics.authAttempt('oauth_token', 'success')
        return response
      } catch (err) {
        if (err instanceof OAuthError) {
          app.metrics.authAttempt('oauth_token', 'rejected')
          request.log.info({ error: err.error, reason: err.message }, 'token request refused')
          if (err.error === 'invalid_client' || err.error === 'invalid_grant') await app.authFailureLimit.failed(request.ip)
        }
        return await sendOAuthError(reply, err)
      }
    })

    child.post('/oauth/revoke', { config: { cors: 'public' } }, async function revoke (request, reply) {
      reply.header('cache-control', 'no-store')
      try {
        const { grant } = await endpoint.revoke(request)
        if (grant !== undefined) request.log.info({ grant }, 'grant revoked by its client')
        return {}
      } catch (err) {
        return await sendOAuthError(reply, err)
      }
    })

    if (config.MCP_OAUTH_DCR_ENABLED) {
      child.post('/oauth/register', { config: { cors: 'public' }, bodyLimit: REGISTRATION_BODY_LIMIT }, async function register (request, reply) {
        reply.header('cache-control', 'no-store')
        if (config.MCP_OAUTH_DCR_PER_HOUR > 0) {
          const taken = await registrations.take(`oauth-register:v1:${request.ip}`, registrationLimit)
          if (taken.allowed === false) {
            reply.header('retry-after', String(Math.max(1, Math.ceil(taken.retryAfterMs / 1000))))
            return await reply.code(429).send({ error: 'too_many_requests', error_description: `At most ${config.MCP_OAUTH_DCR_PER_HOUR} registrations per hour from one address` })
          }
        }
        try {
          const client = await server.clients.register(request.body)
          request.log.info({ client_id: client.client_id, client_name: client.client_name }, 'OAuth client registered')
          return await reply.code(201).send(client)
        } catch (err) {
          return await sendOAuthError(reply, err)
        }
      })
    }
  })
}

export default fp(oauthRoutesPlugin, { name: 'oauth-routes', fastify: '5.x', dependencies: ['config', 'catalog', 'auth', 'metrics', 'oauth-server', 'pages', 'redis'] })
