import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import * as z from 'zod'
import { ApiKeyRejectedError, isApiKeyShaped, parseApiKey, recordApiKeyUse, secretMatches, usableKey } from '../auth/api-keys.ts'
import { refuseThrottled } from '../auth/failure-limit.ts'

const exchangeRequest = z.object({
  name: z.string().min(1).max(200),
  secret: z.string().min(1).max(1000)
})

const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Invalid API token name or secret' }

/**
 * Preset-style token exchange: POST /v1/auth/ with an API key's name (or key id) and secret
 * returns a short-lived JWT signed with MCP_TOKEN_SIGNING_KEY, carrying the key's user and
 * scopes. Every refusal is the same 401; the reason is logged with MCP_JWT_DEBUG_ERRORS.
 * The public key is published at /.well-known/jwks.json (jwks.ts).
 */
async function tokenExchangePlugin (app: FastifyInstance): Promise<void> {
  const serviceTokens = app.serviceTokens
  if (serviceTokens === undefined) return
  const tokens = serviceTokens
  const { catalog, config } = app

  async function exchange (request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    reply.header('cache-control', 'no-store')
    // A name and secret are a credential: an address out of its failure budget is refused first.
    await refuseThrottled(app.authFailureLimit, request, reply)
    const parsed = exchangeRequest.safeParse(request.body)
    if (!parsed.success) {
      return await reply.code(400).send({ error: 'invalid_request', error_description: 'Send JSON {"name": "<API token name>", "secret": "<API token secret>"}' })
    }
    const { name, secret } = parsed.data
    try {
      const key = await catalog.findApiKey(name)
      if (key === undefined) throw new ApiKeyRejectedError('unknown API token name')
      // The secret may be the whole key as shown at creation, or only its secret part.
      const parts = isApiKeyShaped(secret, config.MCP_API_KEY_PREFIX) ? parseApiKey(secret, config.MCP_API_KEY_PREFIX) : { keyId: key.key_id, secret }
      if (parts === undefined || parts.keyId !== key.key_id || !secretMatches(key, parts.secret)) throw new ApiKeyRejectedError('wrong secret')
      usableKey(key)
      const user = await catalog.findUserById(key.user_id)
      if (user === undefined || !user.active) throw new ApiKeyRejectedError('the user of the key is inactive')
      const { accessToken, expiresIn } = tokens.issue(key)
      await recordApiKeyUse(catalog, key)
      app.metrics.authAttempt('token_exchange', 'success')
      request.log.info({ api_key: key.name, user: user.username }, 'API key exchanged for a token')
      return { payload: { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn } }
    } catch (err) {
      app.metrics.authAttempt('token_exchange', 'rejected')
      await app.authFailureLimit.failed(request.ip)
      if (config.MCP_JWT_DEBUG_ERRORS) request.log.warn({ reason: (err as Error).message, source_ip: request.ip }, 'token exchange refused')
      else request.log.info('token exchange refused')
      return await reply.code(401).send(INVALID_CLIENT)
    }
  }

  app.post('/v1/auth/', exchange)
  app.post('/v1/auth', exchange)
}

export default fp(tokenExchangePlugin, { name: 'token-exchange', fastify: '5.x', dependencies: ['config', 'catalog', 'auth', 'metrics'] })
