import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import type { Catalog } from '../catalog/catalog.ts'
import { gridLayout } from '../catalog/dashboard-layout.ts'
import type { Backend, ChartRecord, DatabaseOptions, DatabaseRecord, DatasetColumnRecord, DatasetMetricRecord, DatasetRecord } from '../catalog/records.ts'
import { ensureExamplesDatabase } from './generate.ts'

export const EXAMPLES_DATABASE_NAME = 'examples'
export const EXAMPLES_ROLE = 'examples_access'

/** Demo users of the embedded default; `admin` is the default MCP_DEV_USERNAME. */
export const DEMO_USERS = [
  { username: 'admin', first_name: 'Ada', last_name: 'Admin', email: 'admin@example.com', roles: ['Admin'] },
  { username: 'alice', first_name: 'Alice', last_name: 'Analyst', email: 'alice@example.com', roles: ['Alpha', 'sql_lab'] },
  { username: 'bob', first_name: 'Bob', last_name: 'Viewer', email: 'bob@example.com', roles: ['Gamma'] }
] as const

export interface LoadExamplesResult {
  /** A new examples file was written. */
  generated: boolean
  /** The database and its datasets, charts and dashboards were registered now. */
  registered: boolean
  usersCreated: string[]
  database: DatabaseRecord
}

const COLUMN_DESCRIPTIONS: Readonly<Record<string, string>> = {
  order_id: 'Order identifier',
  order_date: 'Day the order was placed',
  ship_date: 'Day the order shipped (empty when cancelled or still processing)',
  customer_id: 'Customer who placed the order',
  product_id: 'Product ordered',
  region: 'Sales region of the customer',
  country: 'Country of the customer',
  channel: 'Sales channel: Online, Retail or Partner',
  status: 'Completed, Shipped, Processing, Returned or Cancelled',
  quantity: 'Units ordered',
  unit_price: 'List price per unit, in USD',
  discount: 'Discount rate applied to the order (0 to 0.2)',
  amount: 'Order revenue after discount, in USD',
  cost: 'Cost of the goods sold, in USD',
  customer_name: 'Customer name',
  segment: 'Consumer, Corporate or Small Business',
  city: 'City of the customer',
  signup_date: 'Day the customer signed up',
  product_name: 'Product name',
  category: 'Product category',
  sub_category: 'Product sub-category',
  unit_cost: 'Cost per unit, in USD'
}

type MetricSpec = Omit<DatasetMetricRecord, 'id'>
const metric = (metric_name: string, expression: string, description: string, d3format: string | null = null): MetricSpec =>
  ({ metric_name, verbose_name: null, expression, description, d3format })

const ORDER_METRICS: MetricSpec[] = [
  metric('revenue', 'SUM(amount)', 'Total revenue after discounts', '$,.2f'),
  metric('order_count', 'COUNT(*)', 'Number of orders', ',d'),
  metric('avg_order_value', 'SUM(amount) / COUNT(*)', 'Average revenue per order', '$,.2f'),
  metric('units_sold', 'SUM(quantity)', 'Units sold', ',d'),
  metric('gross_profit', 'SUM(amount - cost)', 'Revenue minus cost of goods', '$,.2f'),
  metric('customers_ordering', 'COUNT(DISTINCT customer_id)', 'Distinct customers who ordered', ',d')
]

const ORDER_DETAILS_SQL = `SELECT o.order_id, o.order_date, o.region, o.country, o.channel, o.status,
       o.quantity, o.amount, o.cost, p.product_name, p.category, p.sub_category,
       c.customer_name, c.segment
FROM orders o
JOIN products p ON p.product_id = o.product_id
JOIN customers c ON c.customer_id = o.customer_id`

/** Columns of a table or query, read from the examples file itself. */
function introspectColumns (file: string, source: { table: string } | { sql: string }): Array<Omit<DatasetColumnRecord, 'id'>> {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true })
  try {
    const columns = 'table' in source
      ? (db.prepare(`PRAGMA table_info(${JSON.stringify(source.table)})`).all() as Array<{ name: string, type: string }>)
      : db.prepare(source.sql).columns().map(column => ({ name: column.name, type: column.type ?? 'TEXT' }))
    return columns.map(column => {
      const isDate = /DATE|TIME/i.test(column.type)
      return {
        column_name: column.name,
        verbose_name: null,
        type: column.type.toUpperCase(),
        is_dttm: isDate,
        groupby: true,
        filterable: true,
        description: COLUMN_DESCRIPTIONS[column.name] ?? null
      }
    })
  } finally {
    db.close()
  }
}

async function ensureDemoUsers (catalog: Catalog): Promise<string[]> {
  const created: string[] = []
  for (const user of DEMO_USERS) {
    if (await catalog.findUserByUsername(user.username) !== undefined) continue
    await catalog.createUser({ ...user, roles: [...user.roles] })
    created.push(user.username)
  }
  return created
}

/**
 * Make the example analytics database available: generate the file if needed, create the
 * demo users, and register the database with datasets, saved metrics, charts and two
 * dashboards. Safe to run again: what exists is left as it is.
 */
export async function loadExamples (catalog: Catalog, examplesFile: string): Promise<LoadExamplesResult> {
  const file = path.resolve(examplesFile)
  const generated = ensureExamplesDatabase(file)
  // One write transaction for the check and the registration: replicas starting together on
  // one catalog take turns, and the second finds the first one's work.
  return await catalog.transaction(async () => await registerExamples(catalog, file, generated, { database_name: EXAMPLES_DATABASE_NAME, backend: 'sqlite', connection: file, schema: 'main' }))
}

/** Where a copy of the example tables lives, and how its objects are told apart from the embedded ones. */
export interface ExamplesTarget {
  database_name: string
  backend: Backend
  connection: string
  password_source?: string | null
  options?: DatabaseOptions
  /** The schema the tables are in (main for SQLite and DuckDB, public for PostgreSQL). */
  schema: string
  /** Appended to chart and dashboard names (" (PostgreSQL)") and slugs ("-postgresql"), so every copy's are distinct. */
  label?: string
}

/**
 * Register an example database (the embedded file, or a copy in a warehouse) with its datasets,
 * saved metrics, charts and dashboards, unless a database of that name exists. Column types are
 * read from the generated SQLite file, which every copy matches.
 */
export async function registerExamples (catalog: Catalog, file: string, generated: boolean, target: ExamplesTarget): Promise<LoadExamplesResult> {
  const usersCreated = await ensureDemoUsers(catalog)
  const existing = await catalog.findDatabase(target.database_name)
  if (existing !== undefined) return { generated, registered: false, usersCreated, database: existing }
  const named = (name: string): string => target.label === undefined ? name : `${name} (${target.label})`
  const slugged = (slug: string): string => target.label === undefined ? slug : `${slug}-${target.label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`

  const admin = await catalog.findUserByUsername('admin')
  const alice = await catalog.findUserByUsername('alice')
  const owner = admin?.id ?? null
  const owners = [admin?.id, alice?.id].filter((id): id is number => id !== undefined)

  const database = await catalog.createDatabase({
    database_name: target.database_name,
    backend: target.backend,
    connection: target.connection,
    password_source: target.password_source ?? null,
    options: target.options ?? {},
    allow_dml: false,
    description: 'Example retail analytics data: 120,000 orders (2024-01 to 2026-06), 5,000 customers, 136 products.',
    created_by_fk: owner
  })

  // A custom role granting the example data to the demo users (Gamma and Alpha roles
  // give class permissions; data access is granted per database or dataset).
  if (await catalog.findRole(EXAMPLES_ROLE) === undefined) await catalog.createRole(EXAMPLES_ROLE, 'Access to the example database and its datasets')
  await catalog.grantPermission(EXAMPLES_ROLE, { permission: 'database_access', resource: 'Database', resource_id: database.id })
  for (const username of ['alice', 'bob']) {
    if (await catalog.findUserByUsername(username) !== undefined) await catalog.addUserToRole(username, EXAMPLES_ROLE)
  }

  const dataset = (table_name: string, options: { description: string, main_dttm_col: string | null, metrics: MetricSpec[], sql?: string }): Promise<DatasetRecord> =>
    catalog.createDataset({
      database_id: database.id,
      table_name,
      schema: target.schema,
      sql: options.sql ?? null,
      description: options.description,
      main_dttm_col: options.main_dttm_col,
      columns: introspectColumns(file, options.sql === undefined ? { table: table_name } : { sql: options.sql }),
      metrics: options.metrics,
      created_by_fk: owner,
      owners,
      ...(table_name === 'orders' ? { certified_by: 'Data Platform', certification_details: 'Source of truth for revenue reporting' } : {})
    })

  const orders = await dataset('orders', { description: 'One row per order line: date, customer region, channel, status, quantity and revenue.', main_dttm_col: 'order_date', metrics: ORDER_METRICS })
  const customers = await dataset('customers', {
    description: 'One row per customer with segment, region, country and sign-up date.',
    main_dttm_col: 'signup_date',
    metrics: [metric('customer_count', 'COUNT(*)', 'Number of customers', ',d')]
  })
  await dataset('products', {
    description: 'Product catalogue with category, list price and unit cost.',
    main_dttm_col: null,
    metrics: [metric('product_count', 'COUNT(*)', 'Number of products', ',d'), metric('avg_unit_price', 'AVG(unit_price)', 'Average list price', '$,.2f')]
  })
  const details = await dataset('order_details', {
    description: 'Virtual dataset: orders joined with product and customer attributes.',
    main_dttm_col: 'order_date',
    sql: ORDER_DETAILS_SQL,
    metrics: ORDER_METRICS.slice(0, 3)
  })

  const chart = (slice_name: string, viz_type: string, source: DatasetRecord, params: Record<string, unknown>, description: string): Promise<ChartRecord> =>
    catalog.createChart({
      slice_name: named(slice_name),
      viz_type,
      dataset_id: source.id,
      description,
      params: { datasource: `${source.id}__table`, viz_type, ...params },
      created_by_fk: owner,
      owners
    })

  const totalRevenue = await chart('Total Revenue', 'big_number_total', orders, { metric: 'revenue', subheader: 'all orders' }, 'Revenue after discounts across all orders.')
  const monthlyRevenue = await chart('Monthly Revenue', 'echarts_timeseries_line', orders, { x_axis: 'order_date', time_grain_sqla: 'P1M', metrics: ['revenue'], groupby: [], row_limit: 10000 }, 'Revenue per month.')
  const revenueByRegion = await chart('Revenue by Region', 'echarts_timeseries_bar', orders, { x_axis: 'region', metrics: ['revenue'], groupby: [], row_limit: 100 }, 'Revenue per sales region.')
  const ordersByChannel = await chart('Orders by Channel', 'pie', orders, { groupby: ['channel'], metric: 'order_count', row_limit: 100 }, 'Share of orders per sales channel.')
  const topProducts = await chart('Top Products by Revenue', 'table', details, { groupby: ['product_name', 'category'], metrics: ['revenue', 'order_count'], row_limit: 10, order_desc: true }, 'The ten products with the most revenue.')
  const categoryTrend = await chart('Quarterly Revenue by Category', 'echarts_area', details, { x_axis: 'order_date', time_grain_sqla: 'P3M', metrics: ['revenue'], groupby: ['category'], row_limit: 10000 }, 'Revenue per quarter, stacked by product category.')
  const customersBySegment = await chart('Customers by Segment', 'echarts_timeseries_bar', customers, { x_axis: 'segment', metrics: ['customer_count'], groupby: [], row_limit: 100 }, 'Number of customers per segment.')
  const customersByRegion = await chart('Customers by Region', 'pie', customers, { groupby: ['region'], metric: 'customer_count', row_limit: 100 }, 'Share of customers per region.')

  const salesCharts = [[totalRevenue, 4], [monthlyRevenue, 8], [revenueByRegion, 6], [ordersByChannel, 6], [topProducts, 6], [categoryTrend, 6]] as const
  await catalog.createDashboard({
    dashboard_title: named('Sales Overview'),
    slug: slugged('sales-overview'),
    description: 'Revenue, orders and products at a glance.',
    published: true,
    chart_ids: salesCharts.map(([c]) => c.id),
    position_json: gridLayout(named('Sales Overview'), [
      salesCharts.slice(0, 2).map(([c, width]) => ({ chartId: c.id, sliceName: c.slice_name, width })),
      salesCharts.slice(2, 4).map(([c, width]) => ({ chartId: c.id, sliceName: c.slice_name, width })),
      salesCharts.slice(4, 6).map(([c, width]) => ({ chartId: c.id, sliceName: c.slice_name, width }))
    ]),
    json_metadata: { color_scheme: 'supersetColors', refresh_frequency: 0 },
    certified_by: 'Data Platform',
    certification_details: 'Reviewed quarterly',
    created_by_fk: owner,
    owners: owner === null ? [] : [owner]
  })
  await catalog.createDashboard({
    dashboard_title: named('Customer Insights'),
    slug: slugged('customer-insights'),
    description: 'Who the customers are and where they buy (draft).',
    published: false,
    chart_ids: [customersBySegment.id, customersByRegion.id, ordersByChannel.id],
    position_json: gridLayout(named('Customer Insights'), [
      [{ chartId: customersBySegment.id, sliceName: customersBySegment.slice_name, width: 6 }, { chartId: customersByRegion.id, sliceName: customersByRegion.slice_name, width: 6 }],
      [{ chartId: ordersByChannel.id, sliceName: ordersByChannel.slice_name, width: 12 }]
    ]),
    json_metadata: { color_scheme: 'supersetColors', refresh_frequency: 0 },
    created_by_fk: owner,
    owners
  })
  return { generated, registered: true, usersCreated, database }
}
