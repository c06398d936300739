import createError from '@fastify/error'

/**
 * Every coded error of the service, in one place.
 *
 * HTTP-level errors are FastifyErrors; the /mcp route renders them as JSON-RPC error
 * objects (`jsonRpcCode`). Tool-level errors are ToolErrors; the tool wrapper turns them
 * into `isError: true` results that tell the model how to fix its call.
 */

export const HostNotAllowedError = createError('MCP_ERR_HOST_NOT_ALLOWED', 'Forbidden: the Host header is not in the allow-list of this server (MCP_ALLOWED_HOSTS)', 403)
export const OriginNotAllowedError = createError('MCP_ERR_ORIGIN_NOT_ALLOWED', 'Forbidden: the Origin header is not in the allow-list of this server (MCP_ALLOWED_ORIGINS)', 403)
export const MethodNotAllowedError = createError('MCP_ERR_METHOD_NOT_ALLOWED', 'Method not allowed: this stateless server answers POST only (no GET stream, no DELETE session)', 405)
export const UnsupportedMediaTypeError = createError('MCP_ERR_UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type: Content-Type must be application/json', 415)
export const InvalidJsonError = createError('MCP_ERR_INVALID_JSON', 'Parse error: the request body is not valid JSON', 400)
export const PoisonedJsonError = createError('MCP_ERR_POISONED_JSON', 'Parse error: the request body holds a "__proto__" key or a "constructor" object with a "prototype" key, which are refused (prototype poisoning); rename that key', 400)
export const BatchNotSupportedError = createError('MCP_ERR_BATCH_NOT_SUPPORTED', 'Invalid Request: JSON-RPC batches are not supported (removed in protocol 2025-06-18); send one message per request', 400)
export const InvalidJsonRpcError = createError('MCP_ERR_INVALID_JSONRPC', 'Invalid Request: expected one JSON-RPC 2.0 message object', 400)
export const BodyTooLargeError = createError('MCP_ERR_BODY_TOO_LARGE', 'Request body too large: the limit is %s bytes (MCP_MAX_REQUEST_BYTES)', 413)
export const AuthThrottledError = createError('MCP_ERR_AUTH_THROTTLED', 'Too many failed authentications from this address: at most %s per minute (MCP_AUTH_FAILURE_LIMIT). Retry in %s s.', 429)
export const PrincipalUnavailableError = createError('MCP_ERR_PRINCIPAL_UNAVAILABLE', 'Service unavailable: the configured user is missing or inactive', 503)
export const CatalogUnavailableError = createError('MCP_ERR_CATALOG_UNAVAILABLE', 'Service unavailable: the catalog cannot be reached right now; retry in a few seconds', 503)
export const RouteNotFoundError = createError('MCP_ERR_NOT_FOUND', 'Not found: the MCP endpoint is POST /mcp', 404)
export const InternalServerError = createError('MCP_ERR_INTERNAL', 'Internal server error', 500)

/** JSON-RPC error codes (JSON-RPC 2.0 §5.1; -32000 is the implementation-defined server error). */
export const JSON_RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  serverError: -32000
} as const

const JSON_RPC_CODE_BY_ERROR: Readonly<Record<string, number>> = {
  MCP_ERR_INVALID_JSON: JSON_RPC.parseError,
  MCP_ERR_POISONED_JSON: JSON_RPC.parseError,
  FST_ERR_CTP_INVALID_JSON_BODY: JSON_RPC.parseError,
  FST_ERR_CTP_EMPTY_JSON_BODY: JSON_RPC.parseError,
  MCP_ERR_BATCH_NOT_SUPPORTED: JSON_RPC.invalidRequest,
  MCP_ERR_INVALID_JSONRPC: JSON_RPC.invalidRequest,
  MCP_ERR_INTERNAL: JSON_RPC.internalError
}

/**
 * What a client may be told about an error: client errors (4xx) and our own coded errors
 * say what went wrong; anything else is "Internal server error", with details in the log.
 */
export function publicError (error: { statusCode?: number, code?: string, message: string }): { status: number, code: string, message: string } {
  const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode <= 599 ? error.statusCode : 500
  const ours = error.code?.startsWith('MCP_ERR_') === true
  if (status >= 500 && !ours) return { status, code: 'MCP_ERR_INTERNAL', message: 'Internal server error' }
  return { status, code: error.code ?? 'MCP_ERR_BAD_REQUEST', message: error.message }
}

export function jsonRpcCodeFor (code: string | undefined): number {
  return (code === undefined ? undefined : JSON_RPC_CODE_BY_ERROR[code]) ?? JSON_RPC.serverError
}

/** Kinds of tool failure, reported as `error_type` so a model (and a metric) can tell them apart. */
export type ToolErrorType =
  | 'invalid_arguments'
  | 'not_found'
  | 'permission_denied'
  | 'sql_error'
  | 'read_only'
  | 'not_allowed'
  | 'multiple_statements'
  | 'empty_statement'
  | 'result_too_large'
  /** A query or render needed more memory (or temporary storage) than its configured limit. */
  | 'resource_limit'
  | 'query_timeout'
  | 'cancelled'
  | 'busy'
  | 'database_unavailable'
  | 'response_too_large'
  | 'rate_limited'
  | 'internal_error'

/** A tool failure the caller can act on; rendered as an `isError: true` result. */
export class ToolError extends Error {
  readonly errorType: ToolErrorType
  /** What the model should do differently; shown after the message. */
  readonly hint: string | undefined
  /** Extra structured fields of the error result, e.g. retry_after_seconds. */
  readonly details: Readonly<Record<string, unknown>>

  constructor (errorType: ToolErrorType, message: string, hint?: string, details: Readonly<Record<string, unknown>> = {}) {
    super(message)
    this.name = 'ToolError'
    this.errorType = errorType
    this.hint = hint
    this.details = details
  }
}

/** Seconds a client is asked to wait when the catalog cannot be reached. */
export const CATALOG_RETRY_AFTER_SECONDS = 5

/**
 * The catalog's database cannot be reached (PostgreSQL down or restarting): a tool answers
 * `database_unavailable` with this message; before a tool runs (authentication), HTTP 503.
 * No host, URL or driver message in it; the driver's error is the `cause`, for the log.
 */
export class CatalogUnavailable extends ToolError {
  constructor (cause: unknown) {
    super('database_unavailable', 'The catalog (the metadata store behind every tool) cannot be reached right now.',
      'Retry in a few seconds; if it persists, an administrator should check the catalog database (the replica reports it on /readyz).',
      { retry_after_seconds: CATALOG_RETRY_AFTER_SECONDS })
    this.cause = cause
  }
}

export function notFound (kind: string, identifier: string | number, lookups: string, listTool: string): ToolError {
  return new ToolError(
    'not_found',
    `No ${kind} matches identifier ${JSON.stringify(identifier)} (looked up by ${lookups}).`,
    `Call ${listTool} to find valid identifiers.`
  )
}

/** The caller may not do this (a missing class permission, scope or data access); Superset's permission_denied. */
export function permissionDenied (message: string, hint?: string): ToolError {
  return new ToolError('permission_denied', message, hint)
}

/** No capacity right now (a full queue): retry after `retryAfterSeconds`; `_meta` carries retry_after_seconds. */
export function busy (message: string, retryAfterSeconds: number, hint = `Retry in ${retryAfterSeconds} s.`): ToolError {
  return new ToolError('busy', message, hint, { retry_after_seconds: retryAfterSeconds })
}

export function invalidArguments (message: string, hint?: string): ToolError {
  return new ToolError('invalid_arguments', message, hint)
}
