import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { LinkSigner } from '../links/signer.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and checks the links to the service's chart, dashboard, explore and SQL pages. */
    links: LinkSigner
  }
}

/** MCP_LINK_SECRET, or the catalog's own key: every replica on one catalog signs alike. */
async function linksPlugin (app: FastifyInstance): Promise<void> {
  const { config } = app
  const secret = config.MCP_LINK_SECRET ?? await app.catalog.linkSecret()
  app.decorate('links', new LinkSigner(secret, config.serviceUrl, config.MCP_LINK_TTL))
}

export default fp(linksPlugin, { name: 'links', fastify: '5.x', dependencies: ['config', 'catalog'] })
