import { invalidArguments } from '../errors.ts'

/** The parts of a tool's JSON input schema that argument normalisation reads. */
export interface ArgumentShape {
  /** JSON Schema `type` of each top-level argument (first type of a union). */
  types: ReadonlyMap<string, string>
  /** Arguments that are arrays of strings (a comma-separated string is accepted). */
  stringLists: ReadonlySet<string>
  aliases: Readonly<Record<string, string>>
}

interface JsonSchemaProperty {
  type?: string | string[]
  anyOf?: JsonSchemaProperty[]
  items?: JsonSchemaProperty & { enum?: unknown[] }
}

function firstType (property: JsonSchemaProperty): string | undefined {
  if (typeof property.type === 'string') return property.type
  if (Array.isArray(property.type)) return property.type.find(type => type !== 'null')
  return property.anyOf?.map(firstType).find(type => type !== undefined && type !== 'null')
}

export function argumentShape (inputSchema: { properties?: Record<string, unknown> }, aliases: Readonly<Record<string, string>>): ArgumentShape {
  const types = new Map<string, string>()
  const stringLists = new Set<string>()
  for (const [name, raw] of Object.entries(inputSchema.properties ?? {})) {
    const property = raw as JsonSchemaProperty
    const type = firstType(property)
    if (type !== undefined) types.set(name, type)
    if (type === 'array' && property.items !== undefined && firstType(property.items) === 'string') stringLists.add(name)
  }
  return { types, stringLists, aliases }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * Make a model's arguments match the schema before validation, the way Superset's MCP
 * service is lenient:
 * - `{"request": {...}}` (Superset's wrapper) is unwrapped into flat arguments;
 * - Superset's synonyms (e.g. `query` for `sql`, `id` for `identifier`) are renamed;
 * - arrays and objects sent as JSON strings (clients that double-encode) are decoded,
 *   a comma-separated string is accepted for a list of names, and "2" / "true" for
 *   integers and booleans.
 * Anything still wrong is left for the schema to reject with a precise message.
 */
export function normalizeArguments (raw: unknown, shape: ArgumentShape): Record<string, unknown> {
  if (raw === undefined || raw === null) return {}
  if (!isPlainObject(raw)) throw invalidArguments('Tool arguments must be a JSON object.')
  let args: Record<string, unknown> = { ...raw }

  if ('request' in args && !shape.types.has('request')) {
    const { request, ...rest } = args
    const wrapped = typeof request === 'string' ? parseJson(request) : request
    if (!isPlainObject(wrapped)) throw invalidArguments('`request` must be an object holding the tool arguments.', 'Send the arguments flat, or as {"request": {...}}.')
    const clashes = Object.keys(rest).filter(key => key in wrapped)
    if (clashes.length > 0) throw invalidArguments(`${clashes.join(', ')} given both inside and outside \`request\`.`)
    args = { ...rest, ...wrapped }
  }

  for (const [alias, canonical] of Object.entries(shape.aliases)) {
    if (!(alias in args) || shape.types.has(alias)) continue
    if (canonical in args) throw invalidArguments(`Give either \`${canonical}\` or its synonym \`${alias}\`, not both.`)
    args[canonical] = args[alias]
    delete args[alias]
  }

  for (const [name, value] of Object.entries(args)) {
    const type = shape.types.get(name)
    if (typeof value !== 'string' || type === undefined || type === 'string') continue
    const text = value.trim()
    if (type === 'array' || type === 'object') {
      const decoded = parseJson(text)
      if (type === 'array' && Array.isArray(decoded)) args[name] = decoded
      else if (type === 'object' && isPlainObject(decoded)) args[name] = decoded
      else if (type === 'array' && shape.stringLists.has(name) && !text.startsWith('[')) {
        args[name] = text === '' ? [] : text.split(',').map(item => item.trim()).filter(item => item !== '')
      }
    } else if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(text)) {
      args[name] = Number(text)
    } else if (type === 'boolean' && (text === 'true' || text === 'false')) {
      args[name] = text === 'true'
    }
  }
  return args
}
