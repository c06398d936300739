import { invalidArguments } from '../errors.ts'

/** Superset's list-filter operators (superset/daos/base.py ColumnOperatorEnum). */
export const FILTER_OPERATORS = ['eq', 'ne', 'sw', 'ew', 'ct', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'is_null', 'is_not_null'] as const
export type FilterOperator = (typeof FILTER_OPERATORS)[number]

export interface ListFilter {
  col: string
  opr: FilterOperator
  value?: unknown
}

export interface ListQuery {
  /** 1-based. */
  page: number
  pageSize: number
  filters: readonly ListFilter[]
  search?: string | undefined
  orderColumn: string
  orderDirection: 'asc' | 'desc'
}

export type ValueType = 'integer' | 'text' | 'boolean' | 'datetime'

/** A filter on a column (or SQL expression) of the listed rows. */
export interface ColumnFilter {
  kind: 'column'
  sql: string
  type: ValueType
  description: string
}

/** A filter on a many-to-many relation, e.g. "charts on dashboard 3": matched with EXISTS. */
export interface RelationFilter {
  kind: 'relation'
  /** Link table, its column pointing at the listed row, and the column compared with the value. */
  table: string
  parentKey: string
  valueKey: string
  /**
   * The catalog object the value names, when it has visibility rules of its own: the filter
   * only matches links to objects the caller may see, so a filter cannot reveal hidden ones.
   */
  target?: { kind: ObjectKind, table: string }
  description: string
}

/** Kinds of catalog objects with per-principal visibility. */
export type ObjectKind = 'database' | 'dataset' | 'chart' | 'dashboard'

/**
 * Which objects of each kind the caller may see, as a predicate on a table alias
 * (undefined: all of them). Implemented by the access profile.
 */
export interface Visibility {
  visible: (kind: ObjectKind, alias: string) => AccessPredicate | undefined
}

export type FilterSpec = ColumnFilter | RelationFilter

/** How one kind of catalog object is listed: FROM clause, filterable, sortable and searchable columns. */
export interface ListSpec {
  kind: ObjectKind
  /** Alias of the listed table in `from`. */
  alias: string
  /** The SELECT list; a function when a derived column depends on what the caller may see. */
  select: string | ((visibility: Visibility | undefined) => AccessPredicate)
  from: string
  /** Qualified id column, also the tie-breaker that keeps paging stable. */
  idColumn: string
  filters: Readonly<Record<string, FilterSpec>>
  sortable: Readonly<Record<string, string>>
  searchable: readonly string[]
}

/** An extra predicate ANDed into every list query (the seam for per-principal visibility). */
export interface AccessPredicate {
  sql: string
  params: readonly unknown[]
}

export interface CompiledList {
  countSql: string
  pageSql: string
  params: unknown[]
  pageParams: unknown[]
}

const OPERATORS_BY_TYPE: Readonly<Record<ValueType | 'relation', readonly FilterOperator[]>> = {
  text: FILTER_OPERATORS,
  integer: ['eq', 'ne', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'is_null', 'is_not_null'],
  datetime: ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'is_null', 'is_not_null'],
  boolean: ['eq', 'ne', 'is_null', 'is_not_null'],
  relation: ['eq', 'ne', 'in', 'nin', 'is_null', 'is_not_null']
}

/** Operators accepted on a filter column, for error messages and get-schema style help. */
export function operatorsFor (filter: FilterSpec): readonly FilterOperator[] {
  return OPERATORS_BY_TYPE[filter.kind === 'relation' ? 'relation' : filter.type]
}

const MAX_IN_VALUES = 500

/** The SELECT list of a spec for a caller, with its parameters. */
export function selectFor (spec: ListSpec, visibility: Visibility | undefined): AccessPredicate {
  return typeof spec.select === 'string' ? { sql: spec.select, params: [] } : spec.select(visibility)
}

/**
 * Compile a list request into a COUNT query and a page query, restricted to what
 * `visibility` lets the caller see. Identifiers only ever come from the spec; every value is
 * a bound parameter.
 */
export function compileList (spec: ListSpec, query: ListQuery, visibility?: Visibility): CompiledList {
  const where: string[] = []
  const params: unknown[] = []

  const access = visibility?.visible(spec.kind, spec.alias)
  if (access !== undefined) {
    where.push(`(${access.sql})`)
    params.push(...access.params)
  }

  for (const filter of query.filters) {
    const filterSpec = spec.filters[filter.col]
    if (filterSpec === undefined) {
      throw invalidArguments(`Cannot filter on "${filter.col}".`, `Filterable columns: ${Object.keys(spec.filters).join(', ')}.`)
    }
    const allowed = operatorsFor(filterSpec)
    if (!allowed.includes(filter.opr)) {
      throw invalidArguments(`Operator "${filter.opr}" does not apply to "${filter.col}".`, `Use one of: ${allowed.join(', ')}.`)
    }
    const compiled = filterSpec.kind === 'relation'
      ? compileRelationFilter(spec, filterSpec, filter, visibility)
      : compileColumnFilter(filterSpec, filter)
    where.push(compiled.sql)
    params.push(...compiled.params)
  }

  const search = query.search?.trim()
  if (search !== undefined && search !== '' && spec.searchable.length > 0) {
    const pattern = `%${escapeLike(search)}%`
    // LOWER on both sides: SQLite's LIKE ignores case and PostgreSQL's does not; this reads the same on both.
    where.push(`(${spec.searchable.map(column => `LOWER(${column}) LIKE LOWER(?) ESCAPE '\\'`).join(' OR ')})`)
    params.push(...spec.searchable.map(() => pattern))
  }

  const orderSql = spec.sortable[query.orderColumn]
  if (orderSql === undefined) {
    throw invalidArguments(`Cannot order by "${query.orderColumn}".`, `Sortable columns: ${Object.keys(spec.sortable).join(', ')}.`)
  }
  const direction = query.orderDirection === 'desc' ? 'DESC' : 'ASC'
  const whereSql = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''

  const select = selectFor(spec, visibility)
  return {
    countSql: `SELECT COUNT(*) AS total FROM ${spec.from}${whereSql}`,
    // NULLs sort first ascending (SQLite's order) on PostgreSQL too.
    pageSql: `${select.sql} FROM ${spec.from}${whereSql} ORDER BY ${orderSql} ${direction} ${direction === 'ASC' ? 'NULLS FIRST' : 'NULLS LAST'}, ${spec.idColumn} ${direction} LIMIT ? OFFSET ?`,
    params,
    pageParams: [...select.params, ...params, query.pageSize, (query.page - 1) * query.pageSize]
  }
}

function compileColumnFilter (spec: ColumnFilter, filter: ListFilter): AccessPredicate {
  const column = spec.sql
  switch (filter.opr) {
    case 'is_null': return { sql: `${column} IS NULL`, params: [] }
    case 'is_not_null': return { sql: `${column} IS NOT NULL`, params: [] }
    case 'in':
    case 'nin': {
      const values = listValue(filter).map(value => coerceValue(spec.type, filter, value))
      const placeholders = values.map(() => '?').join(', ')
      return { sql: `${column} ${filter.opr === 'in' ? 'IN' : 'NOT IN'} (${placeholders})`, params: values }
    }
    case 'sw':
    case 'ew':
    case 'ct': {
      const text = escapeLike(String(coerceValue('text', filter, filter.value)))
      const pattern = filter.opr === 'sw' ? `${text}%` : filter.opr === 'ew' ? `%${text}` : `%${text}%`
      return { sql: `LOWER(${column}) LIKE LOWER(?) ESCAPE '\\'`, params: [pattern] }
    }
    case 'like': return { sql: `${column} LIKE ?`, params: [coerceValue('text', filter, filter.value)] }
    case 'ilike': return { sql: `LOWER(${column}) LIKE LOWER(?)`, params: [coerceValue('text', filter, filter.value)] }
    default: {
      const sqlOperator = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' }[filter.opr]
      const value = coerceValue(spec.type, filter, filter.value)
      // "ne" keeps rows where the column is NULL, as a person reading "not equal" expects.
      if (filter.opr === 'ne') return { sql: `(${column} IS NULL OR ${column} <> ?)`, params: [value] }
      return { sql: `${column} ${sqlOperator} ?`, params: [value] }
    }
  }
}

function compileRelationFilter (spec: ListSpec, relation: RelationFilter, filter: ListFilter, visibility: Visibility | undefined): AccessPredicate {
  // Links to objects the caller may not see do not exist for this filter.
  const target = relation.target === undefined ? undefined : visibility?.visible(relation.target.kind, 'rel_t')
  const join = target === undefined ? '' : ` JOIN ${relation.target?.table ?? ''} rel_t ON rel_t.id = rel.${relation.valueKey}`
  const visible = target === undefined ? '' : ` AND (${target.sql})`
  const visibleParams = target?.params ?? []
  const link = `SELECT 1 FROM ${relation.table} rel${join} WHERE rel.${relation.parentKey} = ${spec.idColumn}${visible}`
  switch (filter.opr) {
    case 'is_null': return { sql: `NOT EXISTS (${link})`, params: [...visibleParams] }
    case 'is_not_null': return { sql: `EXISTS (${link})`, params: [...visibleParams] }
    case 'in':
    case 'nin': {
      const values = listValue(filter).map(value => coerceValue('integer', filter, value))
      const exists = `EXISTS (${link} AND rel.${relation.valueKey} IN (${values.map(() => '?').join(', ')}))`
      return { sql: filter.opr === 'in' ? exists : `NOT ${exists}`, params: [...visibleParams, ...values] }
    }
    default: {
      const exists = `EXISTS (${link} AND rel.${relation.valueKey} = ?)`
      return { sql: filter.opr === 'eq' ? exists : `NOT ${exists}`, params: [...visibleParams, coerceValue('integer', filter, filter.value)] }
    }
  }
}

function listValue (filter: ListFilter): unknown[] {
  const value = filter.value
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidArguments(`Filter "${filter.col} ${filter.opr}" needs a non-empty list as its value.`, `Example: {"col": "${filter.col}", "opr": "${filter.opr}", "value": [1, 2]}.`)
  }
  if (value.length > MAX_IN_VALUES) throw invalidArguments(`Filter "${filter.col} ${filter.opr}" has more than ${MAX_IN_VALUES} values.`)
  return value
}

function coerceValue (type: ValueType, filter: ListFilter, value: unknown): string | number {
  const fail = (expected: string): never => {
    throw invalidArguments(`Filter "${filter.col} ${filter.opr}" expects ${expected}, got ${JSON.stringify(value) ?? 'nothing'}.`)
  }
  switch (type) {
    case 'integer': {
      const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value
      return typeof n === 'number' && Number.isSafeInteger(n) ? n : fail('an integer')
    }
    case 'boolean': {
      if (value === true || value === 'true' || value === 1) return 1
      if (value === false || value === 'false' || value === 0) return 0
      return fail('true or false')
    }
    case 'datetime': {
      const normalized = typeof value === 'string' ? normalizeDateTime(value) : undefined
      return normalized ?? fail('an ISO date or date-time such as "2025-01-31" or "2025-01-31T12:00:00Z"')
    }
    case 'text':
      if (typeof value === 'string') return value
      if (typeof value === 'number' || typeof value === 'boolean') return String(value)
      return fail('a string')
  }
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i

/**
 * A real calendar date or date-time as stored in the catalog (UTC ISO text), or undefined.
 * Dates without a zone are UTC, whatever the server's time zone; 2025-02-30 is refused.
 */
export function normalizeDateTime (text: string): string | undefined {
  const match = DATE_TIME.exec(text.trim())
  if (match === null) return undefined
  const [, year, month, day, hour, minute, second, fraction, zone] = match
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)))
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return undefined
  if (hour === undefined) return `${year}-${month}-${day}`
  const instant = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second ?? '00'}${fraction ?? ''}${zone ?? 'Z'}`)
  return Number.isNaN(instant.getTime()) ? undefined : instant.toISOString()
}

export function escapeLike (text: string): string {
  return text.replace(/[\\%_]/g, character => `\\${character}`)
}
