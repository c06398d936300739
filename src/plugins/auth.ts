import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ConfigError } from '../config.ts'
import { PrincipalUnavailableError } from '../errors.ts'
import type { Principal } from '../tools/tool.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of protected routes: sets request.principal or rejects the request. */
    authenticate: (request: FastifyRequest) => Promise<void>
  }
  interface FastifyRequest {
    /** Who the request runs as; set by `authenticate`. */
    principal: Principal | null
  }
}

/**
 * Development mode: every request runs as MCP_DEV_USERNAME, which must be an active catalog
 * user. This is the seam bearer-token authentication plugs into: `authenticate` is the only
 * place a principal comes from.
 */
async function authPlugin (app: FastifyInstance): Promise<void> {
  const username = app.config.MCP_DEV_USERNAME
  const user = app.catalog.findUserByUsername(username)
  if (user === undefined || !user.active) {
    throw new ConfigError([
      `MCP_DEV_USERNAME: the user "${username}" ${user === undefined ? 'does not exist' : 'is inactive'} in the catalog; create it with \`analytics-mcp users create --username ${username} --role Admin\`, or keep MCP_LOAD_EXAMPLES on to get the demo users`
    ])
  }
  app.log.warn({ user: username }, 'authentication is off (development mode): every MCP request runs as this user')

  app.decorateRequest('principal', null)
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    // Looked up per request, so deactivating the user takes effect at once.
    const current = app.catalog.findUserByUsername(username)
    if (current === undefined || !current.active) {
      request.log.error({ user: username }, 'the development user no longer exists or is inactive')
      throw new PrincipalUnavailableError()
    }
    request.principal = { user: current, authMethod: 'dev' }
  })
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x', dependencies: ['config', 'catalog'] })
