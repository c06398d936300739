import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify'
import { exploreSource, savedChartSource } from '../charts/service.ts'
import type { ChartContext } from '../charts/service.ts'
import { ToolError } from '../errors.ts'
import type { LinkClaims, LinkKind } from '../links/signer.ts'
import { PageAssets } from '../pages/assets.ts'
import { chartPage } from '../pages/chart-page.ts'
import { dashboardPage } from '../pages/dashboard-page.ts'
import { expiredLinkPage, failurePage, invalidLinkPage, notFoundPage, renderDocument, tooManyRequestsPage } from '../pages/layout.ts'
import type { Page } from '../pages/layout.ts'
import { linkPrincipal } from '../pages/principal.ts'
import { sqlPage, sqlPayload } from '../pages/sql-page.ts'

/**
 * What a page may load: our own scripts, styles and fonts, nothing inline (the charts' data
 * sits in inert JSON elements), no requests, no forms, no framing.
 */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

declare module 'fastify' {
  interface FastifyInstance {
    /** The pages' scripts, styles and fonts (also used by the OAuth consent page). */
    pageAssets: PageAssets
  }
}

const IMMUTABLE = 'public, max-age=31536000, immutable'

interface LinkRequest {
  /** A chart or dashboard id, or the key of an explore or SQL link's state. */
  Params: { id: string }
  Querystring: { u?: string, exp?: string, sig?: string }
}

/** Renders what a link shows, as the context's user; undefined: missing or not theirs to see. */
type PageBuilder = (context: ChartContext, claims: LinkClaims, request: FastifyRequest) => Promise<Page | undefined>

/** A link's signature opens the page: it must not reach the logs with the URL. */
function requestWithoutSignature (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: request.url.replace(/([?&]sig=)[^&]*/g, '$1[REDACTED]'),
    host: request.host,
    remoteAddress: request.ip
  }
}

const PAGE_ROUTE: RouteShorthandOptions = { logSerializers: { req: requestWithoutSignature } }

/** Not found and not visible are one answer; other tool errors are real failures. */
async function visibleOrUndefined<T> (find: () => Promise<T>): Promise<T | undefined> {
  try {
    return await find()
  } catch (err) {
    if (err instanceof ToolError && (err.errorType === 'not_found' || err.errorType === 'permission_denied')) return undefined
    throw err
  }
}

/**
 * The pages behind signed links (/charts/:id, /dashboards/:id, /explore/:key, /sql/:key) and
 * the assets they load (/assets/<content hash>/…). A page runs as the user the link was made
 * for, with that user's permissions now; the link itself grants nothing.
 */
async function pagesPlugin (app: FastifyInstance): Promise<void> {
  const assets = PageAssets.load()
  app.decorate('pageAssets', assets)
  const { catalog, engines, config, links } = app

  app.get<{ Params: { version: string, name: string } }>('/assets/:version/:name', async function pageAsset (request, reply) {
    const asset = assets.get(request.params.name)
    if (asset === undefined) return await reply.callNotFound()
    // A page from the previous release (rolling update) still gets an asset, just not cached for good.
    reply.header('cache-control', request.params.version === assets.version ? IMMUTABLE : 'public, max-age=300')
    reply.header('x-content-type-options', 'nosniff')
    reply.type(asset.contentType)
    return asset.body
  })

  async function send (reply: FastifyReply, page: Page): Promise<FastifyReply> {
    return await reply.code(page.status)
      .header('content-security-policy', PAGE_CSP)
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('x-robots-tag', 'noindex, nofollow')
      .type('text/html; charset=utf-8')
      .send(renderDocument(page, assets))
  }

  function linkPage (kind: LinkKind, build: PageBuilder) {
    return async function showLinkPage (request: FastifyRequest<LinkRequest>, reply: FastifyReply): Promise<FastifyReply> {
      const check = links.check(kind, request.params.id, request.query)
      if (!check.valid) {
        request.log.info({ kind, reason: check.reason }, 'page link refused')
        return await send(reply, check.reason === 'expired' ? expiredLinkPage(check.expiredAt) : invalidLinkPage())
      }
      try {
        const principal = await linkPrincipal(catalog, check.claims.userId)
        if (principal === undefined) {
          request.log.info({ kind, user_id: check.claims.userId }, 'page link refused: the user is missing or inactive')
          return await send(reply, invalidLinkPage())
        }
        // A link opens the same budget as the user's MCP calls: links cannot be used to get round it.
        const limited = await app.rateLimits.forRequest(principal)
        if (!limited.allowed) {
          request.log.info({ kind, user_id: principal.user.id, reason: limited.reason }, 'page refused: rate limit')
          reply.header('retry-after', String(limited.retryAfterSeconds))
          return await send(reply, tooManyRequestsPage(limited.retryAfterSeconds))
        }
        // Stop the queries when the browser goes away.
        const controller = new AbortController()
        reply.raw.once('close', () => controller.abort())
        const context: ChartContext = { catalog, engines: engines.forPrincipal(String(principal.user.id)), config, links, principal, signal: controller.signal }
        return await send(reply, await build(context, check.claims, request) ?? notFoundPage())
      } catch (err) {
        request.log.error({ err, kind }, 'page failed')
        return await send(reply, failurePage())
      }
    }
  }

  app.get<LinkRequest>('/charts/:id', PAGE_ROUTE, linkPage('chart', async (context, claims) => {
    const source = await visibleOrUndefined(async () => context.principal.access.can('can_read', 'Chart') ? await savedChartSource(context, claims.id) : undefined)
    return source === undefined ? undefined : await chartPage(context, source, { explore: false, expiresAt: claims.expiresAt })
  }))

  app.get<LinkRequest>('/explore/:id', PAGE_ROUTE, linkPage('explore', async (context, claims) => {
    const source = await visibleOrUndefined(async () => context.principal.access.can('can_read', 'Chart') ? await exploreSource(context, claims.id) : undefined)
    return source === undefined ? undefined : await chartPage(context, source, { explore: true, expiresAt: claims.expiresAt })
  }))

  app.get<LinkRequest>('/dashboards/:id', PAGE_ROUTE, linkPage('dashboard', async (context, claims, request) => {
    const { access, user } = context.principal
    const dashboard = access.can('can_read', 'Dashboard') ? await catalog.findDashboard(claims.id, access) : undefined
    if (dashboard === undefined) return undefined
    return await dashboardPage(context, dashboard, {
      expiresAt: claims.expiresAt,
      // Chart links expire with the dashboard link; relative, so they follow the host the page came from.
      chartLink: chartId => {
        const url = new URL(links.url('chart', chartId, user.id, claims.expiresAt))
        return url.pathname + url.search
      },
      onChartError: (err, chartId) => request.log.error({ err, chart_id: chartId }, 'dashboard chart failed')
    })
  }))

  app.get<LinkRequest>('/sql/:id', PAGE_ROUTE, linkPage('sql', async (context, claims) => {
    const { access, user } = context.principal
    const state = await catalog.findLinkState(claims.id)
    if (state === undefined || state.kind !== 'sql' || state.user_id !== user.id || state.database_id === null) return undefined
    const payload = sqlPayload(state)
    const database = await catalog.findDatabase(state.database_id, access)
    if (payload === undefined || database === undefined) return undefined
    return await sqlPage(context, database, payload, claims.expiresAt)
  }))
}

export default fp(pagesPlugin, { name: 'pages', fastify: '5.x', dependencies: ['config', 'catalog', 'engines', 'links', 'rate-limit'] })
