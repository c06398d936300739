import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from './config.ts'
import type { RawLayer } from './config.ts'

/** Names looked up in the working directory when no --config or MCP_CONFIG_FILE is given. */
export const CONFIG_FILE_NAMES = [
  'analytics-mcp.config.js',
  'analytics-mcp.config.mjs',
  'analytics-mcp.config.json',
  'analytics-mcp.config.yaml',
  'analytics-mcp.config.yml'
] as const

export function findConfigFile (cwd: string): string | undefined {
  const found = CONFIG_FILE_NAMES.map(name => path.join(cwd, name)).filter(file => existsSync(file))
  if (found.length > 1) {
    throw new ConfigError([`several config files found (${found.map(f => path.basename(f)).join(', ')}); keep one or pass --config`])
  }
  return found[0]
}

/**
 * Read a config file into a settings layer. JSON and YAML files hold a mapping of setting
 * names to values; a JS module exports them (named exports, a default object, or a default
 * function of the environment returning the object), like Superset's superset_config.py.
 */
export async function readConfigFile (file: string, env: NodeJS.ProcessEnv): Promise<RawLayer> {
  const absolute = path.resolve(file)
  if (!existsSync(absolute)) throw new ConfigError([`config file ${file}: not found`])
  const extension = path.extname(absolute).toLowerCase()
  let values: unknown
  try {
    if (extension === '.js' || extension === '.mjs') {
      values = await readJsModule(absolute, env)
    } else if (extension === '.json') {
      values = JSON.parse(await readFile(absolute, 'utf8'))
    } else if (extension === '.yaml' || extension === '.yml') {
      values = parseYaml(await readFile(absolute, 'utf8'))
    } else {
      throw new ConfigError([`config file ${file}: unsupported extension "${extension}" (use .js, .mjs, .json, .yaml or .yml)`])
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError([`config file ${file}: could not be read: ${(err as Error).message}`])
  }
  if (values === null || values === undefined) values = {}
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError([`config file ${file}: expected a mapping of setting names to values`])
  }
  return { source: 'config file', origin: file, values: values as Record<string, unknown> }
}

async function readJsModule (file: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  const module = await import(pathToFileURL(file).href) as Record<string, unknown>
  const { default: defaultExport, ...named } = module
  let fromDefault: unknown = defaultExport ?? {}
  if (typeof fromDefault === 'function') fromDefault = await (fromDefault as (env: NodeJS.ProcessEnv) => unknown)(env)
  if (fromDefault === null || typeof fromDefault !== 'object' || Array.isArray(fromDefault)) {
    throw new ConfigError([`config file ${file}: the default export must be an object or a function returning one`])
  }
  const overlap = Object.keys(named).filter(key => key in fromDefault)
  if (overlap.length > 0) {
    throw new ConfigError([`config file ${file}: ${overlap.join(', ')} set both as a named export and in the default export`])
  }
  return { ...fromDefault, ...named }
}
