import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ALL_SCOPES } from '../auth/scopes.ts'
import { resolveUser, UserRejectedError, usernameFromClaims } from '../auth/users.ts'
import type { UserResolutionOptions } from '../auth/users.ts'
import type { Catalog } from '../catalog/catalog.ts'
import { CatalogUnavailable } from '../errors.ts'
import type { PageAssets } from '../pages/assets.ts'
import { renderDocument } from '../pages/layout.ts'
import { trimEnd } from '../text.ts'
import type { Page } from '../pages/layout.ts'
import { consentPage, signInProblemPage } from '../pages/oauth-pages.ts'
import type { AuthorizationServer } from '../plugins/oauth-server.ts'
import { ClientLookupError } from './clients.ts'
import type { OAuthClient } from './clients.ts'
import { redirectDestination, redirectUriAllowed, redirectWith } from './redirect-uris.ts'
import { secretHash } from './store.ts'
import { randomToken } from './tokens.ts'
import { UpstreamError } from './upstream.ts'
import type { UpstreamChecks } from './upstream.ts'

/** Minutes a person has for the upstream sign-in, and then for the consent page. */
const SIGN_IN_TTL_SECONDS = 600
const CONSENT_TTL_SECONDS = 600
/** Codes are exchanged by the client right after the redirect (OAuth 2.1 recommends short-lived). */
const CODE_TTL_SECONDS = 60
export const CONSENT_COOKIE = 'amcp_consent'
/** RFC 7636 §4.1: 43 to 128 characters of the unreserved set. */
export const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/

/** What the browser flow keeps about a request between its steps. */
interface RequestPayload {
  client_id: string
  client_name: string
  client_kind: string
  redirect_uri: string
  code_challenge: string
  state: string | undefined
  scopes: string[]
  resource: string
  upstream: UpstreamChecks
}

export interface BrowserFlowContext {
  server: AuthorizationServer
  catalog: Catalog
  assets: PageAssets
  users: UserResolutionOptions
  resourceUrl: string
  secureCookies: boolean
  /** The path MCP_SERVICE_URL puts in front of this service's routes ('' at the root). */
  basePath: string
  contact: string
}

/** The parameters of a request, refusing repeats (RFC 6749 §3.1: each at most once). */
export function singleValued (source: unknown): Record<string, string> | undefined {
  const values: Record<string, string> = {}
  for (const [name, value] of Object.entries((source ?? {}) as Record<string, unknown>)) {
    if (typeof value !== 'string') return undefined
    values[name] = value
  }
  return values
}

/** The one resource tokens are issued for; a `resource` naming anything else is refused (RFC 8707). */
export function resourceProblem (requested: string | undefined, resourceUrl: string): boolean {
  if (requested === undefined) return false
  return trimEnd(requested, '/') !== resourceUrl
}

/** Scopes to grant: the known ones asked for, or all of them when none were named. */
export function grantedScopes (scope: string | undefined): string[] | undefined {
  if (scope === undefined || scope.trim() === '') return [...ALL_SCOPES]
  // Scopes we do not have (openid, offline_access, another server's) are left out, not refused.
  const known = scope.split(/\s+/).filter(item => (ALL_SCOPES as readonly string[]).includes(item))
  return known.length === 0 ? undefined : [...new Set(known)]
}

function sameSecret (a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** Form submissions may only go to this service and to where the answer is sent (Chromium checks redirects too). */
function pageCsp (formTarget: string | undefined): string {
  const form = formTarget === undefined ? "'none'" : `'self' ${formTarget}`
  return `default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'none'; base-uri 'none'; form-action ${form}; frame-ancestors 'none'`
}

function formTargetOf (redirectUri: string): string {
  const url = new URL(redirectUri)
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol
}

/**
 * The steps a person's browser goes through: /oauth/authorize (checked, then sent to the
 * upstream provider), /oauth/callback (signed in there, mapped to a catalog user, shown the
 * consent page) and /oauth/consent (Allow issues a single-use code, Deny tells the client).
 * Each step reads and writes the catalog only, so each may reach another replica.
 */
export class BrowserFlow {
  private readonly context: BrowserFlowContext

  constructor (context: BrowserFlowContext) {
    this.context = context
  }

  private async page (reply: FastifyReply, page: Page, formTarget?: string): Promise<FastifyReply> {
    return await reply.code(page.status)
      .header('content-security-policy', pageCsp(formTarget))
      .header('cache-control', 'no-store')
      .header('referrer-policy', page.referrer ?? 'no-referrer')
      .header('x-robots-tag', 'noindex, nofollow')
      .type('text/html; charset=utf-8')
      .send(renderDocument(page, this.context.assets))
  }

  private async problem (reply: FastifyReply, status: number, title: string, lines: string[], back?: { url: string, clientName: string }): Promise<FastifyReply> {
    return await this.page(reply, signInProblemPage({ status, title, lines, contact: this.context.contact, backUrl: back?.url, clientName: back?.clientName }))
  }

  /** Back to the client with an OAuth error (RFC 6749 §4.1.2.1), with `iss` (RFC 9207). */
  private errorRedirect (redirectUri: string, state: string | undefined, error: string, description: string): string {
    return redirectWith(redirectUri, { error, error_description: description, state, iss: this.context.server.issuer })
  }

  async authorize (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const query = singleValued(request.query)
    if (query === undefined) return await this.problem(reply, 400, 'This sign-in request is not valid', ['A parameter appears more than once. Start again from the application.'])
    const clientId = query.client_id
    if (clientId === undefined || clientId === '') return await this.problem(reply, 400, 'This sign-in request is not valid', ['It names no application (client_id). Start again from the application.'])
    let client: OAuthClient | undefined
    try {
      client = await this.context.server.clients.find(clientId)
    } catch (err) {
      if (err instanceof ClientLookupError) return await this.problem(reply, 400, 'This application cannot sign in here', [err.message])
      throw err
    }
    if (client === undefined) return await this.problem(reply, 400, 'This application is not known here', ['The application\'s registration is unknown or has expired. Remove the connection in the application and add it again.'])
    const redirectUri = query.redirect_uri ?? (client.redirect_uris.length === 1 ? client.redirect_uris[0] : undefined)
    // Never redirect to an address the client did not register: that is how codes get stolen.
    if (redirectUri === undefined || !redirectUriAllowed(client.redirect_uris, redirectUri)) {
      return await this.problem(reply, 400, 'This sign-in request is not valid', [`${client.client_name} asked to send you back to an address it did not register. Nothing was shared.`])
    }
    const state = query.state
    const fail = async (error: string, description: string): Promise<FastifyReply> => await reply.redirect(this.errorRedirect(redirectUri, state, error, description), 302)
    if (query.response_type !== 'code') return await fail('unsupported_response_type', 'Only response_type=code is supported')
    if (query.code_challenge === undefined) return await fail('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256')
    if (query.code_challenge_method !== 'S256') return await fail('invalid_request', 'Only code_challenge_method=S256 is supported')
    if (!PKCE_VALUE.test(query.code_challenge)) return await fail('invalid_request', 'code_challenge must be 43 to 128 characters of the base64url alphabet')
    if (resourceProblem(query.resource, this.context.resourceUrl)) return await fail('invalid_target', `This server issues tokens for ${this.context.resourceUrl} only`)
    const scopes = grantedScopes(query.scope)
    if (scopes === undefined) return await fail('invalid_scope', `No requested scope is known here; scopes: ${ALL_SCOPES.join(' ')}`)
    if (state !== undefined && state.length > 1000) return await fail('invalid_request', 'state is longer than 1000 characters')

    const requestId = randomToken()
    let upstream
    try {
      upstream = await this.context.server.upstream.authorizationUrl(requestId)
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err
      request.log.warn({ err }, 'upstream sign-in provider unavailable')
      return await this.problem(reply, 502, 'The sign-in service cannot be reached', [`Signing in goes through ${new URL(this.context.server.upstream.issuer).host}, which did not answer. Try again in a minute.`],
        { url: this.errorRedirect(redirectUri, state, 'temporarily_unavailable', 'The organisation\'s sign-in service cannot be reached; try again later'), clientName: client.client_name })
    }
    const payload: RequestPayload = { client_id: client.client_id, client_name: client.client_name, client_kind: client.kind, redirect_uri: redirectUri, code_challenge: query.code_challenge, state, scopes, resource: this.context.resourceUrl, upstream: upstream.checks }
    await this.context.server.store.createRequest(secretHash(requestId), payload as unknown as Record<string, unknown>, SIGN_IN_TTL_SECONDS)
    request.log.info({ client_id: client.client_id, client_kind: client.kind, scopes }, 'OAuth authorization started; sign-in at the upstream provider')
    return await reply.redirect(upstream.url, 302)
  }

  async callback (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const query = singleValued(request.query) ?? {}
    const expired = async (): Promise<FastifyReply> => await this.problem(reply, 400, 'This sign-in has expired or was already used', ['Start again from the application.'])
    if (query.state === undefined) return await expired()
    const id = secretHash(query.state)
    const pending = await this.context.server.store.findRequest(id)
    if (pending === undefined || pending.consent_hash !== null) return await expired()
    const payload = pending.payload as unknown as RequestPayload
    const back = (description: string): { url: string, clientName: string } => ({ url: this.errorRedirect(payload.redirect_uri, payload.state, 'access_denied', description), clientName: payload.client_name })
    const upstreamHost = new URL(this.context.server.upstream.issuer).host

    if (query.error !== undefined) {
      await this.context.server.store.takeRequest(id)
      const detail = `${query.error}${query.error_description === undefined ? '' : `: ${query.error_description.slice(0, 300)}`}`
      request.log.info({ upstream_error: query.error }, 'the upstream provider refused the sign-in')
      return await this.problem(reply, 403, `Sign-in at ${upstreamHost} did not succeed`, [`The organisation's sign-in service answered: ${detail}.`], back(`Sign-in at the organisation's identity provider did not succeed (${query.error})`))
    }
    let claims: Record<string, unknown>
    try {
      const callbackUrl = new URL(`${this.context.server.issuer}/oauth/callback`)
      callbackUrl.search = new URL(request.url, 'http://callback').search
      claims = await this.context.server.upstream.claimsFromCallback(callbackUrl, payload.upstream)
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err
      await this.context.server.store.takeRequest(id)
      request.log.warn({ err }, 'the upstream sign-in could not be completed')
      return await this.problem(reply, 502, `Sign-in at ${upstreamHost} could not be completed`, ['The answer of the organisation\'s sign-in service could not be verified. Start again from the application.'], back('The sign-in at the organisation\'s identity provider could not be completed'))
    }
    let user
    try {
      user = await resolveUser(this.context.catalog, claims, this.context.users)
    } catch (err) {
      if (err instanceof CatalogUnavailable) throw err
      await this.context.server.store.takeRequest(id)
      const name = await usernameFromClaims(claims, this.context.users).catch(() => undefined)
      const reason = err instanceof UserRejectedError ? err.message : 'user resolution failed'
      request.log.info({ reason, user: name }, 'signed in upstream but refused: no usable catalog user')
      const inactive = /inactive/.test(reason)
      return await this.problem(reply, 403, 'You have no access to analytics here',
        [name === undefined
          ? `You signed in at ${upstreamHost}, but your account there names no user this service knows (it reads the claims ${this.context.users.claims.join(', ')}).`
          : inactive ? `You signed in as ${name}, but that analytics account is deactivated.` : `You signed in as ${name}, but there is no analytics account for ${name}.`],
        back(inactive ? 'The user\'s analytics account is deactivated' : 'The user has no analytics account; an administrator must create it'))
    }
    const csrf = randomToken()
    if (!await this.context.server.store.awaitConsent(id, user.id, secretHash(csrf), CONSENT_TTL_SECONDS)) return await expired()
    void reply.header('set-cookie', `${CONSENT_COOKIE}=${csrf}; Path=${this.context.basePath}/oauth; Max-Age=${CONSENT_TTL_SECONDS}; HttpOnly; SameSite=Lax${this.context.secureCookies ? '; Secure' : ''}`)
    request.log.info({ client_id: payload.client_id, user: user.username }, 'signed in upstream; asking for consent')
    return await this.page(reply, consentPage({
      clientName: payload.client_name,
      clientId: payload.client_id,
      clientKind: payload.client_kind,
      destination: redirectDestination(payload.redirect_uri),
      scopes: payload.scopes,
      username: user.username,
      requestId: query.state,
      csrf,
      action: `${this.context.basePath}/oauth/consent`
    }), formTargetOf(payload.redirect_uri))
  }

  async consent (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const form = singleValued(request.body) ?? {}
    const cookie = cookieValue(request.headers.cookie, CONSENT_COOKIE)
    const invalid = async (): Promise<FastifyReply> => await this.problem(reply, 403, 'This consent form is not valid', ['It was not sent from the page this service showed you, or it was already used. Nothing was shared. Start again from the application.'])
    if (form.request === undefined || form.csrf === undefined || cookie === undefined || !sameSecret(form.csrf, cookie)) return await invalid()
    const id = secretHash(form.request)
    const pending = await this.context.server.store.findRequest(id)
    if (pending === undefined || pending.consent_hash === null || pending.user_id === null || !sameSecret(pending.consent_hash, secretHash(form.csrf))) return await invalid()
    // Taken out first: a second submission (double click, replay) finds nothing.
    if (await this.context.server.store.takeRequest(id) === undefined) return await invalid()
    void reply.header('set-cookie', `${CONSENT_COOKIE}=; Path=${this.context.basePath}/oauth; Max-Age=0; HttpOnly; SameSite=Lax${this.context.secureCookies ? '; Secure' : ''}`)
    const payload = pending.payload as unknown as RequestPayload
    if (form.decision !== 'allow') {
      request.log.info({ client_id: payload.client_id }, 'consent denied')
      return await reply.redirect(this.errorRedirect(payload.redirect_uri, payload.state, 'access_denied', 'The user denied access'), 303)
    }
    const code = randomToken()
    const grantId = randomUUID()
    await this.context.server.store.createGrant(
      { id: grantId, user_id: pending.user_id, client_id: payload.client_id, client_name: payload.client_name, scopes: payload.scopes.join(' '), resource: payload.resource },
      { hash: secretHash(code), redirect_uri: payload.redirect_uri, code_challenge: payload.code_challenge },
      CODE_TTL_SECONDS)
    request.log.info({ client_id: payload.client_id, grant: grantId }, 'consent given; authorization code issued')
    return await reply.redirect(redirectWith(payload.redirect_uri, { code, state: payload.state, iss: this.context.server.issuer }), 303)
  }
}

/** One cookie's value from a Cookie header. */
export function cookieValue (header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=')
    if (key === name) return rest.join('=')
  }
  return undefined
}
