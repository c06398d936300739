import * as z from 'zod'
import type { AccessProfile, RequiredPermission } from '../catalog/access.ts'
import type { Catalog, ListPage } from '../catalog/catalog.ts'
import { SCOPES } from '../auth/scopes.ts'
import { FILTER_OPERATORS, operatorsFor } from '../catalog/list-query.ts'
import type { ListQuery, ListSpec } from '../catalog/list-query.ts'
import type { UserRef } from '../catalog/records.ts'
import { humanizeSince, objectTable, plural } from './render.ts'
import { responseTruncationSchema } from './truncation.ts'
import { invalidArguments } from '../errors.ts'
import { defineTool, READ_ONLY } from './tool.ts'
import type { Tool, ToolContext } from './tool.ts'

export const DEFAULT_PAGE_SIZE = 10
export const MAX_PAGE_SIZE = 100
const MAX_FILTERS = 20

/** A user as shown in owners / created_by / changed_by. */
export const userRefSchema = z.object({
  id: z.int(),
  username: z.string(),
  first_name: z.string(),
  last_name: z.string()
})

/** Audit columns every listed object has. */
export const auditColumns = {
  created_on: z.string().describe('creation time, ISO 8601 UTC'),
  created_on_humanized: z.string().describe('e.g. "3 days ago"'),
  changed_on: z.string().describe('last change time, ISO 8601 UTC'),
  changed_on_humanized: z.string(),
  created_by: userRefSchema.nullable(),
  changed_by: userRefSchema.nullable()
}

interface AuditRecord {
  created_on: string
  changed_on: string
  created_by_fk: number | null
  changed_by_fk: number | null
}

export type AuditItem = z.output<z.ZodObject<typeof auditColumns>>

/** The users a page of rows refers to: creators and editors, and owners when they are wanted. */
export async function peopleOf (
  catalog: Catalog,
  kind: 'chart' | 'dashboard' | 'dataset',
  rows: ReadonlyArray<AuditRecord & { id: number }>,
  withOwners: boolean
): Promise<{ users: ReadonlyMap<number, UserRef>, owners: ReadonlyMap<number, UserRef[]> }> {
  const users = await catalog.userRefs(rows.flatMap(row => [row.created_by_fk, row.changed_by_fk]))
  const owners = withOwners ? await catalog.ownersOf(kind, rows.map(row => row.id)) : new Map<number, UserRef[]>()
  return { users, owners }
}

/** Audit fields of a record (humanized times, user references). */
export function auditFields (record: AuditRecord, users: ReadonlyMap<number, UserRef>, now: number): AuditItem {
  return {
    created_on: record.created_on,
    created_on_humanized: humanizeSince(record.created_on, now),
    changed_on: record.changed_on,
    changed_on_humanized: humanizeSince(record.changed_on, now),
    created_by: record.created_by_fk === null ? null : users.get(record.created_by_fk) ?? null,
    changed_by: record.changed_by_fk === null ? null : users.get(record.changed_by_fk) ?? null
  }
}

/** One kind of listable catalog object, as a list tool presents it. */
export interface ListModel<Item extends z.ZodRawShape, Row extends AuditRecord & { id: number }> {
  /** Tool name, e.g. list_charts. */
  tool: string
  title: string
  description: string
  /** Key of the items array in the result, e.g. "charts". */
  itemsKey: string
  /** Singular noun for text, e.g. "chart". */
  noun: string
  spec: ListSpec
  /** Class permission (RBAC) needed to list these objects, e.g. (can_read, Chart). */
  permission: RequiredPermission
  /** Every column a caller may select, with its type. */
  item: Item
  defaultColumns: ReadonlyArray<keyof Item & string>
  /** One page of the rows `access` lets the caller see. */
  fetch: (catalog: Catalog, query: ListQuery, access: AccessProfile) => Promise<ListPage<Row>>
  /** All columns of the item for a page of rows; `wanted` says which expensive ones to compute. */
  toItems: (rows: Row[], context: ToolContext, wanted: ReadonlySet<string>, now: number) => Promise<Array<Record<string, unknown>>>
}

/** The sort of a list without order_column: newest first. */
export const DEFAULT_ORDER = { column: 'changed_on', direction: 'desc' } as const

/** The columns search looks in, as callers name them (without the table alias). */
export function searchColumns (spec: ListSpec): string[] {
  return spec.searchable.map(column => column.replace(/^\w+\./, ''))
}

/** A list tool's model, typed once: list_* and get_schema both read it. */
export function listModel<Item extends z.ZodRawShape, Row extends AuditRecord & { id: number }> (model: ListModel<Item, Row>): ListModel<Item, Row> {
  return model
}

function nonEmptyEnum (values: readonly string[]): z.ZodEnum<Record<string, string>> {
  if (values.length === 0) throw new Error('an enum needs values')
  return z.enum(values as [string, ...string[]])
}

/** Arguments of every list tool; the column names come from the model. */
// The schema's type is inferred: spelling it out would repeat the whole schema.
export function listArguments (model: { spec: ListSpec, item: z.ZodRawShape, itemsKey: string }) {
  const filterColumns = Object.keys(model.spec.filters)
  const filterHelp = filterColumns.map(column => {
    const filter = model.spec.filters[column]
    return filter === undefined ? column : `${column} (${filter.description}; ${operatorsFor(filter).join('/')})`
  }).join(', ')
  const scalar = z.union([z.string(), z.number(), z.boolean()])
  return z.strictObject({
    filters: z.array(z.strictObject({
      col: nonEmptyEnum(filterColumns).describe('column to filter on'),
      opr: z.enum(FILTER_OPERATORS).describe('eq, ne, sw (starts with), ew (ends with), ct (contains), in, nin, gt, gte, lt, lte, like, ilike, is_null, is_not_null'),
      value: z.union([scalar, z.array(scalar)]).optional().describe('a list for in/nin; omitted for is_null/is_not_null')
    })).max(MAX_FILTERS).default([]).describe(`Filters, all of which must match. Columns: ${filterHelp}.`),
    search: z.string().max(200).optional().describe(`Case-insensitive text search over ${searchColumns(model.spec).join(', ')}; give search or filters, not both (as in Superset).`),
    select_columns: z.array(nonEmptyEnum(Object.keys(model.item))).default([]).describe(`Columns to return for each of the ${model.itemsKey}; empty for the defaults.`),
    order_column: nonEmptyEnum(Object.keys(model.spec.sortable)).optional().describe('Column to sort by (default changed_on).'),
    order_direction: z.enum(['asc', 'desc']).optional().describe('Default: desc when sorting by the default column, asc otherwise.'),
    page: z.int().min(1).default(1).describe('Page number, starting at 1.'),
    page_size: z.int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE).describe(`Items per page (1-${MAX_PAGE_SIZE}).`)
  })
}

const filterAppliedSchema = z.object({ col: z.string(), opr: z.string(), value: z.unknown().optional() })

export function listOutput (model: { itemsKey: string, item: z.ZodRawShape }): z.ZodObject {
  const pagination = {
    page: z.int(),
    page_size: z.int(),
    total_count: z.int(),
    total_pages: z.int(),
    has_next: z.boolean(),
    has_previous: z.boolean()
  }
  return z.object({
    [model.itemsKey]: z.array(z.object(model.item).partial()),
    count: z.int().describe('items on this page'),
    ...pagination,
    columns_requested: z.array(z.string()),
    columns_loaded: z.array(z.string()),
    columns_available: z.array(z.string()),
    sortable_columns: z.array(z.string()),
    filters_applied: z.array(filterAppliedSchema),
    search: z.string().nullable(),
    order_column: z.string(),
    order_direction: z.enum(['asc', 'desc']),
    pagination: z.object(pagination),
    timestamp: z.string(),
    response_truncation: responseTruncationSchema
  })
}

/** Build a Superset-style list tool (list_charts, list_dashboards, ...) from its model. */
export function defineListTool<Item extends z.ZodRawShape, Row extends AuditRecord & { id: number }> (model: ListModel<Item, Row>): Tool {
  const columnsAvailable = Object.keys(model.item)
  return defineTool({
    name: model.tool,
    title: model.title,
    description: model.description,
    annotations: READ_ONLY,
    scope: SCOPES.read,
    permission: model.permission,
    aliases: { columns: 'select_columns', q: 'search', limit: 'page_size' },
    input: listArguments(model),
    output: listOutput(model),
    run: async (args, context) => {
      // Superset refuses the pair: a model that sends both would otherwise not know which one narrowed the list.
      if (args.search !== undefined && args.search !== '' && args.filters.length > 0) {
        const nameColumn = searchColumns(model.spec)[0] ?? ''
        const asFilter = Object.hasOwn(model.spec.filters, nameColumn) ? ` or add it to the filters as {"col": "${nameColumn}", "opr": "ct", "value": ${JSON.stringify(args.search)}}` : ''
        throw invalidArguments('search and filters cannot be used together.', `Use search alone for a text match${asFilter}.`)
      }
      const orderColumn = args.order_column ?? DEFAULT_ORDER.column
      const orderDirection = args.order_direction ?? (args.order_column === undefined ? DEFAULT_ORDER.direction : 'asc')
      // MCP_RESPONSE_SIZE_CONFIG.max_list_items (Superset's key) caps a page, whatever page_size asks.
      const pageSize = Math.min(args.page_size, context.config.MCP_RESPONSE_SIZE_CONFIG.max_list_items)
      const query: ListQuery = {
        page: args.page,
        pageSize,
        filters: args.filters,
        search: args.search,
        orderColumn,
        orderDirection
      }
      const { rows, total } = await model.fetch(context.catalog, query, context.principal.access)
      const columns = args.select_columns.length > 0 ? [...new Set(args.select_columns)] : [...model.defaultColumns]
      const now = Date.now()
      const items = (await model.toItems(rows, context, new Set(columns), now))
        .map(item => Object.fromEntries(columns.map(column => [column, item[column] ?? null])))
      const totalPages = Math.ceil(total / pageSize)
      const pagination = {
        page: args.page,
        page_size: pageSize,
        total_count: total,
        total_pages: totalPages,
        has_next: args.page < totalPages,
        has_previous: args.page > 1
      }
      return {
        [model.itemsKey]: items,
        count: items.length,
        ...pagination,
        columns_requested: args.select_columns,
        columns_loaded: columns,
        columns_available: columnsAvailable,
        sortable_columns: Object.keys(model.spec.sortable),
        filters_applied: args.filters,
        search: args.search ?? null,
        order_column: orderColumn,
        order_direction: orderDirection,
        pagination,
        timestamp: new Date(now).toISOString()
      }
    },
    render: result => renderList(model, result),
    truncation: {
      noun: `${model.noun}s`,
      count: result => (result[model.itemsKey] as unknown[]).length,
      keep: (result, keep, notice) => ({ ...result, [model.itemsKey]: (result[model.itemsKey] as unknown[]).slice(0, keep), count: keep, response_truncation: notice }),
      hint: 'Ask for fewer: a smaller page_size, select_columns with only the fields you need, or filters/search.'
    },
    sizeHints: [
      'Use a smaller page_size (e.g. 10).',
      `Use select_columns to return only the ${model.noun} fields you need.`,
      'Add filters or search to narrow the list.'
    ]
  })
}

function renderList (model: { itemsKey: string, noun: string }, result: Record<string, unknown>): string {
  const items = result[model.itemsKey] as Array<Record<string, unknown>>
  const total = result.total_count as number
  const page = result.page as number
  const totalPages = result.total_pages as number
  if (total === 0) return `No ${model.noun}s match.`
  if (items.length === 0) return `Page ${page} is past the end: ${plural(total, model.noun)} match in ${totalPages} page(s).`
  const columns = result.columns_loaded as string[]
  const header = `${plural(total, model.noun)} match; page ${page} of ${totalPages} (${items.length} shown).`
  const next = result.has_next === true ? `\nMore: call again with page=${page + 1}.` : ''
  return `${header}\n\n${objectTable(columns, items)}${next}`
}
