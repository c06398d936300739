import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import type { Database } from 'better-sqlite3'

/**
 * The example analytics database: a small retail business (products, customers, orders)
 * generated deterministically from a fixed seed, so every install has the same numbers.
 * Bump GENERATOR_VERSION when the output changes; older files are then regenerated.
 */
export const GENERATOR_VERSION = 1
export const ORDER_COUNT = 120_000
export const CUSTOMER_COUNT = 5_000
const SEED = 20240101
const FIRST_ORDER_DAY = Date.UTC(2024, 0, 1)
const LAST_ORDER_DAY = Date.UTC(2026, 5, 30)
const DAY_MS = 86_400_000

/** mulberry32: a tiny, well-distributed deterministic PRNG. */
function createRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function weightedPicker<T> (random: () => number, entries: ReadonlyArray<readonly [T, number]>): () => T {
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0)
  const cumulative: number[] = []
  let running = 0
  for (const [, weight] of entries) {
    running += weight / total
    cumulative.push(running)
  }
  return () => {
    const r = random()
    const index = cumulative.findIndex(bound => r < bound)
    const entry = entries[index === -1 ? entries.length - 1 : index]
    if (entry === undefined) throw new Error('empty weighted list')
    return entry[0]
  }
}

const pick = <T>(random: () => number, items: readonly T[]): T => {
  const item = items[Math.floor(random() * items.length)]
  if (item === undefined) throw new Error('empty list')
  return item
}

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10)
const money = (value: number): number => Math.round(value * 100) / 100

const CATEGORIES: ReadonlyArray<{ name: string, subCategories: readonly string[], priceRange: readonly [number, number], margin: number }> = [
  { name: 'Electronics', subCategories: ['Laptops', 'Phones', 'Audio', 'Monitors', 'Accessories'], priceRange: [19, 1899], margin: 0.22 },
  { name: 'Furniture', subCategories: ['Chairs', 'Desks', 'Storage', 'Lighting'], priceRange: [29, 1199], margin: 0.31 },
  { name: 'Office Supplies', subCategories: ['Paper', 'Binders', 'Pens', 'Organizers'], priceRange: [2, 89], margin: 0.42 },
  { name: 'Clothing', subCategories: ['Outerwear', 'Shirts', 'Shoes', 'Bags'], priceRange: [15, 349], margin: 0.48 },
  { name: 'Sports & Outdoors', subCategories: ['Camping', 'Fitness', 'Cycling'], priceRange: [9, 899], margin: 0.35 },
  { name: 'Home & Kitchen', subCategories: ['Cookware', 'Appliances', 'Decor', 'Bedding'], priceRange: [8, 649], margin: 0.38 }
]

const PRODUCT_WORDS = ['Pro', 'Classic', 'Lite', 'Max', 'Eco', 'Plus', 'Studio', 'Travel', 'Prime', 'Compact', 'Ultra', 'Essential']

const REGIONS: ReadonlyArray<{ region: string, weight: number, countries: ReadonlyArray<{ country: string, cities: readonly string[] }> }> = [
  { region: 'North America', weight: 35, countries: [{ country: 'United States', cities: ['New York', 'Chicago', 'Austin', 'Seattle', 'Denver'] }, { country: 'Canada', cities: ['Toronto', 'Vancouver', 'Montreal'] }, { country: 'Mexico', cities: ['Mexico City', 'Monterrey'] }] },
  { region: 'Europe', weight: 30, countries: [{ country: 'Germany', cities: ['Berlin', 'Munich', 'Hamburg'] }, { country: 'France', cities: ['Paris', 'Lyon'] }, { country: 'United Kingdom', cities: ['London', 'Manchester', 'Edinburgh'] }, { country: 'Spain', cities: ['Madrid', 'Barcelona'] }, { country: 'Italy', cities: ['Milan', 'Rome'] }, { country: 'Netherlands', cities: ['Amsterdam', 'Rotterdam'] }, { country: 'Sweden', cities: ['Stockholm', 'Gothenburg'] }] },
  { region: 'Asia Pacific', weight: 20, countries: [{ country: 'Japan', cities: ['Tokyo', 'Osaka'] }, { country: 'Australia', cities: ['Sydney', 'Melbourne'] }, { country: 'India', cities: ['Bengaluru', 'Mumbai', 'Delhi'] }, { country: 'Singapore', cities: ['Singapore'] }, { country: 'South Korea', cities: ['Seoul', 'Busan'] }] },
  { region: 'Latin America', weight: 10, countries: [{ country: 'Brazil', cities: ['São Paulo', 'Rio de Janeiro'] }, { country: 'Argentina', cities: ['Buenos Aires', 'Córdoba'] }, { country: 'Chile', cities: ['Santiago'] }, { country: 'Colombia', cities: ['Bogotá', 'Medellín'] }] },
  { region: 'Middle East & Africa', weight: 5, countries: [{ country: 'United Arab Emirates', cities: ['Dubai', 'Abu Dhabi'] }, { country: 'South Africa', cities: ['Johannesburg', 'Cape Town'] }, { country: 'Nigeria', cities: ['Lagos'] }, { country: 'Egypt', cities: ['Cairo'] }] }
]

const FIRST_NAMES = ['Ava', 'Ben', 'Chloe', 'Daniel', 'Emma', 'Felix', 'Grace', 'Hugo', 'Isla', 'Jack', 'Kira', 'Leo', 'Maya', 'Noah', 'Olivia', 'Pablo', 'Quinn', 'Ravi', 'Sofia', 'Theo', 'Uma', 'Victor', 'Wen', 'Xavier', 'Yara', 'Zane', 'Amara', 'Bruno', 'Chen', 'Dara', 'Elif', 'Farid', 'Gita', 'Hana', 'Ines', 'Jonas', 'Kenji', 'Lina', 'Mateo', 'Nadia']
const LAST_NAMES = ['Anderson', 'Becker', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Hoffmann', 'Ito', 'Jensen', 'Kowalski', 'Larsen', 'Moreau', 'Nakamura', 'Okafor', 'Patel', 'Quintero', 'Rossi', 'Schmidt', 'Tanaka', 'Ueda', 'Varga', 'Weber', 'Xu', 'Yilmaz', 'Zhang', 'Silva', 'Novak', 'Murphy', 'Kim']

interface Product { id: number, category: string, unitPrice: number, unitCost: number }
interface Customer { id: number, region: string, country: string, signupDay: number }

const SCHEMA = `
  CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    product_name TEXT NOT NULL,
    category TEXT NOT NULL,
    sub_category TEXT NOT NULL,
    unit_price REAL NOT NULL,
    unit_cost REAL NOT NULL
  );
  CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    customer_name TEXT NOT NULL,
    segment TEXT NOT NULL,
    region TEXT NOT NULL,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    signup_date DATE NOT NULL
  );
  CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    order_date DATE NOT NULL,
    ship_date DATE,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    region TEXT NOT NULL,
    country TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL,
    discount REAL NOT NULL,
    amount REAL NOT NULL,
    cost REAL NOT NULL
  );
  CREATE TABLE examples_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`

function insertProducts (db: Database, random: () => number): Product[] {
  const insert = db.prepare('INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)')
  const products: Product[] = []
  for (const category of CATEGORIES) {
    for (const subCategory of category.subCategories) {
      const count = 4 + Math.floor(random() * 4)
      for (let i = 0; i < count; i++) {
        const [low, high] = category.priceRange
        // Log-uniform prices: many cheap items, a few expensive ones.
        const unitPrice = money(Math.exp(Math.log(low) + random() * (Math.log(high) - Math.log(low))))
        const unitCost = money(unitPrice * (1 - category.margin * (0.7 + random() * 0.6)))
        const name = `${subCategory.replace(/s$/, '')} ${pick(random, PRODUCT_WORDS)} ${100 + Math.floor(random() * 900)}`
        const product: Product = { id: products.length + 1, category: category.name, unitPrice, unitCost }
        insert.run(product.id, name, category.name, subCategory, unitPrice, unitCost)
        products.push(product)
      }
    }
  }
  return products
}

function insertCustomers (db: Database, random: () => number): Customer[] {
  const insert = db.prepare('INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)')
  const pickRegion = weightedPicker(random, REGIONS.map(region => [region, region.weight] as const))
  const pickSegment = weightedPicker(random, [['Consumer', 55], ['Corporate', 30], ['Small Business', 15]] as const)
  const firstSignup = Date.UTC(2022, 0, 1)
  const customers: Customer[] = []
  for (let id = 1; id <= CUSTOMER_COUNT; id++) {
    const region = pickRegion()
    const { country, cities } = pick(random, region.countries)
    const signupDay = firstSignup + Math.floor(random() * ((LAST_ORDER_DAY - firstSignup) / DAY_MS)) * DAY_MS
    insert.run(id, `${pick(random, FIRST_NAMES)} ${pick(random, LAST_NAMES)}`, pickSegment(), region.region, country, pick(random, cities), isoDay(signupDay))
    customers.push({ id, region: region.region, country, signupDay })
  }
  return customers
}

/** Relative demand of a day: growth over the period, a holiday peak, quieter weekends. */
function dayWeight (day: number): number {
  const date = new Date(day)
  const progress = (day - FIRST_ORDER_DAY) / (LAST_ORDER_DAY - FIRST_ORDER_DAY)
  const month = date.getUTCMonth()
  const seasonal = month === 10 ? 1.35 : month === 11 ? 1.6 : month <= 1 ? 0.82 : 1
  const weekday = date.getUTCDay()
  const weekly = weekday === 0 || weekday === 6 ? 0.8 : 1.05
  return (1 + 0.6 * progress) * seasonal * weekly
}

function insertOrders (db: Database, random: () => number, products: readonly Product[], customers: readonly Customer[]): void {
  const days: Array<readonly [number, number]> = []
  for (let day = FIRST_ORDER_DAY; day <= LAST_ORDER_DAY; day += DAY_MS) days.push([day, dayWeight(day)])
  const pickDay = weightedPicker(random, days)
  const orderDays = Array.from({ length: ORDER_COUNT }, () => pickDay()).sort((a, b) => a - b)

  // Popular products sell more (a Zipf-like tail).
  const pickProduct = weightedPicker(random, products.map((product, rank) => [product, 1 / Math.sqrt(rank + 1)] as const))
  const pickChannel = weightedPicker(random, [['Online', 55], ['Retail', 30], ['Partner', 15]] as const)
  const pickDiscount = weightedPicker(random, [[0, 70], [0.05, 12], [0.1, 9], [0.15, 6], [0.2, 3]] as const)
  const pickStatus = weightedPicker(random, [['Completed', 90], ['Returned', 5], ['Cancelled', 5]] as const)
  const insert = db.prepare('INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')

  orderDays.forEach((day, index) => {
    let customer = pick(random, customers)
    for (let attempt = 0; attempt < 20 && customer.signupDay > day; attempt++) customer = pick(random, customers)
    const product = pickProduct()
    const quantity = 1 + Math.min(9, Math.floor(-Math.log(1 - random()) * 1.6))
    const discount = pickDiscount()
    const recent = LAST_ORDER_DAY - day < 10 * DAY_MS
    const status = recent ? (random() < 0.5 ? 'Processing' : 'Shipped') : pickStatus()
    const shipDate = status === 'Cancelled' || status === 'Processing' ? null : isoDay(day + (1 + Math.floor(random() * 6)) * DAY_MS)
    insert.run(index + 1, isoDay(day), shipDate, customer.id, product.id, customer.region, customer.country, pickChannel(), status, quantity,
      product.unitPrice, discount, money(quantity * product.unitPrice * (1 - discount)), money(quantity * product.unitCost))
  })
}

/** The generator version recorded in an existing examples file, or undefined if unreadable. */
export function examplesVersion (file: string): number | undefined {
  if (!existsSync(file)) return undefined
  try {
    const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true })
    try {
      const row = db.prepare("SELECT value FROM examples_meta WHERE key = 'generator_version'").get() as { value: string } | undefined
      return row === undefined ? undefined : Number(row.value)
    } finally {
      db.close()
    }
  } catch {
    return undefined
  }
}

/**
 * Write the example database to `file` unless a current one is already there. The file is
 * built under a temporary name and renamed into place, so a concurrent reader never sees a
 * half-written database. Returns true when it generated a new file.
 */
export function ensureExamplesDatabase (file: string): boolean {
  if (examplesVersion(file) === GENERATOR_VERSION) return false
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`
  const db = new BetterSqlite3(temporary)
  try {
    db.pragma('journal_mode = OFF')
    db.pragma('synchronous = OFF')
    const random = createRandom(SEED)
    db.transaction(() => {
      db.exec(SCHEMA)
      const products = insertProducts(db, random)
      const customers = insertCustomers(db, random)
      insertOrders(db, random, products, customers)
      db.exec(`
        CREATE INDEX orders_order_date ON orders (order_date);
        CREATE INDEX orders_customer ON orders (customer_id);
        CREATE INDEX orders_product ON orders (product_id);
      `)
      db.prepare("INSERT INTO examples_meta VALUES ('generator_version', ?), ('seed', ?)").run(String(GENERATOR_VERSION), String(SEED))
    })()
    db.exec('ANALYZE')
    db.close()
    renameSync(temporary, file)
  } catch (err) {
    if (db.open) db.close()
    rmSync(temporary, { force: true })
    throw err
  }
  return true
}
