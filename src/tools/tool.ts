import type * as z from 'zod'
import type { FastifyBaseLogger } from 'fastify'
import type { Scope } from '../auth/scopes.ts'
import type { AccessProfile, RequiredPermission } from '../catalog/access.ts'
import type { Catalog } from '../catalog/catalog.ts'
import type { UserRecord } from '../catalog/records.ts'
import type { RenderPool } from '../charts/render-pool.ts'
import type { Config } from '../config.ts'
import type { EngineRegistry } from '../engines/engines.ts'
import type { LinkSigner } from '../links/signer.ts'
import { invalidArguments, permissionDenied } from '../errors.ts'
import { truncationNotice } from '../mcp/size-guard.ts'
import type { ResponseTruncation } from '../mcp/size-guard.ts'

/** How a principal proved who it is. */
export type AuthMethod = 'dev' | 'jwt' | 'api_key' | 'exchanged_token' | 'oauth' | 'custom'

/** Who is calling: the catalog user, how they authenticated, and what they may do. */
export interface Principal {
  user: UserRecord
  authMethod: AuthMethod
  /**
   * OAuth scopes granted to the credential; undefined when the credential is not
   * scope-limited (development mode, or a token or API key without scopes).
   */
  scopes?: readonly string[] | undefined
  /** The OAuth client or API key the call came through, for the audit log. */
  clientId?: string | undefined
  /** What the user's roles allow (RBAC), computed once per request. */
  access: AccessProfile
  /** When the credential expires (ms since the epoch): long-lived streams end then. */
  expiresAt?: number | undefined
}

/** What a tool handler gets besides its arguments. Tools never see Fastify or HTTP. */
export interface ToolContext {
  principal: Principal
  catalog: Catalog
  engines: EngineRegistry
  /** Renders chart images (PNG previews) in worker threads, the user's share at a time. */
  renderer: RenderPool
  /** Signs links to the service's pages (explore_url, dashboard_url, SQL links). */
  links: LinkSigner
  config: Config
  log: FastifyBaseLogger
  /** Aborted when the client goes away; long work (SQL) stops with it. */
  signal: AbortSignal
  /** Random id of this call, echoed in the result's `_meta` and in the audit log. */
  callId: string
  /** Names of the tools this principal may call (for get_instance_info). */
  availableTools: readonly string[]
  /** Add an image (a PNG preview) to the result's content, after its text. */
  attachImage?: (image: ToolImage) => void
  /** Report progress; present only when the client asked for it (a progressToken). */
  progress?: ProgressReporter | undefined
}

/** Sends one notifications/progress for the call in flight. */
export type ProgressReporter = (progress: number, total?: number, message?: string) => Promise<void>

/** Image content of a result, base64 as MCP carries it. */
export interface ToolImage {
  data: string
  mimeType: string
}

/** MCP tool annotations (hints for clients; they are not a security boundary). */
export interface ToolAnnotations {
  title: string
  readOnlyHint: boolean
  destructiveHint: boolean
  idempotentHint: boolean
  openWorldHint: boolean
}

/** Everything the service knows about one tool: schemas, hints, handler and text rendering. */
export interface ToolDefinition<Input extends z.ZodObject = z.ZodObject, Output extends z.ZodObject = z.ZodObject> {
  name: string
  title: string
  /** Written for a model: what the tool does, when to use it, what it returns. */
  description: string
  annotations: Omit<ToolAnnotations, 'title'>
  input: Input
  output: Output
  /** Superset-style synonyms accepted for argument names (alias → canonical name). */
  aliases?: Readonly<Record<string, string>>
  /** OAuth scope a scope-limited credential needs; omitted: any authenticated caller. */
  scope?: Scope
  /** Class permission (RBAC) the user's roles must grant; omitted: any user. */
  permission?: RequiredPermission
  run: (args: z.output<Input>, context: ToolContext) => Promise<z.output<Output>> | z.output<Output>
  /** The concise text content that accompanies `structuredContent`. */
  render: (result: z.output<Output>) => string
  /**
   * How the response size guard may shorten a result that is too large: its list of items
   * (rows, a list page). Without it, a result over the limit is refused with `sizeHints`.
   */
  truncation?: {
    /** Plural noun of the items, for the notice: "rows", "charts". */
    noun: string
    count: (result: z.output<Output>) => number
    /** The result with only its first `keep` items, its counts updated, carrying `notice`. */
    keep: (result: z.output<Output>, keep: number, notice: ResponseTruncation) => z.output<Output>
    /** How to ask for less: which arguments narrow the result. */
    hint: string
  }
  /** Ways to ask for less, listed when a result is too large (at most five are shown). */
  sizeHints?: readonly string[]
  /** The result describes this replica at this moment (health): never cached. */
  volatile?: boolean
  /** The result reads live data a catalog write does not announce (table lists): cached at most this long. */
  maxCacheSeconds?: number
  /** The tool's `_meta` in tools/list (MCP Apps: the ui:// resource that shows its result). */
  meta?: Record<string, unknown>
}

/** A tool as the registry holds it: schemas and metadata, and a type-erased `invoke`. */
export interface Tool {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly annotations: ToolDefinition['annotations']
  readonly input: z.ZodObject
  readonly output: z.ZodObject
  readonly aliases: Readonly<Record<string, string>>
  readonly scope: Scope | undefined
  readonly permission: RequiredPermission | undefined
  /** Validate normalised arguments, run, and render; throws ToolError on a bad call. */
  invoke: (args: unknown, context: ToolContext) => Promise<ToolOutcome>
  /** For the size guard: count the items of a result, and cut it to its first `keep` (re-rendered, notice first). */
  readonly truncation: {
    count: (structured: Record<string, unknown>) => number
    keep: (structured: Record<string, unknown>, keep: number, notice: ResponseTruncation) => ToolOutcome
    hint: string
  } | undefined
  readonly sizeHints: readonly string[]
  /** Never cached: the result describes this replica at this moment. */
  readonly volatile: boolean
  /** Cached at most this long (it reads live data); undefined: the configured TTL. */
  readonly maxCacheSeconds: number | undefined
  readonly meta: Record<string, unknown> | undefined
}

export interface ToolOutcome {
  structured: Record<string, unknown>
  text: string
  /** Images that follow the text in the result's content. */
  images?: ToolImage[] | undefined
}

/** Tools are built once at start-up from the configuration (some bounds come from it). */
export type ToolFactory = (config: Config) => Tool

const DEFAULT_SIZE_HINTS = [
  'Ask for one object at a time, or use a list tool with select_columns to fetch only the fields you need.',
  'Use filters or search to narrow what is returned.'
]

export function defineTool<Input extends z.ZodObject, Output extends z.ZodObject> (definition: ToolDefinition<Input, Output>): Tool {
  const argumentNames = Object.keys(definition.input.shape)
  const truncation = definition.truncation
  type Result = z.output<Output>
  return {
    name: definition.name,
    title: definition.title,
    description: definition.description,
    annotations: definition.annotations,
    input: definition.input,
    output: definition.output,
    aliases: definition.aliases ?? {},
    scope: definition.scope,
    permission: definition.permission,
    sizeHints: definition.sizeHints ?? DEFAULT_SIZE_HINTS,
    volatile: definition.volatile === true,
    maxCacheSeconds: definition.maxCacheSeconds,
    meta: definition.meta,
    truncation: truncation === undefined
      ? undefined
      : {
          hint: truncation.hint,
          count: structured => truncation.count(structured as Result),
          keep (structured, keep, notice) {
            const cut = truncation.keep(structured as Result, keep, notice)
            return { structured: cut as Record<string, unknown>, text: `${truncationNotice(notice, truncation.noun)}\n\n${definition.render(cut)}` }
          }
        },
    async invoke (args, context) {
      const parsed = definition.input.safeParse(args)
      if (!parsed.success) {
        throw invalidArguments(
          `Invalid arguments for ${definition.name}: ${describeIssues(parsed.error, args)}`,
          argumentNames.length === 0 ? `${definition.name} takes no arguments.` : `Arguments of ${definition.name}: ${argumentNames.join(', ')}.`
        )
      }
      const images: ToolImage[] = []
      const result = await definition.run(parsed.data, { ...context, attachImage: image => { images.push(image) } })
      return { structured: result as Record<string, unknown>, text: definition.render(result), ...(images.length === 0 ? {} : { images }) }
    }
  }
}

/**
 * "page_size: Too big: expected number to be <=100; filters.0.opr: Invalid option ...". A missing
 * top-level argument says so (zod's message for a missing union, e.g. an id or a name, is only
 * "Invalid input").
 */
export function describeIssues (error: z.ZodError, input?: unknown): string {
  const given = input !== null && typeof input === 'object' ? input as Record<string, unknown> : undefined
  return error.issues.map(issue => {
    const where = issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')}: `
    const [first] = issue.path
    if (issue.path.length === 1 && typeof first === 'string' && given !== undefined && given[first] === undefined && issue.code !== 'unrecognized_keys') {
      return `${where}required, but missing`
    }
    return `${where}${issue.message}`
  }).join('; ')
}

/** Annotations of a tool that creates or changes saved objects (not destructive, not idempotent). */
export const WRITES: ToolDefinition['annotations'] = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: false
}

/** Annotations of a tool that only reads the catalog or data. */
export const READ_ONLY: ToolDefinition['annotations'] = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false
}

/**
 * Superset's write rule for one saved object: can_write on its class and ownership, or Admin.
 * The refusal names the owners, so the model can say whom to ask.
 */
export async function assertMayModify (context: ToolContext, resource: 'Chart' | 'Dashboard' | 'Dataset', id: number, name: string, alternative: string): Promise<void> {
  const kind = resource.toLowerCase() as 'chart' | 'dashboard' | 'dataset'
  const owners = (await context.catalog.ownersOf(kind, [id])).get(id) ?? []
  if (!context.principal.access.mayModify(resource, owners.map(owner => owner.id))) {
    throw permissionDenied(`You may not change ${kind} ${id} ("${name}"): only its owners (${owners.map(owner => owner.username).join(', ') || 'none'}) and administrators may.`, alternative)
  }
}
