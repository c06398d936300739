/**
 * The JSON Schemas a tool advertises in tools/list, derived once from its zod schemas.
 *
 * Input schemas are what a model fills in, so they must load in every client people run:
 * Claude, ChatGPT, the Inspector and Gemini (whose function declarations are an OpenAPI
 * subset: one `type` per node, never `type` beside `anyOf`, no `null` type, no `$ref`, array
 * `items` always given, objects with properties). `portableInputSchema` rewrites zod's 2020-12 output into that subset
 * and `inputPortabilityFindings` proves it; the server still validates arguments with the
 * original zod schema, so a looser advertised form never lets a bad call through.
 *
 * Output schemas are for client-side validation of `structuredContent`: `leanOutputSchema`
 * keeps their structure (types, required fields) and drops what costs bytes on every
 * tools/list without telling a validator anything (descriptions, JSON's safe-integer bounds,
 * `propertyNames` of string keys). It also drops `additionalProperties: false`, so a field
 * added in a later release does not make an older client reject every result.
 */

export type JsonSchema = Record<string, unknown>

/** zod's bounds of z.int(): JSON numbers a JavaScript client can hold exactly. */
const SAFE_INTEGER_BOUNDS: Readonly<Record<string, number>> = { minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }

const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean'])

/** Keywords that only apply to one JSON type: a union split into branches keeps each with its type. */
const KEYWORDS_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  string: ['minLength', 'maxLength', 'pattern', 'format', 'enum'],
  number: ['minimum', 'maximum', 'multipleOf', 'enum'],
  integer: ['minimum', 'maximum', 'multipleOf', 'enum'],
  boolean: ['enum'],
  array: ['items', 'minItems', 'maxItems', 'uniqueItems'],
  object: ['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties']
}
const TYPE_SPECIFIC = new Set(Object.values(KEYWORDS_BY_TYPE).flat())

function isSchema (value: unknown): value is JsonSchema {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function isNullSchema (schema: JsonSchema): boolean {
  return schema.type === 'null'
}

/** `{type: [a, b]}` as single-type branches, each with the keywords of its own type. */
function splitTypeArray (schema: JsonSchema, types: readonly string[]): JsonSchema[] {
  return types.map(type => {
    const branch: JsonSchema = { type }
    for (const keyword of KEYWORDS_BY_TYPE[type] ?? []) {
      if (keyword in schema) branch[keyword] = schema[keyword]
    }
    return branch
  })
}

/**
 * A union inside a union's branch (e.g. the items of a list that may hold strings or numbers)
 * is what Gemini rejects most often: it becomes its widest scalar form, a string (the server
 * converts "2" for a number), or the first branch when no branch is a scalar.
 */
function collapseNestedUnion (branches: readonly JsonSchema[]): JsonSchema {
  const scalars = branches.filter(branch => typeof branch.type === 'string' && SCALAR_TYPES.has(branch.type))
  if (scalars.length > 0) {
    const string = scalars.find(branch => branch.type === 'string')
    return string ?? scalars[0] as JsonSchema
  }
  return branches[0] ?? { type: 'string' }
}

/**
 * `insideUnion`: the node is below a union's branch (its items or properties), where another
 * union is collapsed. `branch`: the node is a union's branch itself, whose own union merges
 * into the parent's.
 */
function portableNode (input: JsonSchema, insideUnion: boolean, branch = false): JsonSchema {
  const node: JsonSchema = {}
  for (const [keyword, value] of Object.entries(input)) {
    if (keyword === '$schema' || keyword === 'propertyNames') continue
    if (SAFE_INTEGER_BOUNDS[keyword] === value) continue
    node[keyword] = value
  }
  if ('const' in node) {
    // Gemini has no const; an enum of one value needs its type beside it.
    const value = node.const
    node.enum = [value]
    delete node.const
    if (node.type === undefined && ['string', 'number', 'boolean'].includes(typeof value)) node.type = typeof value
  }
  for (const [exclusive, inclusive, step] of [['exclusiveMinimum', 'minimum', 1], ['exclusiveMaximum', 'maximum', -1]] as const) {
    const bound = node[exclusive]
    if (typeof bound !== 'number') continue
    // Integers have an exact inclusive bound; for numbers the server keeps the strict one.
    node[inclusive] = node.type === 'integer' ? Math.floor(bound) + step : bound
    delete node[exclusive]
  }

  let branches: JsonSchema[] | undefined
  if (Array.isArray(node.type)) {
    const types = (node.type as string[]).filter(type => type !== 'null')
    if (types.length === 1) node.type = types[0]
    else branches = splitTypeArray(node, types)
  }
  if (Array.isArray(node.anyOf)) {
    branches = [...(branches ?? []), ...(node.anyOf as JsonSchema[])]
  }
  if (branches !== undefined) {
    delete node.anyOf
    const flat: JsonSchema[] = []
    for (const member of branches) {
      if (isNullSchema(member)) continue
      const portable = portableNode(member, true, true)
      if (Array.isArray(portable.anyOf)) flat.push(...(portable.anyOf as JsonSchema[]))
      else flat.push(portable)
    }
    if (flat.length === 1 || (insideUnion && !branch && flat.length > 1)) {
      const only = flat.length === 1 ? flat[0] as JsonSchema : collapseNestedUnion(flat)
      for (const keyword of [...TYPE_SPECIFIC, 'type']) delete node[keyword]
      return { ...only, ...node }
    }
    for (const keyword of [...TYPE_SPECIFIC, 'type']) delete node[keyword]
    return { ...node, anyOf: flat }
  }

  if (isSchema(node.properties)) {
    node.properties = Object.fromEntries(Object.entries(node.properties).map(([name, property]) => [name, isSchema(property) ? portableNode(property, insideUnion) : property]))
  }
  if (isSchema(node.items)) node.items = portableNode(node.items, insideUnion)
  else if (node.type === 'array' && node.items === undefined) node.items = { type: 'string' }
  if (isSchema(node.additionalProperties)) {
    // A map with values of any type: Gemini and the Inspector want the boolean form.
    node.additionalProperties = Object.keys(node.additionalProperties).length === 0 ? true : portableNode(node.additionalProperties, insideUnion)
  }
  return node
}

/** A tool's input schema in the subset every MCP client accepts (see the module comment). */
export function portableInputSchema (schema: JsonSchema): JsonSchema {
  return portableNode(schema, false)
}

const OUTPUT_NOISE = new Set(['$schema', 'description', 'propertyNames', 'default', 'title', 'examples'])

function leanNode (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(leanNode)
  if (!isSchema(value)) return value
  const node: JsonSchema = {}
  for (const [keyword, child] of Object.entries(value)) {
    if (OUTPUT_NOISE.has(keyword) || SAFE_INTEGER_BOUNDS[keyword] === child) continue
    if (keyword === 'additionalProperties' && (child === false || (isSchema(child) && Object.keys(child).length === 0))) continue
    if (keyword === 'properties' && isSchema(child)) {
      // Property names are data here, not keywords: a property called "description" stays.
      node.properties = Object.fromEntries(Object.entries(child).map(([name, property]) => [name, leanNode(property)]))
      continue
    }
    node[keyword] = leanNode(child)
  }
  return node
}

/** A tool's output schema without what only costs bytes (see the module comment). */
export function leanOutputSchema (schema: JsonSchema): JsonSchema {
  return leanNode(schema) as JsonSchema
}

export interface PortabilityFinding {
  path: string
  rule: string
}

/**
 * Why an input schema might not load in some client: the rules of `portableInputSchema`,
 * checked independently of it (tests run the Inspector's own lint as well).
 */
export function inputPortabilityFindings (schema: JsonSchema): PortabilityFinding[] {
  const findings: PortabilityFinding[] = []
  const walk = (node: unknown, path: string, insideUnion: boolean): void => {
    if (typeof node === 'boolean') {
      if (!/\.additionalProperties$/.test(path)) findings.push({ path, rule: 'boolean schema' })
      return
    }
    if (!isSchema(node)) return
    const add = (rule: string): void => { findings.push({ path: path === '' ? '(root)' : path, rule }) }
    for (const keyword of ['$schema', '$ref', '$defs', 'definitions', 'oneOf', 'allOf', 'not', 'if', 'propertyNames', 'patternProperties', 'exclusiveMinimum', 'exclusiveMaximum', 'const', 'prefixItems']) {
      if (keyword in node) add(`uses ${keyword}`)
    }
    if (Array.isArray(node.type)) add('type is an array')
    if (node.type === 'null') add('null type')
    if ('anyOf' in node && 'type' in node) add('type beside anyOf')
    if (!('type' in node) && !('anyOf' in node)) add('no type')
    if (node.type === 'array' && !isSchema(node.items)) add('array without items')
    // Gemini: "properties: should be non-empty for OBJECT type".
    if (node.type === 'object' && (!isSchema(node.properties) || Object.keys(node.properties).length === 0) && path !== '') add('object without properties')
    if (isSchema(node.additionalProperties)) add('additionalProperties is a schema')
    if (Array.isArray(node.anyOf)) {
      if (insideUnion) add('anyOf inside anyOf')
      node.anyOf.forEach((branch, index) => {
        walk(branch, `${path}.anyOf[${index}]`, true)
      })
    }
    if (isSchema(node.properties)) {
      for (const [name, property] of Object.entries(node.properties)) walk(property, `${path}.${name}`, insideUnion)
    }
    if ('items' in node) walk(node.items, `${path}[]`, insideUnion)
  }
  walk(schema, '', false)
  return findings
}
