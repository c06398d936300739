import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import * as z from 'zod'
import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server'
import type { CallToolResult, ListToolsResult, Tool as ListedTool } from '@modelcontextprotocol/server'
import type { Catalog } from '../catalog/catalog.ts'
import type { RenderPool } from '../charts/render-pool.ts'
import type { Config } from '../config.ts'
import type { EngineRegistry } from '../engines/engines.ts'
import type { LinkSigner } from '../links/signer.ts'
import { hasScope } from '../auth/scopes.ts'
import { invalidArguments, permissionDenied, ToolError } from '../errors.ts'
import type { ToolErrorType } from '../errors.ts'
import type { Principal, ProgressReporter, Tool, ToolOutcome } from '../tools/tool.ts'
import { CACHE_ARGUMENTS } from '../cache/response-cache.ts'
import type { CacheStatus, ResponseCache } from '../cache/response-cache.ts'
import type { AuditStream } from '../events/audit-stream.ts'
import type { CacheResult } from '../plugins/metrics.ts'
import { argumentShape, normalizeArguments } from './arguments.ts'
import { inputPortabilityFindings, leanOutputSchema, portableInputSchema } from './json-schema.ts'
import type { ArgumentShape } from './arguments.ts'
import type { RateDecision, RateLimits } from './rate-limits.ts'
import { redactArguments } from './redact.ts'
import { bytesWithNote } from './size-guard.ts'
import type { SizeGuard } from './size-guard.ts'

export type CallOutcome = 'success' | 'tool_error' | 'error'

/** Observers of tool calls (metrics); the toolset itself stays free of prom-client. */
export interface ToolCallHooks {
  started?: (tool: string) => void
  finished?: (tool: string, outcome: CallOutcome, seconds: number) => void
  cacheLookup?: (tool: string, result: CacheResult) => void
}

/** What the /mcp route knows about the request a tool call arrives in. */
export interface CallScope {
  principal: Principal
  log: FastifyBaseLogger
  signal: AbortSignal
  /** Present when the client asked for progress notifications. */
  progress?: ProgressReporter | undefined
}

export interface ToolsetDependencies {
  catalog: Catalog
  engines: EngineRegistry
  renderer: RenderPool
  links: LinkSigner
  config: Config
  hooks?: ToolCallHooks
  /** MCP_CACHE_CONFIG, when enabled. */
  cache?: ResponseCache | undefined
  /** MCP_RESPONSE_SIZE_CONFIG. */
  sizeGuard?: SizeGuard | undefined
  /** MCP_RATE_LIMIT_CONFIG tool_limits. */
  rateLimits?: RateLimits | undefined
  /** The Redis audit stream, when Redis is configured. */
  audit?: AuditStream | undefined
  /** This replica's id in audit entries. */
  replica?: string
}

interface CompiledTool {
  tool: Tool
  listing: ListedTool
  shape: ArgumentShape
  /** Read-only tools accept use_cache and force_refresh (Superset's cache arguments). */
  cacheArguments: boolean
  /** JSON Schema of the result, for the era-specific projection of the SDK. */
  outputSchema: Record<string, unknown>
}


/**
 * The tool registry of one replica: tool schemas converted to JSON Schema once at start-up,
 * tools/list results computed once per permission set, and the wrapper every call goes
 * through (argument normalisation, validation, error mapping, metrics, audit log).
 */
export class Toolset {
  readonly names: readonly string[]
  private readonly tools: ReadonlyMap<string, CompiledTool>
  private readonly dependencies: ToolsetDependencies
  private readonly listings = new Map<string, ListToolsResult>()
  private readonly allowedNames = new Map<string, readonly string[]>()
  private readonly structuredOutput: boolean
  private readonly allListings = new Map<string, readonly ListedTool[]>()
  /** With MCP_TOOL_SEARCH_CONFIG on: the names tools/list shows, and the call tool's name. */
  private readonly listedNames: ReadonlySet<string> | undefined
  private readonly callToolName: string | undefined

  constructor (tools: readonly Tool[], dependencies: ToolsetDependencies) {
    this.dependencies = dependencies
    this.structuredOutput = dependencies.config.MCP_STRUCTURED_OUTPUT_ENABLED
    this.tools = new Map(tools.map(tool => [tool.name, compile(tool, this.structuredOutput)]))
    this.names = tools.map(tool => tool.name)
    const search = dependencies.config.MCP_TOOL_SEARCH_CONFIG
    this.listedNames = search.enabled ? new Set([...search.always_visible, search.search_tool_name, search.call_tool_name]) : undefined
    this.callToolName = search.enabled ? search.call_tool_name : undefined
  }

  /**
   * A tools/call result as a client gets it: without structuredContent when
   * MCP_STRUCTURED_OUTPUT_ENABLED is off (the text says the same). Our own readers of a
   * result (resource templates) take it before this.
   */
  forClient (result: CallToolResult): CallToolResult {
    if (this.structuredOutput || result.structuredContent === undefined) return result
    const { structuredContent: _structured, ...rest } = result
    return rest
  }

  has (name: string): boolean {
    return this.tools.has(name)
  }

  /** The tool, if registered. */
  get (name: string): Tool | undefined {
    return this.tools.get(name)?.tool
  }

  /** Why this principal may not call a tool (scope, then class permission), or undefined if it may. */
  refusal (tool: Tool, principal: Principal): ToolError | undefined {
    if (!hasScope(principal.scopes, tool.scope)) {
      return permissionDenied(`${tool.name} needs the scope ${tool.scope ?? ''}, which your credential does not carry.`, `Ask for a token (or API key) with the scope ${tool.scope ?? ''}.`)
    }
    // MCP_RBAC_ENABLED off (Superset's switch): class permissions are not checked; what a user may see still is.
    if (tool.permission !== undefined && this.dependencies.config.MCP_RBAC_ENABLED && !principal.access.can(tool.permission.permission, tool.permission.resource)) {
      return permissionDenied(`${tool.name} needs the permission ${tool.permission.permission} on ${tool.permission.resource}, which your roles do not grant.`, 'Ask an administrator for a role that grants it.')
    }
    return undefined
  }

  /** Tool names this principal may call: its scopes and roles both allow them (once per permission set). */
  namesFor (principal: Principal): readonly string[] {
    const key = permissionSetKey(principal)
    let names = this.allowedNames.get(key)
    if (names === undefined) {
      names = this.names.filter(name => this.refusal(this.compiled(name).tool, principal) === undefined)
      this.allowedNames.set(key, names)
    }
    return names
  }

  /** The tools/list result for a principal, computed once per permission set (scopes and class permissions). */
  listFor (principal: Principal): ListToolsResult {
    const key = permissionSetKey(principal)
    let listing = this.listings.get(key)
    if (listing === undefined) {
      // Tool search on: the pinned tools and the two search tools; every tool stays callable.
      const listed = this.listedNames
      listing = { tools: this.listingsFor(principal).filter(tool => listed === undefined || listed.has(tool.name)) }
      this.listings.set(key, listing)
    }
    // A fresh envelope: the SDK adds era-specific fields to the result it is given.
    return { tools: listing.tools }
  }

  /** Every tool a principal may call, as tools/list shows tools (the same array for one permission set). */
  listingsFor (principal: Principal): readonly ListedTool[] {
    const key = permissionSetKey(principal)
    let all = this.allListings.get(key)
    if (all === undefined) {
      all = this.namesFor(principal).map(name => this.compiled(name).listing)
      this.allListings.set(key, all)
    }
    return all
  }

  /** The scope a tools/call needs: its tool's, or, through tool search's call tool, the named tool's (so both ask for the same step-up). */
  scopeNeeded (name: string, rawArguments: unknown): string | undefined {
    const target = name === this.callToolName && isPlainRecord(rawArguments) && typeof rawArguments.name === 'string' ? rawArguments.name.trim() : name
    return this.tools.get(target)?.tool.scope
  }

  outputSchemaOf (name: string): Record<string, unknown> | undefined {
    return this.structuredOutput ? this.tools.get(name)?.outputSchema : undefined
  }

  /** Run one tools/call. Unknown tools are a protocol error; everything else is a result. */
  async call (name: string, rawArguments: unknown, scope: CallScope): Promise<CallToolResult> {
    if (name === this.callToolName) return await this.callByName(rawArguments, scope)
    const compiled = this.tools.get(name)
    if (compiled === undefined) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}. Call tools/list to see the available tools.`)
    }
    const { hooks, catalog, engines, renderer, links, config, cache, sizeGuard, rateLimits } = this.dependencies
    const { principal } = scope
    // randomUUID draws from a buffered pool: much cheaper per call than randomBytes.
    const callId = randomUUID().replaceAll('-', '').slice(0, 16)
    const log = scope.log.child({ call_id: callId, tool: name })
    const started = performance.now()
    hooks?.started?.(name)
    let outcome: CallOutcome = 'error'
    let errorType: ToolErrorType | undefined
    let args: Record<string, unknown> | undefined
    let cacheStatus: CacheStatus | undefined
    try {
      // Permissions first: the cache is only consulted for calls the caller may make.
      const refusal = this.refusal(compiled.tool, principal)
      if (refusal !== undefined) throw refusal
      args = normalizeArguments(rawArguments, compiled.shape)
      assertShallow(args)
      const { options, toolArguments } = cacheOptions(args, compiled.cacheArguments)
      const limited = await rateLimits?.forTool(name, principal)
      if (limited !== undefined && !limited.allowed) throw rateLimitedError(name, limited)

      const cacheable = cache !== undefined && cache.cacheable(compiled.tool) && options.useCache
      const key = cacheable ? await cache.keyFor('tool', name, toolArguments, principal) : undefined
      if (cache !== undefined) {
        if (key !== undefined && !options.forceRefresh) {
          const hit = await cache.get(key)
          hooks?.cacheLookup?.(name, hit === undefined ? 'miss' : 'hit')
          if (hit !== undefined) {
            outcome = 'success'
            cacheStatus = { hit: true, age_seconds: hit.ageSeconds }
            // The note about the cache is left out when it would take the result over the size limit.
            const note = servedFromCache(hit.ageSeconds)
            return successResult(hit.outcome, callId, cacheStatus, sizeGuard === undefined || sizeGuard.fits(compiled.tool, bytesWithNote(hit.bytes, note)) ? note : undefined)
          }
        } else {
          hooks?.cacheLookup?.(name, cache.cacheable(compiled.tool) ? 'bypass' : 'uncacheable')
        }
        cacheStatus = { hit: false, ...(options.useCache ? (options.forceRefresh ? { bypass: 'force_refresh' as const } : {}) : { bypass: 'use_cache' as const }) }
      }

      const result = await compiled.tool.invoke(toolArguments, {
        principal,
        catalog,
        // The principal's queries share the runners fairly with other users' (per-user queues).
        engines: engines.forPrincipal(String(principal.user.id)),
        renderer,
        links,
        config,
        log,
        signal: scope.signal,
        callId,
        availableTools: this.namesFor(principal),
        progress: scope.progress
      })
      const guarded = sizeGuard === undefined ? result : sizeGuard.apply(compiled.tool, result, log)
      if (key !== undefined && cache !== undefined) await cache.set(key, guarded, cache.ttlFor(compiled.tool))
      outcome = 'success'
      return successResult(guarded, callId, cacheStatus)
    } catch (err) {
      if (err instanceof ToolError) {
        outcome = 'tool_error'
        errorType = err.errorType
        return toolErrorResult(err, callId)
      }
      errorType = 'internal_error'
      log.error({ err }, 'tool call failed unexpectedly')
      return errorResult('internal_error', `Internal error in ${name}. It has been logged with call id ${callId}; retry, and report the id if it persists.`, callId)
    } finally {
      const seconds = (performance.now() - started) / 1000
      const durationMs = Math.round(seconds * 100_000) / 100
      hooks?.finished?.(name, outcome, seconds)
      const cacheLabel = cacheStatus === undefined ? undefined : cacheStatus.hit ? 'hit' : (cacheStatus.bypass ?? 'miss')
      log.info({
        audit: 'tool_call',
        user: principal.user.username,
        user_id: principal.user.id,
        auth_method: principal.authMethod,
        outcome,
        error_type: errorType,
        cache: cacheLabel,
        duration_ms: durationMs,
        arguments: redactArguments(args ?? rawArguments)
      }, 'tool call')
      this.dependencies.audit?.record({
        call_id: callId,
        tool: name,
        user: principal.user.username,
        user_id: principal.user.id,
        auth_method: principal.authMethod,
        client_id: principal.clientId,
        outcome,
        error_type: errorType,
        cache: cacheLabel,
        duration_ms: durationMs,
        replica: this.dependencies.replica ?? ''
      })
    }
  }

  /**
   * Tool search's call tool: the named tool's own call (every check it makes applies), after the
   * call tool's own arguments are checked. A wrong name is a tool error the model can act on.
   */
  private async callByName (rawArguments: unknown, scope: CallScope): Promise<CallToolResult> {
    const callId = randomUUID().replaceAll('-', '').slice(0, 16)
    const refused = (err: ToolError): CallToolResult => toolErrorResult(err, callId)
    const search = this.dependencies.config.MCP_TOOL_SEARCH_CONFIG
    const args = rawArguments ?? {}
    const name = isPlainRecord(args) ? args.name : undefined
    // The listed schema says a JSON object's text (portable to every client); an object is taken as it is.
    const given = isPlainRecord(args) ? args.arguments ?? {} : undefined
    let inner: unknown = given
    if (typeof given === 'string') {
      try {
        inner = given.trim() === '' ? {} : JSON.parse(given)
      } catch {
        inner = undefined
      }
    }
    const extra = isPlainRecord(args) ? Object.keys(args).filter(key => key !== 'name' && key !== 'arguments') : []
    if (typeof name !== 'string' || name.trim() === '' || !isPlainRecord(inner) || extra.length > 0) {
      return refused(invalidArguments(`Invalid arguments: ${search.call_tool_name} takes {"name": "<tool>", "arguments": {...}}${extra.length > 0 ? `; unknown: ${extra.join(', ')}` : ''}.`, `Find tools and their arguments with ${search.search_tool_name}.`))
    }
    const target = name.trim()
    if (target === search.call_tool_name || target === search.search_tool_name) {
      return refused(invalidArguments(`${search.call_tool_name} calls the other tools, not ${target}.`, `Call ${target} directly.`))
    }
    if (!this.tools.has(target)) {
      return refused(invalidArguments(`Unknown tool: ${target}.`, `Find the tool with ${search.search_tool_name}.`))
    }
    return await this.call(target, inner, scope)
  }

  private compiled (name: string): CompiledTool {
    const compiled = this.tools.get(name)
    if (compiled === undefined) throw new Error(`tool ${name} is not registered`)
    return compiled
  }
}

/** What decides which tools a principal may use: its scopes and its class permissions. */
function permissionSetKey (principal: Principal): string {
  return `${principal.scopes === undefined ? '*' : [...principal.scopes].sort().join(' ')}|${principal.access.classKey()}`
}

function isPlainRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A tool error as its result: the message, then the hint on the next line. */
function toolErrorResult (err: ToolError, callId: string): CallToolResult {
  return errorResult(err.errorType, err.hint === undefined ? err.message : `${err.message}\n${err.hint}`, callId, err.details)
}

/**
 * A failed call, as the MCP specification has tool errors: `isError: true` with the message
 * in `content`, where every client shows it to the model. It carries no `structuredContent`:
 * that must match the tool's `outputSchema` (which describes a success), and SDK v1 clients and
 * the Inspector reject a result whose structured part does not, hiding the message. Superset's
 * error fields (error_type, permission_denied) and details (retry_after_seconds) go in `_meta`.
 */
function errorResult (errorType: ToolErrorType, text: string, callId: string, details: Readonly<Record<string, unknown>> = {}): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text }],
    _meta: { call_id: callId, error_type: errorType, ...(errorType === 'permission_denied' ? { permission_denied: true } : {}), ...details }
  }
}

function successResult (result: ToolOutcome, callId: string, cacheStatus: CacheStatus | undefined, note?: string): CallToolResult {
  return {
    content: [
      { type: 'text', text: note === undefined ? result.text : `${result.text}\n\n${note}` },
      ...(result.images ?? []).map(image => ({ type: 'image' as const, data: image.data, mimeType: image.mimeType }))
    ],
    structuredContent: result.structured,
    _meta: { call_id: callId, ...(cacheStatus === undefined ? {} : { cache_status: cacheStatus }) }
  }
}

function servedFromCache (ageSeconds: number): string {
  return `(From the response cache, computed ${ageSeconds} s ago. Pass force_refresh: true for a fresh result.)`
}

/** Superset's cache arguments, taken out of a read-only tool's arguments. */
function cacheOptions (args: Record<string, unknown>, accepted: boolean): { options: { useCache: boolean, forceRefresh: boolean }, toolArguments: Record<string, unknown> } {
  if (!accepted) return { options: { useCache: true, forceRefresh: false }, toolArguments: args }
  const { use_cache: useCache, force_refresh: forceRefresh, ...toolArguments } = args
  for (const [name, value] of [['use_cache', useCache], ['force_refresh', forceRefresh]] as const) {
    if (value !== undefined && typeof value !== 'boolean') throw invalidArguments(`Invalid arguments: ${name} must be true or false.`)
  }
  return { options: { useCache: useCache !== false, forceRefresh: forceRefresh === true }, toolArguments }
}

function rateLimitedError (tool: string, decision: Exclude<RateDecision, { allowed: true }>): ToolError {
  const message = decision.reason === 'limited'
    ? `Rate limit reached for ${tool}: ${decision.limit.perMinute} calls per minute (${decision.limit.capacity} at once). Retry in ${decision.retryAfterSeconds} s.`
    : `${tool} is rate-limited and the rate limiter is unavailable. Retry in ${decision.retryAfterSeconds} s.`
  return new ToolError('rate_limited', message, 'Wait before calling it again, and make fewer, larger calls (e.g. aggregate in one query).', { retry_after_seconds: decision.retryAfterSeconds })
}

/** Deeper than any tool's arguments go (config.filters[0].value[0] is five levels). */
const MAX_ARGUMENT_DEPTH = 32

/**
 * Refuses arguments nested deeper than MAX_ARGUMENT_DEPTH before anything walks them: the
 * response cache builds its key recursively, and a few thousand levels overflow the stack.
 * Level by level, so the check itself never recurses.
 */
function assertShallow (args: Record<string, unknown>): void {
  let level: unknown[] = [args]
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > MAX_ARGUMENT_DEPTH) {
      throw invalidArguments(`Invalid arguments: they nest more than ${MAX_ARGUMENT_DEPTH} levels deep.`, 'Send the arguments the tool\'s input schema describes; no argument needs more than a few levels.')
    }
    level = level.flatMap(value => value !== null && typeof value === 'object' ? Object.values(value) : [])
  }
}

type ObjectSchema = ListedTool['inputSchema']

function compile (tool: Tool, structuredOutput: boolean): CompiledTool {
  const inputSchema = z.toJSONSchema(tool.input, { io: 'input' }) as ObjectSchema
  const outputSchema = leanOutputSchema(z.toJSONSchema(tool.output, { io: 'output' })) as ObjectSchema
  // Volatile tools are never cached, so Superset's cache arguments would mean nothing there.
  const cacheArguments = tool.annotations.readOnlyHint && !tool.volatile
  const properties = { ...inputSchema.properties, ...(cacheArguments ? CACHE_ARGUMENTS : {}) }
  // Superset's {"request": {...}} form is accepted from every tool (arguments.ts) but not
  // advertised: a property-less object is one more thing some clients refuse.
  const listedInput = portableInputSchema({ ...inputSchema, properties }) as ObjectSchema
  const findings = inputPortabilityFindings(listedInput)
  if (findings.length > 0) {
    throw new Error(`tool ${tool.name}: input schema not portable: ${findings.map(finding => `${finding.path} ${finding.rule}`).join('; ')}`)
  }
  return {
    tool,
    cacheArguments,
    shape: argumentShape({ properties }, tool.aliases),
    outputSchema,
    listing: {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      inputSchema: listedInput,
      // MCP_STRUCTURED_OUTPUT_ENABLED off: no outputSchema, so clients expect no structuredContent.
      ...(structuredOutput ? { outputSchema } : {}),
      annotations: { title: tool.title, ...tool.annotations },
      ...(tool.meta === undefined ? {} : { _meta: tool.meta })
    }
  }
}
