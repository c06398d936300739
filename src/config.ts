import { createPrivateKey, createPublicKey } from 'node:crypto'
import { isIP } from 'node:net'
import path from 'node:path'
import * as z from 'zod'
import { isLoopbackHost } from './hosts.ts'
import { trimEnd } from './text.ts'
import { authConfigProblems, authenticationRequired } from './auth/config-checks.ts'
import { BYTES_PER_TOKEN } from './mcp/size-guard.ts'
import { IGNORED_SUPERSET_KEYS, IGNORED_SUPERSET_SETTINGS, UNSUPPORTED_SUPERSET_SETTINGS } from './superset-settings.ts'

/**
 * Every setting analytics-mcp understands, with its zod schema, default and description.
 * This table is the single source of truth: loading, validation, the README's settings
 * table and its test all read it. Names mirror Apache Superset's `MCP_*` keys where
 * Superset has one. Each schema accepts typed values (config files) as well as strings
 * (environment variables, command-line flags).
 */

type SettingGroup = 'Service' | 'Tools' | 'Load and fair sharing' | 'Authentication' | 'OAuth authorization server' | 'Authorization and user resolution' | 'Storage and example data' | 'HTTP and transport security' | 'SQL execution' | 'Redis, cache, response size and rate limits' | 'Charts, links and pages'

/** One key of an object setting (MCP_CACHE_CONFIG.call_tool_ttl, ...). */
export interface SettingKey {
  description: string
  type: string
  default: unknown
  schema: z.ZodType
}

export interface Setting {
  group: SettingGroup
  /** Shown in the README's settings table. */
  description: string
  /** The README's "Type" column. */
  type: string
  /** `undefined` means "unset": the setting is optional or derived from others. */
  default: unknown
  schema: z.ZodType
  /** For object settings (Superset's MCP_*_CONFIG dictionaries): their keys. */
  keys?: Readonly<Record<string, SettingKey>>
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on'])
const FALSE_WORDS = new Set(['false', '0', 'no', 'off'])

/** Words an environment variable may use for a boolean; anything else is left for zod to refuse. */
function booleanWord (raw: unknown): unknown {
  if (typeof raw !== 'string') return raw
  const word = raw.trim().toLowerCase()
  return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : raw
}

function integerText (raw: unknown): unknown {
  return typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw
}

/** A JSON array or a comma-separated string becomes an array; anything else is left for zod to refuse. */
function listText (raw: unknown): unknown {
  if (typeof raw !== 'string') return raw
  const text = raw.trim()
  if (!text.startsWith('[')) return text.split(',').map(item => item.trim()).filter(item => item !== '')
  try {
    return JSON.parse(text) as unknown
  } catch {
    return raw
  }
}

/** An empty (or blank) value means "unset" for optional settings (handy for Helm templates). */
function blankAsUnset (raw: unknown): unknown {
  return typeof raw === 'string' && raw.trim() === '' ? undefined : raw
}

/** A string schema with a domain check that returns an error message or undefined. */
function checkedString (check?: (value: string) => string | undefined, typeError = 'expected a string'): z.ZodType<string> {
  const text = z.string({ error: typeError }).trim()
  if (check === undefined) return text
  return text.superRefine((value, context) => {
    const problem = check(value)
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem })
  })
}

function booleanSetting (group: SettingGroup, defaultValue: boolean, description: string) {
  return { group, description, type: 'boolean', default: defaultValue, schema: z.preprocess(booleanWord, z.boolean({ error: 'expected a boolean (true/false, 1/0, yes/no, on/off)' })) }
}

function integerSetting (group: SettingGroup, defaultValue: number, min: number, max: number, description: string) {
  const error = `expected an integer between ${min} and ${max}`
  return { group, description, type: `integer ${min}–${max}`, default: defaultValue, schema: z.preprocess(integerText, z.int({ error }).min(min, { error }).max(max, { error })) }
}

/** An integer that may be left unset (its default is then derived from other settings). */
function optionalIntegerSetting (group: SettingGroup, min: number, max: number, description: string) {
  const error = `expected an integer between ${min} and ${max}`
  return { group, description, type: `integer ${min}–${max}`, default: undefined, schema: z.preprocess(raw => integerText(blankAsUnset(raw)), z.int({ error }).min(min, { error }).max(max, { error }).optional()) }
}

function stringSetting (group: SettingGroup, defaultValue: string, description: string, check?: (value: string) => string | undefined) {
  return { group, description, type: 'string', default: defaultValue, schema: checkedString(check).refine(value => value !== '', { error: 'must not be empty' }) }
}

function optionalStringSetting (group: SettingGroup, description: string, check?: (value: string) => string | undefined) {
  return { group, description, type: 'string', default: undefined, schema: z.preprocess(blankAsUnset, checkedString(check).optional()) }
}

const LIST_ERROR = 'expected a list (a JSON array of strings, or comma-separated values)'

function listSetting (group: SettingGroup, description: string, item: z.ZodType<string>, defaultValue: readonly string[] = []) {
  const list = z.array(item, { error: LIST_ERROR }).readonly()
  return { group, description, type: 'list', default: defaultValue, schema: z.preprocess(listText, list) }
}

function enumSetting<const V extends string> (group: SettingGroup, defaultValue: V, values: readonly [V, ...V[]], description: string) {
  // Case does not matter ("WARN", "rs256"); the value becomes its canonical spelling.
  const canonical = (raw: unknown): unknown => typeof raw === 'string' ? values.find(value => value.toLowerCase() === raw.trim().toLowerCase()) ?? raw : raw
  return { group, description, type: values.join(' | '), default: defaultValue, schema: z.preprocess(canonical, z.enum(values, { error: `expected one of ${values.join(', ')}` })) }
}

function functionSetting (group: SettingGroup, description: string) {
  const schema = z.custom<(...args: never[]) => unknown>(value => typeof value === 'function', { error: 'expected a function (set it in a JavaScript config file)' }).optional()
  return { group, description, type: 'function (JS config file)', default: undefined, schema }
}

/** A JSON object of role lists, e.g. {"analytics-admins": ["Admin"]}; from the environment as JSON text. */
function roleMappingSetting (group: SettingGroup, description: string) {
  const mapping = z.record(z.string(), z.array(z.string(), { error: 'expected a list of role names for each key' }), { error: 'expected a JSON object mapping claim values to lists of role names' })
  return { group, description, type: 'JSON object', default: {} as Record<string, string[]>, schema: z.preprocess(jsonText, mapping) }
}

function jsonText (raw: unknown): unknown {
  if (typeof raw !== 'string') return raw
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return raw
  }
}

/** One entry of MCP_DATABASES (the fields of `analytics-mcp databases add`). */
export interface DeclaredDatabase {
  name: string
  uri: string
  password_env?: string | undefined
  password_file?: string | undefined
  allow_dml?: boolean | undefined
  expose_in_sqllab?: boolean | undefined
  schemas?: string[] | undefined
  files?: string[] | undefined
  row_limit?: number | undefined
  timeout?: number | undefined
  description?: string | undefined
}

const declaredDatabase = z.strictObject({
  name: z.string().trim().min(1).max(250),
  uri: z.string().trim().regex(/^(postgres(ql)?|sqlite|duckdb):\/\//, 'expected a postgresql://, sqlite:/// or duckdb:/// URI'),
  password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
  password_file: z.string().min(1).optional(),
  allow_dml: z.boolean().optional(),
  expose_in_sqllab: z.boolean().optional(),
  schemas: z.array(z.string().min(1)).optional(),
  files: z.array(z.string().min(1)).optional(),
  row_limit: z.int().min(1).max(1_000_000).optional(),
  timeout: z.int().min(1).max(3600).optional(),
  description: z.string().max(2000).optional()
}, { error: issue => issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}` : undefined })

function databasesSetting (group: SettingGroup, description: string) {
  const list = z.array(declaredDatabase, { error: 'expected a list of databases ({name, uri, ...})' }).readonly()
  return { group, description, type: 'list of objects', default: [] as readonly DeclaredDatabase[], schema: z.preprocess(jsonText, list) }
}

/** One entry of MCP_OAUTH_CLIENTS. */
export interface DeclaredOAuthClient {
  client_id: string
  client_name: string
  redirect_uris: string[]
  client_secret_env?: string | undefined
}

const declaredOAuthClient = z.strictObject({
  client_id: z.string().trim().min(1).max(200).regex(/^[\x21-\x7E]+$/, 'expected printable characters without spaces'),
  client_name: z.string().trim().min(1).max(200),
  redirect_uris: z.array(z.string().min(1).max(2000)).min(1, 'expected at least one redirect URI'),
  client_secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional()
}, { error: issue => issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}` : undefined })

function oauthClientsSetting (group: SettingGroup, description: string) {
  const list = z.array(declaredOAuthClient, { error: 'expected a list of clients ({client_id, client_name, redirect_uris, client_secret_env})' }).readonly()
  return { group, description, type: 'list of objects', default: [] as readonly DeclaredOAuthClient[], schema: z.preprocess(jsonText, list) }
}

const key = (type: string, defaultValue: unknown, schema: z.ZodType, description: string): SettingKey => ({ type, default: defaultValue, schema, description })
const boolKey = (defaultValue: boolean, description: string): SettingKey => key('boolean', defaultValue, z.boolean({ error: 'expected true or false' }), description)
const intKey = (defaultValue: number, min: number, max: number, description: string): SettingKey => {
  const error = `expected an integer between ${min} and ${max}`
  return key(`integer ${min}–${max}`, defaultValue, z.int({ error }).min(min, { error }).max(max, { error }), description)
}
const stringKey = (defaultValue: string | null, description: string, check?: (value: string) => string | undefined): SettingKey =>
  key('string', defaultValue, defaultValue === null ? checkedString(check).nullable() : checkedString(check).refine(value => value !== '', { error: 'must not be empty' }), description)
const namesKey = (defaultValue: readonly string[], description: string): SettingKey =>
  key('list', defaultValue, z.array(z.string({ error: 'expected a list of names' }), { error: 'expected a list of names' }).readonly(), description)

/**
 * A Superset-style configuration dictionary (MCP_CACHE_CONFIG, ...): a JSON object (a JSON
 * string in the environment) whose keys each have a schema and a default. Keys left out keep
 * their defaults; unknown keys are refused by name.
 */
function objectSetting<T extends Record<string, unknown>> (group: SettingGroup, description: string, keys: { [K in keyof T]: SettingKey }, ignoredKeys: Readonly<Record<string, string>> = {}) {
  const defaults = Object.fromEntries(Object.entries(keys).map(([name, spec]) => [name, spec.default]))
  const shape = Object.fromEntries(Object.entries(keys).map(([name, spec]) => [name, spec.schema.optional()]))
  const known = [...Object.keys(keys), ...Object.keys(ignoredKeys)]
  const object = z.strictObject(shape, {
    error: issue => issue.code === 'unrecognized_keys'
      ? issue.keys.map(unknown => {
        const nearest = closestName(unknown, known, false)
        return `unknown key ${unknown}${nearest === undefined ? '' : ` (did you mean ${nearest}?)`}`
      }).join('; ') + ` (known: ${Object.keys(keys).join(', ')})`
      : 'expected a JSON object'
  }).transform(value => Object.freeze({ ...defaults, ...Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) }) as Readonly<T>)
  // Superset's keys that mean nothing here are taken out before the strict check (resolveConfig warns about each).
  const withoutIgnored = (raw: unknown): unknown => {
    const value = jsonText(raw)
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
    return Object.fromEntries(Object.entries(value).filter(([name]) => !Object.hasOwn(ignoredKeys, name)))
  }
  return { group, description, type: 'JSON object', default: defaults as Readonly<T>, schema: z.preprocess(withoutIgnored, object), keys: keys as Record<string, SettingKey>, ignoredKeys }
}

function checkRedisUrl (value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'expected a redis:// or rediss:// URL, e.g. rediss://user:password@redis.example.com:6380/0'
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return 'expected a redis:// or rediss:// (TLS) URL'
  if (!/^\/?\d*$/.test(url.pathname)) return 'the path must be a database number, e.g. /0'
  return undefined
}

function checkCatalogUrl (value: string): string | undefined {
  if (/^postgres(ql)?:\/\//i.test(value)) {
    try {
      const url = new URL(value)
      if (url.hostname === '') return 'a postgresql:// URL needs a host, e.g. postgresql://analytics@db.example.com:5432/analytics'
    } catch {
      return 'not a valid postgresql:// URL, e.g. postgresql://analytics@db.example.com:5432/analytics?sslmode=verify-full'
    }
    return undefined
  }
  if (value.startsWith('sqlite://')) return value.startsWith('sqlite:///') ? undefined : 'a sqlite URL takes an absolute path: sqlite:///var/lib/analytics-mcp/catalog.db'
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return 'expected a postgresql:// URL, sqlite:///abs/path.db or a file path'
  return undefined
}

function checkHostPort (value: string): string | undefined {
  return /^[^\s:/]+:\d{1,5}$/.test(value) || /^\[[0-9a-f:.]+\]:\d{1,5}$/i.test(value) ? undefined : `"${value}" is not host:port`
}

export interface StoreConfig {
  [key: string]: unknown
  enabled: boolean
  CACHE_REDIS_URL: string | null
  key_prefix: string
  tls_ca_file: string | null
  sentinels: readonly string[]
  sentinel_master: string
  sentinel_username: string | null
  sentinel_password: string | null
  connect_timeout_ms: number
  command_timeout_ms: number
  event_store_max_events: number
  event_store_ttl: number
}

export interface CacheConfig {
  [key: string]: unknown
  enabled: boolean
  CACHE_KEY_PREFIX: string | null
  list_tools_ttl: number
  list_resources_ttl: number
  list_prompts_ttl: number
  read_resource_ttl: number
  get_prompt_ttl: number
  call_tool_ttl: number
  max_item_size: number
  excluded_tools: readonly string[]
  memory_max_bytes: number
}

export interface ToolSearchConfig {
  [key: string]: unknown
  enabled: boolean
  strategy: 'bm25'
  max_results: number
  always_visible: readonly string[]
  search_tool_name: string
  call_tool_name: string
  compact_schemas: boolean
  max_description_length: number
  include_schemas: boolean
}

export interface ResponseSizeConfig {
  [key: string]: unknown
  enabled: boolean
  /** The effective limit: the smaller of the token_limit given and max_bytes / 3.5 (see withDerived). */
  token_limit: number
  max_bytes: number | null
  max_list_items: number
  warn_threshold_pct: number
  excluded_tools: readonly string[]
}

export interface ToolRateLimit {
  per_minute: number
  burst?: number | undefined
}

export interface RateLimitConfig {
  [key: string]: unknown
  enabled: boolean
  requests_per_minute: number
  burst: number
  tool_limits: Readonly<Record<string, ToolRateLimit>>
  fail_open: boolean
}

/** Per-tool token buckets: {"execute_sql": {"per_minute": 60, "burst": 10}}. */
const toolLimitsSchema = z.record(z.string(), z.strictObject({
  per_minute: z.int().min(1).max(1_000_000),
  burst: z.int().min(1).max(1_000_000).optional()
}, { error: 'expected {"per_minute": N, "burst": M} for each tool' }), { error: 'expected an object of tool names to {"per_minute": N, "burst": M}' })

/** A PEM key that node:crypto can read; the key type is checked against the algorithm at start-up. */
function checkPem (kind: 'public' | 'private') {
  return (value: string): string | undefined => {
    if (!value.includes('-----BEGIN')) return `expected a PEM-encoded ${kind} key (-----BEGIN ... -----)`
    try {
      if (kind === 'public') createPublicKey(value)
      else createPrivateKey(value)
      return undefined
    } catch {
      return `not a readable PEM ${kind} key`
    }
  }
}

function checkHttpUrl (value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'expected an absolute http(s) URL, e.g. https://analytics.example.com'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'expected an http or https URL'
  if (url.search !== '' || url.hash !== '') return 'must not contain a query string or fragment'
  if (url.username !== '' || url.password !== '') return 'must not contain credentials'
  return undefined
}

function checkProxyAddress (value: string): string | undefined {
  const [address = '', bits, ...rest] = value.split('/')
  const version = isIP(address)
  const maxBits = version === 6 ? 128 : 32
  if (version === 0 || rest.length > 0 || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))) {
    return `"${value}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, fd00::/8)`
  }
  return undefined
}

function checkHostname (value: string): string | undefined {
  if (value === '*') return undefined
  const bracketedIpv6 = /^\[[0-9a-f:.]+\]$/i.test(value)
  if (/[\s/@]/.test(value) || (!bracketedIpv6 && value.includes(':'))) {
    return `"${value}" is not a host name (write it without scheme, port or path, e.g. mcp.example.com or [::1])`
  }
  return undefined
}

function checkOrigin (value: string): string | undefined {
  if (value === '*') return undefined
  const problem = checkHttpUrl(value)
  if (problem !== undefined) return `"${value}": ${problem}`
  if (new URL(value).pathname !== '/') return `"${value}" is not an origin (scheme://host[:port] without a path)`
  return undefined
}

/** Host names compare case-insensitively and without a trailing dot (the SDK lowercases the Host header). */
const hostnameItem = checkedString(checkHostname, LIST_ERROR).transform(host => host.toLowerCase().replace(/\.$/, ''))
const originItem = checkedString(checkOrigin, LIST_ERROR).transform(origin => origin === '*' ? origin : new URL(origin).origin)

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** JWT algorithms a deployment may pin (one at a time). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'HS256', 'HS384', 'HS512'] as const

export const SETTINGS = {
  MCP_SERVICE_HOST: stringSetting('Service', '127.0.0.1', 'Host (interface) to bind to.'),
  MCP_SERVICE_PORT: integerSetting('Service', 5008, 0, 65535, 'TCP port to bind to; 0 picks a free port.'),
  MCP_METRICS_PORT: optionalIntegerSetting('Service', 0, 65535, 'Serve GET /metrics only on this TCP port (on MCP_SERVICE_HOST), so it is not reachable through the MCP port or an ingress in front of it; must differ from MCP_SERVICE_PORT; 0 picks a free port. Unset: /metrics is served on the MCP port.'),
  MCP_SERVICE_URL: optionalStringSetting('Service', 'Public base URL of this service (set it behind a reverse proxy or ingress). Defaults to `http://HOST:PORT`.', checkHttpUrl),
  MCP_APP_NAME: stringSetting('Service', 'analytics-mcp', 'Name reported by health_check, get_instance_info and the MCP server info.'),
  MCP_DEBUG: booleanSetting('Service', false, 'Debug logging (same as MCP_LOG_LEVEL=debug).'),
  MCP_LOG_LEVEL: enumSetting('Service', 'info', LOG_LEVELS, 'Log level of the JSON logs on stdout.'),
  MCP_DEV_USERNAME: optionalStringSetting('Service', 'Development mode (authentication off): the catalog user every MCP call runs as; `admin` when unset. The user must exist and be active. Setting it together with authentication stops start-up.'),
  MCP_SHUTDOWN_TIMEOUT: integerSetting('Service', 10, 0, 600, 'Seconds to let in-flight requests finish after SIGTERM before the process exits.'),

  MCP_DISABLED_TOOLS: listSetting('Tools', 'Tools removed at start-up (as Superset\'s MCP_DISABLED_TOOLS): left out of tools/list and of the server instructions, and a call by name is refused as an unknown tool. A Superset tool this release does not have is accepted with a warning; any other name stops start-up (a typo would leave the tool on).', checkedString(undefined, LIST_ERROR)),

  MCP_TOOL_SEARCH_CONFIG: objectSetting<ToolSearchConfig>('Tools', 'Tool search (Superset\'s "compatibility" discovery mode, its keys and defaults but off by default; see the README): tools/list shows a few pinned tools plus a search tool and a call tool, so a client\'s context holds a handful of definitions instead of every one. Every tool stays callable by name.', {
    enabled: boolKey(false, 'List only always_visible plus the search and call tools.'),
    strategy: key('bm25', 'bm25', z.enum(['bm25'], { error: 'expected "bm25" (Superset\'s "regex" is not offered: a regular expression written by a model can stall the server)' }), 'Ranked full-text search over names, titles, descriptions and parameter names (BM25, through MiniSearch).'),
    max_results: intKey(5, 1, 100, 'Tools a search returns at most.'),
    always_visible: namesKey(['health_check', 'get_instance_info'], 'Tools listed in tools/list next to the search and call tools.'),
    search_tool_name: stringKey('search_tools', 'Name of the search tool.', value => /^[a-z][a-z0-9_]{0,63}$/.test(value) ? undefined : 'expected a tool name (lowercase letters, digits, _)'),
    call_tool_name: stringKey('call_tool', 'Name of the tool that calls another by name.', value => /^[a-z][a-z0-9_]{0,63}$/.test(value) ? undefined : 'expected a tool name (lowercase letters, digits, _)'),
    compact_schemas: boolKey(true, 'Search results leave out output schemas and titles (Superset\'s key; always so here).'),
    max_description_length: intKey(300, 40, 10_000, 'Characters of a tool\'s description shown in search results.'),
    include_schemas: boolKey(true, 'Search results carry each tool\'s input schema; false: a parameters_hint listing the argument names.')
  }),
  MCP_STRUCTURED_OUTPUT_ENABLED: booleanSetting('Tools', true, 'Advertise each tool\'s outputSchema and return structuredContent with its text (Superset\'s setting; its default is false, ours true: typed results are what clients and agents parse, and every client we test reads them). Off: tools/list has no outputSchema and results carry only their text (and images).'),
  MCP_BUG_REPORT_CONTACT: optionalStringSetting('Tools', 'Whom users should send bug reports to (as Superset\'s setting), e.g. "#data-platform on Slack" or an email address; generate_bug_report names it.'),

  MCP_EVENT_LOOP_MAX_DELAY_MS: integerSetting('Load and fair sharing', 1000, 0, 60_000, 'Load shedding: while the event loop lags more than this many milliseconds, /mcp answers 503 with Retry-After (probes and /metrics still answer). 0 turns it off.'),
  MCP_SQL_USER_CONCURRENCY: optionalIntegerSetting('Load and fair sharing', 1, 64, 'Queries one user may run at once on a replica; more wait in that user\'s queue, and waiting users take turns (round-robin). Unset: MCP_SQL_WORKERS − 1 (at least 1), so a runner is always left for someone else.'),
  MCP_SQL_USER_QUEUE_LIMIT: integerSetting('Load and fair sharing', 16, 0, 100_000, 'Queries one user may have waiting for a runner; beyond it that user\'s execute_sql answers "busy" (others are unaffected).'),
  MCP_RENDER_WORKERS: integerSetting('Load and fair sharing', 1, 1, 32, 'Worker threads that render chart images (Vega → SVG → PNG) off the event loop.'),
  MCP_RENDER_QUEUE_LIMIT: integerSetting('Load and fair sharing', 16, 0, 10_000, 'Renders allowed to wait for a worker; beyond it a PNG preview answers "busy, retry".'),
  MCP_RENDER_USER_CONCURRENCY: integerSetting('Load and fair sharing', 1, 1, 32, 'Renders one user may run at once; more wait in that user\'s queue (round-robin across users).'),
  MCP_RENDER_USER_QUEUE_LIMIT: integerSetting('Load and fair sharing', 4, 0, 10_000, 'Renders one user may have waiting; beyond it that user gets "busy, retry".'),
  MCP_RENDER_TIMEOUT: integerSetting('Load and fair sharing', 30, 1, 600, 'Seconds a render may wait and run; past it the render is stopped (its worker thread is ended).'),
  MCP_RENDER_MEMORY_MB: integerSetting('Load and fair sharing', 256, 32, 8192, 'Heap limit of each render worker thread, in MiB; a render that needs more ends its worker, not the server.'),

  MCP_AUTH_ENABLED: booleanSetting('Authentication', false, 'Require a bearer JWT on /mcp (RFC 6750). Needs MCP_JWT_AUDIENCE and key material (MCP_JWKS_URI, MCP_JWT_PUBLIC_KEY or MCP_JWT_SECRET).'),
  MCP_JWT_ALGORITHM: enumSetting('Authentication', 'RS256', JWT_ALGORITHMS, 'The one signing algorithm accepted (tokens with any other `alg`, including `none`, are refused). RS*/ES* use MCP_JWKS_URI or MCP_JWT_PUBLIC_KEY; HS* use MCP_JWT_SECRET.'),
  MCP_JWKS_URI: optionalStringSetting('Authentication', 'JWKS endpoint of the identity provider (RS*/ES*); keys are cached by `kid`, an unknown `kid` triggers a rate-limited refetch.', checkHttpUrl),
  MCP_JWKS_ALLOW_HTTP: booleanSetting('Authentication', false, 'Allow a plain-HTTP MCP_JWKS_URI on a non-loopback host (an in-cluster identity provider). Off: start-up refuses it, since the keys could be swapped in transit.'),
  MCP_JWT_PUBLIC_KEY: optionalStringSetting('Authentication', 'Static PEM public key (RS*/ES*), instead of MCP_JWKS_URI.', checkPem('public')),
  MCP_JWT_SECRET: optionalStringSetting('Authentication', 'Shared secret for HS256/384/512, at least 32 characters. Keep it in a secret store, not in a file.', value => value.length < 32 ? 'must be at least 32 characters (256 bits) long' : undefined),
  MCP_JWT_ISSUER: listSetting('Authentication', 'Accepted `iss` values (one, or several with MCP_USER_RESOLVER). Empty: any issuer.', checkedString(undefined, LIST_ERROR)),
  MCP_JWT_AUDIENCE: listSetting('Authentication', 'Accepted `aud` values; a token must name at least one. Required with MCP_AUTH_ENABLED. Use this service\'s resource URL (MCP_SERVICE_URL + /mcp) for OAuth clients (RFC 8707).', checkedString(undefined, LIST_ERROR)),
  MCP_REQUIRED_SCOPES: listSetting('Authentication', 'Scopes every token or API key must carry (403 insufficient_scope otherwise), on top of the per-tool scopes.', checkedString(undefined, LIST_ERROR)),
  MCP_ALLOW_UNSCOPED_TOKENS: booleanSetting('Authentication', false, 'Accept JWTs that carry no `scope`/`scp` claim as allowed every tool scope (their roles still limit them). Off: such tokens have no scopes, so every tool answers 403 insufficient_scope. For identity providers that put no scopes in machine tokens (e.g. Entra ID app-only tokens).'),
  MCP_JWT_CLOCK_SKEW: integerSetting('Authentication', 60, 0, 600, 'Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.'),
  MCP_JWT_MAX_LIFETIME: integerSetting('Authentication', 86_400, 60, 31_536_000, 'Longest token lifetime accepted, in seconds: `exp` − `iat` (or `exp` − now without `iat`). Longer-lived tokens, and an `exp`, `nbf` or `iat` that is not a finite number, are refused. Tokens from POST /v1/auth/ are bounded by MCP_TOKEN_TTL instead.'),
  MCP_AUTH_FAILURE_LIMIT: integerSetting('Authentication', 30, 0, 100_000, 'Failed authentications (bad tokens, wrong API keys, failed POST /v1/auth/ exchanges, /oauth/token requests refused for a bad client or grant) per minute one client address may make, the same number at once; IPv6 clients count per /64. Past it every request from that address with a credential gets 429 and Retry-After until the budget refills. Behind a proxy set MCP_TRUSTED_PROXIES so the address is the client\'s. 0 turns it off.'),
  MCP_JWT_DEBUG_ERRORS: booleanSetting('Authentication', false, 'Log why a token was refused (server side only; responses never say).'),
  MCP_JWKS_CACHE_TTL: integerSetting('Authentication', 600, 10, 86_400, 'Seconds the JWKS key set is used before it is fetched again in the background (a set that cannot be refreshed keeps working).'),
  MCP_JWKS_TIMEOUT: integerSetting('Authentication', 5, 1, 60, 'Seconds a JWKS fetch may take before the request is answered without it.'),
  MCP_JWKS_REFRESH_INTERVAL: integerSetting('Authentication', 30, 1, 3600, 'Least seconds between JWKS fetches caused by tokens with an unknown `kid`.'),
  MCP_AUTHORIZATION_SERVERS: listSetting('Authentication', 'OAuth authorization servers published in the protected-resource metadata (RFC 9728) for Claude, ChatGPT and Gemini CLI. Empty: MCP_JWT_ISSUER.', checkedString(checkHttpUrl, LIST_ERROR)),
  MCP_AUTH_FACTORY: functionSetting('Authentication', 'JS config only: `(app) => verifier`, a custom token verifier that replaces the built-in JWT verification. If it throws, start-up stops.'),
  MCP_API_KEY_ENABLED: booleanSetting('Authentication', false, 'Accept API keys (`Authorization: Key <key>` or `Bearer <prefix>_...`) created with `analytics-mcp api-keys create`.'),
  MCP_API_KEY_CREATE_URL: optionalStringSetting('Authentication', 'Where users create API keys (as Superset\'s setting): a refused API key\'s 401 says to create a new one there. An absolute URL, or a path on MCP_SERVICE_URL. Unset: the generic "The access token is invalid".', value => /^(https?:\/\/[^\s]+|\/[^\s]*)$/.test(value) ? undefined : 'expected an http(s) URL or a path starting with /'),
  MCP_API_KEY_PREFIX: stringSetting('Authentication', 'amcp', 'Prefix of API keys, which tells them apart from JWTs in a Bearer header.', value => /^[a-z0-9]{2,16}$/.test(value) ? undefined : 'expected 2 to 16 lowercase letters or digits'),
  MCP_TOKEN_EXCHANGE_ENABLED: booleanSetting('Authentication', false, 'Serve POST /v1/auth/ (Preset style): an API key name and secret are exchanged for a short-lived JWT signed with MCP_TOKEN_SIGNING_KEY.'),
  MCP_TOKEN_SIGNING_KEY: optionalStringSetting('Authentication', 'PEM private key (RSA for RS256, EC P-256 for ES256) that signs exchanged tokens and the built-in authorization server\'s access tokens. Share it across replicas as a Kubernetes Secret. Unset with MCP_OAUTH_SERVER_ENABLED: a P-256 key generated once and kept in the catalog (shared by every replica on it).', checkPem('private')),
  MCP_TOKEN_SIGNING_ALGORITHM: enumSetting('Authentication', 'RS256', ['RS256', 'ES256'] as const, 'Algorithm of exchanged tokens and of the authorization server\'s access tokens signed with MCP_TOKEN_SIGNING_KEY.'),
  MCP_TOKEN_TTL: integerSetting('Authentication', 900, 60, 86_400, 'Lifetime of exchanged tokens, in seconds.'),
  MCP_ALLOW_UNAUTHENTICATED_REMOTE: booleanSetting('Authentication', false, 'Allow development mode (no authentication) on a non-loopback MCP_SERVICE_HOST. Without it such a start-up stops.'),

  MCP_OAUTH_SERVER_ENABLED: booleanSetting('OAuth authorization server', false, 'Be the OAuth 2.1 authorization server MCP clients (Claude, ChatGPT, Gemini CLI, mcp-remote) sign in with: metadata (RFC 8414), Client ID Metadata Documents, Dynamic Client Registration, authorization code with PKCE, refresh and revocation, with sign-in delegated to MCP_OAUTH_UPSTREAM_ISSUER. Turns authentication on. Needs MCP_SERVICE_URL (the issuer) on a non-loopback host.'),
  MCP_OAUTH_UPSTREAM_ISSUER: optionalStringSetting('OAuth authorization server', 'The organisation\'s OpenID Connect provider users sign in at (Keycloak realm URL, `https://login.microsoftonline.com/<tenant>/v2.0`, `https://<org>.okta.com/oauth2/default`), discovered from its `/.well-known/openid-configuration`. Register `MCP_SERVICE_URL/oauth/callback` as the redirect URI there.', checkHttpUrl),
  MCP_OAUTH_UPSTREAM_CLIENT_ID: optionalStringSetting('OAuth authorization server', 'Client id of this service at the upstream provider.'),
  MCP_OAUTH_UPSTREAM_CLIENT_SECRET: optionalStringSetting('OAuth authorization server', 'Client secret of this service at the upstream provider (a confidential client; unset: a public client with PKCE). Keep it in a Kubernetes Secret.'),
  MCP_OAUTH_UPSTREAM_SCOPES: listSetting('OAuth authorization server', 'Scopes asked of the upstream provider; `openid` is required. Add the one that puts groups in the ID token (e.g. `groups`) for MCP_JIT_ROLE_MAPPING.', checkedString(value => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(value) ? undefined : `"${value}" is not a scope`, LIST_ERROR), ['openid', 'profile', 'email']),
  MCP_OAUTH_UPSTREAM_ALLOW_HTTP: booleanSetting('OAuth authorization server', false, 'Allow a plain-HTTP MCP_OAUTH_UPSTREAM_ISSUER on a non-loopback host (an in-cluster provider behind a NetworkPolicy). Off: start-up refuses it.'),
  MCP_OAUTH_ACCESS_TOKEN_TTL: integerSetting('OAuth authorization server', 900, 60, 86_400, 'Lifetime of the access tokens this service issues, in seconds; clients refresh them.'),
  MCP_OAUTH_REFRESH_TOKEN_TTL: integerSetting('OAuth authorization server', 2_592_000, 3600, 31_536_000, 'Seconds a refresh token stays usable; each refresh returns a new one (rotation) and ends the old one. Presenting an old one again revokes the whole sign-in.'),
  MCP_OAUTH_CLIENTS: oauthClientsSetting('OAuth authorization server', 'Pre-registered clients: a list of {client_id, client_name, redirect_uris, client_secret_env}. `client_secret_env` names an environment variable holding the client\'s secret (a confidential client); without it the client is public (PKCE only).'),
  MCP_OAUTH_DCR_ENABLED: booleanSetting('OAuth authorization server', true, 'Serve RFC 7591 Dynamic Client Registration at /oauth/register (what mcp-remote and older clients use).'),
  MCP_OAUTH_DCR_PER_HOUR: integerSetting('OAuth authorization server', 20, 0, 100_000, 'Registrations one client address may make per hour (the same number at once); past it /oauth/register answers 429. 0: no limit.'),
  MCP_OAUTH_DCR_CLIENT_TTL: integerSetting('OAuth authorization server', 2_592_000, 3600, 31_536_000, 'Seconds a dynamically registered client may go unused before it is removed.'),
  MCP_OAUTH_CIMD_ENABLED: booleanSetting('OAuth authorization server', true, 'Accept Client ID Metadata Documents: a client_id that is an https URL whose JSON document describes the client (fetched with SSRF protection: https only, public addresses only, 5 s, 64 KiB, cached per Cache-Control between 1 minute and 24 hours).'),
  MCP_OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES: booleanSetting('OAuth authorization server', false, 'Let client metadata URLs resolve to loopback or private addresses (tests, clients inside the cluster). Off: such client ids are refused.'),
  MCP_OAUTH_CIMD_CA_FILE: optionalStringSetting('OAuth authorization server', 'PEM file of extra CA certificates trusted for client metadata fetches, besides the system CAs.'),
  MCP_OAUTH_SUPPORT_CONTACT: optionalStringSetting('OAuth authorization server', 'Whom people should ask when sign-in fails or they have no access, shown on the error pages (e.g. "#data-platform on Slack"). Unset: "your analytics administrator".'),

  MCP_RBAC_ENABLED: booleanSetting('Authorization and user resolution', true, 'Check each tool\'s class permission (can_read Chart, can_write Dashboard, can_execute_sql_query SQLLab, ...) against the caller\'s roles, as Superset\'s MCP_RBAC_ENABLED. Off: any authenticated user may call any tool their scopes allow; what each user may see (datasource access, ownership for changes) still applies. A warning is logged at start-up when off.'),
  MCP_USER_CLAIMS: listSetting('Authorization and user resolution', 'Claims tried in order to name the catalog user; the first non-empty one is used and must be an active user (matched by username, or by email when it holds an @). Keycloak: preferred_username,email.', checkedString(undefined, LIST_ERROR), ['sub', 'client_id', 'email', 'username']),
  MCP_USER_RESOLVER: functionSetting('Authorization and user resolution', 'JS config only: `(claims, { issuer }) => username`, replacing MCP_USER_CLAIMS; required with several issuers.'),
  MCP_JIT_PROVISIONING: booleanSetting('Authorization and user resolution', false, 'Create a user on first sign-in from a valid token, with roles from MCP_JIT_ROLE_MAPPING.'),
  MCP_JIT_ROLES_CLAIM: stringSetting('Authorization and user resolution', 'groups', 'Claim holding the identity provider groups or roles that MCP_JIT_ROLE_MAPPING maps.'),
  MCP_JIT_ROLE_MAPPING: roleMappingSetting('Authorization and user resolution', 'JSON object from claim values to catalog roles, e.g. {"analytics-admins": ["Admin"], "analysts": ["Alpha", "sql_lab"]}.'),
  MCP_JIT_DEFAULT_ROLES: listSetting('Authorization and user resolution', 'Roles every provisioned user gets, mapped or not. Empty: users whose groups map to nothing can see nothing.', checkedString(undefined, LIST_ERROR)),

  MCP_DATA_DIR: stringSetting('Storage and example data', './data', 'Directory for the embedded SQLite files (catalog and example data), created if missing.'),
  MCP_CATALOG_PATH: optionalStringSetting('Storage and example data', 'SQLite file of the metadata catalog. Defaults to `MCP_DATA_DIR/catalog.db`.'),
  MCP_CATALOG_URL: optionalStringSetting('Storage and example data', 'Where the metadata catalog is: a SQLite path or `sqlite:///abs/path.db` (one replica, or replicas sharing one disk), or `postgresql://user@host:5432/db?sslmode=verify-full` (any number of replicas). Defaults to MCP_CATALOG_PATH.', checkCatalogUrl),
  MCP_CATALOG_PASSWORD: optionalStringSetting('Storage and example data', 'Password of the PostgreSQL catalog user, when not in MCP_CATALOG_URL. Never logged.'),
  MCP_CATALOG_PASSWORD_FILE: optionalStringSetting('Storage and example data', 'File holding the PostgreSQL catalog password (a mounted Kubernetes secret), read for each new connection so a rotated secret is picked up.'),
  MCP_CATALOG_POOL_SIZE: integerSetting('Storage and example data', 10, 1, 500, 'PostgreSQL catalog: connections per replica in the pool (plus one that listens for changes).'),
  MCP_CATALOG_STATEMENT_TIMEOUT: integerSetting('Storage and example data', 10, 1, 600, 'PostgreSQL catalog: seconds a catalog query may run before PostgreSQL stops it (statement_timeout).'),
  MCP_CATALOG_AUTO_UPGRADE: booleanSetting('Storage and example data', true, 'Create the catalog and apply pending migrations at start-up. When false, start-up stops if the catalog is missing or behind; run `analytics-mcp db upgrade`.'),
  MCP_LOAD_EXAMPLES: booleanSetting('Storage and example data', true, 'On first start, generate the example analytics database and register it with datasets, charts, dashboards and demo users.'),
  MCP_EXAMPLES_PATH: optionalStringSetting('Storage and example data', 'SQLite file of the example analytics database. Defaults to `MCP_DATA_DIR/examples.db`.'),

  MCP_ALLOWED_HOSTS: listSetting('HTTP and transport security', 'Host names accepted in the Host header (any port, any case; DNS-rebinding protection), e.g. mcp.example.com. Empty: localhost names when bound to loopback, else the host of MCP_SERVICE_URL if set, else no check. "*" disables the check. Probes (/healthz, /readyz, /metrics) are exempt.', hostnameItem),
  MCP_ALLOWED_ORIGINS: listSetting('HTTP and transport security', 'Origins (scheme://host[:port]) accepted when a request carries an Origin header, e.g. https://claude.ai. Also accepted: origins whose host is an accepted Host name (see MCP_ALLOWED_HOSTS), and localhost origins when bound to loopback. "*" disables the check.', originItem),
  MCP_LISTEN_STREAMS_PER_PRINCIPAL: integerSetting('HTTP and transport security', 10, 1, 10_000, 'Open subscriptions/listen streams (change notifications, protocol 2026-07-28) one user may hold on a replica; one more gets 429.'),
  MCP_LISTEN_STREAM_MAX_SECONDS: integerSetting('HTTP and transport security', 3600, 10, 86_400, 'Longest life of a subscriptions/listen stream; it also ends when its credential expires or its user is deactivated. Clients listen again with a fresh credential.'),
  MCP_TRUSTED_PROXIES: listSetting('HTTP and transport security', 'Addresses or CIDR ranges of proxies (ingress controllers, load balancers) whose X-Forwarded-For names the client, e.g. 10.0.0.0/8. The client address feeds MCP_AUTH_FAILURE_LIMIT and the logs. Empty: the peer address is the client.', checkedString(checkProxyAddress, LIST_ERROR)),
  MCP_MAX_REQUEST_BYTES: integerSetting('HTTP and transport security', 1_048_576, 1024, 67_108_864, 'Largest accepted request body in bytes; larger bodies get 413.'),

  MCP_SQL_WORKERS: integerSetting('SQL execution', 2, 1, 64, 'Query runner processes per replica. Each runs one query at a time; a query past its timeout is stopped by ending its process.'),
  MCP_SQL_QUEUE_LIMIT: integerSetting('SQL execution', 64, 0, 100_000, 'Queries allowed to wait for a free runner; beyond it execute_sql answers "busy" at once.'),
  MCP_SQL_DEFAULT_LIMIT: integerSetting('SQL execution', 1000, 1, 1_000_000, 'Row cap of execute_sql when the call gives no `limit`.'),
  MCP_SQL_MAX_LIMIT: integerSetting('SQL execution', 10_000, 1, 1_000_000, 'Ceiling of the `limit` argument of execute_sql.'),
  MCP_SQL_MAX_RESULT_BYTES: integerSetting('SQL execution', 8_388_608, 65_536, 268_435_456, 'Size budget of one execute_sql result (estimated JSON bytes); rows past it are left out and the result says truncated.'),
  MCP_SQL_RUNNER_MEMORY_MB: integerSetting('SQL execution', 512, 64, 65_536, 'Memory of each query runner process beyond what it needs to start, in MiB. Bounds the V8 heap and, on Linux, the process data size (RLIMIT_DATA), so SQLite\'s own memory, its sorts and temporary tables (kept in memory, never on disk) are bounded too; a query that needs more is refused with "resource_limit" (the server is unaffected).'),
  MCP_WAREHOUSE_POOL_SIZE: integerSetting('SQL execution', 4, 1, 256, 'Connections per PostgreSQL database per replica (the engine pool); queries beyond it wait in the per-user fair queue.'),
  MCP_PG_WORK_MEM_MB: optionalIntegerSetting('SQL execution', 1, 65_536, 'PostgreSQL work_mem of each query (SET LOCAL), in MiB: memory per sort or hash before it spills. Unset: the server\'s (or the role\'s) work_mem, which also shapes the plans PostgreSQL picks. Cap spills on the role with temp_file_limit (see the README\'s least-privilege recipe).'),
  MCP_DUCKDB_MEMORY_MB: integerSetting('SQL execution', 512, 64, 1_048_576, 'DuckDB memory_limit per database, in MiB; past it DuckDB spills to its temp directory, up to MCP_DUCKDB_MAX_TEMP_MB.'),
  MCP_DUCKDB_MAX_TEMP_MB: integerSetting('SQL execution', 1024, 0, 1_048_576, 'DuckDB max_temp_directory_size per database, in MiB (a directory under MCP_DATA_DIR); a query that needs more is refused with resource_limit. 0: no spilling.'),
  MCP_DUCKDB_THREADS: integerSetting('SQL execution', 2, 1, 256, 'Threads each DuckDB database may use for one query.'),
  MCP_DATABASES: databasesSetting('SQL execution', 'Databases to register, reconciled at start-up (a Kubernetes ConfigMap as the source of truth): a list of {name, uri, password_env | password_file, allow_dml, expose_in_sqllab, schemas, files, row_limit, timeout, description}. URIs: postgresql://user@host:port/db?sslmode=verify-full, sqlite:///abs/path.db, duckdb:///abs/path.duckdb, duckdb:///:memory: with files. Passwords never go in the URI or the catalog.'),
  MCP_SQL_DEFAULT_TIMEOUT: integerSetting('SQL execution', 30, 1, 3600, 'Seconds a query may run when the call gives no `timeout`.'),
  MCP_SQL_MAX_TIMEOUT: integerSetting('SQL execution', 300, 1, 3600, 'Ceiling of the `timeout` argument of execute_sql, in seconds.'),

  MCP_LINK_SECRET: optionalStringSetting('Charts, links and pages', 'Key (at least 32 characters) that signs chart, dashboard, explore and SQL links. Unset: a random key stored in the catalog, shared by every replica on it. Changing it invalidates every link given out.', value => value.length < 32 ? 'must be at least 32 characters (256 bits) long' : undefined),
  MCP_LINK_TTL: integerSetting('Charts, links and pages', 86_400, 60, 2_592_000, 'Seconds a link stays valid after it is made (default one day, at most 30 days). Links open for the user who made them, with that user\'s current permissions.'),
  MCP_CHART_MAX_ROWS: integerSetting('Charts, links and pages', 10_000, 10, 50_000, 'Most rows a chart draws (its row_limit is capped here); get_chart_data and previews say when rows were left out.'),

  MCP_STORE_CONFIG: objectSetting<StoreConfig>('Redis, cache, response size and rate limits', 'Redis shared by all replicas (as in Superset\'s deployment guide, plus TLS, ACL, Sentinel and a key prefix). Off: cache, rate limits and events stay in this process.', {
    enabled: boolKey(false, 'Use Redis for the response cache, rate limits, cross-replica events and the audit stream.'),
    CACHE_REDIS_URL: stringKey(null, '`redis://` or `rediss://` (TLS, certificate verified) URL with optional ACL user and password and db: `rediss://mcp:secret@redis:6380/0`. With `sentinels`, only its scheme, credentials and db are used.', checkRedisUrl),
    key_prefix: stringKey('analytics-mcp:', 'Prefix of every key and channel, so several deployments can share one Redis.'),
    tls_ca_file: stringKey(null, 'PEM file of the CA that signed the Redis server certificate (rediss://); default: the system CAs. Verification cannot be turned off.'),
    sentinels: key('list', [], z.array(checkedString(checkHostPort, 'expected a list of host:port')).readonly(), 'Redis Sentinel nodes as host:port; when set, the master is found through them.'),
    sentinel_master: stringKey('mymaster', 'Name of the master set the sentinels monitor.'),
    sentinel_username: stringKey(null, 'ACL user for the sentinels (when they require one).'),
    sentinel_password: stringKey(null, 'Password for the sentinels (when they require one).'),
    connect_timeout_ms: intKey(2000, 100, 60_000, 'Milliseconds to establish a connection.'),
    command_timeout_ms: intKey(500, 10, 60_000, 'Milliseconds a Redis command may take before the request goes on without it (cache miss, rate limit per fail_open).'),
    event_store_max_events: intKey(100, 1, 10_000_000, 'Length cap of the audit stream of tool calls (a Redis Stream, trimmed exactly). Raise it for a longer audit trail.'),
    event_store_ttl: intKey(3600, 1, 31_536_000, 'Seconds audit events are kept (older ones are trimmed; the stream expires after this long without calls).')
  }, IGNORED_SUPERSET_KEYS.MCP_STORE_CONFIG),
  MCP_CACHE_CONFIG: objectSetting<CacheConfig>('Redis, cache, response size and rate limits', 'Response cache (Superset\'s keys and defaults). Every key holds the principal and a fingerprint of its permissions, so it is safe to turn on with many users; writes invalidate.', {
    enabled: boolKey(false, 'Cache tool results (and list results) per principal.'),
    CACHE_KEY_PREFIX: stringKey(null, 'Prefix of cache keys inside the store (after MCP_STORE_CONFIG.key_prefix). Default: `cache:`.'),
    list_tools_ttl: intKey(300, 0, 86_400, 'Seconds clients may reuse a tools/list result (its cache hint); the list itself is computed once per permission set.'),
    list_resources_ttl: intKey(300, 0, 86_400, 'Seconds clients may reuse a resources/list result (its cache hint).'),
    list_prompts_ttl: intKey(300, 0, 86_400, 'Seconds clients may reuse a prompts/list result (no prompts yet).'),
    read_resource_ttl: intKey(3600, 0, 86_400, 'Seconds a resources/read result is cached.'),
    get_prompt_ttl: intKey(3600, 0, 86_400, 'Seconds a prompts/get result is cached (no prompts yet).'),
    call_tool_ttl: intKey(3600, 0, 86_400, 'Seconds a tools/call result is cached.'),
    max_item_size: intKey(1_048_576, 1024, 67_108_864, 'Largest cached item in bytes; bigger results are not cached.'),
    excluded_tools: namesKey(['execute_sql', 'generate_dashboard', 'generate_chart', 'update_chart'], 'Tools never cached. Tools that can change anything (readOnlyHint false) are never cached, whatever this says.'),
    memory_max_bytes: intKey(67_108_864, 1_048_576, 17_179_869_184, 'Byte budget of the in-memory cache (used without Redis); least recently used entries go first.')
  }, IGNORED_SUPERSET_KEYS.MCP_CACHE_CONFIG),
  MCP_RESPONSE_SIZE_CONFIG: objectSetting<ResponseSizeConfig>('Redis, cache, response size and rate limits', 'Response size guard (Superset\'s keys and defaults) that protects the model\'s context window. Tokens are estimated as UTF-8 bytes / 3.5 of the result (text and structured content).', {
    enabled: boolKey(true, 'Check every tool result\'s size.'),
    token_limit: intKey(25_000, 100, 10_000_000, 'Largest result in estimated tokens (25,000 ≈ 87,500 bytes). Data and list tools are truncated to fit, with a notice; other tools answer "response too large".'),
    max_bytes: key('integer or null', null, z.int({ error: 'expected an integer between 350 and 35,000,000, or null' }).min(350).max(35_000_000).nullable(), 'Superset\'s current form of the limit, in bytes of the result: when set, the limit is the smaller of token_limit and max_bytes / 3.5 tokens.'),
    max_list_items: intKey(100, 1, 10_000, 'Most items a list tool returns on one page (Superset\'s key): a larger page_size is lowered to it (the answer gives the page_size applied).'),
    warn_threshold_pct: intKey(80, 1, 100, 'Results above this percentage of the limit are logged and counted.'),
    excluded_tools: namesKey(['health_check', 'get_chart_preview', 'generate_explore_link', 'open_sql_lab_with_context'], 'Tools never checked.')
  }),
  MCP_RATE_LIMIT_CONFIG: objectSetting<RateLimitConfig>('Redis, cache, response size and rate limits', 'Token-bucket rate limits per principal (HTTP 429 with Retry-After) and per principal and tool (a tool error with the retry time), shared through Redis when MCP_STORE_CONFIG is on.', {
    enabled: boolKey(false, 'Apply the limits below.'),
    requests_per_minute: intKey(600, 1, 1_000_000, 'Sustained MCP requests per minute per principal (user).'),
    burst: intKey(60, 1, 1_000_000, 'Requests a principal may make at once before the rate applies.'),
    tool_limits: key('JSON object', { execute_sql: { per_minute: 60, burst: 10 } }, toolLimitsSchema, 'Per tool and principal: {"execute_sql": {"per_minute": 60, "burst": 10}}; burst defaults to per_minute / 6.'),
    fail_open: boolKey(true, 'When Redis cannot answer, allow the request (true) or refuse it with 503 (false).')
  })
} as const satisfies Record<string, Setting>

export type SettingName = keyof typeof SETTINGS

type Settings = typeof SETTINGS

/** The validated, frozen configuration every part of the service receives. */
export type Config = Readonly<
  { [K in SettingName]: z.output<Settings[K]['schema']> } &
  {
    /** Derived: MCP_SERVICE_URL or http://<host>:<port>, without a trailing slash. */
    serviceUrl: string
    /** The MCP endpoint's URL: the OAuth resource identifier (RFC 8707/9728). */
    resourceUrl: string
    /** Whether /mcp needs a credential; false is development mode. */
    authRequired: boolean
    /** The user of development mode. */
    devUsername: string
    catalogPath: string
    /** MCP_CATALOG_URL, else the SQLite file (MCP_CATALOG_PATH or MCP_DATA_DIR/catalog.db). */
    catalogLocation: string
    examplesPath: string
    logLevel: (typeof LOG_LEVELS)[number]
    /** Settings taken but ignored (Superset's that mean nothing here), one line each, logged at start-up. */
    warnings: readonly string[]
  }
>

/** Where a raw value came from; used to name the culprit in error messages. */
export type SettingSource = 'config file' | 'environment' | 'command line' | 'overrides'

export interface RawLayer {
  source: SettingSource
  /** e.g. the config file's path. */
  origin?: string
  values: Readonly<Record<string, unknown>>
}

/**
 * MCP_-prefixed environment variables that are not settings: the config-file pointer
 * (read by the process edge) and Claude Code's client-side timeouts, often exported in shells.
 */
const NON_SETTING_ENV = new Set(['MCP_CONFIG_FILE', 'MCP_TIMEOUT', 'MCP_TOOL_TIMEOUT'])

export class ConfigError extends Error {
  readonly problems: readonly string[]
  constructor (problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map(p => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** The MCP_* entries of an environment; unknown ones are kept so that validation can name them. */
export function settingsFromEnv (env: NodeJS.ProcessEnv): Record<string, string> {
  const values: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('MCP_') || NON_SETTING_ENV.has(name) || value === undefined) continue
    values[name] = value
  }
  return values
}

/**
 * Validate and merge layers (later layers win) on top of the defaults.
 * Throws a ConfigError naming every bad or unknown setting and where it came from.
 */
export function resolveConfig (layers: readonly RawLayer[]): Config {
  const problems: string[] = []
  const warnings: string[] = []
  const resolved: Record<string, unknown> = {}

  for (const [name, setting] of Object.entries(SETTINGS)) resolved[name] = setting.default

  for (const layer of layers) {
    const where = layer.origin === undefined ? layer.source : `${layer.source} ${layer.origin}`
    for (const [name, raw] of Object.entries(layer.values)) {
      // Own keys only: "constructor" or "__proto__" in a config file are unknown settings.
      if (!Object.hasOwn(SETTINGS, name)) {
        if (Object.hasOwn(IGNORED_SUPERSET_SETTINGS, name)) {
          warnings.push(`${name} (${where}): Superset's setting, ignored: ${IGNORED_SUPERSET_SETTINGS[name] ?? ''}.`)
          continue
        }
        if (Object.hasOwn(UNSUPPORTED_SUPERSET_SETTINGS, name)) {
          problems.push(`${name} (${where}): Superset's setting, not available in analytics-mcp: ${UNSUPPORTED_SUPERSET_SETTINGS[name] ?? ''}. Remove it (start-up stops rather than run less restricted than configured).`)
          continue
        }
        const hint = closestSettingName(name)
        problems.push(`${name} (${where}): unknown setting${hint === undefined ? '' : `; did you mean ${hint}?`}`)
        continue
      }
      if (raw === undefined) continue
      const ignoredKeys = ((SETTINGS as Record<string, Setting>)[name] as { ignoredKeys?: Readonly<Record<string, string>> }).ignoredKeys ?? {}
      const given = Object.keys(ignoredKeys).length === 0 ? undefined : jsonText(raw)
      if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
        for (const key of Object.keys(given).filter(candidate => Object.hasOwn(ignoredKeys, candidate))) {
          warnings.push(`${name}.${key} (${where}): Superset's key, ignored: ${ignoredKeys[key] ?? ''}.`)
        }
      }
      const parsed = (SETTINGS as Record<string, Setting>)[name]?.schema.safeParse(raw)
      if (parsed?.success === false) {
        const issue = parsed.error.issues[0]
        // Object settings name the offending key: MCP_CACHE_CONFIG.call_tool_ttl.
        const at = issue === undefined || issue.path.length === 0 ? '' : `.${issue.path.map(String).join('.')}`
        problems.push(`${name}${at} (${where}): ${issue?.message ?? 'invalid value'}, got ${describeValue(at === '' ? raw : valueAt(raw, issue?.path ?? []), `${name}${at}`)}`)
        continue
      }
      if (parsed?.data !== undefined) resolved[name] = parsed.data
    }
  }

  if (problems.length > 0) throw new ConfigError(problems)

  problems.push(...crossChecks(resolved))
  if (problems.length > 0) throw new ConfigError(problems)

  return Object.freeze({ ...withDerived(resolved), warnings: Object.freeze(warnings) })
}

function crossChecks (values: Record<string, unknown>): string[] {
  const problems: string[] = authConfigProblems(values as unknown as Parameters<typeof authConfigProblems>[0], isLoopbackHost(values.MCP_SERVICE_HOST as string))
  const pairs: Array<[SettingName, SettingName]> = [
    ['MCP_SQL_DEFAULT_LIMIT', 'MCP_SQL_MAX_LIMIT'],
    ['MCP_SQL_DEFAULT_TIMEOUT', 'MCP_SQL_MAX_TIMEOUT']
  ]
  const store = values.MCP_STORE_CONFIG as StoreConfig
  if (store.enabled && store.CACHE_REDIS_URL === null && store.sentinels.length === 0) {
    problems.push('MCP_STORE_CONFIG.CACHE_REDIS_URL: required when MCP_STORE_CONFIG.enabled is true (or give sentinels)')
  }
  if (store.tls_ca_file !== null && !(store.CACHE_REDIS_URL ?? '').startsWith('rediss:')) {
    problems.push('MCP_STORE_CONFIG.tls_ca_file: only used with a rediss:// CACHE_REDIS_URL; use rediss:// or remove it')
  }
  const metricsPort = values.MCP_METRICS_PORT as number | undefined
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === values.MCP_SERVICE_PORT) {
    problems.push(`MCP_METRICS_PORT: ${metricsPort} is also MCP_SERVICE_PORT; give /metrics a port of its own, or unset MCP_METRICS_PORT to serve /metrics on the MCP port`)
  }
  const catalogUrl = values.MCP_CATALOG_URL as string | undefined
  if (catalogUrl !== undefined && values.MCP_CATALOG_PATH !== undefined) problems.push('MCP_CATALOG_URL: set together with MCP_CATALOG_PATH; keep one of them')
  if (values.MCP_CATALOG_PASSWORD !== undefined && values.MCP_CATALOG_PASSWORD_FILE !== undefined) problems.push('MCP_CATALOG_PASSWORD: set together with MCP_CATALOG_PASSWORD_FILE; keep one of them')
  for (const name of ['MCP_CATALOG_PASSWORD', 'MCP_CATALOG_PASSWORD_FILE'] as const) {
    if (values[name] !== undefined && !/^postgres(ql)?:\/\//i.test(catalogUrl ?? '')) problems.push(`${name}: only used with a postgresql:// MCP_CATALOG_URL`)
  }
  for (const [low, high] of pairs) {
    if ((values[low] as number) > (values[high] as number)) {
      problems.push(`${low}: ${String(values[low])} is larger than ${high} (${String(values[high])})`)
    }
  }
  return problems
}

function withDerived (values: Record<string, unknown>): Config {
  const host = values.MCP_SERVICE_HOST as string
  const port = values.MCP_SERVICE_PORT as number
  const dataDir = values.MCP_DATA_DIR as string
  const explicitUrl = values.MCP_SERVICE_URL as string | undefined
  const linkHost = host === '0.0.0.0' || host === '::' ? 'localhost' : isIP(host) === 6 ? `[${host}]` : host
  const serviceUrl = trimEnd(explicitUrl ?? `http://${linkHost}:${port}`, '/')
  const debug = values.MCP_DEBUG as boolean
  const level = values.MCP_LOG_LEVEL as Config['logLevel']
  const size = values.MCP_RESPONSE_SIZE_CONFIG as ResponseSizeConfig
  return {
    ...values,
    // Superset's max_bytes and our token_limit are one limit: the smaller one applies everywhere.
    MCP_RESPONSE_SIZE_CONFIG: size.max_bytes === null ? size : Object.freeze({ ...size, token_limit: Math.min(size.token_limit, Math.floor(size.max_bytes / BYTES_PER_TOKEN)) }),
    serviceUrl,
    resourceUrl: `${serviceUrl}/mcp`,
    authRequired: authenticationRequired(values as unknown as Parameters<typeof authenticationRequired>[0]),
    devUsername: (values.MCP_DEV_USERNAME as string | undefined) ?? 'admin',
    catalogPath: (values.MCP_CATALOG_PATH as string | undefined) ?? path.join(dataDir, 'catalog.db'),
    catalogLocation: (values.MCP_CATALOG_URL as string | undefined) ?? (values.MCP_CATALOG_PATH as string | undefined) ?? path.join(dataDir, 'catalog.db'),
    examplesPath: (values.MCP_EXAMPLES_PATH as string | undefined) ?? path.join(dataDir, 'examples.db'),
    logLevel: debug && level !== 'trace' ? 'debug' : level
  } as unknown as Config
}

function valueAt (raw: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = jsonText(raw)
  for (const segment of path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[segment] : undefined
  return value
}

/** Settings (and keys of configuration dictionaries) whose values are never echoed, even in a start-up error. */
const SECRET_NAME = /SECRET|PASSWORD|SIGNING_KEY|REDIS_URL/i

function describeValue (raw: unknown, name = ''): string {
  if (typeof raw === 'function') return 'a function'
  if (SECRET_NAME.test(name)) return typeof raw === 'string' ? `a value of ${raw.length} characters (not shown)` : 'a value (not shown)'
  // A whole configuration dictionary may hold credentials (a Redis URL, a sentinel password).
  if (name.endsWith('_CONFIG')) return typeof raw === 'string' && !raw.trim().startsWith('{') ? JSON.stringify(raw.slice(0, 40)) : 'a JSON object (not shown: it may hold credentials)'
  // URLs may carry credentials (rediss://user:password@host): never echo them.
  const text = (JSON.stringify(raw) ?? String(raw)).replace(/\/\/[^/@\s"]*@/g, '//***@')
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** The known setting (ours, or Superset's we take) closest to a misspelt name, if any is close enough to be a plausible typo. */
export function closestSettingName (name: string): string | undefined {
  return closestName(name, [...Object.keys(SETTINGS), ...Object.keys(IGNORED_SUPERSET_SETTINGS)], true)
}

/** The candidate closest to `name` when it is close enough to be a typo of it (case-insensitive with `upper`). */
export function closestName (name: string, candidates: readonly string[], upper: boolean): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const distance = editDistance(upper ? name.toUpperCase() : name, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 5)) ? best : undefined
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
