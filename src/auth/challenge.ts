/**
 * RFC 6750 challenges. A refused credential gets a status, a WWW-Authenticate header that
 * tells a client where to get a better one (RFC 9728 resource metadata, scopes), and a generic
 * body: the reason is never sent (it goes to the server log when MCP_JWT_DEBUG_ERRORS is on).
 */

export interface ChallengeContext {
  /** URL of the protected-resource metadata, when published. */
  resourceMetadataUrl: string | undefined
  /** Scopes to suggest in 401 challenges. */
  scopes: readonly string[]
  /** Where users create API keys (MCP_API_KEY_CREATE_URL), named when a refused credential was an API key. */
  apiKeyCreateUrl?: string | undefined
}

export class AuthChallengeError extends Error {
  readonly statusCode: 401 | 403
  readonly code: string
  readonly wwwAuthenticate: string
  readonly body: Readonly<Record<string, string>>

  constructor (statusCode: 401 | 403, code: string, wwwAuthenticate: string, body: Record<string, string>) {
    super(body.error_description ?? code)
    this.name = 'AuthChallengeError'
    this.statusCode = statusCode
    this.code = code
    this.wwwAuthenticate = wwwAuthenticate
    this.body = body
  }
}

/** Quoted-string values keep printable ASCII only: no quote, backslash or line break can break out. */
function header (parameters: Record<string, string | undefined>): string {
  const pairs = Object.entries(parameters).filter(([, value]) => value !== undefined && value !== '').map(([name, value]) => `${name}="${String(value).replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`)
  return `Bearer ${pairs.join(', ')}`
}

/** No credential at all: RFC 6750 §3.1 says no error code, just how to authenticate. */
export function missingCredentials (context: ChallengeContext): AuthChallengeError {
  return new AuthChallengeError(401, 'MCP_ERR_UNAUTHORIZED',
    header({ realm: 'analytics-mcp', resource_metadata: context.resourceMetadataUrl, scope: context.scopes.join(' ') }),
    { error: 'unauthorized', error_description: 'Authentication required: send Authorization: Bearer <token>' })
}

/**
 * A credential that was refused, for whatever reason (the same answer for every reason). A
 * refused API key says where to create a new one when MCP_API_KEY_CREATE_URL is set, as
 * Superset does: the caller knows it sent a key, so this tells nothing about why it failed.
 */
export function invalidCredentials (context: ChallengeContext, wasApiKey = false): AuthChallengeError {
  const description = wasApiKey && context.apiKeyCreateUrl !== undefined
    ? `The API key is invalid, expired or revoked; create a new one at ${context.apiKeyCreateUrl}`
    : 'The access token is invalid'
  return new AuthChallengeError(401, 'MCP_ERR_INVALID_TOKEN',
    header({ realm: 'analytics-mcp', error: 'invalid_token', error_description: description, resource_metadata: context.resourceMetadataUrl, scope: context.scopes.join(' ') }),
    { error: 'invalid_token', error_description: description })
}

/** A valid credential without the scopes an operation needs; `scopes` lists all of them. */
export function insufficientScope (context: ChallengeContext, scopes: readonly string[]): AuthChallengeError {
  const scope = [...new Set(scopes)].join(' ')
  return new AuthChallengeError(403, 'MCP_ERR_INSUFFICIENT_SCOPE',
    header({ realm: 'analytics-mcp', error: 'insufficient_scope', error_description: `This needs the scopes: ${scope}`, scope, resource_metadata: context.resourceMetadataUrl }),
    { error: 'insufficient_scope', error_description: `This needs the scopes: ${scope}`, scope })
}
