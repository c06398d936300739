import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { JsonWebKey } from 'node:crypto'

/**
 * /.well-known/jwks.json: the public keys of the tokens this service signs (exchanged tokens,
 * the authorization server's access tokens), so other services can verify them too. One key
 * when both use MCP_TOKEN_SIGNING_KEY.
 */
async function jwksPlugin (app: FastifyInstance): Promise<void> {
  const keys = new Map<string, JsonWebKey>()
  for (const key of app.serviceTokens?.jwks().keys ?? []) keys.set(String(key.kid), key)
  if (app.oauthServer !== undefined) keys.set(app.oauthServer.tokens.key.kid, app.oauthServer.tokens.key.jwk)
  if (keys.size === 0) return
  const jwks = { keys: [...keys.values()] }
  app.get('/.well-known/jwks.json', { config: { cors: 'public' } }, async function serviceJwks (_request, reply) {
    reply.header('cache-control', 'public, max-age=300')
    return jwks
  })
}

export default fp(jwksPlugin, { name: 'jwks', fastify: '5.x', dependencies: ['config', 'auth', 'oauth-server'] })
