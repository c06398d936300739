import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { closestName, ConfigError, SETTINGS } from '../config.ts'
import { Toolset } from '../mcp/toolset.ts'
import { SUPERSET_TOOL_NAMES } from '../superset-settings.ts'
import { buildAllTools, buildTools } from '../tools/index.ts'
import { toolSearchTools } from '../tools/tool-search.ts'

declare module 'fastify' {
  interface FastifyInstance {
    toolset: Toolset
  }
}

/** Builds every tool once: schemas, JSON Schema conversions and tools/list results are shared by all requests. */
async function toolsPlugin (app: FastifyInstance): Promise<void> {
  // Tool search's tools read the registry they are part of: given it once it exists.
  let registry: Toolset | undefined
  const directory = (): Toolset => {
    if (registry === undefined) throw new Error('the toolset is not built yet')
    return registry
  }
  const tools = [...buildTools(app.config), ...(app.config.MCP_TOOL_SEARCH_CONFIG.enabled ? toolSearchTools(app.config, directory) : [])]
  const toolset = new Toolset(tools, {
    catalog: app.catalog,
    engines: app.engines,
    renderer: app.renderer,
    links: app.links,
    config: app.config,
    hooks: app.metrics.toolHooks,
    cache: app.responseCache,
    sizeGuard: app.sizeGuard,
    rateLimits: app.rateLimits,
    audit: app.auditStream,
    replica: app.clusterEvents.origin
  })
  registry = toolset
  app.metrics.registerTools(toolset.names)
  app.decorate('toolset', toolset)
  checkToolNames(app, buildAllTools(app.config).map(tool => tool.name))
  if (!app.config.MCP_RBAC_ENABLED) app.log.warn({ setting: 'MCP_RBAC_ENABLED' }, 'MCP_RBAC_ENABLED is false: tools do not check class permissions; any authenticated user may call any tool their scopes allow (what each user may see still applies)')
}

/**
 * Tool names in settings: a misspelt name in tool_limits would silently lift a limit, so it
 * stops start-up; in excluded_tools it only leaves a tool checked or cached (the safe side), so
 * it is a warning. Superset's default names of tools this release lacks are expected.
 */
function checkToolNames (app: FastifyInstance, names: readonly string[]): void {
  const known = new Set(names)
  const { config } = app
  // A misspelt disabled tool would stay on: only our names and Superset's (nothing to remove) pass.
  const supersetOnly = config.MCP_DISABLED_TOOLS.filter(name => !known.has(name) && SUPERSET_TOOL_NAMES.includes(name))
  const unknownDisabled = config.MCP_DISABLED_TOOLS.filter(name => !known.has(name) && !SUPERSET_TOOL_NAMES.includes(name))
  const noSuchTool = (setting: string, name: string): string => {
    const nearest = closestName(name, names, false)
    return `${setting}: no tool named ${name}${nearest === undefined ? '' : `; did you mean ${nearest}?`} (tools: ${names.join(', ')})`
  }
  if (unknownDisabled.length > 0) throw new ConfigError(unknownDisabled.map(name => noSuchTool('MCP_DISABLED_TOOLS', name)))
  const search = config.MCP_TOOL_SEARCH_CONFIG
  const unknownPinned = search.always_visible.filter(name => !known.has(name) && !SUPERSET_TOOL_NAMES.includes(name))
  if (unknownPinned.length > 0) throw new ConfigError(unknownPinned.map(name => noSuchTool('MCP_TOOL_SEARCH_CONFIG.always_visible', name)))
  for (const key of ['search_tool_name', 'call_tool_name'] as const) {
    if (known.has(search[key])) throw new ConfigError([`MCP_TOOL_SEARCH_CONFIG.${key}: ${search[key]} is the name of a tool; choose another`])
  }
  if (search.search_tool_name === search.call_tool_name) throw new ConfigError(['MCP_TOOL_SEARCH_CONFIG: search_tool_name and call_tool_name must differ'])
  if (supersetOnly.length > 0) app.log.warn({ setting: 'MCP_DISABLED_TOOLS', tools: supersetOnly }, `MCP_DISABLED_TOOLS names Superset tools this release does not have, so there is nothing to remove: ${supersetOnly.join(', ')}`)
  const unknownLimits = Object.keys(config.MCP_RATE_LIMIT_CONFIG.tool_limits).filter(name => !known.has(name))
  if (unknownLimits.length > 0) {
    throw new ConfigError([`MCP_RATE_LIMIT_CONFIG.tool_limits: no tool named ${unknownLimits.join(', ')} (tools: ${names.join(', ')})`])
  }
  for (const name of ['MCP_CACHE_CONFIG', 'MCP_RESPONSE_SIZE_CONFIG'] as const) {
    const defaults = new Set(SETTINGS[name].default.excluded_tools)
    const unknown = config[name].excluded_tools.filter(tool => !known.has(tool) && !defaults.has(tool))
    if (unknown.length > 0) app.log.warn({ setting: `${name}.excluded_tools`, unknown }, `${name}.excluded_tools names no tool of this release: ${unknown.join(', ')}`)
  }
}

export default fp(toolsPlugin, { name: 'tools', fastify: '5.x', dependencies: ['config', 'metrics', 'catalog', 'engines', 'renderer', 'links', 'redis', 'rate-limit', 'cache', 'size-guard'] })
