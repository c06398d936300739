import t from 'tap'
import { connectionFields, DatabaseUriError, describeConnection, parseDatabaseUri, passwordSource, sqliteFile } from '../src/engines/connection.ts'

// One parser for every database URI: the CLI, MCP_DATABASES and the tools read URIs through it.

t.test('PostgreSQL URIs keep user, host, port, database and parameters', async t => {
  t.same(parseDatabaseUri('postgresql://analyst@db.internal:6432/warehouse?sslmode=verify-full&application_name=mcp'), {
    backend: 'postgresql',
    connection: 'postgresql://analyst@db.internal:6432/warehouse?sslmode=verify-full&application_name=mcp',
    host: 'db.internal',
    port: 6432,
    database: 'warehouse',
    file: null
  })
  const short = parseDatabaseUri('postgres://db.internal/sales')
  t.equal(short.connection, 'postgresql://db.internal/sales', 'postgres:// is normalised to postgresql://')
  t.equal(short.port, 5432, 'the default port')
  t.equal(parseDatabaseUri('postgresql://u@[::1]:5433/x').host, '[::1]')
})

t.test('a password in a PostgreSQL URI is refused, pointing at --password-env / --password-file', async t => {
  for (const uri of ['postgresql://analyst:s3cret@db/warehouse', 'postgresql://analyst:@db/warehouse', 'postgresql://analyst@db/warehouse?password=s3cret', 'postgresql://analyst@db/warehouse?PassFile=/x']) {
    t.throws(() => parseDatabaseUri(uri), { name: 'DatabaseUriError', message: /--password-env VAR or --password-file FILE/ }, uri)
  }
  try {
    parseDatabaseUri('postgresql://analyst:s3cret@db/warehouse')
  } catch (err) {
    t.notMatch((err as Error).message, /s3cret/, 'the refusal does not repeat the password')
  }
})

t.test('other PostgreSQL refusals', async t => {
  const refusals: Array<[string, RegExp]> = [
    ['postgresql:///warehouse', /needs a host/],
    ['postgresql://db', /needs one database name/],
    ['postgresql://db/a/b', /needs one database name/],
    ['postgresql://db/x?sslmode=sometimes', /not a PostgreSQL SSL mode/],
    ['postgresql://db/x#frag', /fragment/],
    ['postgresql://db:99999/x', /cannot be parsed/]
  ]
  for (const [uri, message] of refusals) t.throws(() => parseDatabaseUri(uri), { message }, uri)
})

t.test('file backends need absolute paths; a bare absolute path is a sqlite file', async t => {
  t.same(parseDatabaseUri('sqlite:///data/shop.db'), { backend: 'sqlite', connection: 'sqlite:///data/shop.db', host: null, port: null, database: null, file: '/data/shop.db' })
  t.equal(parseDatabaseUri('sqlite:///data/../data/./shop.db').connection, 'sqlite:///data/shop.db')
  t.same(parseDatabaseUri('/data/shop.db'), { backend: 'sqlite', connection: '/data/shop.db', host: null, port: null, database: null, file: '/data/shop.db' })
  t.equal(parseDatabaseUri('duckdb:///lake/events.duckdb').file, '/lake/events.duckdb')
  t.same(parseDatabaseUri('duckdb:///:memory:'), { backend: 'duckdb', connection: 'duckdb:///:memory:', host: null, port: null, database: null, file: null })
  const refusals: Array<[string, RegExp]> = [
    ['', /empty/],
    ['data/shop.db', /neither a URI nor an absolute path/],
    ['sqlite://shop.db', /needs an absolute path \(three slashes\)/],
    ['duckdb://lake.duckdb', /duckdb:\/\/\/:memory:/],
    ['sqlite:///data/', /names a file/],
    ['sqlite:///data/shop.db?mode=ro', /take no parameters/],
    ['mysql://db/x', /unknown database backend "mysql"/]
  ]
  for (const [uri, message] of refusals) t.throws(() => parseDatabaseUri(uri), { message }, uri)
})

t.test('sqliteFile reads both stored forms', async t => {
  t.equal(sqliteFile('sqlite:///data/shop.db'), '/data/shop.db')
  t.equal(sqliteFile('/data/shop.db'), '/data/shop.db')
  t.equal(sqliteFile('shop.db'), `${process.cwd()}/shop.db`, 'older catalogs: relative to the working directory, as before')
})

t.test('describeConnection shows host and database name, or a file name only', async t => {
  t.same(describeConnection({ backend: 'postgresql', connection: 'postgresql://analyst@db.internal:6432/warehouse?sslmode=require' }), { backend: 'postgresql', host: 'db.internal', port: 6432, database: 'warehouse' })
  t.same(describeConnection({ backend: 'sqlite', connection: '/srv/private/dir/examples.db' }), { backend: 'sqlite', host: null, port: null, database: 'examples.db' })
  t.same(describeConnection({ backend: 'sqlite', connection: 'sqlite:///srv/private/shop.db' }), { backend: 'sqlite', host: null, port: null, database: 'shop.db' })
  t.same(describeConnection({ backend: 'duckdb', connection: 'duckdb:///srv/lake/events.duckdb' }), { backend: 'duckdb', host: null, port: null, database: 'events.duckdb' })
  t.same(describeConnection({ backend: 'duckdb', connection: 'duckdb:///:memory:' }), { backend: 'duckdb', host: null, port: null, database: ':memory:' })
  t.same(describeConnection({ backend: 'postgresql', connection: 'not a uri' }), { backend: 'postgresql', host: null, port: null, database: null }, 'an unreadable connection shows nothing of it')
  t.same(describeConnection({ backend: 'duckdb', connection: 'postgresql://db/x' }), { backend: 'duckdb', host: null, port: null, database: null }, 'nor one of another backend')
})

t.test('password sources', async t => {
  t.equal(passwordSource('PG_PASSWORD', undefined), 'env:PG_PASSWORD')
  t.equal(passwordSource(undefined, '/var/run/secrets/pg//password'), 'file:/var/run/secrets/pg/password')
  t.equal(passwordSource(undefined, undefined), null)
  t.throws(() => passwordSource('A', '/b'), { message: /not both/, field: 'password_file' })
  t.throws(() => passwordSource('1BAD', undefined), { message: /not an environment variable name/, field: 'password_env' })
  t.throws(() => passwordSource(undefined, 'secrets/pg'), { message: /absolute path/, field: 'password_file' })
})

t.test('connectionFields checks options against the backend', async t => {
  t.same(connectionFields({ uri: 'postgresql://analyst@db/warehouse', password_env: 'PG_PASSWORD', schemas: ['sales', 'ops'], row_limit: 5000, timeout: 60 }), {
    backend: 'postgresql',
    connection: 'postgresql://analyst@db/warehouse',
    password_source: 'env:PG_PASSWORD',
    options: { schemas: ['sales', 'ops'], row_limit: 5000, timeout: 60 }
  })
  t.same(connectionFields({ uri: 'duckdb:///:memory:', files: ['/lake/*.parquet'] }).options, { files: ['/lake/*.parquet'] })
  t.same(connectionFields({ uri: 'sqlite:///data/shop.db', schemas: [] }).options, {}, 'an empty list is no option')
  const refusals: Array<[Parameters<typeof connectionFields>[0], RegExp, string]> = [
    [{ uri: 'duckdb:///:memory:' }, /needs files/, 'uri'],
    [{ uri: 'duckdb:///:memory:', files: ['lake/*.csv'] }, /must be absolute/, 'files'],
    [{ uri: 'sqlite:///data/shop.db', files: ['/x.csv'] }, /files apply to duckdb/, 'files'],
    [{ uri: 'sqlite:///data/shop.db', schemas: ['main'] }, /schemas apply to postgresql and duckdb/, 'schemas'],
    [{ uri: 'sqlite:///data/shop.db', password_env: 'X' }, /takes no password/, 'password_env'],
    [{ uri: 'duckdb:///lake.duckdb', password_file: '/x' }, /takes no password/, 'password_file']
  ]
  for (const [declaration, message, field] of refusals) t.throws(() => connectionFields(declaration), { message, field }, JSON.stringify(declaration))
  t.ok(new DatabaseUriError('x') instanceof Error)
})
