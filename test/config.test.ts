import path from 'node:path'
import t from 'tap'
import { buildApp } from '../src/app.ts'
import { closestSettingName, ConfigError, resolveConfig, SETTINGS, settingsFromEnv } from '../src/config.ts'
import { loadServiceConfig } from '../src/server.ts'
import { testConfig } from './helpers/config.ts'

/** The problems a config load reports, or [] when it succeeds. */
async function problemsOf (work: () => unknown): Promise<string[]> {
  try {
    await work()
    return []
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
}

const fromEnv = (env: Record<string, string>) => () => resolveConfig([{ source: 'environment', values: settingsFromEnv(env) }])

t.test('defaults mirror Superset and the embedded demo', async t => {
  const config = resolveConfig([])
  t.equal(config.MCP_SERVICE_HOST, '127.0.0.1')
  t.equal(config.MCP_SERVICE_PORT, 5008)
  t.equal(config.MCP_SERVICE_URL, undefined)
  t.equal(config.serviceUrl, 'http://127.0.0.1:5008')
  t.equal(config.MCP_DEBUG, false)
  t.equal(config.MCP_DEV_USERNAME, undefined)
  t.equal(config.devUsername, 'admin', 'development mode runs as admin when MCP_DEV_USERNAME is unset')
  t.equal(config.authRequired, false)
  t.equal(config.resourceUrl, 'http://127.0.0.1:5008/mcp')
  t.equal(config.MCP_LOAD_EXAMPLES, true)
  t.equal(config.catalogPath, path.join('./data', 'catalog.db'))
  t.equal(config.examplesPath, path.join('./data', 'examples.db'))
  t.equal(config.MCP_SQL_DEFAULT_LIMIT, 1000)
  t.equal(config.MCP_SQL_MAX_LIMIT, 10_000)
  t.equal(config.MCP_SQL_DEFAULT_TIMEOUT, 30)
  t.equal(config.MCP_SQL_MAX_TIMEOUT, 300)
  t.ok(Object.isFrozen(config), 'the config is frozen')
})

t.test('environment values are parsed by type', async t => {
  const config = resolveConfig([{
    source: 'environment',
    values: settingsFromEnv({
      MCP_SERVICE_PORT: '6000',
      MCP_DEBUG: 'yes',
      MCP_ALLOWED_HOSTS: 'mcp.example.com, other.example.com',
      MCP_ALLOWED_ORIGINS: '["https://claude.ai"]',
      MCP_SERVICE_URL: 'https://analytics.example.com/',
      MCP_LOG_LEVEL: 'WARN',
      MCP_JWT_ALGORITHM: 'es256',
      MCP_TIMEOUT: '30000',
      PATH: '/usr/bin'
    })
  }])
  t.equal(config.MCP_SERVICE_PORT, 6000)
  t.equal(config.MCP_DEBUG, true)
  t.equal(config.logLevel, 'debug', 'MCP_DEBUG raises the log level')
  t.same(config.MCP_ALLOWED_HOSTS, ['mcp.example.com', 'other.example.com'])
  t.same(config.MCP_ALLOWED_ORIGINS, ['https://claude.ai'])
  t.equal(config.serviceUrl, 'https://analytics.example.com', 'no trailing slash')
  t.equal(config.MCP_LOG_LEVEL, 'warn')
  t.equal(config.MCP_JWT_ALGORITHM, 'ES256', 'enums are case-insensitive and canonical')
})

t.test('an empty optional setting means unset', async t => {
  const config = resolveConfig([{ source: 'environment', values: { MCP_SERVICE_URL: '  ', MCP_CATALOG_PATH: '' } }])
  t.equal(config.MCP_SERVICE_URL, undefined)
  t.equal(config.catalogPath, path.join('./data', 'catalog.db'))
})

t.test('every bad value stops start-up naming the setting and the source', async t => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ MCP_SERVICE_PORT: 'abc' }, /MCP_SERVICE_PORT \(environment\): expected an integer between 0 and 65535, got "abc"/],
    [{ MCP_SERVICE_PORT: '70000' }, /MCP_SERVICE_PORT/],
    [{ MCP_SERVICE_PORT: '' }, /MCP_SERVICE_PORT/],
    [{ MCP_DEBUG: 'maybe' }, /MCP_DEBUG \(environment\): expected a boolean/],
    [{ MCP_LOAD_EXAMPLES: 'ture' }, /MCP_LOAD_EXAMPLES/],
    [{ MCP_LOG_LEVEL: 'loud' }, /MCP_LOG_LEVEL \(environment\): expected one of fatal, error, warn, info, debug, trace, silent/],
    [{ MCP_SERVICE_URL: 'not a url' }, /MCP_SERVICE_URL \(environment\): expected an absolute http\(s\) URL/],
    [{ MCP_SERVICE_URL: 'ftp://example.com' }, /MCP_SERVICE_URL.*http or https/],
    [{ MCP_SERVICE_URL: 'https://user:pw@example.com' }, /MCP_SERVICE_URL.*credentials/],
    [{ MCP_SERVICE_URL: 'https://example.com/?a=1' }, /MCP_SERVICE_URL.*query string/],
    [{ MCP_ALLOWED_HOSTS: 'https://mcp.example.com' }, /MCP_ALLOWED_HOSTS.*not a host name/],
    [{ MCP_ALLOWED_HOSTS: 'mcp.example.com:443' }, /MCP_ALLOWED_HOSTS.*without scheme, port or path/],
    [{ MCP_ALLOWED_ORIGINS: 'claude.ai' }, /MCP_ALLOWED_ORIGINS/],
    [{ MCP_ALLOWED_ORIGINS: 'https://claude.ai/chat' }, /MCP_ALLOWED_ORIGINS.*not an origin/],
    [{ MCP_ALLOWED_ORIGINS: '[1, 2]' }, /MCP_ALLOWED_ORIGINS.*expected a list/],
    [{ MCP_MAX_REQUEST_BYTES: '10' }, /MCP_MAX_REQUEST_BYTES/],
    [{ MCP_SQL_WORKERS: '0' }, /MCP_SQL_WORKERS/],
    [{ MCP_SQL_MAX_LIMIT: '-5' }, /MCP_SQL_MAX_LIMIT/],
    [{ MCP_SQL_DEFAULT_LIMIT: '5000', MCP_SQL_MAX_LIMIT: '100' }, /MCP_SQL_DEFAULT_LIMIT: 5000 is larger than MCP_SQL_MAX_LIMIT \(100\)/],
    [{ MCP_SQL_DEFAULT_TIMEOUT: '600', MCP_SQL_MAX_TIMEOUT: '60' }, /MCP_SQL_DEFAULT_TIMEOUT/],
    [{ MCP_SHUTDOWN_TIMEOUT: '1.5' }, /MCP_SHUTDOWN_TIMEOUT/]
  ]
  for (const [env, expected] of cases) {
    const problems = await problemsOf(fromEnv(env))
    t.equal(problems.length, 1, `${JSON.stringify(env)} is refused`)
    t.match(problems[0] ?? '', expected)
  }
})

t.test('unknown settings stop start-up, with a suggestion for typos', async t => {
  const problems = await problemsOf(fromEnv({ MCP_SERVICE_PROT: '5009', MCP_FOO_BAR_BAZ: '1' }))
  t.equal(problems.length, 2)
  t.match(problems[0], /MCP_SERVICE_PROT \(environment\): unknown setting; did you mean MCP_SERVICE_PORT\?/)
  t.match(problems[1], /MCP_FOO_BAR_BAZ \(environment\): unknown setting$/)
  t.equal(closestSettingName('mcp_debug'), 'MCP_DEBUG')
  t.same(settingsFromEnv({ MCP_TIMEOUT: '1', MCP_TOOL_TIMEOUT: '1', MCP_CONFIG_FILE: 'x', HOME: '/root' }), {}, 'other tools\' MCP_ variables are not settings')
})

t.test('keys that are built-in object properties are unknown settings, not crashes', async t => {
  for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const problems = await problemsOf(() => resolveConfig([{ source: 'config file', origin: 'x.json', values: JSON.parse(`{"${key}": 1}`) as Record<string, unknown> }]))
    t.match(problems[0], new RegExp(`^${key} \\(config file x\\.json\\): unknown setting`), key)
  }
})

t.test('host names are normalised: case and a trailing dot do not matter', async t => {
  const config = resolveConfig([{ source: 'environment', values: { MCP_ALLOWED_HOSTS: 'MCP.Example.COM., other.example.com', MCP_ALLOWED_ORIGINS: 'HTTPS://Claude.AI' } }])
  t.same(config.MCP_ALLOWED_HOSTS, ['mcp.example.com', 'other.example.com'])
  t.same(config.MCP_ALLOWED_ORIGINS, ['https://claude.ai'])
})

t.test('all problems are reported at once', async t => {
  const problems = await problemsOf(fromEnv({ MCP_SERVICE_PORT: 'x', MCP_DEBUG: 'x', MCP_NOPE: 'x' }))
  t.equal(problems.length, 3)
})

t.test('config files: JSON, YAML and JS, with precedence defaults < file < env < command line', async t => {
  const dir = t.testdir({
    'analytics-mcp.config.json': JSON.stringify({ MCP_SERVICE_PORT: 6001, MCP_APP_NAME: 'From JSON', MCP_DEBUG: true }),
    'other.yaml': 'MCP_SERVICE_PORT: 6002\nMCP_ALLOWED_HOSTS:\n  - a.example.com\n  - b.example.com\n',
    'fn.mjs': 'export default (env) => ({ MCP_APP_NAME: `JS for ${env.TEAM}` })\nexport const MCP_SERVICE_PORT = 6003\n',
    'bad.yaml': 'MCP_SERVICE_PORT: [1, 2\n',
    'list.json': '[1, 2]',
    'typo.json': JSON.stringify({ MCP_DEBGU: true }),
    'clash.mjs': 'export default { MCP_DEBUG: true }\nexport const MCP_DEBUG = false\n',
    'bad-default.mjs': 'export default 42\n',
    'config.toml': 'x = 1'
  })

  const discovered = await loadServiceConfig({ cwd: dir, env: {} })
  t.equal(discovered.MCP_SERVICE_PORT, 6001, 'analytics-mcp.config.json is found in the working directory')
  t.equal(discovered.MCP_APP_NAME, 'From JSON')

  const envWins = await loadServiceConfig({ cwd: dir, env: { MCP_SERVICE_PORT: '7000' } })
  t.equal(envWins.MCP_SERVICE_PORT, 7000, 'environment beats the file')
  t.equal(envWins.MCP_APP_NAME, 'From JSON', 'the file beats the default')

  const cliWins = await loadServiceConfig({ cwd: dir, env: { MCP_SERVICE_PORT: '7000' }, overrides: { MCP_SERVICE_PORT: '7001' } })
  t.equal(cliWins.MCP_SERVICE_PORT, 7001, 'the command line beats the environment')

  const yaml = await loadServiceConfig({ cwd: dir, env: {}, configFile: path.join(dir, 'other.yaml') })
  t.equal(yaml.MCP_SERVICE_PORT, 6002)
  t.same(yaml.MCP_ALLOWED_HOSTS, ['a.example.com', 'b.example.com'])

  const viaEnv = await loadServiceConfig({ cwd: dir, env: { MCP_CONFIG_FILE: path.join(dir, 'fn.mjs'), TEAM: 'sales' } })
  t.equal(viaEnv.MCP_APP_NAME, 'JS for sales', 'a JS config may export a function of the environment')
  t.equal(viaEnv.MCP_SERVICE_PORT, 6003, 'and named exports')

  const failures: Array<[string, RegExp]> = [
    ['missing.json', /config file .*missing\.json: not found/],
    ['bad.yaml', /could not be read/],
    ['list.json', /expected a mapping/],
    ['typo.json', /MCP_DEBGU \(config file .*typo\.json\): unknown setting; did you mean MCP_DEBUG\?/],
    ['clash.mjs', /MCP_DEBUG set both as a named export and in the default export/],
    ['bad-default.mjs', /default export must be an object/],
    ['config.toml', /unsupported extension/]
  ]
  for (const [file, expected] of failures) {
    const problems = await problemsOf(() => loadServiceConfig({ cwd: dir, env: {}, configFile: path.join(dir, file) }))
    t.match(problems.join('\n'), expected, file)
  }
})

t.test('two config files in one directory are ambiguous', async t => {
  const dir = t.testdir({ 'analytics-mcp.config.json': '{}', 'analytics-mcp.config.yaml': '{}' })
  const problems = await problemsOf(() => loadServiceConfig({ cwd: dir, env: {} }))
  t.match(problems[0], /several config files found/)
})

t.test('a dev user that does not exist stops start-up', async t => {
  const dir = t.testdir()
  const problems = await problemsOf(() => buildApp(testConfig(dir, { MCP_DEV_USERNAME: 'ghost' }), { logger: false }))
  t.match(problems[0], /MCP_DEV_USERNAME: the user "ghost" does not exist in the catalog/)
})

t.test('without example data there is no admin user, and start-up says how to create one', async t => {
  const dir = t.testdir()
  const problems = await problemsOf(() => buildApp(testConfig(dir, { MCP_LOAD_EXAMPLES: false }), { logger: false }))
  t.match(problems[0], /analytics-mcp users create --username admin --role Admin/)
})

t.test('every setting has a description and a group', async t => {
  for (const [name, setting] of Object.entries(SETTINGS)) {
    t.ok(setting.description.length > 20, `${name} is described`)
    t.ok(name.startsWith('MCP_'), `${name} has the MCP_ prefix`)
  }
})

t.test('Superset-style configuration dictionaries', async t => {
  const defaults = resolveConfig([])
  t.same(defaults.MCP_CACHE_CONFIG, {
    enabled: false,
    CACHE_KEY_PREFIX: null,
    list_tools_ttl: 300,
    list_resources_ttl: 300,
    list_prompts_ttl: 300,
    read_resource_ttl: 3600,
    get_prompt_ttl: 3600,
    call_tool_ttl: 3600,
    max_item_size: 1_048_576,
    excluded_tools: ['execute_sql', 'generate_dashboard', 'generate_chart', 'update_chart'],
    memory_max_bytes: 67_108_864
  }, 'MCP_CACHE_CONFIG defaults are Superset\'s (plus the memory budget)')
  t.same(defaults.MCP_RESPONSE_SIZE_CONFIG, { enabled: true, token_limit: 25_000, max_bytes: null, max_list_items: 100, warn_threshold_pct: 80, excluded_tools: ['health_check', 'get_chart_preview', 'generate_explore_link', 'open_sql_lab_with_context'] })
  t.match(defaults.MCP_STORE_CONFIG, { enabled: false, CACHE_REDIS_URL: null, event_store_max_events: 100, event_store_ttl: 3600, key_prefix: 'analytics-mcp:' })
  t.match(defaults.MCP_RATE_LIMIT_CONFIG, { enabled: false, fail_open: true })

  const partial = fromEnv({ MCP_CACHE_CONFIG: '{"enabled": true, "call_tool_ttl": 60}' })() as ReturnType<typeof resolveConfig>
  t.equal(partial.MCP_CACHE_CONFIG.enabled, true)
  t.equal(partial.MCP_CACHE_CONFIG.call_tool_ttl, 60)
  t.equal(partial.MCP_CACHE_CONFIG.read_resource_ttl, 3600, 'keys left out keep their defaults')

  const dir = t.testdir({ 'analytics-mcp.config.yaml': 'MCP_STORE_CONFIG:\n  enabled: true\n  CACHE_REDIS_URL: rediss://mcp:s3cret@redis.internal:6380/2\n  sentinels: []\n' })
  const fromYaml = await loadServiceConfig({ cwd: dir, env: {} })
  t.equal(fromYaml.MCP_STORE_CONFIG.CACHE_REDIS_URL, 'rediss://mcp:s3cret@redis.internal:6380/2', 'a YAML mapping works as in superset_config.py')

  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ MCP_CACHE_CONFIG: '{"ttl": 5}' }, /^MCP_CACHE_CONFIG \(environment\): unknown key ttl \(known: enabled, CACHE_KEY_PREFIX, /],
    [{ MCP_CACHE_CONFIG: '{"call_tool_ttl": "soon"}' }, /^MCP_CACHE_CONFIG\.call_tool_ttl \(environment\): expected an integer between 0 and 86400, got "soon"$/],
    [{ MCP_CACHE_CONFIG: 'enabled' }, /^MCP_CACHE_CONFIG \(environment\): expected a JSON object/],
    [{ MCP_RESPONSE_SIZE_CONFIG: '{"excluded_tools": "health_check"}' }, /^MCP_RESPONSE_SIZE_CONFIG\.excluded_tools \(environment\): expected a list of names/],
    [{ MCP_RATE_LIMIT_CONFIG: '{"tool_limits": {"execute_sql": {"per_minute": 0}}}' }, /^MCP_RATE_LIMIT_CONFIG\.tool_limits\.execute_sql\.per_minute \(environment\)/],
    [{ MCP_STORE_CONFIG: '{"enabled": true}' }, /^MCP_STORE_CONFIG\.CACHE_REDIS_URL: required when MCP_STORE_CONFIG\.enabled is true/],
    [{ MCP_STORE_CONFIG: '{"CACHE_REDIS_URL": "http://redis:6379"}' }, /^MCP_STORE_CONFIG\.CACHE_REDIS_URL \(environment\): expected a redis:\/\/ or rediss:\/\/ \(TLS\) URL/],
    [{ MCP_STORE_CONFIG: '{"CACHE_REDIS_URL": "redis://redis:6379", "tls_ca_file": "/ca.pem"}' }, /^MCP_STORE_CONFIG\.tls_ca_file: only used with a rediss:\/\/ CACHE_REDIS_URL/],
    [{ MCP_STORE_CONFIG: '{"sentinels": ["redis-sentinel"]}' }, /^MCP_STORE_CONFIG\.sentinels\.0 \(environment\): "redis-sentinel" is not host:port/]
  ]
  for (const [env, expected] of cases) {
    const problems = await problemsOf(fromEnv(env))
    t.ok(problems.some(problem => expected.test(problem)), `${JSON.stringify(env)}: ${problems.join(' | ') || 'accepted'}`)
  }
})

t.test('start-up errors never echo secrets', async t => {
  const attempts: Array<Record<string, string>> = [
    { MCP_STORE_CONFIG: '{"CACHE_REDIS_URL": "http://mcp:hunter2-secret@redis:6379"}' },
    { MCP_STORE_CONFIG: '{"CACHE_REDIS_URL": "redis://mcp:hunter2-secret@redis:6379", "nope": 1}' },
    { MCP_STORE_CONFIG: '{"CACHE_REDIS_URL": "mcp:hunter2-secret@redis:6379"}' },
    { MCP_STORE_CONFIG: '{"CACHE_REDIS_URL": "rediss://mcp:hunter2/secret@redis:6379"}' },
    { MCP_STORE_CONFIG: '{"sentinel_password": "hunter2-secret", "unknown": true}' },
    { MCP_STORE_CONFIG: '{"sentinel_password": 12345678}' },
    { MCP_JWT_SECRET: 'hunter2-secret' },
    { MCP_JWKS_URI: 'https://user:hunter2@idp.example.com/certs?x=1' }
  ]
  const leaks: string[] = []
  for (const env of attempts) {
    const problems = await problemsOf(fromEnv(env))
    t.ok(problems.length > 0, `${Object.keys(env)[0] ?? ''} is refused`)
    leaks.push(...problems)
  }
  t.notMatch(leaks.join('\n'), /hunter2|12345678/, 'without the password, secret or sentinel password')
  t.match(leaks.join('\n'), /MCP_JWT_SECRET \(environment\): must be at least 32 characters \(256 bits\) long, got a value of 14 characters \(not shown\)/)
  t.match(leaks.join('\n'), /MCP_STORE_CONFIG\.CACHE_REDIS_URL \(environment\): .*got a value of \d+ characters \(not shown\)/)
})

t.test('the catalog location: a SQLite path or URL, or PostgreSQL; its password settings fail closed', async t => {
  t.equal(resolveConfig([]).catalogLocation, path.join('./data', 'catalog.db'), 'the embedded default')
  t.equal(fromEnv({ MCP_CATALOG_PATH: '/srv/c.db' })().catalogLocation, '/srv/c.db', 'MCP_CATALOG_PATH keeps working')
  t.equal(fromEnv({ MCP_CATALOG_URL: 'sqlite:///srv/c.db' })().catalogLocation, 'sqlite:///srv/c.db')
  const pg = fromEnv({ MCP_CATALOG_URL: 'postgresql://mcp@db.example.com:5432/mcp?sslmode=verify-full', MCP_CATALOG_PASSWORD_FILE: '/run/secrets/pw', MCP_CATALOG_POOL_SIZE: '4', MCP_CATALOG_STATEMENT_TIMEOUT: '3' })()
  t.equal(pg.catalogLocation, 'postgresql://mcp@db.example.com:5432/mcp?sslmode=verify-full')
  t.equal(pg.MCP_CATALOG_POOL_SIZE, 4)
  t.equal(pg.MCP_CATALOG_STATEMENT_TIMEOUT, 3)

  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ MCP_CATALOG_URL: 'mysql://db/mcp' }, /MCP_CATALOG_URL.*postgresql:\/\/ URL, sqlite:\/\/\/abs\/path\.db or a file path/],
    [{ MCP_CATALOG_URL: 'sqlite://relative.db' }, /MCP_CATALOG_URL.*absolute path/],
    [{ MCP_CATALOG_URL: 'postgresql://' }, /MCP_CATALOG_URL/],
    [{ MCP_CATALOG_URL: 'postgresql:///mcp' }, /MCP_CATALOG_URL.*needs a host/],
    [{ MCP_CATALOG_URL: 'sqlite:///a.db', MCP_CATALOG_PATH: '/b.db' }, /MCP_CATALOG_URL: set together with MCP_CATALOG_PATH/],
    [{ MCP_CATALOG_URL: 'postgresql://db/mcp', MCP_CATALOG_PASSWORD: 'x', MCP_CATALOG_PASSWORD_FILE: '/pw' }, /MCP_CATALOG_PASSWORD: set together with MCP_CATALOG_PASSWORD_FILE/],
    [{ MCP_CATALOG_PASSWORD: 'hunter2' }, /MCP_CATALOG_PASSWORD: only used with a postgresql:\/\/ MCP_CATALOG_URL/],
    [{ MCP_CATALOG_POOL_SIZE: '0' }, /MCP_CATALOG_POOL_SIZE/],
    [{ MCP_CATALOG_STATEMENT_TIMEOUT: 'soon' }, /MCP_CATALOG_STATEMENT_TIMEOUT/]
  ]
  for (const [env, message] of refused) {
    const problems = await problemsOf(fromEnv(env))
    t.match(problems.join('\n'), message, `${JSON.stringify(env)} stops start-up, naming the setting`)
    t.notMatch(problems.join('\n'), /hunter2/, 'and never echoes a password')
  }
})
