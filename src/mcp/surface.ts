import type {
  CallToolResult, GetPromptResult, InputRequiredResult, Prompt, ReadResourceResult, Resource, ResourceTemplateType, ServerContext, Tool as ListedTool
} from '@modelcontextprotocol/server'
import type { CallScope } from './toolset.ts'

/**
 * What the MCP server offers besides the Toolset's tools: resources, resource templates and
 * prompts, each with the code that reads or renders it. The service's own entries are built
 * in mcp/resources.ts, mcp/resource-templates.ts and mcp/prompts.ts; `buildApp` may add more
 * (the conformance fixture registers the suite's test tools, resources and prompts this way,
 * so they only exist there).
 */
export interface McpSurface {
  resources: readonly SurfaceResource[]
  templates: readonly SurfaceTemplate[]
  prompts: readonly SurfacePrompt[]
  /** Tools served by their own handler rather than the Toolset (fixtures only). */
  tools: readonly SurfaceTool[]
}

export interface SurfaceResource {
  resource: Resource
  read: (uri: string, scope: CallScope) => Promise<ReadResourceResult> | ReadResourceResult
}

export interface SurfaceTemplate {
  template: ResourceTemplateType
  /** The template's variables when `uri` is one of its resources. */
  match: (uri: string) => Readonly<Record<string, string>> | undefined
  read: (uri: string, variables: Readonly<Record<string, string>>, scope: CallScope) => Promise<ReadResourceResult>
  /** Values for a variable that start like `value` (completion/complete), at most 100. */
  complete?: (variable: string, value: string, scope: CallScope) => Promise<readonly string[]> | readonly string[]
}

export interface SurfacePrompt {
  prompt: Prompt
  /** May ask the client for input first (2026-07-28 multi-round-trip): `context` carries its answers. */
  get: (args: Readonly<Record<string, string>>, scope: CallScope, context: ServerContext) => Promise<GetPromptResult | InputRequiredResult> | GetPromptResult | InputRequiredResult
  complete?: (argument: string, value: string, scope: CallScope) => Promise<readonly string[]> | readonly string[]
}

export interface SurfaceTool {
  listing: ListedTool
  call: (args: Record<string, unknown>, context: ServerContext, scope: CallScope) => Promise<CallToolResult | InputRequiredResult> | CallToolResult | InputRequiredResult
}

export const EMPTY_SURFACE: McpSurface = { resources: [], templates: [], prompts: [], tools: [] }

/** Two surfaces as one: the service's own entries first. */
export function mergeSurfaces (first: McpSurface, second: Partial<McpSurface> | undefined): McpSurface {
  if (second === undefined) return first
  return {
    resources: [...first.resources, ...(second.resources ?? [])],
    templates: [...first.templates, ...(second.templates ?? [])],
    prompts: [...first.prompts, ...(second.prompts ?? [])],
    tools: [...first.tools, ...(second.tools ?? [])]
  }
}

/**
 * A matcher for a URI template of simple `{name}` variables (RFC 6570 level 1): each variable
 * takes one path segment, percent-decoded.
 */
export function uriTemplateMatcher (template: string): (uri: string) => Record<string, string> | undefined {
  const names: string[] = []
  const pattern = template.split(/(\{[A-Za-z0-9_]+\})/).map(part => {
    const variable = /^\{([A-Za-z0-9_]+)\}$/.exec(part)
    if (variable === null) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    names.push(variable[1] as string)
    return '([^/?#]+)'
  }).join('')
  const regex = new RegExp(`^${pattern}$`)
  return uri => {
    const match = regex.exec(uri)
    if (match === null) return undefined
    const variables: Record<string, string> = {}
    try {
      names.forEach((name, index) => { variables[name] = decodeURIComponent(match[index + 1] as string) })
    } catch {
      return undefined
    }
    return variables
  }
}

/** Completion values: those that start with `value` first, then those that contain it; at most 100. */
export function completionsFor (candidates: Iterable<string>, value: string): string[] {
  const needle = value.toLowerCase()
  const starts: string[] = []
  const contains: string[] = []
  for (const candidate of new Set(candidates)) {
    const lower = candidate.toLowerCase()
    if (lower.startsWith(needle)) starts.push(candidate)
    else if (needle !== '' && lower.includes(needle)) contains.push(candidate)
  }
  return [...starts.sort(), ...contains.sort()].slice(0, 100)
}
