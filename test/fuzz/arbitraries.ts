import fc from 'fast-check'
import type { Arbitrary } from 'fast-check'

/**
 * Arguments for tools/call drawn from a tool's advertised JSON Schema with fast-check.
 *
 * `conforming(schema)` draws values that follow the schema (types, enums, bounds, patterns,
 * required keys), preferring identifiers and column names that exist in the example data so
 * calls get past the lookups. `toolArguments(schema)` mixes those (and a corpus of calls known
 * to work) with variants broken in one place, anywhere in the tree: a leaf swapped for a hostile
 * value of its own type (SQL, markup, NUL, lone surrogates, 100 KB, 1e308), a value replaced by
 * anything (wrong types, -0 and 1e309 as raw JSON, 100,000 levels of nesting), an argument just
 * outside its bounds, a key dropped, an unknown key added, or arguments that are not an object.
 */

/** The subset of JSON Schema that zod's toJSONSchema emits for the tools. */
export interface JsonSchema {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
  minItems?: number
  maxItems?: number
  minLength?: number
  maxLength?: number
  pattern?: string
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  default?: unknown
}

/** What exists in the example data, to be drawn often so calls reach the deeper code. */
export interface KnownValues {
  /** Real values for arguments of this name (and the items of list arguments of this name). */
  byProperty: Readonly<Record<string, readonly unknown[]>>
  /** Names, slugs, UUIDs, column and metric names, form_data keys: for any other string. */
  strings: readonly string[]
  /** Ids of databases, datasets, charts and dashboards. */
  integers: readonly number[]
  /** get_chart_type_schema's schema of each chart type, for `config` arguments. */
  chartConfigs: readonly JsonSchema[]
  /** get_chart_type_schema's worked example of each chart type. */
  chartExamples: readonly unknown[]
}

/**
 * Numbers JSON.stringify cannot write (-0, 1e309, 1.0) travel as a sentinel string that
 * `encodeArguments` replaces by the raw token.
 */
const RAW = '\u0000raw:'
export const raw = (token: string): string => `${RAW}${token}`

/** The JSON text sent as `arguments`: JSON.stringify, with the sentinels turned into raw number tokens. */
export function encodeArguments (value: unknown): string {
  const text = JSON.stringify(value) ?? 'null'
  return text.replace(/"\\u0000raw:([^"]*)"/g, '$1')
}

export const LONG_STRINGS: readonly string[] = [
  'x'.repeat(100_000),
  'é'.repeat(50_000),
  `SELECT ${'1,'.repeat(30_000)}1`,
  `SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)}`,
  `{"chart_type":"xy","y":[${'"revenue",'.repeat(9_000)}"revenue"]}`
]

export const NASTY_STRINGS: readonly string[] = [
  '', ' ', '\t\n', '\u0000', 'a\u0000b', 'orders\u0000', '\ud800', '\udfff', 'x\ud83d', '\ud83d\ude00', '\r\n', 'a\rb\nc', '\u2028\u2029',
  '\u202eevil', '\ufeffBOM', 'ﬁ', 'İ', 'ß',
  "' OR 1=1 --", "'; DROP TABLE orders; --", '"; SELECT 1; --', 'SELECT 1; SELECT 2', '1) UNION SELECT sqlite_version() --',
  'orders WHERE 1=1', 'amount) FROM orders --', 'SUM(amount)', 'COUNT(*)', 'CAST(x AS', '%', '_', '\\', '`', '"', "'", '[', ']', '*', ';',
  'SELECT load_extension(\'x\')', "ATTACH DATABASE 'x.db' AS x", 'PRAGMA table_info(orders)', 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT n FROM r',
  'SELECT * FROM orders', 'SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region', 'INSERT INTO orders DEFAULT VALUES', 'DELETE FROM orders',
  '<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(1)>', '[x](javascript:alert(1))', '**bold** | pipe |\n|---|', '```\ncode\n```',
  '{{7*7}}', '${7*7}', '%s%n%d%x', '../../etc/passwd', 'file:///etc/passwd', 'http://169.254.169.254/', 'constructor', '__proto__', 'prototype', 'toString',
  'hasOwnProperty', 'valueOf', 'NaN', 'Infinity', '-1', '0', '1e309', '0x10', 'null', 'true', '[]', '{}', '[1,2', '{"chart_type":"xy"}', '"quoted"',
  'Last 9999999999 days', 'Last -1 days', '9999-99-99 : 0000-00-00', '2024-01-01 : 2023-01-01', 'now : ', ' : ', ':', 'No filter', 'Last quarter', 'today',
  'P1D', 'PT1S', 'xy', 'pie', 'table', 'big_number', 'histogram', 'echarts_timeseries_line', 'line', 'bar', 'SUM', 'IN', 'TEMPORAL_RANGE', 'IS NULL'
]

export const BOUNDARY_NUMBERS: readonly number[] = [
  0, 1, -1, 2, 0.5, -0.5, 1e-7, 1e21, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER - 2, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE
]

const RAW_NUMBERS = ['-0', '1e309', '-1e309', '1.0', '1e2', '0.0000000000000000000001', '100000000000000000000000000000']

const MAX_DEPTH = 4

/** An optional argument left out. */
const ABSENT = Symbol('absent')

/** The types a schema allows; undefined for "anything". */
function typesOf (schema: JsonSchema): string[] | undefined {
  if (schema.type !== undefined) return Array.isArray(schema.type) ? schema.type : [schema.type]
  if (schema.enum !== undefined || schema.const !== undefined) return undefined
  if (schema.properties !== undefined) return ['object']
  if (schema.items !== undefined) return ['array']
  return undefined
}

const stringOfLength = (min: number, max: number): Arbitrary<string> =>
  fc.string({ minLength: min, maxLength: Math.max(min, Math.min(max, 30)), unit: 'grapheme' })

/** Strings of the schema: known names first, then pattern-matching or random ones of the right length. */
function conformingString (schema: JsonSchema, known: KnownValues, property: string | undefined): Arbitrary<string> {
  const min = schema.minLength ?? 0
  const max = schema.maxLength ?? 100_000
  const fits = (value: unknown): value is string => typeof value === 'string' && value.length >= min && value.length <= max && (schema.pattern === undefined || new RegExp(schema.pattern).test(value))
  const options: Array<{ arbitrary: Arbitrary<string>, weight: number }> = []
  const real = (property === undefined ? [] : known.byProperty[property] ?? []).filter(fits)
  if (real.length > 0) options.push({ arbitrary: fc.constantFrom(...real), weight: 16 })
  const names = known.strings.filter(fits)
  if (names.length > 0) options.push({ arbitrary: fc.constantFrom(...names), weight: 4 })
  const nasty = NASTY_STRINGS.filter(fits)
  if (nasty.length > 0) options.push({ arbitrary: fc.constantFrom(...nasty), weight: 2 })
  options.push({
    arbitrary: schema.pattern === undefined
      ? stringOfLength(min, max)
      : fc.stringMatching(new RegExp(schema.pattern)).filter(fits),
    weight: 2
  })
  return fc.oneof(...options)
}

function conformingNumber (schema: JsonSchema, known: KnownValues, integer: boolean, property: string | undefined): Arbitrary<number> {
  const min = schema.minimum ?? (schema.exclusiveMinimum === undefined ? undefined : schema.exclusiveMinimum + (integer ? 1 : Number.EPSILON))
  const max = schema.maximum ?? (schema.exclusiveMaximum === undefined ? undefined : schema.exclusiveMaximum - (integer ? 1 : Number.EPSILON))
  const within = (value: number): boolean => (min === undefined || value >= min) && (max === undefined || value <= max) && (!integer || Number.isInteger(value))
  const inRange = (value: unknown): value is number => typeof value === 'number' && within(value)
  const real = [...(property === undefined ? [] : known.byProperty[property] ?? []), ...known.integers].filter(inRange)
  const edges = [min, max, ...BOUNDARY_NUMBERS].filter(inRange)
  const random = integer
    ? fc.integer({ min: Math.max(min ?? -1_000, Number.MIN_SAFE_INTEGER), max: Math.min(max ?? 100_000, Number.MAX_SAFE_INTEGER) })
    : fc.double({ min: min ?? -1e6, max: max ?? 1e6, noNaN: true, noDefaultInfinity: true })
  return fc.oneof(
    ...(real.length === 0 ? [] : [{ arbitrary: fc.constantFrom(...real), weight: 6 }]),
    ...(edges.length === 0 ? [] : [{ arbitrary: fc.constantFrom(...edges), weight: 1 }]),
    { arbitrary: random, weight: 3 }
  )
}

function conformingObject (schema: JsonSchema, known: KnownValues, depth: number): Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {}
  const names = Object.keys(properties)
  // A chart config argument (an open object naming chart_type): one of the chart types' own schemas.
  if (names.length === 1 && names[0] === 'chart_type' && schema.additionalProperties === true && known.chartConfigs.length > 0) {
    return fc.oneof(
      ...known.chartConfigs.map(config => conformingObject(config, known, depth)),
      ...(known.chartExamples.length === 0 ? [] : [fc.constantFrom(...known.chartExamples) as Arbitrary<Record<string, unknown>>])
    )
  }
  const required = new Set(schema.required ?? [])
  // Optional arguments are left out more often than not: cross-argument rules (identifier or
  // form_data_key, not both) let fewer calls through when everything is given.
  const entries = names.map(name => {
    const value = conforming(properties[name] ?? {}, known, depth + 1, name)
    return required.has(name) ? value : fc.oneof({ arbitrary: fc.constant(ABSENT), weight: 3 }, { arbitrary: value, weight: 2 })
  })
  return fc.tuple(...entries).map(values => Object.fromEntries(values.flatMap((value, index) => value === ABSENT ? [] : [[names[index] as string, value]])))
}

/** A value that follows `schema`. */
export function conforming (schema: JsonSchema, known: KnownValues, depth = 0, property?: string): Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum)
  const branches = schema.anyOf ?? schema.oneOf
  if (branches !== undefined) return fc.oneof(...branches.map(branch => conforming(branch, known, depth, property)))
  const types = typesOf(schema)
  if (types === undefined) return anyJson(depth)
  return fc.oneof(...types.map(type => conformingOfType(type, schema, known, depth, property)))
}

function conformingOfType (type: string, schema: JsonSchema, known: KnownValues, depth: number, property: string | undefined): Arbitrary<unknown> {
  switch (type) {
    case 'string': return conformingString(schema, known, property)
    case 'integer': return conformingNumber(schema, known, true, property)
    case 'number': return conformingNumber(schema, known, false, property)
    case 'boolean': return fc.boolean()
    case 'null': return fc.constant(null)
    case 'array': {
      const minLength = schema.minItems ?? 0
      const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? 3, depth >= MAX_DEPTH ? minLength : 3))
      // The items of `chart_ids` or `y` are chart ids or metrics, like the argument itself.
      const items = conforming(schema.items ?? {}, known, depth + 1, property)
      // Mostly non-empty: an empty list is rarely what reaches the code behind it.
      return fc.oneof(
        { arbitrary: fc.array(items, { minLength: Math.min(Math.max(minLength, 1), maxLength), maxLength }), weight: 4 },
        { arbitrary: fc.array(items, { minLength, maxLength }), weight: 1 }
      )
    }
    case 'object': return depth >= MAX_DEPTH + 2 ? fc.constant({}) : conformingObject(schema, known, depth)
    default: return anyJson(depth)
  }
}

function anyJson (depth: number): Arbitrary<unknown> {
  return fc.jsonValue({ maxDepth: Math.max(0, 2 - depth) })
}

/**
 * Deeply nested arrays and objects: parsers, validators and serializers that recurse. Past a
 * few thousand levels JSON.stringify itself overflows, so those travel as raw JSON text.
 */
const deeplyNested: Arbitrary<unknown> = fc.oneof(
  fc.tuple(fc.integer({ min: 20, max: 3_000 }), fc.boolean(), fc.constantFrom<unknown>(1, 'orders', null, {})).map(([depth, arrays, leaf]) => {
    let value: unknown = leaf
    for (let level = 0; level < depth; level++) value = arrays ? [value] : { a: value }
    return value
  }),
  fc.integer({ min: 5_000, max: 100_000 }).map(depth => raw(`${'['.repeat(depth)}1${']'.repeat(depth)}`))
)

/** Hostile values of any type: the replacement for one value in the tree. */
export const hostileValue: Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 8 },
  { arbitrary: fc.constantFrom(...BOUNDARY_NUMBERS), weight: 4 },
  { arbitrary: fc.constantFrom(...RAW_NUMBERS.map(raw)), weight: 2 },
  { arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [null], [[]], { '': '' }), weight: 3 },
  { arbitrary: fc.constantFrom(...LONG_STRINGS), weight: 1 },
  { arbitrary: deeplyNested, weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 }
)

const UNKNOWN_KEYS = ['bogus_argument', 'constructor', 'toString', 'hasOwnProperty', 'prototype', '', ' ', '\u0000', 'request', 'id', 'query', 'chart_id', 'viz_type', 'metrics', 'groupby', 'x_axis']

/** Every path to a value inside `value` (the root is []). */
function pathsOf (value: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix)
  if (prefix.length > 6) return out
  if (Array.isArray(value)) value.forEach((item, index) => pathsOf(item, [...prefix, index], out))
  else if (value !== null && typeof value === 'object') for (const [key, item] of Object.entries(value)) pathsOf(item, [...prefix, key], out)
  return out
}

function valueAt (value: unknown, path: ReadonlyArray<string | number>): unknown {
  return path.reduce<unknown>((node, step) => (node as Record<string | number, unknown>)[step], value)
}

function clone<T> (value: T): T {
  return structuredClone(value)
}

/** `value` with the thing at `path` replaced (or, for `undefined`, removed). */
function replaceAt (value: unknown, path: ReadonlyArray<string | number>, replacement: unknown): unknown {
  if (path.length === 0) return replacement
  const root = clone(value) as Record<string | number, unknown>
  let parent = root
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>
  const last = path[path.length - 1] as string | number
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1)
    else delete parent[last]
  } else {
    parent[last] = replacement
  }
  return root
}

const pick = <T>(items: readonly T[], index: number): T => items[index % items.length] as T

/** The schema (or anyOf branch) that bounds a value: a number's range, a string's or a list's length. */
function boundsOf (schema: JsonSchema): JsonSchema | undefined {
  const bounded = (candidate: JsonSchema): boolean => [candidate.minimum, candidate.maximum, candidate.minLength, candidate.maxLength, candidate.minItems, candidate.maxItems].some(bound => bound !== undefined)
  return bounded(schema) ? schema : (schema.anyOf ?? []).find(bounded)
}

/** A value just outside the bounds of `property`: one past its most (`above`, or when it has no least), else one short of its least. */
function outsideBounds (property: JsonSchema, above: boolean): unknown {
  const schema = boundsOf(property) ?? {}
  const past = (low: number | undefined, high: number | undefined): number =>
    high !== undefined && (above || low === undefined || low <= 0) ? high + 1 : Math.max(0, (low ?? 1) - 1)
  if (schema.minimum !== undefined || schema.maximum !== undefined) {
    return schema.maximum !== undefined && (above || schema.minimum === undefined) ? schema.maximum + 1 : (schema.minimum ?? 0) - 1
  }
  if (schema.minLength !== undefined || schema.maxLength !== undefined) return 'x'.repeat(Math.min(past(schema.minLength, schema.maxLength), 200_000))
  const item = schema.items?.type === 'integer' || schema.items?.type === 'number' ? 1 : 'x'
  return Array.from({ length: Math.min(past(schema.minItems, schema.maxItems), 2_000) }, () => item)
}

export type Variant = 'conforming' | 'retyped' | 'replaced' | 'outside_bounds' | 'dropped' | 'extra' | 'not_an_object'

export interface GeneratedArguments {
  variant: Variant
  /** Where the change is, for the report. */
  path?: string
  args: unknown
}

/**
 * Arguments for one tools/call: conforming ones (drawn from the schema, or taken from
 * `corpus`, calls known to work), and as many again that are each broken in one place.
 */
export function toolArguments (schema: JsonSchema, known: KnownValues, corpus: ReadonlyArray<Record<string, unknown>> = []): Arbitrary<GeneratedArguments> {
  const drawn = conforming({ ...schema, type: 'object' }, known) as Arbitrary<Record<string, unknown>>
  const base = corpus.length === 0 ? drawn : fc.oneof(drawn, fc.constantFrom(...corpus).map(clone))
  const located = (variant: Variant, path: ReadonlyArray<string | number>, args: unknown): GeneratedArguments => ({ variant, path: path.join('.'), args })
  const bounded = Object.entries(schema.properties ?? {}).filter(([, property]) => boundsOf(property) !== undefined)
  return fc.oneof(
    { arbitrary: base.map(args => ({ variant: 'conforming' as const, args })), weight: 30 },
    {
      // One leaf swapped for a hostile value of its own type: it still passes validation, and
      // carries quotes, NULs or 1e308 into the SQL, the charts and the text renderings.
      weight: 30,
      arbitrary: fc.tuple(base, fc.nat(), fc.constantFrom(...NASTY_STRINGS, ...LONG_STRINGS.slice(0, 2)), fc.constantFrom(...BOUNDARY_NUMBERS)).map(([args, index, text, number]) => {
        const leaves = pathsOf(args).filter(path => {
          const leaf = valueAt(args, path)
          return path.length > 0 && (typeof leaf === 'string' || typeof leaf === 'number' || typeof leaf === 'boolean')
        })
        if (leaves.length === 0) return { variant: 'conforming' as const, args }
        const path = pick(leaves, index)
        const leaf = valueAt(args, path)
        const value = typeof leaf === 'string' ? text : typeof leaf === 'number' ? number : !(leaf as boolean)
        return located('retyped', path, replaceAt(args, path, value))
      })
    },
    {
      weight: 25,
      arbitrary: fc.tuple(base, fc.nat(), hostileValue).map(([args, index, value]) => {
        const paths = pathsOf(args).filter(path => path.length > 0)
        if (paths.length === 0) return located('extra', ['bogus_argument'], { ...args, bogus_argument: value })
        const path = pick(paths, index)
        return located('replaced', path, replaceAt(args, path, value))
      })
    },
    ...(bounded.length === 0
      ? []
      : [{
          weight: 8,
          arbitrary: fc.tuple(base, fc.constantFrom(...bounded), fc.boolean()).map(([args, [name, property], above]) => located('outside_bounds', [name], { ...args, [name]: outsideBounds(property, above) }))
        }]),
    {
      weight: 8,
      arbitrary: fc.tuple(base, fc.nat()).map(([args, index]) => {
        const paths = pathsOf(args).filter(path => path.length > 0)
        if (paths.length === 0) return { variant: 'conforming' as const, args }
        const path = pick(paths, index)
        return located('dropped', path, replaceAt(args, path, undefined))
      })
    },
    {
      weight: 8,
      arbitrary: fc.tuple(base, fc.nat(), fc.constantFrom(...UNKNOWN_KEYS), hostileValue).map(([args, index, key, value]) => {
        const objects = pathsOf(args).filter(path => {
          const target = valueAt(args, path)
          return target !== null && typeof target === 'object' && !Array.isArray(target)
        })
        const path = pick(objects, index)
        return located('extra', [...path, key], replaceAt(args, [...path, key], value))
      })
    },
    { arbitrary: fc.constantFrom<unknown>(null, [], [1], 'orders', 42, true, '{"identifier": 1}').map(args => ({ variant: 'not_an_object' as const, args })), weight: 4 }
  )
}
