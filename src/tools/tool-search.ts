import MiniSearch from 'minisearch'
import * as z from 'zod'
import type { Tool as ListedTool } from '@modelcontextprotocol/server'
import type { Config } from '../config.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Principal, Tool } from './tool.ts'

/** What the search tool needs of the registry: the tools a principal may call, as tools/list would list them. */
export interface ToolDirectory {
  listingsFor: (principal: Principal) => readonly ListedTool[]
}

interface Indexed { index: MiniSearch<{ id: string }>, listings: ReadonlyMap<string, ListedTool> }

const searchResultSchema = z.object({
  name: z.string(),
  description: z.string(),
  inputSchema: z.record(z.string(), z.unknown()).optional(),
  parameters_hint: z.string().optional(),
  annotations: z.record(z.string(), z.unknown()).optional()
})

function parameterNames (listing: ListedTool): string[] {
  return Object.keys((listing.inputSchema as { properties?: Record<string, unknown> }).properties ?? {})
}

/**
 * MCP_TOOL_SEARCH_CONFIG's two tools. The search tool ranks the tools the caller may call
 * (BM25 through MiniSearch), exact names first; the call tool is
 * a name the Toolset answers itself, by calling the named tool with its full checks (scopes,
 * roles, rate limits, cache, size guard), so a proxied call is exactly a direct one.
 */
export function toolSearchTools (config: Config, directory: () => ToolDirectory): Tool[] {
  const settings = config.MCP_TOOL_SEARCH_CONFIG
  const hidden = new Set([settings.search_tool_name, settings.call_tool_name])
  // One index per permission set: the listings of one principal are shared by all like it.
  const indexes = new WeakMap<readonly ListedTool[], Indexed>()
  const indexed = (principal: Principal): Indexed => {
    const all = directory().listingsFor(principal)
    let entry = indexes.get(all)
    if (entry === undefined) {
      const listings = new Map(all.filter(listing => !hidden.has(listing.name)).map(listing => [listing.name, listing]))
      const index = new MiniSearch<{ id: string }>({ fields: ['name', 'words', 'title', 'description', 'parameters'], searchOptions: { boost: { name: 3, words: 3, title: 2 }, prefix: true, fuzzy: 0.2 } })
      index.addAll([...listings.values()].map(listing => ({
        id: listing.name,
        name: listing.name,
        words: listing.name.replaceAll('_', ' '),
        title: listing.title ?? '',
        description: listing.description ?? '',
        parameters: parameterNames(listing).join(' ')
      })))
      entry = { index, listings }
      indexes.set(all, entry)
    }
    return entry
  }
  const describe = (listing: ListedTool): z.output<typeof searchResultSchema> => {
    const description = listing.description ?? ''
    return {
      name: listing.name,
      description: description.length > settings.max_description_length ? `${description.slice(0, settings.max_description_length - 1)}…` : description,
      ...(settings.include_schemas ? { inputSchema: listing.inputSchema as Record<string, unknown> } : { parameters_hint: parameterNames(listing).join(', ') }),
      ...(listing.annotations === undefined ? {} : { annotations: listing.annotations as Record<string, unknown> })
    }
  }

  const search = defineTool({
    name: settings.search_tool_name,
    title: 'Search the tools',
    description: `Find the tools for a task among all this server offers (tools/list shows only a few): give words such as "list dashboards", "sql", "chart preview", or a tool's name. Returns up to ${settings.max_results} tools with their input schemas, best first; call one with ${settings.call_tool_name}. Without a query: every tool you may call.`,
    annotations: READ_ONLY,
    input: z.strictObject({ query: z.string().trim().max(500).optional().describe('words about the task, or a tool name; omit it for every tool') }),
    output: z.object({
      tools: z.array(searchResultSchema),
      count: z.int(),
      total_available: z.int().describe('tools you may call')
    }),
    run: async ({ query }, context) => {
      const { index, listings } = indexed(context.principal)
      let names: string[]
      if (query === undefined || query === '') {
        names = [...listings.keys()]
      } else {
        names = index.search(query).map(hit => String(hit.id))
      }
      // An exact name always comes first.
      const exact = query?.trim().toLowerCase()
      if (exact !== undefined && listings.has(exact)) names = [exact, ...names.filter(name => name !== exact)]
      const tools = names.slice(0, query === undefined || query === '' ? names.length : settings.max_results).map(name => describe(listings.get(name) as ListedTool))
      return { tools, count: tools.length, total_available: listings.size }
    },
    render: result => result.count === 0
      ? `No tool matches. ${result.total_available} tools are available: search with other words, or without a query to see them all.`
      : `${result.count} of ${result.total_available} tools:\n\n${result.tools.map(tool => `- ${tool.name}: ${tool.description}`).join('\n')}\n\nCall one with ${settings.call_tool_name} {"name": ..., "arguments": {...}}.`
  })

  const call = defineTool({
    name: settings.call_tool_name,
    title: 'Call a tool by name',
    description: `Call any tool this server offers by its name, with its arguments (find tools and their arguments with ${settings.search_tool_name}). The result is that tool's result; its permissions apply as if called directly.`,
    // It may call anything, so it says the most any tool may do.
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    input: z.strictObject({
      name: z.string().trim().min(1).max(100).describe('the tool to call'),
      // A JSON object's text: an object without declared properties is refused by some clients
      // (Gemini); an object is accepted as well (Toolset.callByName).
      arguments: z.string().max(1_000_000).optional().describe('its arguments as a JSON object, as its input schema says, e.g. {"identifier": "orders"}')
    }),
    output: z.object({}).passthrough(),
    // Never reached: the Toolset answers this name itself, with the named tool's result.
    run: async () => { throw new Error('call_tool is answered by the Toolset') },
    render: () => ''
  })
  return [search, call]
}
