import { timingSafeEqual } from 'node:crypto'
import * as z from 'zod'
import type { DeclaredOAuthClient } from '../config.ts'
import { OAuthError } from './errors.ts'
import { DocumentFetchError, fetchJsonDocument } from './fetch-document.ts'
import type { DocumentFetchOptions } from './fetch-document.ts'
import { redirectUriProblem } from './redirect-uris.ts'
import { randomToken } from './tokens.ts'
import { secretHash } from './store.ts'
import type { OAuthStore } from './store.ts'

export type ClientAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic'

/** A client as the authorization endpoint and the token endpoint see it, wherever it came from. */
export interface OAuthClient {
  client_id: string
  client_name: string
  redirect_uris: readonly string[]
  token_endpoint_auth_method: ClientAuthMethod
  /** pre-registered (MCP_OAUTH_CLIENTS), registered (RFC 7591) or a metadata document (CIMD). */
  kind: 'pre-registered' | 'registered' | 'metadata-document'
  /** SHA-256 of a confidential client's secret. */
  secretHash?: string | undefined
}

/** A client_id that names a Client ID Metadata Document: an https URL with a path. */
export function isMetadataDocumentId (clientId: string): boolean {
  return /^https:\/\//i.test(clientId)
}

const MAX_NAME = 200
const METADATA_DOCUMENT_LIMITS = { timeoutMs: 5000, maxBytes: 65_536 }
/** A fetched document is reused between these bounds, whatever its Cache-Control says. */
const METADATA_CACHE_MIN_SECONDS = 60
const METADATA_CACHE_MAX_SECONDS = 86_400
const METADATA_CACHE_DEFAULT_SECONDS = 3600
/** A document that could not be fetched is not fetched again for this long (no amplification). */
const METADATA_FAILURE_SECONDS = 10
const METADATA_CACHE_ENTRIES = 1000

const redirectUris = z.array(z.string().max(2000), { error: 'redirect_uris must be a list of URIs' }).min(1, 'redirect_uris must name at least one URI').max(20, 'at most 20 redirect_uris')

/** RFC 7591 §2 metadata this server reads; other fields are ignored, as the RFC allows. */
const registrationRequest = z.object({
  redirect_uris: redirectUris,
  client_name: z.string().trim().min(1).max(MAX_NAME).optional(),
  token_endpoint_auth_method: z.enum(['none', 'client_secret_post', 'client_secret_basic'], { error: 'token_endpoint_auth_method must be none, client_secret_post or client_secret_basic' }).optional(),
  grant_types: z.array(z.enum(['authorization_code', 'refresh_token'], { error: 'grant_types may only hold authorization_code and refresh_token' })).optional(),
  response_types: z.array(z.literal('code', { error: 'response_types may only hold code' })).optional(),
  scope: z.string().max(1000).optional(),
  client_uri: z.string().max(2000).optional(),
  logo_uri: z.string().max(2000).optional(),
  application_type: z.enum(['web', 'native']).optional()
}, { error: 'expected a JSON object of client metadata (RFC 7591)' })

/** What a metadata document must hold (draft-ietf-oauth-client-id-metadata-document §4). */
const metadataDocument = z.object({
  client_id: z.string(),
  client_name: z.string().trim().min(1).max(MAX_NAME).optional(),
  redirect_uris: redirectUris,
  token_endpoint_auth_method: z.literal('none', { error: 'token_endpoint_auth_method must be none (clients identified by a metadata document are public)' }).optional(),
  client_secret: z.undefined({ error: 'a metadata document must not hold a client_secret' }).optional()
}, { error: 'expected a JSON object' })

function firstIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  return issue === undefined ? 'invalid' : `${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`
}

function checkedRedirectUris (uris: readonly string[], error: string): void {
  for (const uri of uris) {
    const problem = redirectUriProblem(uri)
    if (problem !== undefined) throw new OAuthError(error, `redirect URI "${uri.slice(0, 200)}" ${problem}`)
  }
}

export interface ClientDirectoryOptions {
  store: OAuthStore
  declared: readonly DeclaredOAuthClient[]
  /** The environment pre-registered clients' secrets are read from (client_secret_env). */
  env: Readonly<Record<string, string | undefined>>
  metadataDocuments: { enabled: boolean, allowPrivateAddresses: boolean, ca?: string | undefined }
  registration: { enabled: boolean, unusedTtlSeconds: number }
}

/** Why a client id could not be used, for the page the person sees (the client is not trusted to redirect to). */
export class ClientLookupError extends Error {}

/**
 * Every client the authorization server knows: pre-registered ones (MCP_OAUTH_CLIENTS), ones
 * registered through RFC 7591 (in the catalog, shared by replicas), and ones identified by a
 * Client ID Metadata Document, fetched with SSRF protection and cached per replica.
 */
export class ClientDirectory {
  private readonly options: ClientDirectoryOptions
  private readonly declared = new Map<string, OAuthClient>()
  private readonly documents = new Map<string, { client?: OAuthClient, failure?: string, until: number }>()

  constructor (options: ClientDirectoryOptions) {
    this.options = options
    for (const client of options.declared) {
      let hash: string | undefined
      if (client.client_secret_env !== undefined) {
        const secret = options.env[client.client_secret_env]
        if (secret === undefined || secret.length < 16) throw new Error(`MCP_OAUTH_CLIENTS: client "${client.client_id}": the environment variable ${client.client_secret_env} ${secret === undefined ? 'is not set' : 'holds fewer than 16 characters'}`)
        hash = secretHash(secret)
      }
      this.declared.set(client.client_id, {
        client_id: client.client_id,
        client_name: client.client_name,
        redirect_uris: client.redirect_uris,
        token_endpoint_auth_method: hash === undefined ? 'none' : 'client_secret_basic',
        kind: 'pre-registered',
        secretHash: hash
      })
    }
  }

  /** The client, or undefined when no such client exists; ClientLookupError says why a metadata document failed. */
  async find (clientId: string): Promise<OAuthClient | undefined> {
    const declared = this.declared.get(clientId)
    if (declared !== undefined) return declared
    if (isMetadataDocumentId(clientId)) return this.options.metadataDocuments.enabled ? await this.fromMetadataDocument(clientId) : undefined
    const stored = await this.options.store.findClient(clientId)
    if (stored === undefined) return undefined
    await this.options.store.touchClient(stored)
    const metadata = stored.metadata
    return {
      client_id: stored.client_id,
      client_name: typeof metadata.client_name === 'string' ? metadata.client_name : 'Unnamed client',
      redirect_uris: Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris.filter((uri): uri is string => typeof uri === 'string') : [],
      token_endpoint_auth_method: (metadata.token_endpoint_auth_method as ClientAuthMethod | undefined) ?? 'none',
      kind: 'registered',
      secretHash: stored.secret_hash ?? undefined
    }
  }

  /** Whether the client proved who it is at the token endpoint: public clients have nothing to prove (PKCE does). */
  authenticated (client: OAuthClient, secret: string | undefined): boolean {
    if (client.token_endpoint_auth_method === 'none' || client.secretHash === undefined) return true
    if (secret === undefined) return false
    const presented = Buffer.from(secretHash(secret))
    const expected = Buffer.from(client.secretHash)
    return presented.length === expected.length && timingSafeEqual(presented, expected)
  }

  /** RFC 7591 registration: validated metadata in, the client's id (and secret) out. */
  async register (body: unknown): Promise<Record<string, unknown>> {
    const parsed = registrationRequest.safeParse(body)
    if (!parsed.success) {
      const redirect = parsed.error.issues.some(issue => issue.path[0] === 'redirect_uris')
      throw new OAuthError(redirect ? 'invalid_redirect_uri' : 'invalid_client_metadata', firstIssue(parsed.error))
    }
    const request = parsed.data
    checkedRedirectUris(request.redirect_uris, 'invalid_redirect_uri')
    const method = request.token_endpoint_auth_method ?? 'client_secret_basic'
    const secret = method === 'none' ? undefined : randomToken()
    const clientId = randomToken().slice(0, 32)
    const metadata = {
      client_name: request.client_name ?? 'Unnamed client',
      redirect_uris: request.redirect_uris,
      token_endpoint_auth_method: method,
      grant_types: request.grant_types ?? ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...(request.scope === undefined ? {} : { scope: request.scope }),
      ...(request.client_uri === undefined ? {} : { client_uri: request.client_uri }),
      ...(request.application_type === undefined ? {} : { application_type: request.application_type })
    }
    await this.options.store.registerClient({ client_id: clientId, secret_hash: secret === undefined ? null : secretHash(secret), metadata }, this.options.registration.unusedTtlSeconds)
    return {
      client_id: clientId,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
      ...metadata
    }
  }

  private async fromMetadataDocument (url: string): Promise<OAuthClient> {
    const cached = this.documents.get(url)
    if (cached !== undefined && cached.until > Date.now()) {
      if (cached.client !== undefined) return cached.client
      throw new ClientLookupError(cached.failure)
    }
    try {
      const client = await this.fetchMetadataDocument(url)
      return client
    } catch (err) {
      const message = err instanceof ClientLookupError ? err.message : 'the client metadata document could not be read'
      this.remember(url, { failure: message, until: Date.now() + METADATA_FAILURE_SECONDS * 1000 })
      throw new ClientLookupError(message)
    }
  }

  private async fetchMetadataDocument (url: string): Promise<OAuthClient> {
    let parsedUrl: URL
    try {
      parsedUrl = new URL(url)
    } catch {
      throw new ClientLookupError('the client id is not a valid URL')
    }
    if (parsedUrl.pathname === '/' || parsedUrl.hash !== '' || parsedUrl.username !== '' || parsedUrl.password !== '' || url.length > 2000) {
      throw new ClientLookupError('a client id URL must be an https URL with a path, and no fragment or credentials')
    }
    const fetchOptions: DocumentFetchOptions = { ...METADATA_DOCUMENT_LIMITS, allowPrivateAddresses: this.options.metadataDocuments.allowPrivateAddresses, ca: this.options.metadataDocuments.ca }
    let document
    try {
      document = await fetchJsonDocument(url, fetchOptions)
    } catch (err) {
      throw new ClientLookupError(err instanceof DocumentFetchError ? `the client metadata document at ${parsedUrl.host} could not be used: ${err.message}` : 'the client metadata document could not be fetched')
    }
    const parsed = metadataDocument.safeParse(document.body)
    if (!parsed.success) throw new ClientLookupError(`the client metadata document at ${parsedUrl.host} is not valid: ${firstIssue(parsed.error)}`)
    if (parsed.data.client_id !== url) throw new ClientLookupError(`the client metadata document at ${parsedUrl.host} names another client_id than its own URL`)
    try {
      checkedRedirectUris(parsed.data.redirect_uris, 'invalid_client_metadata')
    } catch (err) {
      throw new ClientLookupError(`the client metadata document at ${parsedUrl.host}: ${(err as Error).message}`)
    }
    const client: OAuthClient = {
      client_id: url,
      client_name: parsed.data.client_name ?? parsedUrl.host,
      redirect_uris: parsed.data.redirect_uris,
      token_endpoint_auth_method: 'none',
      kind: 'metadata-document'
    }
    const seconds = Math.min(METADATA_CACHE_MAX_SECONDS, Math.max(METADATA_CACHE_MIN_SECONDS, document.maxAgeSeconds ?? METADATA_CACHE_DEFAULT_SECONDS))
    this.remember(url, { client, until: Date.now() + seconds * 1000 })
    return client
  }

  private remember (url: string, entry: { client?: OAuthClient, failure?: string, until: number }): void {
    this.documents.delete(url)
    this.documents.set(url, entry)
    // The oldest entry goes first: a flood of client ids cannot grow the cache without bound.
    if (this.documents.size > METADATA_CACHE_ENTRIES) this.documents.delete(this.documents.keys().next().value as string)
  }
}
