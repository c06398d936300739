import { specTypeSchemas } from '@modelcontextprotocol/server'
import type { StandardSchemaV1, StandardSchemaV1Sync } from '@modelcontextprotocol/server'

/**
 * Readable "Invalid params" messages for MCP requests.
 *
 * The SDK checks every request against its wire schema before the handler runs, but reports a
 * failure as the zod issue list (and, for every method but tools/call, as -32603 Internal error).
 * This module checks the same request against the SDK's exported request schemas (the neutral
 * model, which is what a request is once its wire-only envelope is lifted) and says which field
 * is wrong and what was expected, in one line a client developer can act on.
 */

/** A zod issue, read through Standard Schema: code, path and the code's own fields (expected, values, errors...). */
type Issue = StandardSchemaV1.Issue & Record<string, unknown>
type RequestSchema = StandardSchemaV1Sync<unknown, unknown>

/** Most problems named in one message; the rest are counted. */
const MAX_PROBLEMS = 4
/** Longest message; request keys are the client's text, and could be long. */
const MAX_MESSAGE = 600

/**
 * The request schema of each method a client may send (the SDK's ClientRequest union), keyed by
 * method. Read from the union so a method the SDK adds is checked without a change here.
 */
function requestSchemasByMethod (): ReadonlyMap<string, RequestSchema> {
  const union = specTypeSchemas.ClientRequest as unknown as { options?: unknown }
  const schemas = new Map<string, RequestSchema>()
  if (!Array.isArray(union.options)) return schemas
  for (const option of union.options as Array<{ shape?: { method?: { value?: unknown } } }>) {
    const method = option.shape?.method?.value
    if (typeof method === 'string') schemas.set(method, option as unknown as RequestSchema)
  }
  return schemas
}

const REQUEST_SCHEMAS = requestSchemasByMethod()

/** Methods whose params are checked here: every request the SDK's ClientRequest union knows. */
export const CHECKED_METHODS: readonly string[] = [...REQUEST_SCHEMAS.keys()]

/** Standard Schema path segments are keys, or objects holding one. */
function segmentKey (segment: unknown): unknown {
  return segment !== null && typeof segment === 'object' && 'key' in segment ? (segment as { key: unknown }).key : segment
}

function pathText (path: readonly unknown[]): string {
  return path.map((segment, index) => {
    const key = segmentKey(segment)
    if (typeof key === 'number') return `[${key}]`
    const name = String(key).slice(0, 60)
    return index === 0 ? name : /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`
  }).join('')
}

function valueAt (root: unknown, path: readonly unknown[]): unknown {
  let value = root
  for (const segment of path) {
    value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[segmentKey(segment) as PropertyKey] : undefined
  }
  return value
}

function kindOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'object': return 'an object'
    case 'number': return Number.isInteger(value) ? 'an integer' : 'a number'
    case 'string': return 'a string'
    case 'boolean': return 'a boolean'
    default: return typeof value
  }
}

function expectedKind (expected: unknown): string {
  switch (expected) {
    case 'object': case 'record': return 'an object'
    case 'array': case 'tuple': return 'an array'
    case 'int': case 'integer': return 'an integer'
    case 'string': case 'number': case 'boolean': return `a ${expected}`
    default: return String(expected)
  }
}

function issuePath (issue: Issue): readonly unknown[] {
  return issue.path ?? []
}

/** The branch of a failed union that came closest: the fewest problems, ties to the first. */
function closestBranch (branches: readonly Issue[][]): Issue[] | undefined {
  let best: Issue[] | undefined
  for (const branch of branches) if (best === undefined || branch.length < best.length) best = branch
  return best
}

function describeIssue (issue: Issue, root: unknown, prefix: readonly unknown[] = []): string[] {
  const path = [...prefix, ...issuePath(issue)]
  const where = pathText(path)
  switch (issue.code) {
    case 'invalid_type': {
      const actual = valueAt(root, path)
      return [actual === undefined
        ? `${where} is required (${expectedKind(issue.expected)})`
        : `${where} must be ${expectedKind(issue.expected)}, not ${kindOf(actual)}`]
    }
    case 'invalid_value': {
      const values = Array.isArray(issue.values) ? issue.values.map(value => JSON.stringify(value)) : []
      return [values.length === 1 ? `${where} must be ${values[0] ?? ''}` : `${where} must be one of ${values.join(', ')}`]
    }
    case 'invalid_union': {
      const branches = Array.isArray(issue.errors) ? issue.errors as Issue[][] : []
      const best = closestBranch(branches)
      if (best === undefined) return [`${where} does not match any accepted shape`]
      // A value of the wrong type for every branch: "a string or an integer".
      if (branches.every(branch => branch.length === 1 && branch[0]?.code === 'invalid_type' && issuePath(branch[0]).length === 0)) {
        const kinds = [...new Set(branches.map(branch => expectedKind(branch[0]?.expected)))].join(' or ')
        const actual = valueAt(root, path)
        return [actual === undefined ? `${where} is required (${kinds})` : `${where} must be ${kinds}, not ${kindOf(actual)}`]
      }
      // No branch came closer than another: name what tells them apart (e.g. ref.type).
      if (branches.every(branch => branch.length === best.length)) {
        const discriminators = branches.flatMap(branch => branch.filter(inner => inner.code === 'invalid_value'))
        const discriminatorPath = discriminators[0] === undefined ? undefined : pathText(issuePath(discriminators[0]))
        if (discriminatorPath !== undefined && discriminators.length === branches.length && discriminators.every(inner => pathText(issuePath(inner)) === discriminatorPath)) {
          const values = discriminators.flatMap(inner => Array.isArray(inner.values) ? inner.values : []).map(value => JSON.stringify(value))
          return [`${pathText([...path, ...issuePath(discriminators[0] as Issue)])} must be one of ${values.join(', ')}`]
        }
      }
      return best.flatMap(inner => describeIssue(inner, root, path))
    }
    case 'unrecognized_keys': {
      const keys = Array.isArray(issue.keys) ? issue.keys.map(key => JSON.stringify(String(key).slice(0, 60))) : []
      return [`${where} has unknown key${keys.length === 1 ? '' : 's'} ${keys.join(', ')}`]
    }
    case 'invalid_format': return [`${where} must be a valid ${String(issue.format)}`]
    default: return [`${where}: ${issue.message.replace(/^Invalid input: /, '')}`]
  }
}

function problemsOf (schema: RequestSchema, request: { method: string, params?: unknown }): string[] | undefined {
  const result = schema['~standard'].validate(request)
  if (result.issues === undefined) return undefined
  const issues = result.issues as readonly Issue[]
  // Params left out altogether: name the fields that are required, not just "params".
  const only = issues.length === 1 ? issues[0] : undefined
  if (request.params === undefined && only?.code === 'invalid_type' && pathText(issuePath(only)) === 'params') {
    const inner = problemsOf(schema, { ...request, params: {} })
    if (inner !== undefined) return inner
  }
  return issues.flatMap(issue => describeIssue(issue, request))
}

/**
 * Why the params of a request are invalid, as one line ("Invalid params for initialize:
 * params.protocolVersion is required (a string)"); undefined when they are valid, or when the
 * method is not one the SDK's schemas know.
 */
export function invalidParamsMessage (method: string, params: unknown): string | undefined {
  const schema = REQUEST_SCHEMAS.get(method)
  if (schema === undefined) return undefined
  const problems = problemsOf(schema, { method, params })
  if (problems === undefined) return undefined
  const unique = [...new Set(problems)]
  const shown = unique.slice(0, MAX_PROBLEMS).join('; ')
  const more = unique.length > MAX_PROBLEMS ? ` (and ${unique.length - MAX_PROBLEMS} more)` : ''
  const message = `Invalid params for ${method}: ${shown}${more}`
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message
}
