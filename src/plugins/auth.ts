import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Algorithm } from 'fast-jwt'
import { CredentialAuthenticator, principalFor } from '../auth/authenticator.ts'
import type { Authenticator, CustomVerifier } from '../auth/authenticator.ts'
import { AuthChallengeError } from '../auth/challenge.ts'
import type { ChallengeContext } from '../auth/challenge.ts'
import { AuthFailureLimit, refuseThrottled } from '../auth/failure-limit.ts'
import { MemoryTokenBuckets, RedisTokenBuckets } from '../store/token-buckets.ts'
import { ServiceTokens } from '../auth/exchange.ts'
import { JwksKeyStore } from '../auth/jwks.ts'
import { createJwtVerifier } from '../auth/jwt.ts'
import type { TokenVerifier } from '../auth/jwt.ts'
import { ALL_SCOPES } from '../auth/scopes.ts'
import type { UserResolutionOptions, UserResolver } from '../auth/users.ts'
import { ConfigError } from '../config.ts'
import type { Config } from '../config.ts'
import { CATALOG_RETRY_AFTER_SECONDS, CatalogUnavailable, CatalogUnavailableError, PrincipalUnavailableError } from '../errors.ts'
import type { Principal } from '../tools/tool.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of protected routes: sets request.principal or rejects the request. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** MCP_AUTH_FAILURE_LIMIT: failed authentications per client address (shared through Redis when configured). */
    authFailureLimit: AuthFailureLimit
    /** How challenges point clients at the OAuth metadata (401/403 WWW-Authenticate). */
    authChallenge: ChallengeContext
    /** This service's own tokens (token exchange), when enabled. */
    serviceTokens: ServiceTokens | undefined
  }
  interface FastifyRequest {
    /** Who the request runs as; set by `authenticate`. */
    principal: Principal | null
  }
}

/** The OAuth authorization servers published in the resource metadata. */
export function authorizationServers (config: Config): readonly string[] {
  const external = config.MCP_AUTHORIZATION_SERVERS.length > 0 ? config.MCP_AUTHORIZATION_SERVERS : config.MCP_JWT_ISSUER
  // The built-in server comes first: clients use the first one they can.
  return config.MCP_OAUTH_SERVER_ENABLED ? [...new Set([config.serviceUrl, ...external])] : external
}

/** How a verified identity (token claims, or an upstream sign-in) names its catalog user. */
export function userResolutionOptions (config: Config): UserResolutionOptions {
  return {
    claims: config.MCP_USER_CLAIMS,
    resolver: config.MCP_USER_RESOLVER as UserResolver | undefined,
    jit: config.MCP_JIT_PROVISIONING ? { rolesClaim: config.MCP_JIT_ROLES_CLAIM, mapping: config.MCP_JIT_ROLE_MAPPING, defaultRoles: config.MCP_JIT_DEFAULT_ROLES } : undefined
  }
}

/**
 * Development mode: every request runs as MCP_DEV_USERNAME (default admin), which must be
 * an active catalog user; looked up per request, so deactivating the user takes effect at once.
 */
async function devAuthenticator (app: FastifyInstance): Promise<Authenticator> {
  const username = app.config.devUsername
  const user = await app.catalog.findUserByUsername(username)
  if (user === undefined || !user.active) {
    throw new ConfigError([
      `MCP_DEV_USERNAME: the user "${username}" ${user === undefined ? 'does not exist' : 'is inactive'} in the catalog; create it with \`analytics-mcp users create --username ${username} --role Admin\`, or keep MCP_LOAD_EXAMPLES on to get the demo users`
    ])
  }
  app.log.warn({ user: username }, 'authentication is off (development mode): every MCP request runs as this user')
  return {
    async authenticate (request) {
      const current = await app.catalog.findUserByUsername(username)
      if (current === undefined || !current.active) {
        request.log.error({ user: username }, 'the development user no longer exists or is inactive')
        throw new PrincipalUnavailableError()
      }
      return await principalFor(app.catalog, current, 'dev')
    }
  }
}

function jwtVerifier (app: FastifyInstance): TokenVerifier | undefined {
  const { config } = app
  if (!config.MCP_AUTH_ENABLED || config.MCP_AUTH_FACTORY !== undefined) return undefined
  const algorithm = config.MCP_JWT_ALGORITHM as Algorithm
  let key: string | ((header: Readonly<Record<string, unknown>>) => Promise<string>)
  if (config.MCP_JWKS_URI !== undefined) {
    const store = new JwksKeyStore({
      jwksUri: config.MCP_JWKS_URI,
      ttlMs: config.MCP_JWKS_CACHE_TTL * 1000,
      timeoutMs: config.MCP_JWKS_TIMEOUT * 1000,
      refreshIntervalMs: config.MCP_JWKS_REFRESH_INTERVAL * 1000,
      onFetch: (outcome, detail) => {
        app.metrics.jwksFetch(outcome)
        if (outcome !== 'ok') app.log.warn({ outcome, detail }, 'JWKS fetch did not succeed')
      }
    })
    key = async header => await store.publicKey(algorithm, header.kid)
  } else {
    key = config.MCP_JWT_PUBLIC_KEY ?? config.MCP_JWT_SECRET ?? ''
  }
  if (!config.MCP_JWT_AUDIENCE.includes(config.resourceUrl)) {
    // Allowed (IdPs name audiences their own way), but MCP clients ask for tokens for this URL.
    app.log.warn({ audiences: config.MCP_JWT_AUDIENCE, resource: config.resourceUrl }, 'MCP_JWT_AUDIENCE does not hold this service\'s resource URL (MCP_SERVICE_URL + /mcp); tokens MCP clients obtain through OAuth (RFC 8707 resource indicators) name that URL as their audience')
  }
  return createJwtVerifier({ algorithm, key, issuers: config.MCP_JWT_ISSUER, audiences: config.MCP_JWT_AUDIENCE, clockSkewMs: config.MCP_JWT_CLOCK_SKEW * 1000, maxLifetimeMs: config.MCP_JWT_MAX_LIFETIME * 1000 })
}

/** MCP_AUTH_FACTORY(app): a function, or an object with a verify method. Never a silent fallback. */
async function customVerifier (app: FastifyInstance): Promise<CustomVerifier | undefined> {
  const factory = app.config.MCP_AUTH_FACTORY
  if (factory === undefined) return undefined
  let verifier: unknown
  try {
    verifier = await (factory as (app: FastifyInstance) => unknown)(app)
  } catch (err) {
    app.log.error({ err }, 'MCP_AUTH_FACTORY threw')
    throw new ConfigError(['MCP_AUTH_FACTORY: the custom auth factory threw (details in the log); the service does not start without the authentication it asks for'])
  }
  if (typeof verifier === 'function') return verifier as CustomVerifier
  if (verifier !== null && typeof verifier === 'object' && typeof (verifier as { verify?: unknown }).verify === 'function') {
    const object = verifier as { verify: CustomVerifier }
    return async (token, request) => await object.verify(token, request)
  }
  throw new ConfigError(['MCP_AUTH_FACTORY: the factory must return a verifier: a function (token, request) => { username? claims? scopes? }, or an object with such a verify method'])
}

async function checkRoleMapping (app: FastifyInstance): Promise<void> {
  const known = new Set(await app.catalog.roleNames())
  const { config } = app
  const unknown = [...Object.values(config.MCP_JIT_ROLE_MAPPING).flat(), ...config.MCP_JIT_DEFAULT_ROLES].filter(role => !known.has(role))
  if (unknown.length > 0) throw new ConfigError([`MCP_JIT_ROLE_MAPPING: unknown role(s) ${[...new Set(unknown)].join(', ')} (roles: ${[...known].join(', ')})`])
}

async function authPlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  const servers = authorizationServers(config)
  const challenge: ChallengeContext = {
    resourceMetadataUrl: config.authRequired && servers.length > 0 ? `${config.serviceUrl}/.well-known/oauth-protected-resource/mcp` : undefined,
    scopes: ALL_SCOPES,
    apiKeyCreateUrl: config.MCP_API_KEY_CREATE_URL === undefined ? undefined : new URL(config.MCP_API_KEY_CREATE_URL, `${config.serviceUrl}/`).href
  }
  app.decorate('authChallenge', challenge)

  const serviceTokens = config.MCP_TOKEN_EXCHANGE_ENABLED && config.MCP_TOKEN_SIGNING_KEY !== undefined
    ? new ServiceTokens({
      privateKeyPem: config.MCP_TOKEN_SIGNING_KEY,
      algorithm: config.MCP_TOKEN_SIGNING_ALGORITHM,
      issuer: config.serviceUrl,
      audience: config.resourceUrl,
      ttlSeconds: config.MCP_TOKEN_TTL,
      clockSkewMs: config.MCP_JWT_CLOCK_SKEW * 1000
    })
    : undefined
  app.decorate('serviceTokens', serviceTokens)

  let authenticator: Authenticator
  if (!config.authRequired) {
    authenticator = await devAuthenticator(app)
  } else {
    if (config.MCP_JIT_PROVISIONING) await checkRoleMapping(app)
    authenticator = new CredentialAuthenticator({
      catalog: app.catalog,
      challenge,
      users: userResolutionOptions(config),
      requiredScopes: config.MCP_REQUIRED_SCOPES,
      allowUnscopedTokens: config.MCP_ALLOW_UNSCOPED_TOKENS,
      debugErrors: config.MCP_JWT_DEBUG_ERRORS,
      jwt: jwtVerifier(app),
      custom: await customVerifier(app),
      serviceTokens,
      oauth: app.oauthServer === undefined ? undefined : { tokens: app.oauthServer.tokens, grantActive: app.oauthServer.store.grantActive.bind(app.oauthServer.store) },
      apiKeyPrefix: config.MCP_API_KEY_ENABLED ? config.MCP_API_KEY_PREFIX : undefined,
      onAttempt: app.metrics.authAttempt
    })
    app.log.info({ jwt: config.MCP_AUTH_ENABLED, custom: config.MCP_AUTH_FACTORY !== undefined, api_keys: config.MCP_API_KEY_ENABLED, token_exchange: config.MCP_TOKEN_EXCHANGE_ENABLED, oauth_server: config.MCP_OAUTH_SERVER_ENABLED }, 'authentication is on')
  }

  const failureLimit = new AuthFailureLimit(config.MCP_AUTH_FAILURE_LIMIT, app.redis === undefined ? new MemoryTokenBuckets() : new RedisTokenBuckets(app.redis.client), {
    throttled: () => app.metrics.authThrottled(),
    storeError: error => {
      app.metrics.redisError('rate_limit')
      app.log.debug({ err: error }, 'auth failure limit check failed')
    }
  })
  app.decorate('authFailureLimit', failureLimit)

  app.decorateRequest('principal', null)
  app.decorate('authenticate', async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    // Development mode checks no credential, so there is nothing to guess and nothing to limit.
    const credential = config.authRequired && request.headers.authorization !== undefined && request.headers.authorization.trim() !== ''
    if (credential) await refuseThrottled(failureLimit, request, reply)
    try {
      request.principal = await authenticator.authenticate(request)
    } catch (err) {
      // The catalog being down says nothing about the credential: 503 and retry, not 401 (which
      // sends clients to sign in again) and not a failure counted against the address.
      if (err instanceof CatalogUnavailable) {
        request.log.warn({ err: err.cause }, 'catalog unavailable during authentication')
        reply.header('retry-after', String(CATALOG_RETRY_AFTER_SECONDS))
        throw new CatalogUnavailableError()
      }
      // Only a refused credential counts: no credential at all, or too few scopes, is no guess.
      if (credential && err instanceof AuthChallengeError && err.code === 'MCP_ERR_INVALID_TOKEN') await failureLimit.failed(request.ip)
      throw err
    }
  })
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x', dependencies: ['config', 'metrics', 'catalog', 'redis', 'oauth-server'] })
