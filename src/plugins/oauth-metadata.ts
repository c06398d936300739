import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ALL_SCOPES } from '../auth/scopes.ts'
import { authorizationServers } from './auth.ts'

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) at the path-inserted and the root
 * well-known URLs, so Claude, ChatGPT and Gemini CLI can find the organisation's identity
 * provider and run their OAuth flow. `resource` is this service's MCP URL: tokens must be
 * issued for it (their audience), and are never passed on to anything else.
 */
/**
 * Where the metadata is served: at /.well-known/oauth-protected-resource/mcp, which the
 * WWW-Authenticate challenges point to (under MCP_SERVICE_URL, so it is reachable wherever
 * /mcp is); at the RFC 9728 location of a resource with a path prefix (e.g.
 * /.well-known/oauth-protected-resource/analytics/mcp for https://host/analytics/mcp, for an
 * ingress that routes it here); and at the root variant, the MCP spec's last fallback. This
 * origin serves one resource, the MCP endpoint, so every variant describes it.
 */
function metadataPaths (resourceUrl: string): string[] {
  const resourcePath = new URL(resourceUrl).pathname
  return [...new Set(['/.well-known/oauth-protected-resource/mcp', `/.well-known/oauth-protected-resource${resourcePath}`, '/.well-known/oauth-protected-resource'])]
}

async function oauthMetadataPlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  if (!config.authRequired) return
  const servers = authorizationServers(config)
  if (servers.length === 0) {
    app.log.warn('OAuth protected-resource metadata is not published: set MCP_AUTHORIZATION_SERVERS (or MCP_JWT_ISSUER) so that MCP clients can find the identity provider')
    return
  }
  const metadata = {
    resource: config.resourceUrl,
    authorization_servers: servers,
    scopes_supported: ALL_SCOPES,
    bearer_methods_supported: ['header'],
    resource_name: config.MCP_APP_NAME
  }
  for (const url of metadataPaths(config.resourceUrl)) {
    // Browser-based clients read it cross-origin; it holds nothing secret.
    app.get(url, { config: { cors: 'public' } }, async function protectedResourceMetadata (_request, reply) {
      reply.header('cache-control', 'public, max-age=3600')
      return metadata
    })
  }
}

export default fp(oauthMetadataPlugin, { name: 'oauth-metadata', fastify: '5.x', dependencies: ['config', 'auth'] })
