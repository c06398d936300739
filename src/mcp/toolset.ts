import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import * as z from 'zod'
import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server'
import type { CallToolResult, ListToolsResult, Tool as ListedTool } from '@modelcontextprotocol/server'
import type { Catalog } from '../catalog/catalog.ts'
import type { Config } from '../config.ts'
import type { EngineRegistry } from '../engines/engines.ts'
import { hasScope } from '../auth/scopes.ts'
import { permissionDenied, ToolError } from '../errors.ts'
import type { ToolErrorType } from '../errors.ts'
import type { Principal, Tool } from '../tools/tool.ts'
import { argumentShape, normalizeArguments } from './arguments.ts'
import type { ArgumentShape } from './arguments.ts'
import { redactArguments } from './redact.ts'

export type ToolOutcome = 'success' | 'tool_error' | 'error'

/** Observers of tool calls (metrics); the toolset itself stays free of prom-client. */
export interface ToolCallHooks {
  started?: (tool: string) => void
  finished?: (tool: string, outcome: ToolOutcome, seconds: number) => void
}

/** What the /mcp route knows about the request a tool call arrives in. */
export interface CallScope {
  principal: Principal
  log: FastifyBaseLogger
  signal: AbortSignal
}

export interface ToolsetDependencies {
  catalog: Catalog
  engines: EngineRegistry
  config: Config
  hooks?: ToolCallHooks
}

interface CompiledTool {
  tool: Tool
  listing: ListedTool
  shape: ArgumentShape
  /** JSON Schema of the result, for the era-specific projection of the SDK. */
  outputSchema: Record<string, unknown>
}

const REQUEST_WRAPPER_PROPERTY = {
  type: 'object',
  description: 'Superset-compatible form: the same arguments wrapped in one object, e.g. {"request": {"page": 2}}. Prefer flat arguments.'
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

  constructor (tools: readonly Tool[], dependencies: ToolsetDependencies) {
    this.dependencies = dependencies
    this.tools = new Map(tools.map(tool => [tool.name, compile(tool)]))
    this.names = tools.map(tool => tool.name)
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
    if (tool.permission !== undefined && !principal.access.can(tool.permission.permission, tool.permission.resource)) {
      return permissionDenied(`${tool.name} needs the permission ${tool.permission.permission} on ${tool.permission.resource}, which your roles do not grant.`, 'Ask an administrator for a role that grants it.')
    }
    return undefined
  }

  /** Tool names this principal may call: its scopes and roles both allow them. */
  namesFor (principal: Principal): readonly string[] {
    return this.names.filter(name => this.refusal(this.compiled(name).tool, principal) === undefined)
  }

  /** The tools/list result for a principal, computed once per permission set (scopes and class permissions). */
  listFor (principal: Principal): ListToolsResult {
    const key = `${principal.scopes === undefined ? '*' : [...principal.scopes].sort().join(' ')}|${principal.access.classKey()}`
    let listing = this.listings.get(key)
    if (listing === undefined) {
      listing = { tools: this.namesFor(principal).map(name => this.compiled(name).listing) }
      this.listings.set(key, listing)
    }
    // A fresh envelope: the SDK adds era-specific fields to the result it is given.
    return { tools: listing.tools }
  }

  outputSchemaOf (name: string): Record<string, unknown> | undefined {
    return this.tools.get(name)?.outputSchema
  }

  /** Run one tools/call. Unknown tools are a protocol error; everything else is a result. */
  async call (name: string, rawArguments: unknown, scope: CallScope): Promise<CallToolResult> {
    const compiled = this.tools.get(name)
    if (compiled === undefined) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}. Call tools/list to see the available tools.`)
    }
    const { hooks, catalog, engines, config } = this.dependencies
    const callId = randomBytes(8).toString('hex')
    const log = scope.log.child({ call_id: callId, tool: name })
    const started = performance.now()
    hooks?.started?.(name)
    let outcome: ToolOutcome = 'error'
    let errorType: ToolErrorType | undefined
    let args: Record<string, unknown> | undefined
    try {
      const refusal = this.refusal(compiled.tool, scope.principal)
      if (refusal !== undefined) throw refusal
      args = normalizeArguments(rawArguments, compiled.shape)
      const result = await compiled.tool.invoke(args, {
        principal: scope.principal,
        catalog,
        engines,
        config,
        log,
        signal: scope.signal,
        callId,
        availableTools: this.namesFor(scope.principal)
      })
      outcome = 'success'
      return { content: [{ type: 'text', text: result.text }], structuredContent: result.structured, _meta: { call_id: callId } }
    } catch (err) {
      if (err instanceof ToolError) {
        outcome = 'tool_error'
        errorType = err.errorType
        return errorResult(err.errorType, err.hint === undefined ? err.message : `${err.message}\n${err.hint}`, callId)
      }
      errorType = 'internal_error'
      log.error({ err }, 'tool call failed unexpectedly')
      return errorResult('internal_error', `Internal error in ${name}. It has been logged with call id ${callId}; retry, and report the id if it persists.`, callId)
    } finally {
      const seconds = (performance.now() - started) / 1000
      hooks?.finished?.(name, outcome, seconds)
      log.info({
        audit: 'tool_call',
        user: scope.principal.user.username,
        user_id: scope.principal.user.id,
        auth_method: scope.principal.authMethod,
        outcome,
        error_type: errorType,
        duration_ms: Math.round(seconds * 100_000) / 100,
        arguments: redactArguments(args ?? rawArguments)
      }, 'tool call')
    }
  }

  private compiled (name: string): CompiledTool {
    const compiled = this.tools.get(name)
    if (compiled === undefined) throw new Error(`tool ${name} is not registered`)
    return compiled
  }
}

/**
 * A failed call: the text tells the model what to do; the structured part carries Superset's
 * error fields (error, error_type, permission_denied). Clients skip output-schema validation
 * on isError results.
 */
function errorResult (errorType: ToolErrorType, text: string, callId: string): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text }],
    structuredContent: { success: false, error: text, error_type: errorType, ...(errorType === 'permission_denied' ? { permission_denied: true } : {}) },
    _meta: { call_id: callId, error_type: errorType }
  }
}

type ObjectSchema = ListedTool['inputSchema']

function compile (tool: Tool): CompiledTool {
  const inputSchema = z.toJSONSchema(tool.input, { io: 'input' }) as ObjectSchema
  const outputSchema = z.toJSONSchema(tool.output, { io: 'output' }) as ObjectSchema
  const listedInput: ObjectSchema = { ...inputSchema, properties: { ...inputSchema.properties, request: REQUEST_WRAPPER_PROPERTY } }
  return {
    tool,
    shape: argumentShape(inputSchema, tool.aliases),
    outputSchema,
    listing: {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      inputSchema: listedInput,
      outputSchema,
      annotations: { title: tool.title, ...tool.annotations }
    }
  }
}
